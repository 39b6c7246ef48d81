/**
 * What a pushdown source needs from a database connection, and what it says about its input. Drivers live in the
 * adapters (pglite-source.ts, postgres-source.ts, duckdb-source.ts); sql-source.ts runs the statements through these.
 */
import type { AggregateStats } from './source.ts';
import type { SqlFlavor } from './sql/index.ts';

/**
 * Run one statement (with bind parameters $1..) and return its rows as plain objects.
 */
export interface SqlExecutor {
  readonly flavor: SqlFlavor;
  query(text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /**
   * Whether the typed rows may be materialised once in a session-local temporary table (default true). A Citus
   * coordinator sets false: a temporary table would pull every row to the coordinator.
   */
  readonly materialize?: boolean;
  /** Whether GROUP BY GROUPING SETS and GROUPING() may be used (default true). A Citus coordinator sets false (see sql/citus.ts). */
  readonly groupingSets?: boolean;
  /**
   * A PostgreSQL server that can read one table through several connections at once (postgres-source.ts). PostgreSQL runs
   * no GROUPING SETS aggregate in parallel, so a one-pass statement would use one core: instead each connection reads a
   * range of the table's heap blocks and the parts' rows are added up (sql-parts.ts).
   */
  readonly parallel?: ParallelExecutor;
}

export interface ParallelExecutor {
  /**
   * Heap block boundaries [0, b1, ..., bn] of the relation: part i reads blocks [b_i, b_i+1), the last one to the end;
   * null: too small, or not a plain table, so one connection. Its length - 1 is also the number of unit parts.
   */
  blocks(): Promise<readonly number[] | null>;
  /**
   * `n` more connections, each inside a REPEATABLE READ transaction on the exported `snapshot` (every part sees the rows
   * the caller's transaction sees; READ ONLY when `readOnly`); `close` ends their transactions and disconnects.
   */
  sessions(
    snapshot: string,
    n: number,
    readOnly: boolean,
  ): Promise<{ readonly execs: readonly SqlExecutor[]; close(): Promise<void> }>;
}

export interface SqlInputInfo {
  readonly kind: AggregateStats['input']['kind'];
  /** File path, or schema.table. */
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Where errors point (file for file sources, schema.table otherwise). */
  readonly where: string;
}
