/**
 * The Source interface and what every source returns: exact tables and aggregate statistics.
 */
import type { ExactTable, Plan } from '../types.ts';
import type { RecordLayout } from '../aggregate/record-layout.ts';

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
  /** Inputs of the plan's dp truncation report; present only when the plan asks for one (`truncationCap`). */
  truncation?: ExactTruncation;
}

/**
 * The exact inputs of a dp truncation report (engine/dp/truncation.ts). Secure zone only: read once, by the report's
 * `exact + noise`, never written, logged or shown (the internal record keeps its own totals, not these).
 */
export interface ExactTruncation {
  /** Sum over units of min(rows dropped by bounding, cap): a unit moves it by at most the cap. */
  readonly rowsDropped: number;
  /** Per clamp spec of the record layout (a measure column and its scaled bounds): kept values outside the bounds. */
  readonly valuesClamped: readonly ClampCount[];
}

/** Kept values of one measure column (scaled by 10^decimals) that were outside [lower, upper] and clamped. */
export interface ClampCount {
  readonly column: string;
  readonly decimals: number;
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
}

/** A truncation report's inputs from the layout's clamp specs and the counts per spec (same order). */
export function exactTruncation(
  layout: RecordLayout,
  rowsDropped: number,
  clamped: readonly number[],
): ExactTruncation {
  const valuesClamped = layout.clamps.map((c, i) => {
    const src = layout.measureSources[c.source]!;
    return { column: src.column, decimals: src.decimals, lower: c.lower, upper: c.upper, count: clamped[i]! };
  });
  return { rowsDropped, valuesClamped };
}

/** The per-unit cap of the dropped-row count when the plan asks for a dp truncation report; else null. */
export function truncationCap(plan: Plan): number | null {
  const p = plan.protection;
  return p.regime === 'dp' && p.truncationReport ? p.truncationReport.maxDroppedPerUnit : null;
}

export interface Source {
  readonly kind: string;
  aggregate(plan: Plan, ctx: AggregateContext): Promise<AggregateResult>;
}
