/**
 * The audit log and the budget ledger are hash chains (issue 17, finding 4): tampering by a role that owns the
 * tables (it can disable the triggers) is detected afterwards. Each attack is made as the owner would (triggers off,
 * rows changed) on its own copy of a store holding the release world of the route tests (audit rows and ledger
 * entries; built once per dialect and copied per test, see dialects.ts `world`).
 * `verifyChains` names the first broken link; a chain rewritten from the start, hashes and all, passes it and is
 * caught by a checkpoint exported before.
 */
import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { migrationProvider } from '../../api/store/migrations.ts';
import t, { type Test } from 'tap';
import { rechainSql } from '../../api/store/chain-sql.ts';
import { checkpoint, verifyChains, type Checkpoint } from '../../api/store/chain.ts';
import { ledgerSpent } from '../../api/store/ledger.ts';
import type { Database } from '../../api/store/schema.ts';
import { writeAudit } from '../../api/store/audit.ts';
import { AuditBuffer } from '../../api/audit-buffer.ts';
import { dialects } from './dialects.ts';
import { emptyPgliteDataDir } from './pglite-template.ts';
import { makeRelease, seedReleases } from './fixtures.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';

const officer = { caller: 'cli:test', role: 'officer' } as const;

/** Run statements as the tables' owner with every user trigger of `table` off (what finding 4's attacker does). */
async function tamper(db: Kysely<Database>, table: string, ...stmts: string[]): Promise<void> {
  await sql.raw(`ALTER TABLE ${table} DISABLE TRIGGER USER`).execute(db);
  for (const s of stmts) await sql.raw(s).execute(db);
  await sql.raw(`ALTER TABLE ${table} ENABLE TRIGGER USER`).execute(db);
}

async function world(db: Kysely<Database>): Promise<void> {
  // The first rows come from the group-commit writer (chained in the application, migration 005), the later ones from
  // mutations (chained by the database's trigger): the attacks below hit rows of both kinds.
  const reads = new AuditBuffer(db, (e) => {
    throw e;
  });
  await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      reads.push({
        actor: { caller: 'anonymous', role: 'anonymous' },
        action: 'table.read',
        target: `b${i}`,
        outcome: 'ok',
        status: 200,
        detail: { method: 'GET', i },
      }),
    ),
  );
  await seedReleases(db, officer, 'withdrawn for the test');
  for (const [i, rho] of [0.25, 0.5].entries()) {
    const r = await storeDraft(
      db,
      await loadReleaseDir((await makeRelease({ policyId: `extra-${i}`, rho })).dir),
      officer,
    );
    await approveRelease(db, r.id, officer);
  }
  for (let i = 0; i < 5; i++)
    await writeAudit(db, {
      actor: { caller: 'anonymous', role: 'anonymous' },
      action: 'release.read',
      target: `r${i}`,
      outcome: 'ok',
      status: 200,
      detail: { method: 'GET', i },
    });
}

const broken = (r: Awaited<ReturnType<typeof verifyChains>>, chain: string) =>
  r.chains.find((c) => c.chain === chain)!.broken;

