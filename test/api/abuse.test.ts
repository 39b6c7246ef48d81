/**
 * Bounded abuse (issue 17, findings 3 and 5): rate limits before authentication, refusals counted instead of stored
 * one row each, per-route body limits with the role check before the body is read.
 */
import net from 'node:net';
import { sql } from 'kysely';
import t from 'tap';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';
import type { Store } from '../../api/store/db.ts';
import { dialects } from './dialects.ts';
import { makeRelease, registerFixtures } from './fixtures.ts';
import { openPgliteStore } from './pglite-template.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };
const UNKNOWN_KEY = `sg_0123456789abcdef_${'A'.repeat(43)}`;

async function publishedStore(
  open: () => Promise<Store> = openPgliteStore,
): Promise<{ store: Store; release: string }> {
  const store = await open();
  await registerFixtures(store.db, system);
  const rel = await storeDraft(store.db, await loadReleaseDir((await makeRelease({ policyId: 'pop' })).dir), system);
  await approveRelease(store.db, rel.id, system);
  return { store, release: rel.id };
}

/**
 * One published PGlite store for the rate-limit and body-limit tests: each builds its own app on it (the limits,
 * buckets and hooks they check live in the app), and neither depends on what the other wrote to the store.
 */
let shared: Promise<{ store: Store; release: string }> | undefined;
const sharedStore = (): Promise<{ store: Store; release: string }> => {
  if (!shared) {
    shared = publishedStore();
    t.teardown(async () => (await shared!).store.close());
  }
  return shared;
};

const counted = async (store: Store) =>
  (
    await store.db
      .selectFrom('audit_log')
      .select(['caller', 'action', 'target', 'status', 'detail'])
      .where(sql<boolean>`detail ? 'count'`)
      .execute()
  ).map((r) => ({ ...r, detail: r.detail as Record<string, unknown> & { count: number } }));

t.test('rate limits run before authentication: per address, then per key', async (t) => {
  const { store } = await sharedStore();
  const researcher = (await createKey(store.db, 'researcher', 'r', system)).key;
  const app = await build({
    store,
    config: { rateLimit: { perSecond: 0.001, burst: 3 }, addressRateLimit: { perSecond: 0.001, burst: 6 } },
  });
  t.teardown(() => app.close());
  const get = (remoteAddress: string, key?: string) =>
    app.inject({ url: '/v1/config', remoteAddress, headers: key ? { authorization: `Bearer ${key}` } : {} });

  // Bad keys from one address: 401 while the address has tokens, then 429: refused before any key lookup.
  const bad = [];
  for (let i = 0; i < 8; i++) bad.push((await get('10.0.0.1', UNKNOWN_KEY)).statusCode);
  t.same(bad, [401, 401, 401, 401, 401, 401, 429, 429], 'a flood of bad keys is limited by address');
  t.equal((await get('10.0.0.1', researcher)).statusCode, 429, 'a valid key from an exhausted address: 429 too');

  // Anonymous callers: their address's caller bucket (3) within the address bucket (6).
  const anon = [];
  for (let i = 0; i < 4; i++) anon.push((await get('10.0.0.2')).statusCode);
  t.same(anon, [200, 200, 200, 429], 'anonymous requests limited by address');
  const r = await get('10.0.0.2');
  t.equal(JSON.parse(r.body).code, 'RATE_LIMITED');
  t.ok(Number(r.headers['retry-after']) > 0, 'Retry-After');

  // A key is limited by key, wherever it comes from.
  const keyed = [];
  for (const a of ['10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']) keyed.push((await get(a, researcher)).statusCode);
  t.same(keyed, [200, 200, 200, 429], 'an authenticated key limited by key across addresses');
  t.equal((await get('10.0.0.6')).statusCode, 200, 'the anonymous bucket of that address is its own');
});

