/**
 * The API's least-privilege role on a PostgreSQL server (issue 17, finding 4): after `statguard db grant <role>`
 * (run as the owner), a store opened as that role (DATABASE_URL) with the owner for migrations (DATABASE_OWNER_URL)
 * does everything the API does (publish, approve: a ledger entry, audit rows through the chain trigger), while the
 * role cannot UPDATE, DELETE or TRUNCATE the audit log or the ledger, move a chain head, or disable a trigger.
 */
import { AuditBuffer } from '../../api/audit-buffer.ts';
import { writeAudit } from '../../api/store/audit.ts';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { verifyChains } from '../../api/store/chain.ts';
import { openStore } from '../../api/store/db.ts';
import { main } from '../../cli/main.ts';
import { SERVER_URL, dropServerDatabase } from './dialects.ts';
import { seedReleases } from './fixtures.ts';

t.test(
  'the API role may only select and insert the audit log and the ledger',
  { skip: SERVER_URL ? false : 'STATGUARD_TEST_DATABASE_URL not set (start one with `bash .ci/postgres.sh start`)' },
  async (t) => {
    const suffix = randomBytes(5).toString('hex');
    const name = `sg_role_${suffix}`;
    const role = `sg_api_${suffix}`;
    const admin = new pg.Client({ connectionString: SERVER_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'api-secret'`);
    t.teardown(async () => {
      await dropServerDatabase(admin, name);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    });
    const ownerUrl = new URL(SERVER_URL!);
    ownerUrl.pathname = `/${name}`;
    const apiUrl = new URL(ownerUrl);
    apiUrl.username = role;
    apiUrl.password = 'api-secret';

    // `statguard db grant` as the owner (it migrates the new database first).
    const out: string[] = [];
    const saved = { owner: process.env.DATABASE_OWNER_URL, url: process.env.DATABASE_URL };
    process.env.DATABASE_OWNER_URL = ownerUrl.toString();
    delete process.env.DATABASE_URL;
    const code = await main(['db', 'grant', role], { out: (s) => out.push(s), err: (s) => out.push(s), isTty: false });
    if (saved.owner === undefined) delete process.env.DATABASE_OWNER_URL;
    else process.env.DATABASE_OWNER_URL = saved.owner;
    if (saved.url !== undefined) process.env.DATABASE_URL = saved.url;
    t.equal(code, 0, out.join(''));

    // The API's work, as the role.
    const store = await openStore({ databaseUrl: apiUrl.toString(), ownerUrl: ownerUrl.toString() });
    t.teardown(() => store.close());
    await seedReleases(store.db, { caller: 'cli:test', role: 'officer' }, 'withdrawn');
    const rows = await store.db.selectFrom('budget_ledger').select('id').execute();
    t.ok(rows.length > 0, 'the role approved releases (ledger entries)');
    t.ok((await verifyChains(store.db)).ok, 'and its rows are chained');
    // The group-commit writer chains its batches as the role (its head lock goes through a SECURITY DEFINER function:
    // the role has no UPDATE on chain_heads), before and after a row chained by the trigger moved the head.
    const reads = new AuditBuffer(store.db, (e) => {
      throw e;
    });
    const read = (i: number) =>
      reads.push({
        actor: { caller: 'anonymous', role: 'anonymous' },
        action: 'table.read',
        target: `r${i}`,
        outcome: 'ok',
      });
    await Promise.all([0, 1, 2].map(read));
    await writeAudit(store.db, {
      actor: { caller: 'cli:test', role: 'officer' },
      action: 'moved',
      target: null,
      outcome: 'ok',
    });
    await Promise.all([3, 4].map(read));
    t.ok((await verifyChains(store.db)).ok, 'the writer chains its batches as the role');

    const api = new pg.Client({ connectionString: apiUrl.toString() });
    await api.connect();
    t.teardown(() => api.end());
    const refused = async (stmt: string, why: RegExp): Promise<void> => {
      await t.rejects(api.query(stmt), why, stmt);
    };
    for (const table of ['audit_log', 'budget_ledger']) {
      await refused(`UPDATE ${table} SET seq = seq`, /permission denied/);
      await refused(`DELETE FROM ${table}`, /permission denied/);
      await refused(`TRUNCATE ${table}`, /permission denied/);
      await refused(`ALTER TABLE ${table} DISABLE TRIGGER USER`, /must be owner/);
    }
    await refused(`UPDATE chain_heads SET seq = 0`, /permission denied/);
    await refused(`DROP TRIGGER audit_log_chain ON audit_log`, /must be owner/);
  },
);