for (const d of dialects()) {
  t.test(`hash chains on ${d.name}`, async (t) => {
    t.teardown(() => d.cleanup());
    // The world is built once per dialect; each subtest gets its own copy of it (closed at the subtest's end).
    const built = await d.world((s) => world(s.db));
    const fresh = async (t: Test): Promise<Kysely<Database>> => {
      const store = await built.open();
      t.teardown(() => store.close());
      return store.db;
    };
    const rowId = async (db: Kysely<Database>, table: string, seq: number): Promise<string> =>
      (await sql<{ id: string }>`SELECT id::text AS id FROM ${sql.table(table)} WHERE seq = ${seq}`.execute(db))
        .rows[0]!.id;

    t.test('an untouched store verifies, and its checkpoint matches the row counts', async (t) => {
      const db = await fresh(t);
      const r = await verifyChains(db);
      t.ok(r.ok, JSON.stringify(r));
      const cp = await checkpoint(db);
      const n = async (table: 'audit_log' | 'budget_ledger') =>
        Number(
          (
            await db
              .selectFrom(table)
              .select(sql<string>`count(*)::text`.as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      t.equal(cp.chains.audit_log.count, await n('audit_log'));
      t.equal(cp.chains.budget_ledger.count, await n('budget_ledger'));
      t.ok(cp.chains.budget_ledger.count >= 3, 'several ledger entries');
      t.ok((await verifyChains(db, cp)).ok, 'the chain extends its own checkpoint');
      await writeAudit(db, { actor: officer, action: 'later', target: null, outcome: 'ok' });
      t.ok((await verifyChains(db, cp)).ok, 'and still does after more rows');
      t.rejects(
        db.deleteFrom('budget_ledger').where('seq', '=', '1').execute(),
        /append-only/,
        'the ledger refuses DELETE',
      );
      t.rejects(
        db.updateTable('budget_ledger').set({ rho: 0 }).where('seq', '=', '1').execute(),
        /append-only/,
        'and UPDATE',
      );
    });

    t.test('a deleted audit row', async (t) => {
      const db = await fresh(t);
      const victim = await rowId(db, 'audit_log', 4);
      const next = await rowId(db, 'audit_log', 5);
      await tamper(db, 'audit_log', `DELETE FROM audit_log WHERE id = ${victim}`);
      const b = broken(await verifyChains(db), 'audit_log');
      t.equal(b?.rowId, next, 'reported at the row after the gap');
      t.match(b?.problem, /row\(s\) 4\.\.4 deleted/);
    });

    t.test('the last audit rows deleted (the head remembers them)', async (t) => {
      const db = await fresh(t);
      await tamper(db, 'audit_log', `DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 2 FROM audit_log)`);
      const b = broken(await verifyChains(db), 'audit_log');
      t.equal(b?.rowId, null);
      t.match(b?.problem, /the head records \d+ rows but the chain ends at row \d+/);
    });

    t.test('an edited audit row', async (t) => {
      const db = await fresh(t);
      const victim = await rowId(db, 'audit_log', 3);
      await tamper(db, 'audit_log', `UPDATE audit_log SET caller = 'someone-else' WHERE id = ${victim}`);
      const b = broken(await verifyChains(db), 'audit_log');
      t.equal(b?.rowId, victim);
      t.match(b?.problem, /content does not match its hash \(edited\)/);
    });

    t.test('re-ordered audit rows', async (t) => {
      const db = await fresh(t);
      const a = await rowId(db, 'audit_log', 2);
      await tamper(
        db,
        'audit_log',
        'UPDATE audit_log SET seq = -1 WHERE seq = 2',
        'UPDATE audit_log SET seq = 2 WHERE seq = 3',
        'UPDATE audit_log SET seq = 3 WHERE seq = -1',
      );
      const b = broken(await verifyChains(db), 'audit_log');
      t.not(b, null);
      t.equal(b?.seq, 2, 'reported at the first moved position');
      t.not(b?.rowId, a);
      t.match(b?.problem, /does not follow|edited/);
    });

    t.test('a deleted ledger row (the refund of finding 4)', async (t) => {
      const db = await fresh(t);
      const before = await ledgerSpent(db, ['census']);
      const [victim] = (
        await sql<{ id: string; dataset_id: string }>`SELECT id::text AS id, dataset_id FROM budget_ledger
            WHERE dataset_id = 'census' AND rho > 0 ORDER BY seq LIMIT 1`.execute(db)
      ).rows;
      await tamper(db, 'budget_ledger', `DELETE FROM budget_ledger WHERE id = ${victim!.id}`);
      t.ok((await ledgerSpent(db, ['census'])).get('census')!.rho < before.get('census')!.rho, 'budget refunded');
      const r = await verifyChains(db);
      t.notOk(r.ok);
      t.equal(broken(r, 'audit_log'), null, 'the audit chain is intact');
      t.match(broken(r, 'budget_ledger')?.problem, /deleted/);
    });

    t.test('a chain rewritten from the start is caught by a checkpoint', async (t) => {
      const db = await fresh(t);
      const cp: Checkpoint = await checkpoint(db);
      const victim = await rowId(db, 'audit_log', 2);
      // The attacker deletes a row and re-links every row after it with the database's own functions (the whole
      // chain and the head are consistent again).
      await tamper(
        db,
        'audit_log',
        `DELETE FROM audit_log WHERE id = ${victim}`,
        `UPDATE chain_heads SET seq = 0, hash = repeat('0', 64) WHERE chain = 'audit_log'`,
        `UPDATE audit_log SET seq = -seq`,
        // The owner re-chains every row, in reverse order (the migration's re-chaining, with another order).
        rechainSql('audit_log', 'statguard_audit_content', 'seq DESC'),
      );
      t.ok((await verifyChains(db)).ok, 'without a checkpoint the rewrite is consistent');
      const b = broken(await verifyChains(db, cp), 'audit_log');
      t.match(b?.problem, /checkpoint/);
      t.equal(broken(await verifyChains(db, cp), 'budget_ledger'), null);
    });
  });
}

t.test('migration 004 chains the rows a 003 store already has', async (t) => {
  const db = new Kysely<Database>({
    dialect: new PGliteDialect(new PGlite({ loadDataDir: await emptyPgliteDataDir() })),
  });
  t.teardown(() => db.destroy());
  const migrator = new Migrator({ db, provider: migrationProvider });
  t.equal((await migrator.migrateTo('003_registered_datasets_signing_keys')).error, undefined);
  for (const who of ['a', 'b\u00e9', 'c'])
    await sql`INSERT INTO audit_log (caller, role, action, target, outcome, status, detail)
        VALUES (${who}, 'anonymous', 'release.read', NULL, 'ok', 200, '{"method": "GET"}')`.execute(db);
  t.equal((await migrator.migrateToLatest()).error, undefined);
  const r = await verifyChains(db);
  t.ok(r.ok, JSON.stringify(r));
  t.equal(r.chains.find((c) => c.chain === 'audit_log')!.count, 3);
});
