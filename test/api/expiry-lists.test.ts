/**
 * Issue 16, finding 8: a release's `expires` is enforced (410 RELEASE_EXPIRED with the date on every route and
 * format, absent from researchers' lists, never approved), and lists show only the tables a caller's contract covers.
 * Each test fails on the code before the change (expired releases were approved and served; the list carried every
 * table's id and title).
 */
import t from 'tap';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, createContract, storeDraft } from '../../api/store/releases.ts';
import { dialects } from './dialects.ts';
import { makeRelease, registerFixtures } from './fixtures.ts';

const officer: Actor = { caller: 'cli:test', role: 'officer' };
const FORMATS = ['json', 'csv', 'jsonstat', 'sdmx-csv', 'xlsx', 'parquet'] as const;

for (const d of dialects()) {
  t.test(`expiry and contract-limited lists on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;
    await registerFixtures(db, officer);
    const draft = async (o: Parameters<typeof makeRelease>[0]) =>
      (await storeDraft(db, await loadReleaseDir((await makeRelease({ ...o, linkedFrom: db })).dir), officer)).id;
    // Published while current; served through 2030-06-30 (UTC).
    const soon = await draft({ policyId: 'soon', expires: '2030-06-30' });
    await approveRelease(db, soon, officer);
    const lasting = await draft({ policyId: 'lasting', inputSha: 'c'.repeat(64) });
    await approveRelease(db, lasting, officer);
    const limited = await draft({ policyId: 'limited', audience: 'contract', bigSide: 2, inputSha: 'd'.repeat(64) });
    await approveRelease(db, limited, officer);
    const officerKey = (await createKey(db, 'officer', 'Olga', officer)).key;
    const rex = await createKey(db, 'researcher', 'Rex', officer);
    await createContract(
      db,
      { keyId: rex.id, releaseId: limited, tables: ['pop'], expiresAt: new Date(Date.now() + 86400e3).toISOString() },
      officer,
    );

    const at = (iso: string) => build({ store, config: { rateLimit: null }, now: () => new Date(iso) });
    const before = await at('2030-06-30T23:59:59Z');
    const after = await at('2030-07-01T00:00:00Z');
    t.teardown(async () => {
      await before.close();
      await after.close();
    });
    const auth = (k?: string) => (k ? { authorization: `Bearer ${k}` } : {});

    t.test('an expired release answers 410 with its date on every route and format', async (t) => {
      const urls = [`/v1/releases/${soon}`, ...FORMATS.map((f) => `/v1/releases/${soon}/tables/pop?format=${f}`)];
      for (const url of urls) {
        t.equal((await before.inject({ url })).statusCode, 200, `${url}: served on its last day`);
        for (const k of [undefined, officerKey]) {
          const r = await after.inject({ url, headers: auth(k) });
          t.equal(r.statusCode, 410, `${url} (${k ? 'officer' : 'anonymous'}): 410 the day after`);
          t.match(r.headers['content-type'], /application\/problem\+json/);
          const p = JSON.parse(r.body);
          t.equal(p.code, 'RELEASE_EXPIRED');
          t.equal(p.expires, '2030-06-30');
          t.match(p.detail, /2030-06-30/, 'the problem names the date');
        }
      }
      // A release without expiry is still served.
      t.equal((await after.inject({ url: `/v1/releases/${lasting}/tables/pop` })).statusCode, 200);
    });

    t.test('lists leave an expired release out for researchers, mark it for officers', async (t) => {
      const ids = async (app: typeof after, k?: string) =>
        (JSON.parse((await app.inject({ url: '/v1/releases', headers: auth(k) })).body).items as { id: string }[]).map(
          (x) => x.id,
        );
      t.ok((await ids(before)).includes(soon), 'listed on its last day');
      t.notOk((await ids(after)).includes(soon), 'absent from the anonymous list the day after');
      t.notOk((await ids(after, rex.key)).includes(soon), 'absent from a researcher list');
      const list = JSON.parse((await after.inject({ url: '/v1/releases', headers: auth(officerKey) })).body);
      const item = list.items.find((x: { id: string }) => x.id === soon);
      t.same([item?.expired, item?.expires], [true, '2030-06-30'], 'officers see it, marked expired');
      const total = JSON.parse((await after.inject({ url: '/v1/releases' })).body).total;
      t.equal(total, 1, 'the total counts only what is listed (the public release without expiry)');
    });

    t.test('approving an already expired release is refused (store, route)', async (t) => {
      const old = await draft({ policyId: 'old', expires: '2020-01-01', inputSha: 'e'.repeat(64) });
      await t.rejects(approveRelease(db, old, officer), { code: 'RELEASE_EXPIRED' });
      const r = await before.inject({
        method: 'POST',
        url: `/v1/admin/releases/${old}/approve`,
        headers: auth(officerKey),
      });
      t.equal(r.statusCode, 410);
      t.equal(JSON.parse(r.body).code, 'RELEASE_EXPIRED');
      const row = await db.selectFrom('releases').select(['status']).where('id', '=', old).executeTakeFirstOrThrow();
      t.equal(row.status, 'draft', 'still a draft');
      const ledger = await db.selectFrom('budget_ledger').select('id').where('release_id', '=', old).execute();
      t.equal(ledger.length, 0, 'nothing charged');
    });

    t.test('a table-limited contract lists only its tables', async (t) => {
      const list = JSON.parse((await before.inject({ url: '/v1/releases', headers: auth(rex.key) })).body);
      const item = list.items.find((x: { id: string }) => x.id === limited);
      t.same(
        item.tables.map((x: { id: string }) => x.id),
        ['pop'],
        'the list names only the covered table',
      );
      t.notMatch(JSON.stringify(list), /"big"|"Big"/, 'neither the id nor the title of the other table');
      const detail = await before.inject({ url: `/v1/releases/${limited}`, headers: auth(rex.key) });
      t.notMatch(detail.body, /"big"|"Big"/, 'the metadata neither');
      const other = await before.inject({ url: `/v1/releases/${limited}/tables/big`, headers: auth(rex.key) });
      t.equal(JSON.parse(other.body).code, 'TABLE_NOT_FOUND');
      // Officers still see every table.
      const all = JSON.parse((await before.inject({ url: '/v1/releases', headers: auth(officerKey) })).body);
      t.same(
        all.items.find((x: { id: string }) => x.id === limited).tables.map((x: { id: string }) => x.id),
        ['pop', 'big'],
      );
    });
  });
}
