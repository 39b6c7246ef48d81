import { writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import tap from 'tap';
const t = tap;
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { ApiError } from '../../api/errors.ts';
import { openStore, schemaIsCurrent, type Store } from '../../api/store/db.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import {
  approveRelease,
  budgetState,
  setDatasetBudget,
  storeDraft,
  withdrawRelease,
} from '../../api/store/releases.ts';
import { dialects, dropServerDatabase, SERVER_URL } from './dialects.ts';
import { emptyPgliteDataDir } from './pglite-template.ts';
import { MIGRATIONS, migrationProvider } from '../../api/store/migrations.ts';
import { makeRelease, registerFixtures, tmpDir } from './fixtures.ts';

/** The session-level advisory lock kysely's PostgreSQL adapter takes around a Migrator run (its LOCK_ID). */
const MIGRATOR_LOCK = '3853314791062309107';

const officer = { caller: 'cli:test', role: 'officer' } as const;

async function rejects(
  t: Pick<typeof tap, 'equal' | 'fail'>,
  p: Promise<unknown>,
  code: string,
  msg: string,
): Promise<void> {
  try {
    await p;
    t.fail(`${msg}: expected ${code}`);
  } catch (e) {
    t.equal((e as ApiError).code, code, msg);
  }
}

t.test('release directory checks', async (t) => {
  const { dir } = await makeRelease();
  const ok = await loadReleaseDir(dir);
  t.equal(ok.tables.length, 1);
  t.equal(ok.tables[0]!.cells.value.filter((v) => v === null).length, 2);
  t.same(
    ok.tables[0]!.dimensions[0]!.nodes.map((n) => n.code),
    ['N1', 'N2', 'S1', 'N', '_T'],
  );

  const corrupt = await makeRelease();
  const f = path.join(corrupt.dir, 'pop.csv');
  await writeFile(f, (await readFile(f, 'utf8')).replace('100', '101'));
  await rejects(t, loadReleaseDir(corrupt.dir), 'RELEASE_INVALID', 'a changed table file fails its checksum');

  // A seeded release is read; the store refuses it unless its registered dataset is a demo (signed-release.test.ts).
  const seeded = await makeRelease({ seeded: true });
  t.equal((await loadReleaseDir(seeded.dir)).manifest.randomness.source, 'seeded');
  const unsigned = await makeRelease({ signer: null });
  await rejects(t, loadReleaseDir(unsigned.dir), 'RELEASE_UNSIGNED', 'an unsigned directory is refused');

  const badManifest = await makeRelease();
  const mf = path.join(badManifest.dir, 'manifest.json');
  const m = JSON.parse(await readFile(mf, 'utf8'));
  delete m.dataset;
  await writeFile(mf, JSON.stringify(m));
  await rejects(t, loadReleaseDir(badManifest.dir), 'RELEASE_INVALID', 'a manifest without dataset is refused');
  try {
    await loadReleaseDir(badManifest.dir);
  } catch (e) {
    t.match((e as Error).message, /manifest\.json\/dataset/, 'the error names the field');
  }
  await rejects(
    t,
    loadReleaseDir(path.join(badManifest.dir, 'nope')),
    'RELEASE_INVALID',
    'a missing directory is refused',
  );

  // A suppressed value smuggled into the JSON-stat (with a consistent checksum) is refused.
  const smuggle = await makeRelease();
  const jf = path.join(smuggle.dir, 'pop.json');
  const js = JSON.parse(await readFile(jf, 'utf8'));
  js.value[1] = 5;
  const text = `${JSON.stringify(js, null, 1)}\n`;
  await writeFile(jf, text);
  const mm = JSON.parse(await readFile(path.join(smuggle.dir, 'manifest.json'), 'utf8'));
  const { createHash } = await import('node:crypto');
  mm.tables[0].files.jsonstat = {
    path: 'pop.json',
    sha256: createHash('sha256').update(text).digest('hex'),
    bytes: Buffer.byteLength(text),
  };
  await writeFile(path.join(smuggle.dir, 'manifest.json'), JSON.stringify(mm));
  await rejects(t, loadReleaseDir(smuggle.dir), 'RELEASE_INVALID', 'a value on a suppressed cell is refused');
});

