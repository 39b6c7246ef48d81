/**
 * Audit that fails closed (issue 17, findings 1, 2 and 6), on every store dialect:
 * - the NUL attack: anonymous `GET /v1/releases/x%00` amid a researcher's contract reads is refused with 400 naming
 *   the parameter, and every read the researcher was served has its audit row (the attack used to make PostgreSQL
 *   reject the whole batch);
 * - group commit: concurrent reads share commits (rows committed in one transaction share `xmin`), and a row the
 *   store refuses fails alone, not its batch;
 * - when the store refuses audit rows, reads answer 503 AUDIT_UNAVAILABLE and serve nothing;
 * - a huge offset is a 400 naming it, not a 500.
 */
import { sql, type Kysely } from 'kysely';
import t from 'tap';
import { AuditBuffer, AuditUnavailable } from '../../api/audit-buffer.ts';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { verifyChains } from '../../api/store/chain.ts';
import { createKey } from '../../api/store/keys.ts';
import { createContract } from '../../api/store/releases.ts';
import type { Database } from '../../api/store/schema.ts';
import { dialects } from './dialects.ts';
import { seedReleases } from './fixtures.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

async function failInserts(db: Kysely<Database>, when: string): Promise<void> {
  await sql
    .raw(
      `CREATE OR REPLACE FUNCTION test_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'could not extend file (simulated full disk)'; END $$`,
    )
    .execute(db);
  await sql
    .raw(
      `CREATE TRIGGER test_audit_refuse BEFORE INSERT ON audit_log FOR EACH ROW WHEN (${when})
         EXECUTE FUNCTION test_audit_refuse()`,
    )
    .execute(db);
}
const allowInserts = (db: Kysely<Database>) => sql.raw('DROP TRIGGER test_audit_refuse ON audit_log').execute(db);

for (const d of dialects()) {
  t.test(`audit fails closed on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;
    const { restricted } = await seedReleases(db, system, 'withdrawn');
    const researcher = await createKey(db, 'researcher', 'victim', system);
    await createContract(
      db,
      {
        keyId: researcher.id,
        releaseId: restricted,
        tables: null,
        expiresAt: new Date(Date.now() + 86400e3).toISOString(),
      },
      system,
    );
    const app = await build({ store, config: { rateLimit: null } });
    t.teardown(() => app.close());
    const read = () =>
      app.inject({
        url: `/v1/releases/${restricted}/tables/pop?format=csv`,
        headers: { authorization: `Bearer ${researcher.key}` },
      });
    const rowsFor = async (ids: string[]): Promise<number> =>
      Number(
        (
          await sql<{ n: string }>`SELECT count(*)::text AS n FROM audit_log
              WHERE detail->>'request' IN (${sql.join(ids)})`.execute(db)
        ).rows[0]!.n,
      );

    t.test('the NUL attack leaves every victim row in place', async (t) => {
      const all = await Promise.all(
        Array.from({ length: 120 }, (_, i) => (i % 4 === 3 ? app.inject({ url: '/v1/releases/x%00' }) : read())),
      );
      const attacks = all.filter((_, i) => i % 4 === 3);
      const reads = all.filter((_, i) => i % 4 !== 3);
      for (const a of attacks) {
        t.equal(a.statusCode, 400);
        t.match(JSON.parse(a.body), {
          code: 'BAD_REQUEST',
          detail: /path parameter "id" contains a control character/,
        });
      }
      t.ok(
        reads.every((r) => r.statusCode === 200),
        'every contract read served',
      );
      const ids = reads.map((r) => String(r.headers['x-request-id']));
      t.equal(new Set(ids).size, reads.length, 'request ids are distinct');
      t.equal(await rowsFor(ids), reads.length, 'every served read has its audit row');
      // The attacks are anonymous refusals: counted per caller, route and minute (denials.ts), not one row each.
      const attackIds = attacks.map((r) => String(r.headers['x-request-id']));
      t.equal(await rowsFor(attackIds), 0, 'the attacks are counted, not written one row each');
      t.ok((await verifyChains(db)).ok, 'the chain verifies');
    });

    t.test('a NUL in a query value, and a huge offset, are 400 naming the parameter', async (t) => {
      const q = await app.inject({ url: `/v1/releases/${restricted}/tables/pop?region=N1%00` });
      t.equal(q.statusCode, 400);
      t.match(JSON.parse(q.body).detail, /query parameter "region"/);
      for (const c of ['%1f', '%7F', '%09'])
        t.equal(
          (await app.inject({ url: `/v1/releases/${restricted}/tables/pop?region=N1${c}` })).statusCode,
          400,
          `${c} too`,
        );
      const o = await app.inject({ url: '/v1/releases?offset=1e30' });
      t.equal(o.statusCode, 400);
      t.match(JSON.parse(o.body).detail, /offset/);
    });

    t.test('concurrent reads share commits', async (t) => {
      const reads = await Promise.all(Array.from({ length: 60 }, read));
      t.ok(reads.every((r) => r.statusCode === 200));
      const ids = reads.map((r) => String(r.headers['x-request-id']));
      const tx = await sql<{ n: string }>`SELECT count(DISTINCT xmin::text)::text AS n FROM audit_log
          WHERE detail->>'request' IN (${sql.join(ids)})`.execute(db);
      const commits = Number(tx.rows[0]!.n);
      t.ok(commits < 20, `60 rows in ${commits} commits`);
    });

    t.test('a row the store refuses fails alone, not its batch', async (t) => {
      await failInserts(db, `NEW.target = 'poison'`);
      t.teardown(() => allowInserts(db));
      const errors: unknown[] = [];
      const buf = new AuditBuffer(db, (e) => errors.push(e));
      const entry = (target: string) => ({
        actor: system,
        action: 'batch.test',
        target,
        outcome: 'ok' as const,
      });
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => buf.push(entry(i === 4 ? 'poison' : `fine-${i}`))),
      );
      t.equal(results.filter((r) => r.status === 'fulfilled').length, 9);
      const bad = results[4] as PromiseRejectedResult;
      t.ok(bad.reason instanceof AuditUnavailable, 'the refused row rejects its own push');
      t.ok(errors.length >= 1, 'and is reported');
      const stored = await db.selectFrom('audit_log').select('target').where('action', '=', 'batch.test').execute();
      t.equal(stored.length, 9, 'the nine others are stored');
    });

    t.test('reads answer 503 and serve nothing while audit rows cannot be written', async (t) => {
      await failInserts(db, 'true');
      const r = await read();
      const list = await app.inject({ url: '/v1/releases' });
      await allowInserts(db);
      for (const x of [r, list]) {
        t.equal(x.statusCode, 503);
        t.equal(x.headers['content-type'], 'application/problem+json');
        t.equal(JSON.parse(x.body).code, 'AUDIT_UNAVAILABLE');
        t.equal(x.headers['content-disposition'], undefined);
      }
      t.notMatch(r.body, /N1|region|Total/, 'no table content in the refusal');
      t.equal((await read()).statusCode, 200, 'served again once the store accepts rows');
    });
  });
}
