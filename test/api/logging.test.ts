/**
 * Logging on by default (issue 17): JSON lines with the request id and the status, never the key, a body or a cell
 * value; a 401 carries `WWW-Authenticate: Bearer realm="statguard"` (finding 6); a restricted release and an absent
 * one answer alike (finding 6: same status and body shape, through the same code path).
 */
import t from 'tap';
import { build } from '../../api/app.ts';
import { createKey } from '../../api/store/keys.ts';
import { openPgliteStore } from './pglite-template.ts';
import { seedReleases } from './fixtures.ts';

t.test('request logs, 401 and hidden releases', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  const system = { caller: 'cli:test', role: 'officer' } as const;
  const { pub, restricted } = await seedReleases(store.db, system, 'withdrawn');
  const researcher = await createKey(store.db, 'researcher', 'logged', system);
  const lines: string[] = [];
  const app = await build({
    store,
    config: { rateLimit: null },
    logger: { level: 'info', stream: { write: (l: string) => void lines.push(l) } },
  });
  t.teardown(() => app.close());

  // A query whose table has suppressed cells (two nulls in `pop`) and published values 100 + i.
  const r = await app.inject({
    url: `/v1/releases/${pub}/tables/pop?format=json`,
    headers: { authorization: `Bearer ${researcher.key}` },
  });
  t.equal(r.statusCode, 200);
  t.match(r.body, /"value":null/, 'the response has suppressed cells');
  const id = String(r.headers['x-request-id']);
  const mine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.reqId === id);
  t.ok(mine.length >= 2, 'the request is logged under its id');
  t.ok(
    mine.some((l) => (l.res as { statusCode?: number } | undefined)?.statusCode === 200),
    'with its status',
  );
  const all = lines.join('');
  t.notMatch(all, researcher.key, 'no key');
  t.notMatch(all, researcher.key.split('_')[2]!, 'no key secret');
  t.notMatch(all, /"value"|North, one/, 'no body, no cell');

  const bad = await app.inject({ url: '/v1/releases', headers: { authorization: 'Bearer sg_nope_secretpart' } });
  t.equal(bad.statusCode, 401);
  t.equal(bad.headers['www-authenticate'], 'Bearer realm="statguard"');
  t.notMatch(lines.join(''), 'secretpart', 'a refused key is not logged either');

  // Restricted and absent: one answer (the id aside), for the release and for its tables.
  for (const path of ['', '/tables/pop']) {
    const hidden = await app.inject({ url: `/v1/releases/${restricted}${path}` });
    const absent = await app.inject({ url: `/v1/releases/no-such-release${path}` });
    t.equal(hidden.statusCode, 404);
    t.equal(absent.statusCode, hidden.statusCode);
    t.equal(
      absent.body.replaceAll('no-such-release', restricted),
      hidden.body,
      `same body for ${path || 'the release'}`,
    );
  }
});