for (const dialect of dialects()) {
  t.test(
    `${dialect.name}: a flood of anonymous and bad-key requests is counted, not stored: < 1 MB, counts sum to N`,
    async (t) => {
      const { store, release } = await publishedStore(() => dialect.open());
      t.teardown(async () => {
        await store.close();
        await dialect.cleanup();
      });
      let clock = new Date('2030-01-01T10:00:05Z');
      const app = await build({ store, now: () => clock });
      t.teardown(() => app.close());
      await app.statguard.audit.flush();
      const size = async () =>
        Number(
          (await sql<{ n: string }>`select pg_total_relation_size('audit_log')::text as n`.execute(store.db)).rows[0]!
            .n,
        );
      const rowsBefore = await store.db
        .selectFrom('audit_log')
        .select(sql<string>`count(*)::text`.as('n'))
        .execute();
      const before = await size();

      // Count-based, not time-based: 5,000 refusals of five kinds (the 60 s flood at full rate is `npm run bench:abuse`).
      const N = 5_000;
      const junk = 'x'.repeat(90);
      const request = (i: number) => {
        switch (i % 5) {
          case 0: // a bad key on a research route
            return app.inject({ url: '/v1/releases', headers: { authorization: `Bearer ${UNKNOWN_KEY}` } });
          case 1: // an anonymous probe of ids (raw path never stored)
            return app.inject({ url: `/v1/releases/${junk}${i}` });
          case 2: // anonymous on an officer route
            return app.inject({ url: `/v1/admin/audit?junk=${junk}${i}` });
          case 3: // an unknown path
            return app.inject({ url: `/v1/zzz/${junk}${i}` });
          default: // a malformed key
            return app.inject({ url: `/v1/releases/${release}`, headers: { authorization: `Bearer junk${i}` } });
        }
      };
      let refused = 0;
      for (let i = 0; i < N; i += 200) {
        const batch = await Promise.all(Array.from({ length: 200 }, (_, j) => request(i + j)));
        refused += batch.filter((r) => r.statusCode >= 400).length;
      }
      t.equal(refused, N, 'every request of the flood was refused');
      t.ok(app.statguard.denials.pending > 0, 'nothing written while the minute is open');

      // The minute closes: the next refusal writes the counts of the closed minute.
      clock = new Date('2030-01-01T10:01:00Z');
      await app.inject({ url: '/v1/admin/audit' });
      await new Promise((r) => setImmediate(r));
      await app.statguard.audit.flush();
      const closed = (await counted(store)).filter((r) => r.detail.minute === '2030-01-01T10:00:00.000Z');
      t.equal(
        closed.reduce((n, r) => n + r.detail.count, 0),
        N,
        'the counts of the closed minute sum to N',
      );
      t.ok(closed.length <= 20, `a row per caller, route, status and minute (${closed.length} rows)`);
      const growth = (await size()) - before;
      t.ok(growth < 1024 * 1024, `the store grew by ${growth} bytes (< 1 MB)`);
      const all = JSON.stringify(await store.db.selectFrom('audit_log').selectAll().execute());
      // Each row keeps the first target of its minute as a sample (all among the first requests); no later path is stored.
      t.notMatch(all, new RegExp(`${junk}\\d{4,}`), 'no raw path beyond the first samples is stored');
      t.match(all, /\/v1\/releases\/:id/, 'route patterns stored');
      t.match(all, /\(no route\)/, 'unknown paths stored as (no route)');
      const rowsAfter = await store.db
        .selectFrom('audit_log')
        .select(sql<string>`count(*)::text`.as('n'))
        .execute();
      t.ok(Number(rowsAfter[0]!.n) - Number(rowsBefore[0]!.n) <= 20, 'a few rows for the whole flood');

      // Shutdown writes the open minute too.
      const pending = app.statguard.denials.pending;
      t.equal(pending, 1, 'the request of the new minute is still open');
      await app.close();
      const late = (await counted(store)).filter((r) => r.detail.minute === '2030-01-01T10:01:00.000Z');
      t.equal(
        late.reduce((n, r) => n + r.detail.count, 0),
        1,
        'written at close',
      );
    },
  );
}

