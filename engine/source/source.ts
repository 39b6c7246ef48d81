/**
 * The Source interface and what every source returns: exact tables and aggregate statistics.
 */
import type { ExactTable, Plan } from '../types.ts';

/**
 * The plug-in point between microdata and the engine (like kysely's Dialect):
 * a Source turns a Plan into exact tables, bounding each unit's contribution
 * on the way. The CSV source streams, bounds and aggregates in this process; a
 * PostgreSQL source implements the same interface by pushing bounding
 * (ROW_NUMBER over a keyed hash) and aggregation (GROUPING SETS) down as SQL.
 */
export interface AggregateContext {
  /** Secret key for the keyed hash choosing which rows of a unit are kept (32 bytes; from the run's RandomSource). */
  readonly boundingKey: Uint8Array;
  /** Progress callback (rows read, bytes read, total bytes if known, stage). Called at most a few times per second. */
  readonly onProgress?: (p: { stage: string; rows: number; bytes: number; totalBytes: number | null }) => void;
  /** Memory budget: max units buffered before spilling to disk (default large); tests set it small. */
  readonly maxBufferedUnits?: number;
  /** ckm regime without a record-key column: secret (32 bytes, from the run's RandomSource) keying the per-unit record keys. */
  readonly recordKeySecret?: Uint8Array;
}

export interface AggregateStats {
  /** Data records read (header and blank lines excluded; invalid records included). */
  rowsRead: number;
  /** Invalid records dropped (onInvalidRow = 'drop'). */
  rowsDropped: number;
  /** Dropped records by reason class ('wrong type', 'unknown category', ...): counts only, never row content. */
  dropReasons: Record<string, number>;
  rowsAfterBounding: number;
  rowsRemovedByBounding: number;
  /** Distinct units among the valid rows. */
  units: number;
  /** Measure values changed by clamping (kept rows x distinct clamping specs). */
  valuesClamped: number;
  /**
   * Input fingerprint. csv / csv-duckdb / parquet: the file path, its size and SHA-256; postgres: `file` is
   * `schema.table`, bytes 0 and sha256 '' (a table has no byte fingerprint; the row count is in rowsRead).
   */
  input: { kind: 'csv' | 'postgres' | 'csv-duckdb' | 'parquet'; file: string; bytes: number; sha256: string };
}

export interface AggregateResult {
  tables: ExactTable[];
  stats: AggregateStats;
}

export interface Source {
  readonly kind: string;
  aggregate(plan: Plan, ctx: AggregateContext): Promise<AggregateResult>;
}
