/**
 * The shapes the SQL compiler hands to sql-source.ts: the relation it reads, the statements it builds (`SqlQueryPlan`) and
 * how their rows are decoded (level columns, grouping sets, GROUPING() chunks).
 */
import type { DimensionPlan } from '../../types.ts';
import type { RecordLayout } from '../../aggregate/record-layout.ts';
import type { CompiledSql, Frag } from './compiler.ts';

/** How the builder reads the microdata relation. */
export interface SqlRelation {
  /** FROM item, e.g. "public"."census" or read_csv('...', ...). */
  readonly from: Frag;
  /** Column numbering rows (line of the source file or a row id), for locating the first invalid row; null if none. */
  readonly rowNumberColumn: string | null;
}

/** One level column of a variable: the node (canonical index) at depth `depth` below the total on the row's leaf-to-root path. */
export interface LevelCol {
  readonly name: string;
  readonly variable: number;
  readonly depth: number;
  /** leaf (category index) -> canonical node index at this depth, or null when the leaf is shallower. */
  readonly map: readonly (number | null)[];
  readonly nullable: boolean;
}

export interface VarCanon {
  readonly dim: DimensionPlan;
  /** Depth of each node below the (possibly virtual) root: the total has depth 0, top-level nodes 1. */
  readonly depth: readonly number[];
  readonly cols: LevelCol[];
}

/** A grouping set: level columns chosen (at most one per variable); the unit is always grouped too. */
export interface GroupingSet {
  readonly key: string;
  readonly cols: readonly string[];
  /** Tables (index) that use this set. */
  readonly tables: number[];
}

/** How the cells are aggregated: each unit one row (no unit column, or no unit has two valid rows), or per unit. */
export type AggMode = 'row' | 'units';

/** Which unit column the per-unit steps group by: the unit id itself, or its integer key once shown injective. */
export type UnitKey = 'u' | 'uk';

/** One aggregation statement: the cells of some grouping sets (those first used by one table). */
export interface AggStatement {
  readonly sql: CompiledSql;
  /** GROUPING() chunk aliases g0, g1, ... over `cols`. */
  readonly chunks: readonly (readonly string[])[];
  readonly cols: readonly LevelCol[];
  /** Keys of the grouping sets computed here. */
  readonly sets: readonly string[];
  /** Clamp specs (measures) aggregated here. */
  readonly clamps: readonly number[];
  /**
   * PostgreSQL one pass of a plan that reads top contributions: per clamp, the finest cells' bucket maxima come back as rows
   * of their own (`gb` = 0: count `rows<ci>` and maximum `mx<ci>` per finest cell and bucket `bv`); the tops are derived
   * from them where they determine them (sql-tops.ts `topsFromBuckets`), else read by `fallback`.
   */
  readonly bucketTops?: readonly BucketTops[];
}

/** A finest cell whose top contributions the bucket maxima did not determine (see BucketTops.fallback). */
export interface PendingTopCell {
  readonly key: readonly (number | null)[];
  readonly threshold: number | null;
}

/** Top contributions of one clamp (measure) from bucket maxima (PostgreSQL one pass; see AggStatement.bucketTops). */
export interface BucketTops {
  readonly clamp: number;
  /** Level columns of the finest cell (every level column of the sets below). */
  readonly cols: readonly string[];
  /** Keys of the grouping sets whose cells need the tops of this clamp. */
  readonly sets: readonly string[];
  /**
   * One statement giving the TOP_K largest valid values (`top`, a text list) of each listed finest cell (`p0`.. its
   * level values, NULL as -1), reading only rows at or above the cell's threshold (null: every row of the cell).
   */
  readonly fallback: (cells: readonly PendingTopCell[]) => CompiledSql;
}

export interface SqlQueryPlan {
  readonly layout: RecordLayout;
  /** The typed relation (one conversion pass; stored columns u, ln, v*, m*, e); the source may materialise it. */
  readonly typedSelect: CompiledSql;
  /** Validation: one row per error code (0 = valid) with count and first row number. */
  readonly validate: CompiledSql;
  /** Locates one invalid row (the first by row number when there is a row-number column). */
  readonly locate: CompiledSql;
  /**
   * Units, units over m, rows removed by bounding, largest unit (null without a unit column). `keyed` (only when `hasUnitKey`):
   * grouped by the integer key `uk`, plus `collisions` = key groups holding more than one unit id (the figures are then
   * wrong and the caller re-runs it unkeyed and keeps grouping by `u`).
   */
  readonly unitStats: ((keyed: boolean) => CompiledSql) | null;
  /** Values clamped per clamp spec over the kept rows (null without measures). */
  readonly clampStats: (bounded: boolean, key?: UnitKey) => CompiledSql | null;
  /** The aggregation statements; `bounded` when some unit has more than m valid rows; `key`: the unit column grouped by. */
  readonly statements: (mode: AggMode, bounded: boolean, key?: UnitKey) => AggStatement[];
  /**
   * Plans without a unit column (each row its own unit, no bounding): validation, every table and margin and the clamp
   * counts in ONE statement, one scan of the relation (no typed table). Rows with `gv` = 0 are validation groups (`ev`,
   * `n`, `clamped<ci>` over the valid rows of that group); the others are cells (aggregates over valid rows only).
   * `sets` lists the grouping sets computed here; the others (PostgreSQL: those of sum tables) come from
   * `statements('row', false)`. null with a unit column.
   */
  readonly onePass: AggStatement | null;
  /** Whether the typed relation carries the integer unit key `uk` (materialised typed table with a unit column). */
  readonly hasUnitKey: boolean;
  readonly sets: ReadonlyMap<string, GroupingSet>;
  readonly canon: readonly VarCanon[];
  /** Failing column name per error position. */
  readonly positionColumn: readonly string[];
  readonly hasUnit: boolean;
}

export interface BuildSqlOptions {
  /**
   * Name of the temporary table holding `typedSelect` (materialised by the source), or null to inline it (Citus). Only a
   * materialised typed table gets the integer unit key `uk` and PostgreSQL projection fences (`OFFSET 0`): both would
   * stop Citus from pushing the statements down to the workers (grouping by `uk` is not co-located with the
   * distribution column; a subquery with OFFSET is planned on the coordinator).
   */
  readonly typedTable: string | null;
  /**
   * PostgreSQL projection fences (OFFSET 0, see the typed conversion) even without a typed table (the one-pass statement
   * of a plan without a unit column). Default: when `typedTable` is set. Never for Citus.
   */
  readonly fence?: boolean;
  /**
   * Whether the statements may use GROUP BY GROUPING SETS and GROUPING() (default true). Citus distributes neither
   * (citusdata/citus#2219): false writes every grouping set as its own GROUP BY, glued with UNION ALL, with the GROUPING()
   * values as constants per branch (same rows, same decoding; tested on PGlite and PostgreSQL).
   */
  readonly groupingSets?: boolean;
  /**
   * PostgreSQL: read only the heap blocks [first, end) of the relation (end null: to the last), by `ctid` range (a TID
   * range scan). Parts of one table read by separate connections under one snapshot (sql-source.ts) partition its rows.
   */
  readonly blocks?: readonly [number, number | null];
  /**
   * PostgreSQL, plans with a unit column: read only the rows of part `i` of `n` of the units, by the low bits of the unit
   * key (`hashtextextended(unit, 0)`, the key `uk` is): every row of a unit, and every unit sharing a key, in one part, so
   * per-unit steps, distinct unit counts and bounding are exact per part and the parts' cells add up (sql-source.ts).
   */
  readonly unitPart?: readonly [number, number];
}
