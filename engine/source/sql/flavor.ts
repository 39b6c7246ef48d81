/**
 * Every difference between the engines in one place. A `Flavor` is a table of spellings (regular expressions, exact
 * decimals, SHA-256, arrays, ...) and capabilities (bounded top-k aggregate, projection fences, ...) of PostgreSQL /
 * PGlite and DuckDB; a `SqlForm` is how the statements may be shaped on a given connection: the Citus form (no GROUPING
 * SETS, no temporary table, no fences) is PostgreSQL with `groupingSets` false. The rest of engine/source/sql asks these
 * two objects, never the engine's name.
 */
import { sql } from 'kysely';
import { join, lit } from './compiler.ts';
import type { Frag } from './compiler.ts';
import type { BuildSqlOptions } from './types.ts';

export type SqlFlavor = 'postgres' | 'duckdb';

/** A measure's text and the regex tests computed for it (see conversion.ts). */
export interface MeasureText {
  readonly text: Frag;
  /** Matches the column's number syntax (INT_RE for integer columns, else NUM_RE). */
  readonly ok: Frag;
  /** Matches INT_RE (the same test as `ok` for integer columns). */
  readonly intOk: Frag;
  readonly integerOnly: boolean;
  /** 10^decimals. */
  readonly scale: number;
}

export interface Flavor {
  readonly name: SqlFlavor;
  /** Anchored pattern (full match). PostgreSQL `~` searches, so patterns carry ^...$ for both. */
  matches(x: Frag, re: string): Frag;
  /** SHA-256 of a text as an ordering key that compares bytewise (bytea in PostgreSQL, lower-case hex in DuckDB). */
  sha256(x: Frag): Frag;
  text(x: Frag): Frag;
  /**
   * A 64-bit integer key of a unit id (grouping and distinct counting on an integer are several times cheaper than on
   * text). Not trusted to be injective: the source checks it on the data (`unitStats(true)`) before grouping by it.
   */
  unitKey(x: Frag): Frag;
  /**
   * float64 value of a string matching NUM_RE, like JS Number(raw) (correctly rounded; beyond the range: +-max, which
   * compares like +-Infinity against finite constraints). `integerText`: the string matches INT_RE (no exponent).
   */
  float(x: Frag, integerText: boolean): Frag;
  /** True when a number (its float64 value `x`, its text `raw`) is beyond the float64 range (parseStrictNumber gives NaN). */
  notFinite(x: Frag, raw: Frag): Frag;
  /** The scaled exact integer round(v * 10^decimals) of a measure's text (half away from zero), NULL unless `ok`. */
  scaledMeasure(m: MeasureText): Frag;
  /** Element for the integer value `x` of a constant integer array written from `items`, whose first element is value `first`. */
  valueAt(items: Frag, x: Frag, first: number): Frag;
  /** Element `v + 1` of a constant array of level nodes indexed by the leaf `v` (NULL for negative `v`). */
  leafAt(items: Frag, v: Frag): Frag;
  /**
   * A code list mapped by a cast to an inline ENUM of its codes (one hash probe inside the projection), or null when the
   * engine has no inline ENUM (then long lists are joined against a VALUES list, see conversion.ts).
   */
  readonly enumLookup: ((text: Frag, pairs: readonly (readonly [string, number])[]) => Frag) | null;
  /** Whether nested projections need `OFFSET 0` fences to be computed once per row (PostgreSQL pulls subqueries up). */
  readonly fences: boolean;
  /** Whether a unit's rows can be selected by the low bits of its key (reading units in parts). */
  readonly unitParts: boolean;
  /** Whether clamped values within 32 bits are stored as `integer` (by value on 32-bit builds such as PGlite's WASM). */
  readonly int32Clamp: boolean;
  /** Whether the engine has a bounded top-k aggregate (`max(x, k)`); without one, tops are ranked (see tops.ts). */
  readonly boundedTopK: boolean;
  /** Whether aggregate arguments of invalid rows are NULL-ed in a projection instead of a FILTER per grouping set. */
  readonly nullInsteadOfFilter: boolean;
  /** Whether count tables with units count per (unit, cell) rows rather than count(DISTINCT u). */
  readonly perUnitCountCells: boolean;
}

const MAX_F8 = '1.7976931348623157e308';
const scaled = (x: Frag, scale: number): Frag => (scale === 1 ? x : sql`${x} * ${lit(scale)}`);

