/**
 * Issue 6.4: concurrency on the PostgreSQL server store.
 * - 50 approvals of 50 drafts (rho 0.5 each) against one dataset whose budget
 *   allows 10, issued at once from 5 independent stores (separate pools, like
 *   separate processes): exactly 10 succeed, the others get BUDGET_EXCEEDED,
 *   the ledger never exceeds the budget and matches the published releases.
 * - 10 concurrent publishes of the same release directory: one draft.
 * - Readers running throughout see the old state or the new one, never a mix:
 *   in each snapshot the published releases of the dataset and its ledger
 *   entries are the same set, and every release listed as published serves
 *   its table (no 404/500).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import t from 'tap';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { openStore, type Store } from '../../api/store/db.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, setDatasetBudget, storeDraft } from '../../api/store/releases.ts';
import { SERVER_URL, dropServerDatabase } from '../api/dialects.ts';
import { makeRelease, registerFixtures } from '../api/fixtures.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

t.test(
  'concurrent approvals and readers on the PostgreSQL server',
  { skip: SERVER_URL ? false : 'STATGUARD_TEST_DATABASE_URL not set' },
  async (t) => {
    const name = `sg_conc_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: SERVER_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const u = new URL(SERVER_URL!);
    u.pathname = `/${name}`;
    const stores: Store[] = [];
    let closeApp = async (): Promise<void> => {};
    t.teardown(async () => {
      await closeApp();
      for (const s of stores) await s.close();
      await dropServerDatabase(admin, name);
      await admin.end();
    });
    for (let i = 0; i < 5; i++) stores.push(await openStore({ databaseUrl: u.toString(), poolSize: 12 }));
    const db = stores[0]!.db;
    await registerFixtures(db, system);

    const N = 50;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const rel = await makeRelease({ policyId: `p${i}`, datasetId: 'shared', rho: 0.5 });
      ids.push((await storeDraft(db, await loadReleaseDir(rel.dir), system)).id);
    }
    await setDatasetBudget(db, 'shared', { rho: 5, epsilon: 10 }, system);

    // Readers: SQL snapshots and API reads, until the writers are done.
    const app = await build({ store: stores[4]!, config: { rateLimit: null, releaseInfoTtlMs: 0 } });
    closeApp = async () => {
      await app.close();
    };
    let done = false;
    let snapshots = 0;
    let mixed = 0;
    let apiReads = 0;
    let apiBad = 0;
    const sqlReader = async () => {
      while (!done) {
        // One statement = one snapshot.
        const r = await sql<{ pub: string[] | null; led: string[] | null }>`
        SELECT (SELECT array_agg(id ORDER BY id) FROM releases WHERE dataset_id = 'shared' AND status = 'published') AS pub,
               (SELECT array_agg(release_id ORDER BY release_id) FROM budget_ledger WHERE dataset_id = 'shared') AS led`.execute(
          stores[3]!.db,
        );
        snapshots++;
        if (JSON.stringify(r.rows[0]!.pub ?? []) !== JSON.stringify(r.rows[0]!.led ?? [])) mixed++;
      }
    };
    const apiReader = async () => {
      while (!done) {
        const list = JSON.parse((await app.inject({ url: '/v1/releases?limit=100&status=published' })).body) as {
          items: { id: string }[];
        };
        for (const it of list.items.slice(0, 3)) {
          const r = await app.inject({ url: `/v1/releases/${it.id}/tables/pop?format=csv` });
          apiReads++;
          if (r.statusCode !== 200) apiBad++;
        }
        apiReads++;
      }
    };
    const readers = [sqlReader(), sqlReader(), apiReader()];

    const started = performance.now();
    const outcomes = await Promise.allSettled(ids.map((id, i) => approveRelease(stores[i % 4]!.db, id, system)));
    const ms = performance.now() - started;
    const dup = await makeRelease({ policyId: 'dup', datasetId: 'shared', rho: 0.5 });
    const dupRel = await loadReleaseDir(dup.dir);
    const dupOutcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => storeDraft(stores[i % 4]!.db, dupRel, system)),
    );
    done = true;
    await Promise.all(readers);

    const ok = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter(
      (o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'BUDGET_EXCEEDED',
    ).length;
    t.equal(ok, 10, '10 approvals fit in the budget (rho 5 / 0.5)');
    const otherReasons = outcomes.flatMap((o) =>
      o.status === 'rejected' && (o.reason as { code?: string }).code !== 'BUDGET_EXCEEDED' ? [String(o.reason)] : [],
    );
    t.equal(
      refused,
      N - 10,
      `every other approval is refused with BUDGET_EXCEEDED (others: ${otherReasons.join('; ')})`,
    );
    const spent = await sql<{
      rho: number;
      n: string;
    }>`SELECT coalesce(sum(rho), 0)::float8 AS rho, count(*)::text AS n FROM budget_ledger WHERE dataset_id = 'shared'`.execute(
      db,
    );
    t.ok(spent.rows[0]!.rho <= 5 + 1e-9, `ledger rho ${spent.rows[0]!.rho} <= budget 5`);
    t.equal(Number(spent.rows[0]!.n), 10, 'one ledger entry per published release');
    const published = await db
      .selectFrom('releases')
      .select('id')
      .where('dataset_id', '=', 'shared')
      .where('status', '=', 'published')
      .execute();
    t.equal(published.length, 10, '10 published');
    t.equal(
      dupOutcomes.filter((o) => o.status === 'fulfilled').length,
      1,
      'same directory published 10 times at once: one draft',
    );
    t.ok(
      dupOutcomes
        .filter((o) => o.status === 'rejected')
        .every((o) => (o as PromiseRejectedResult).reason.code === 'RELEASE_DUPLICATE'),
      'the others: RELEASE_DUPLICATE',
    );
    t.equal(mixed, 0, `readers never saw a mix (${snapshots} snapshots)`);
    t.equal(apiBad, 0, `every release listed as published served its table (${apiReads} API reads)`);
    console.log(
      `# concurrency: ${N} concurrent approvals in ${ms.toFixed(0)} ms, ${ok} published, ${refused} refused (BUDGET_EXCEEDED), ledger rho ${spent.rows[0]!.rho} of 5; ${snapshots} reader snapshots and ${apiReads} API reads, 0 mixed`,
    );
  },
);
