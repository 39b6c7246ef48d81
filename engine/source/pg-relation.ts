/**
 * PostgreSQL relations for the SQL sources: the FROM item of a table or view, the executor over a pg-like connection,
 * the input description, and the check that the plan's columns exist.
 */
import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import { StatguardError } from '../errors.ts';
import type { Plan, PostgresSourcePlan } from '../types.ts';
import type { SqlRelation } from './sql/index.ts';
import type { SqlExecutor, SqlInputInfo } from './sql-executor.ts';

/** The FROM item for a PostgreSQL table or view (quoted identifiers). */
export function pgRelation(src: PostgresSourcePlan): SqlRelation {
  const from = (src.schema !== null
    ? sql.id(src.schema, src.table)
    : sql.id(src.table)) as unknown as RawBuilder<unknown>;
  return { from, rowNumberColumn: src.rowNumberColumn };
}

/** Anything answering pg's `query(text, values)` with `{ rows }`: a pg Pool or Client, a PGlite instance. */
export interface PgQueryable {
  query(text: string, params: unknown[]): Promise<{ rows: unknown[] }>;
}

/** The PostgreSQL-flavour executor over one such connection (the server's pool, its part connections, PGlite). */
export function pgExecutor(db: PgQueryable): SqlExecutor {
  return {
    flavor: 'postgres',
    query: async (text, params) => (await db.query(text, [...params])).rows as Record<string, unknown>[],
  };
}

export function pgInputInfo(src: PostgresSourcePlan): SqlInputInfo {
  const name = src.schema !== null ? `${src.schema}.${src.table}` : src.table;
  return { kind: 'postgres', name, bytes: 0, sha256: '', where: name };
}

const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** The table's name as SQL text (quoted identifiers, schema-qualified when given): for to_regclass() and the like. */
export function pgQualifiedName(src: PostgresSourcePlan): string {
  return src.schema !== null ? `${quoteIdent(src.schema)}.${quoteIdent(src.table)}` : quoteIdent(src.table);
}

/**
 * Check that the table (or view) exists and has every column the plan reads
 * (declared columns used by the tables, the unit column, the row-number column):
 * SOURCE_UNREADABLE naming the table and the missing column otherwise.
 */
export async function checkPgColumns(exec: SqlExecutor, src: PostgresSourcePlan, plan: Plan): Promise<void> {
  const name = pgQualifiedName(src);
  const where = src.schema !== null ? `${src.schema}.${src.table}` : src.table;
  const rows = await exec.query(
    'SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped',
    [name],
  );
  const exists = await exec.query('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
  if (exists[0]?.ok !== true)
    throw new StatguardError(
      'SOURCE_UNREADABLE',
      `table or view ${where} does not exist (or is not visible to this connection)`,
      { file: where },
    );
  requireColumns(new Set(rows.map((r) => String(r.name))), plan, where, src.rowNumberColumn);
}

/** Every declared column the plan reads (and the unit / row-number columns) must be present. */
export function requireColumns(
  have: ReadonlySet<string>,
  plan: Plan,
  where: string,
  rowNumberColumn: string | null,
): void {
  const ds = plan.dataset;
  const wanted = ds.columns.map((c) => c.name);
  if (ds.unit.column !== null) wanted.push(ds.unit.column);
  if (rowNumberColumn !== null) wanted.push(rowNumberColumn);
  for (const c of wanted) {
    if (!have.has(c))
      throw new StatguardError('SOURCE_UNREADABLE', `declared column ${JSON.stringify(c)} is missing from ${where}`, {
        file: where,
        column: c,
      });
  }
}
