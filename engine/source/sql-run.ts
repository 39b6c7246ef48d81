/**
 * Running one statement: errors become SOURCE_UNREADABLE naming the input (driver messages name tables and columns,
 * never data values), optional timing to stderr, and the larger hash_mem of the PostgreSQL one-pass statement.
 */
import { StatguardError } from '../errors.ts';
import type { SqlExecutor, SqlInputInfo } from './sql-executor.ts';
import type { CompiledSql } from './sql/index.ts';

export type Run = (c: CompiledSql) => Promise<Record<string, unknown>[]>;

/**
 * STATGUARD_SQL_TIMING=1 prints each statement's time and the start of its text to stderr, `full` the whole text (profiling;
 * SQL text only, never data: the bounding key is a bind parameter).
 */
export const timing = process.env.STATGUARD_SQL_TIMING === '1' || process.env.STATGUARD_SQL_TIMING === 'full';
const timingFull = process.env.STATGUARD_SQL_TIMING === 'full';

/** A number returned by the database (counts and sums come back as text); NULL is 0. */
export const toInt = (v: unknown): number => {
  if (v === null || v === undefined) return 0;
  const n = Number(v);
  if (!Number.isFinite(n))
    throw new StatguardError('SOURCE_UNREADABLE', `database returned a non-numeric aggregate (${String(v)})`);
  return n;
};

/** Runs statements on `x`; failures name `input.where`. */
export const runOn =
  (x: SqlExecutor, input: SqlInputInfo): Run =>
  async (c) => {
    try {
      const t0 = timing ? performance.now() : 0;
      const rows = await x.query(c.sql, c.parameters);
      if (timing)
        process.stderr.write(
          `[sql ${((performance.now() - t0) / 1000).toFixed(3)} s] ${timingFull ? c.sql : c.sql.replace(/\s+/g, ' ').slice(0, 160)}\n`,
        );
      return rows;
    } catch (e) {
      if (e instanceof StatguardError) throw e;
      // Driver messages name tables and columns, never data values of protected cells.
      throw new StatguardError('SOURCE_UNREADABLE', `query on ${input.where} failed: ${(e as Error).message}`, {
        file: input.where,
      });
    }
  };

/** hash_mem (work_mem * hash_mem_multiplier) the PostgreSQL one-pass statement is planned with (see withCellHashMem). */
const HASH_MEM_BYTES = 256 * 1024 * 1024;

/**
 * Run `f` (the one-pass statement: every group is a cell) with a larger hash_mem on PostgreSQL. PostgreSQL plans GROUPING
 * SETS as hash aggregates only when its estimate of their groups fits in hash_mem; it cannot estimate the level columns
 * (computed expressions: 200 distinct values each, so 40,000 groups per two-column set) and fell back to sorting every row
 * once per rollup. There the groups are cells (bounded by the policy, not by the rows) and a hash aggregate spills beyond
 * hash_mem anyway, so hash_mem is raised to 256 MB (hash_mem_multiplier; work_mem, which bounds sorts, is unchanged) for
 * that statement only, and restored. Not for the per-(unit, cell) statements: their groups grow with the units, and
 * there the larger hash table was slower (it spilled in batches).
 */
export async function withCellHashMem<T>(exec: SqlExecutor, f: () => Promise<T>): Promise<T> {
  let restore: string | null = null;
  if (exec.flavor === 'postgres') {
    try {
      const before = String((await exec.query(`SELECT current_setting('hash_mem_multiplier') AS hm`, []))[0]?.hm);
      const after = String((await exec.query(cellHashMemSql(false), []))[0]?.hm);
      if (after !== before) restore = before;
    } catch {
      /* an engine without the setting: keep its plans */
    }
  }
  try {
    return await f();
  } finally {
    if (restore !== null)
      await exec.query(`SELECT set_config('hash_mem_multiplier', $1, false)`, [restore]).catch(() => {});
  }
}

/**
 * The statement raising hash_mem_multiplier so that hash_mem reaches HASH_MEM_BYTES (never lowering it; at most 1000x
 * work_mem), for the session (`local` false) or the transaction; it returns the value set as `hm`. One rule for
 * withCellHashMem, the connections reading in parts, and the benchmark's bare query (bench/scale-bench.ts).
 */
export function cellHashMemSql(local: boolean): string {
  return `SELECT set_config('hash_mem_multiplier', CAST(GREATEST(CAST(current_setting('hash_mem_multiplier') AS float8),
    LEAST(1000, ceil(${HASH_MEM_BYTES} / CAST(pg_size_bytes(current_setting('work_mem')) AS float8)))) AS text), ${local}) AS hm`;
}