t.test('migrations are versioned, applied when the store is behind, skipped when current', async (t) => {
  // A store made by an older statguard: its folder migrated up to 002 only (kysely's own Migrator, as that code did).
  // The folder starts as initdb's output (the cached empty data folder, not initdb run again inside WASM).
  const dir = path.join(await tmpDir(), 'db');
  await mkdir(dir, { recursive: true });
  const old = new Kysely<unknown>({
    dialect: new PGliteDialect(new PGlite(dir, { loadDataDir: await emptyPgliteDataDir() })),
  });
  const to002 = await new Migrator({ db: old, provider: migrationProvider }).migrateTo('002_ckm_regime');
  t.equal(to002.error, undefined, 'the older store is made');
  await old.destroy();
  const recorded = async (s: Store): Promise<string[]> =>
    (await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(s.db)).rows.map(
      (r) => r.name,
    );

  const a = await openStore({ dataDir: dir });
  t.same(await recorded(a), Object.keys(MIGRATIONS).sort(), 'the store behind is brought to the latest migration');
  t.ok(await schemaIsCurrent(a.db), 'and is then current');
  await a.close();
  const b = await openStore({ dataDir: dir });
  t.same(await recorded(b), Object.keys(MIGRATIONS).sort(), 'opening a current store records each migration once');
  // A store migrated by a newer statguard (a migration this code does not know) is refused, not used as current.
  await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('999_future', '2099-01-01')`.execute(b.db);
  t.notOk(await schemaIsCurrent(b.db), 'an unknown migration is not current');
  await b.close();
  await t.rejects(openStore({ dataDir: dir }), /999_future/, 'a store newer than the code is refused naming it');
});

t.test(
  'a current store opens without the Migrator: its lock held by another session does not block the open',
  { skip: SERVER_URL ? false : 'STATGUARD_TEST_DATABASE_URL not set', timeout: 120_000 },
  async (t) => {
    const name = `statguard_test_mig_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: SERVER_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const u = new URL(SERVER_URL!);
    u.pathname = `/${name}`;
    const holder = new pg.Client({ connectionString: u.toString() });
    t.teardown(async () => {
      await holder.end().catch(() => {});
      await dropServerDatabase(admin, name);
      await admin.end();
    });
    await (await openStore({ databaseUrl: u.toString() })).close(); // a new database: migrated
    await holder.connect();
    // The Migrator's lock: kysely's PostgreSQL adapter takes this session-level advisory lock around every run.
    await holder.query(`SELECT pg_advisory_lock(${MIGRATOR_LOCK})`);
    const s = await openStore({ databaseUrl: u.toString() }); // with the Migrator run, this waits for the lock
    t.ok(await schemaIsCurrent(s.db), 'opened while the Migrator lock is held elsewhere');
    // Control: the Migrator itself does wait for that lock (so the open above did not run it).
    let migratorDone = false;
    const running = new Migrator({ db: s.db, provider: migrationProvider })
      .migrateToLatest()
      .then(() => void (migratorDone = true));
    let waiting = false;
    for (let i = 0; i < 400 && !waiting && !migratorDone; i++) {
      const r = await admin.query(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = $1)",
        [name],
      );
      waiting = (r.rowCount ?? 0) > 0;
      if (!waiting) await new Promise((r) => setTimeout(r, 25));
    }
    t.ok(waiting && !migratorDone, 'the Migrator run by hand waits for the held lock');
    await holder.query(`SELECT pg_advisory_unlock(${MIGRATOR_LOCK})`);
    await running;
    t.ok(migratorDone, 'and finishes once it is released');
    await s.close();
  },
);