/** A raw HTTP request announcing `length` bytes of body and sending only `send` of them; resolves with the status line, the headers and whether the server closed the connection. */
function partialPost(
  port: number,
  path: string,
  length: number,
  send: number,
  key?: string,
): Promise<{ status: number; head: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    let head: string | null = null;
    s.on('error', () => {}); // the server may reset the connection while we write
    // A server that waits for the whole body never answers: give up (the test then fails on the missing response).
    s.setTimeout(20_000, () => s.destroy());
    s.on('data', (d) => {
      data += d.toString('latin1');
      if (head === null && data.includes('\r\n\r\n')) head = data.slice(0, data.indexOf('\r\n\r\n'));
    });
    s.on('close', () => {
      if (head === null) return reject(new Error(`no response: ${data.slice(0, 200)}`));
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)![1]), head, closed: true });
    });
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n` +
        (key ? `Authorization: Bearer ${key}\r\n` : '') +
        '\r\n',
    );
    s.write(Buffer.alloc(send, 0x20));
  });
}

t.test('body limits per route, and the role check before the body is read', async (t) => {
  const { store, release } = await sharedStore();
  const researcher = (await createKey(store.db, 'researcher', 'r', system)).key;
  const officer = (await createKey(store.db, 'officer', 'o', system)).key;
  const app = await build({ store, config: { rateLimit: null } });
  t.teardown(() => app.close());
  let parsed = 0;
  // Spy on the parsing stage (preParsing runs for every request; only bodies of POSTs count).
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (req.method === 'POST') parsed++;
    return payload;
  });
  const addr = await app.listen({ host: '127.0.0.1', port: 0 });
  const port = Number(new URL(addr).port);
  const MB35 = 35 * 1024 * 1024;

  // The server answers while the client has sent 64 KiB of 35 MB, and closes the connection: the body is never
  // read (had it waited for the body, no response would come and the test would fail on the missing response).
  const cases: [string, string | undefined, number][] = [
    ['/v1/admin/releases', undefined, 401], // anonymous on the upload route (the one with the 50 MiB limit)
    ['/v1/admin/releases', researcher, 403],
    ['/v1/previews', undefined, 401],
    ['/v1/admin/keys', undefined, 401],
    ['/v1/admin/datasets', researcher, 403],
  ];
  for (const [path, key, status] of cases) {
    const r = await partialPost(port, path, MB35, 64 * 1024, key);
    t.equal(r.status, status, `${path} ${key ? 'researcher' : 'anonymous'}: ${status} before the body`);
    t.match(r.head, /connection: close/i, 'and the connection is closed, the body left unread');
  }
  t.equal(parsed, 0, 'no body reached the parsing stage for any of these requests');
  // Over the route's limit, announced: 413 from the Content-Length alone (a few KB for every route but upload and
  // preview), again answered while the client has sent 1 KiB of 64.
  const big = await partialPost(port, '/v1/admin/keys', 64 * 1024, 1024, officer);
  t.equal(big.status, 413, 'an officer route other than upload: a few KB');
  t.match(big.head, /connection: close/i);
  parsed = 0;

  // Within limits an officer's body is parsed as before.
  const ok = await app.inject({
    method: 'POST',
    url: '/v1/admin/keys',
    headers: { authorization: `Bearer ${officer}` },
    payload: { role: 'researcher', name: 'n' },
  });
  t.equal(ok.statusCode, 201);
  t.equal(parsed, 1);

  // Three anonymous 35 MB POSTs sent in full while a researcher queries: every query is answered.
  const flood = Array.from({ length: 3 }, () => partialPost(port, '/v1/admin/releases', MB35, MB35));
  const queries = [];
  for (let i = 0; i < 30; i++) {
    queries.push(
      fetch(`${addr}/v1/releases/${release}/tables/pop?region=N1`, {
        headers: { authorization: `Bearer ${researcher}` },
      }).then((r) => r.status),
    );
  }
  t.same(await Promise.all(queries), Array(30).fill(200), "the researcher's queries all succeed");
  t.same(
    (await Promise.all(flood)).map((r) => r.status),
    [401, 401, 401],
  );
  t.equal(parsed, 1, `the flood was never parsed (${parsed})`);
});