/** PostgreSQL and PGlite (and the Citus form, see SqlForm). */
const postgres: Flavor = {
  name: 'postgres',
  matches: (x, re) => sql`(${x} ~ ${lit(re)})`,
  sha256: (x) => sql`sha256(convert_to(${x}, 'UTF8'))`,
  text: (x) => sql`CAST(${x} AS varchar)`,
  unitKey: (x) => sql`hashtextextended(${x}, 0)`,
  // float8 input rejects out-of-range text, hence the numeric detour for long or exponent-bearing strings. Text matching
  // INT_RE holds no exponent: its strpos tests are skipped.
  float: (x, integerText) =>
    sql`CASE WHEN length(${x}) < 16${integerText ? sql`` : sql` AND strpos(${x}, 'e') = 0 AND strpos(${x}, 'E') = 0`} THEN CAST(${x} AS float8) ELSE CAST(LEAST(GREATEST(CAST(${x} AS numeric), -${sql.raw(MAX_F8)}), ${sql.raw(MAX_F8)}) AS float8) END`,
  notFinite: (_x, raw) => sql`abs(CAST(${raw} AS numeric)) > ${sql.raw(MAX_F8)}`,
  // An integer column's text (checked by its regex) is exact as numeric without round().
  scaledMeasure: (m) =>
    m.integerOnly
      ? sql`CASE WHEN ${m.ok} THEN ${scaled(sql`CAST(${m.text} AS numeric)`, m.scale)} ELSE NULL END`
      : sql`CASE WHEN ${m.ok} THEN ${sql`CAST(${sql`round(${scaled(sql`CAST(${m.text} AS numeric)`, m.scale)})`} AS numeric)`} ELSE NULL END`,
  valueAt: (items, x, first) => sql`(CAST(ARRAY[${items}] AS integer[]))[CAST(${x} AS integer) - ${lit(first - 1)}]`,
  leafAt: (items, v) => sql`(CAST(ARRAY[${items}] AS integer[]))[${v} + 1]`,
  enumLookup: null,
  fences: true,
  unitParts: true,
  int32Clamp: true,
  boundedTopK: false,
  nullInsteadOfFilter: false,
  perUnitCountCells: false,
};

/** DuckDB (its own files, Parquet, or a loaded table). */
const duckdb: Flavor = {
  name: 'duckdb',
  matches: postgres.matches,
  sha256: (x) => sql`sha256(${x})`,
  text: postgres.text,
  unitKey: (x) => sql`hash(${x})`,
  float: (x) => sql`CAST(${x} AS DOUBLE)`,
  notFinite: (x) => sql`NOT isfinite(${x})`,
  // Integer text is scaled in HUGEINT (exact, and far cheaper than DECIMAL(38,12)); same value as the rounded decimal.
  scaledMeasure: (m) =>
    sql`CASE WHEN ${m.intOk} THEN ${scaled(sql`CAST(${m.text} AS HUGEINT)`, m.scale)} WHEN ${m.ok} THEN ${sql`CAST(${sql`round(${scaled(sql`CAST(${m.text} AS DECIMAL(38,12))`, m.scale)})`} AS HUGEINT)`} ELSE NULL END`,
  valueAt: (items, x, first) => sql`[${items}][CAST(${x} AS BIGINT) - ${lit(first - 1)}]`,
  leafAt: (items, v) => sql`CASE WHEN ${v} >= 0 THEN [${items}][${v} + 1] END`,
  // Its position, or NULL when not listed; values other than the positions (recodes) are an array element.
  enumLookup: (text, pairs) => {
    const pos = sql`enum_code(TRY_CAST(${text} AS ENUM(${join(pairs.map(([c]) => lit(c)))})))`;
    return pairs.every(([, k], i) => k === i) ? pos : sql`[${join(pairs.map(([, k]) => lit(k)))}][${pos} + 1]`;
  },
  fences: false,
  unitParts: false,
  int32Clamp: false,
  boundedTopK: true,
  nullInsteadOfFilter: true,
  perUnitCountCells: true,
};

export const FLAVORS: Readonly<Record<SqlFlavor, Flavor>> = { postgres, duckdb };

/** How the statements may be shaped on one connection (from BuildSqlOptions). */
export interface SqlForm {
  /** GROUP BY GROUPING SETS and GROUPING() (false: the Citus form, one GROUP BY per set, citus.ts). */
  readonly groupingSets: boolean;
  /** Long code lists and level maps by VALUES joins and array lookups (not in the Citus form: plain scans only). */
  readonly lookups: boolean;
  /** ` OFFSET 0` after each nested projection, or nothing. */
  readonly fence: Frag;
  /** The materialised typed table, or null (inlined). */
  readonly typedTable: string | null;
}

/**
 * PostgreSQL pulls plain subqueries up into their parent, which would evaluate every regex and float cast once per
 * REFERENCE (a bin list reads f0 a dozen times); OFFSET 0 keeps each level a separate projection, computed once per row.
 * Only on a materialised typed table or where the source asks (`fence`): Citus plans an OFFSET subquery on the
 * coordinator.
 */
export function formOf(flavor: Flavor, opts: BuildSqlOptions): SqlForm {
  const groupingSets = opts.groupingSets !== false;
  return {
    groupingSets,
    lookups: groupingSets,
    fence: flavor.fences && (opts.fence ?? opts.typedTable !== null) ? sql` OFFSET 0` : sql``,
    typedTable: opts.typedTable,
  };
}