for (const d of dialects()) {
  t.test(`store on ${d.name}`, async (t) => {
    t.teardown(() => d.cleanup());

    t.test('draft, approve, supersede, withdraw; immutability and append-only audit', async (t) => {
      const store = await d.open();
      t.teardown(() => store.close());
      const db = store.db;
      await registerFixtures(db, officer);
      const auditBase = (await db.selectFrom('audit_log').select('id').execute()).length;
      const r1 = await storeDraft(db, await loadReleaseDir((await makeRelease({ rho: 1 })).dir), officer);
      t.equal(r1.id, 'pop-v1');
      t.equal(r1.cost.rho, 1);
      t.equal(
        (await db.selectFrom('releases').select('status').where('id', '=', r1.id).executeTakeFirstOrThrow()).status,
        'draft',
      );
      t.equal((await budgetState(db, 'census')).spentRho, 0, 'a draft spends nothing');
      const a1 = await approveRelease(db, r1.id, officer);
      t.equal(a1.budget.spentRho, 1);
      await rejects(t, approveRelease(db, r1.id, officer), 'INVALID_STATE', 'approving twice is refused');
      const r2 = await storeDraft(db, await loadReleaseDir((await makeRelease({ rho: 1 })).dir), officer);
      t.equal(r2.id, 'pop-v2', 'a new release of the same policy is the next version');
      const a2 = await approveRelease(db, r2.id, officer);
      t.equal(a2.supersedes, 'pop-v1');
      const old = await db
        .selectFrom('releases')
        .select(['superseded_by', 'status'])
        .where('id', '=', 'pop-v1')
        .executeTakeFirstOrThrow();
      t.same(old, { superseded_by: 'pop-v2', status: 'published' });
      // Published content cannot change, even through SQL.
      await t.rejects(
        db.updateTable('releases').set({ manifest: '{}' }).where('id', '=', 'pop-v1').execute(),
        /immutable/,
      );
      await t.rejects(
        db.updateTable('release_tables').set({ title: 'x' }).where('release_id', '=', 'pop-v1').execute(),
        /immutable/,
      );
      await t.rejects(db.deleteFrom('releases').where('id', '=', 'pop-v1').execute(), /cannot be deleted/);
      await withdrawRelease(db, 'pop-v1', 'error in source', officer);
      await rejects(
        t,
        withdrawRelease(db, 'pop-v1', 'again', officer),
        'INVALID_STATE',
        'withdrawing twice is refused',
      );
      await t.rejects(
        db.updateTable('releases').set({ status: 'published' }).where('id', '=', 'pop-v1').execute(),
        /not allowed/,
        'no way back from withdrawn',
      );
      const audit = (
        await db.selectFrom('audit_log').select(['action', 'target', 'outcome']).orderBy('id').execute()
      ).slice(auditBase);
      t.same(
        audit.map((a) => `${a.action} ${a.target}`),
        [
          'release.publish pop-v1',
          'release.approve pop-v1',
          'release.publish pop-v2',
          'release.approve pop-v2',
          'release.withdraw pop-v1',
        ],
      );
      await t.rejects(db.updateTable('audit_log').set({ outcome: 'x' }).execute(), /append-only/);
      await t.rejects(db.deleteFrom('audit_log').execute(), /append-only/);
      await t.rejects(sql`TRUNCATE audit_log`.execute(db), /append-only/);
      t.equal((await db.selectFrom('audit_log').select('id').execute()).length, auditBase + 5, 'audit rows survive');
    });

    t.test('budget: refused when it would exceed the total; duplicates refused; failures leave nothing', async (t) => {
      const store = await d.open();
      t.teardown(() => store.close());
      const db = store.db;
      await registerFixtures(db, officer);
      const auditBase = (await db.selectFrom('audit_log').select('id').execute()).length;
      await setDatasetBudget(db, 'census', { rho: 1.5, epsilon: 2 }, officer);
      const a = await storeDraft(db, await loadReleaseDir((await makeRelease({ rho: 1 })).dir), officer);
      t.equal(a.warning, null);
      await approveRelease(db, a.id, officer);
      const relB = await loadReleaseDir((await makeRelease({ rho: 1 })).dir);
      const b = await storeDraft(db, relB, officer);
      t.match(b.warning, /exceeds the dataset's total rho 1\.5/, 'the draft warns');
      await rejects(t, approveRelease(db, b.id, officer), 'BUDGET_EXCEEDED', 'approval over budget is refused');
      t.equal(
        (await db.selectFrom('releases').select('status').where('id', '=', b.id).executeTakeFirstOrThrow()).status,
        'draft',
        'the refused release stays a draft',
      );
      t.equal(
        (await db.selectFrom('budget_ledger').selectAll().execute()).length,
        1,
        'no ledger entry for the refused one',
      );
      await rejects(t, storeDraft(db, relB, officer), 'RELEASE_DUPLICATE', 'the same manifest twice is refused');
      // Pure epsilon releases are charged epsilon too.
      const e = await storeDraft(
        db,
        await loadReleaseDir((await makeRelease({ epsilon: 3, policyId: 'eps' })).dir),
        officer,
      );
      t.equal(e.cost.epsilon, 3);
      await rejects(t, approveRelease(db, e.id, officer), 'BUDGET_EXCEEDED', 'epsilon over the total is refused');
      await setDatasetBudget(db, 'census', { rho: 10, epsilon: 5 }, officer);
      await approveRelease(db, e.id, officer);
      const st = await budgetState(db, 'census');
      t.same(st, { totalRho: 10, totalEpsilon: 5, spentRho: 1 + 4.5, spentEpsilon: 3 });
      // One regime per dataset: a release under another regime than the dataset's registered one is refused at
      // publish already (exact sdc tables never wait as a draft beside a dp release).
      await rejects(
        t,
        storeDraft(
          db,
          await loadReleaseDir((await makeRelease({ policyId: 'exact', datasetId: 'census' })).dir),
          officer,
        ),
        'REGIME_CONFLICT',
        'sdc on a dp dataset is refused',
      );
      const sdcElsewhere = await storeDraft(
        db,
        await loadReleaseDir((await makeRelease({ policyId: 'exact2', datasetId: 'other' })).dir),
        officer,
      );
      await approveRelease(db, sdcElsewhere.id, officer);
      await rejects(
        t,
        storeDraft(
          db,
          await loadReleaseDir((await makeRelease({ policyId: 'noisy', datasetId: 'other', rho: 0.1 })).dir),
          officer,
        ),
        'REGIME_CONFLICT',
        'dp on an sdc dataset is refused',
      );
      t.equal((await budgetState(db, 'other')).spentRho, 0, 'a refused dp release spends nothing');
      // Atomicity: a failure in the middle of storing a draft leaves nothing.
      const before = await db.selectFrom('releases').select('id').execute();
      const broken = await loadReleaseDir((await makeRelease({ policyId: 'broken' })).dir);
      const bad = { ...broken, tables: [broken.tables[0]!, broken.tables[0]!] }; // same table twice -> primary key violation
      await t.rejects(storeDraft(db, bad, officer));
      t.same(await db.selectFrom('releases').select('id').execute(), before, 'no release row left behind');
      t.equal(
        (await db.selectFrom('release_tables').select('table_id').where('release_id', '=', 'broken-v1').execute())
          .length,
        0,
        'no table rows left behind',
      );
    });

    t.test('concurrent approvals never overspend the ledger', async (t) => {
      const store = await d.open();
      t.teardown(() => store.close());
      const db = store.db;
      await registerFixtures(db, officer);
      const auditBase = (await db.selectFrom('audit_log').select('id').execute()).length;
      await setDatasetBudget(db, 'concurrent', { rho: 3.5 }, officer);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        ids.push(
          (
            await storeDraft(
              db,
              await loadReleaseDir((await makeRelease({ rho: 1, policyId: `c${i}`, datasetId: 'concurrent' })).dir),
              officer,
            )
          ).id,
        );
      }
      // On the server each approval runs on its own pooled connection, truly in parallel.
      const results = await Promise.allSettled(ids.map((id) => approveRelease(db, id, officer)));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.filter(
        (r) => r.status === 'rejected' && (r.reason as ApiError).code === 'BUDGET_EXCEEDED',
      ).length;
      t.equal(ok, 3, 'exactly as many as the budget allows');
      t.equal(refused, 5, 'the others are refused for budget');
      const st = await budgetState(db, 'concurrent');
      t.equal(st.spentRho, 3);
      t.ok(st.spentRho <= st.totalRho, 'never overspent');
    });
  });
}
