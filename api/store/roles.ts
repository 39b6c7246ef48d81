/**
 * The least-privilege role of the API on a PostgreSQL server (issue 17): the serving process connects as a role
 * that may only SELECT and INSERT the audit log and the budget ledger (no UPDATE, DELETE or TRUNCATE), and, not
 * owning any table, cannot disable their triggers or alter them. Migrations run as the owner.
 *
 *   grantApiRole(ownerDb, role)   (statguard db grant <role>, with DATABASE_OWNER_URL or DATABASE_URL as the owner)
 *
 * What the API needs and gets, nothing more (idempotent: the role's table privileges are revoked first):
 * - audit_log, budget_ledger, release_tables, contracts, dataset_inputs: SELECT, INSERT (published cells are never
 *   changed; contracts and fingerprint bindings are never edited);
 * - table_contracts: SELECT, INSERT (a contract's terms never change; migration 006);
 * - datasets, releases, api_keys, signing_keys, access_requests, contract_usage: SELECT, INSERT, UPDATE (budgets,
 *   status, revocations, decisions, settled uses; SELECT ... FOR UPDATE needs UPDATE) and never DELETE (their
 *   triggers refuse the changes that are not allowed);
 * - chain_heads, kysely_migration, kysely_migration_lock: SELECT (the chain trigger moves the head as the owner:
 *   its function is SECURITY DEFINER).
 * The role itself (LOGIN, password) is the operator's: `CREATE ROLE statguard_api LOGIN PASSWORD '...'`.
 */
import { sql, type Kysely } from 'kysely';
import { ApiError } from '../errors.ts';
import type { Database } from './schema.ts';

const APPEND_ONLY = ['audit_log', 'budget_ledger', 'release_tables', 'contracts', 'dataset_inputs', 'table_contracts'];
const UPDATABLE = ['datasets', 'releases', 'api_keys', 'signing_keys', 'access_requests', 'contract_usage'];
const READ_ONLY = ['chain_heads', 'kysely_migration', 'kysely_migration_lock'];

export async function grantApiRole(db: Kysely<Database>, role: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role))
    throw new ApiError('BAD_REQUEST', `role ${JSON.stringify(role)}: expected a lower-case SQL identifier`);
  const exists = await sql<{ n: number }>`SELECT 1 AS n FROM pg_roles WHERE rolname = ${role}`.execute(db);
  if (exists.rows.length === 0)
    throw new ApiError('BAD_REQUEST', `role ${role} does not exist: CREATE ROLE ${role} LOGIN PASSWORD '...' first`);
  const r = sql.id(role);
  const all = [...APPEND_ONLY, ...UPDATABLE, ...READ_ONLY].map((x) => sql.table(x));
  await db.transaction().execute(async (tx) => {
    await sql`REVOKE ALL ON ${sql.join(all)} FROM ${r}`.execute(tx);
    await sql`GRANT USAGE ON SCHEMA public TO ${r}`.execute(tx);
    await sql`GRANT SELECT, INSERT ON ${sql.join(APPEND_ONLY.map((x) => sql.table(x)))} TO ${r}`.execute(tx);
    await sql`GRANT SELECT, INSERT, UPDATE ON ${sql.join(UPDATABLE.map((x) => sql.table(x)))} TO ${r}`.execute(tx);
    await sql`GRANT SELECT ON ${sql.join(READ_ONLY.map((x) => sql.table(x)))} TO ${r}`.execute(tx);
  });
}
