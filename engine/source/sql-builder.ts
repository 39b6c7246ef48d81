/**
 * SQL generation (kysely `sql` fragments, compiled with kysely's PostgreSQL
 * compiler) for the pushdown sources: PostgreSQL / PGlite / Citus and DuckDB.
 * The generated statements reproduce the CSV path exactly:
 *
 *   typed conversion and domain checks (RowConverter rules, same reason classes, same order of checks)
 *     -> contribution bounding: ROW_NUMBER() OVER (PARTITION BY unit ORDER BY keyed hash) <= m
 *     -> clamping per kept row
 *     -> per (unit, cell) rows and sums: GROUP BY GROUPING SETS over every table's margins and hierarchy levels
 *     -> per cell: units, rows, sum, the TOP_K largest per-unit contributions (window over the per-unit sums).
 *
 * Only cells come back (plus one statistics row). Everything is expressed with
 * portable SQL; `SqlFlavor` covers the few spellings that differ (regular
 * expressions, exact decimals, SHA-256).
 */
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import { StatguardError } from '../errors.ts';
import type { ColumnPlan, DimensionPlan, Plan } from '../types.ts';
import { makeRecordLayout } from '../aggregate/record-layout.ts';
import type { RecordLayout } from '../aggregate/record-layout.ts';
import { TOP_K } from '../types.ts';
import { REASONS } from './row-converter.ts';
import type { Reason } from './row-converter.ts';

export type SqlFlavor = 'postgres' | 'duckdb';

/** Reason codes used inside SQL (1..7); 0 = valid row. Order of REASON_OF matches the codes. */
const RC = {
  unknownCategory: 1,
  missingValue: 2,
  wrongType: 3,
  outOfRange: 4,
  noBin: 5,
  unmapped: 6,
  missingUnit: 7,
} as const;
export const REASON_OF: Readonly<Record<number, Reason>> = {
  1: REASONS.unknownCategory,
  2: REASONS.missingValue,
  3: REASONS.wrongType,
  4: REASONS.outOfRange,
  5: REASONS.noBin,
  6: REASONS.unmapped,
  7: REASONS.missingUnit,
};
/** Row error code = position * 16 + reason code; position counts layout variables, then measure sources, then the unit column. */
export const POS_FACTOR = 16;

/** Same syntax as parse-number.ts (anchored; matched in full). */
const INT_RE = '^[+-]?[0-9]+$';
const NUM_RE = '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$';
const MAX_SAFE = 9007199254740991;

type Frag = RawBuilder<unknown>;

const compiler = new Kysely<Record<string, never>>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

export interface CompiledSql {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

function compile(q: Frag): CompiledSql {
  const c = q.compile(compiler);
  return { sql: c.sql, parameters: c.parameters };
}

const lit = (v: string | number): Frag => sql.lit(v) as Frag;
const join = (parts: readonly Frag[], sep = sql`, `): Frag => sql.join(parts, sep) as Frag;

function flavorOps(flavor: SqlFlavor) {
  return {
    /** Anchored pattern (full match). PostgreSQL `~` searches, so patterns carry ^...$ for both. */
    matches: (x: Frag, re: string): Frag => sql`(${x} ~ ${lit(re)})`,
    /** Exact decimal of a string already known to match NUM_RE. */
    exact: (x: Frag): Frag => (flavor === 'postgres' ? sql`CAST(${x} AS numeric)` : sql`CAST(${x} AS DECIMAL(38,12))`),
    /** Integer-valued exact type after rounding. */
    exactInt: (x: Frag): Frag => (flavor === 'postgres' ? sql`CAST(${x} AS numeric)` : sql`CAST(${x} AS HUGEINT)`),
    /** SHA-256 of a text as an ordering key that compares bytewise (bytea in PostgreSQL, lower-case hex in DuckDB). */
    sha256: (x: Frag): Frag => (flavor === 'postgres' ? sql`sha256(convert_to(${x}, 'UTF8'))` : sql`sha256(${x})`),
    text: (x: Frag): Frag => sql`CAST(${x} AS varchar)`,
    /**
     * A 64-bit integer key of a unit id (grouping and distinct counting on an integer are several times cheaper than on
     * text). Not trusted to be injective: the source checks it on the data (`unitStats(true)`) before grouping by it.
     */
    unitKey: (x: Frag): Frag => (flavor === 'postgres' ? sql`hashtextextended(${x}, 0)` : sql`hash(${x})`),
    /**
     * float64 value of a string matching NUM_RE, like JS Number(raw) (correctly rounded; beyond the range: +-max, which
     * compares like +-Infinity against finite constraints). PostgreSQL's float8 input rejects out-of-range text, hence the
     * numeric detour for long or exponent-bearing strings.
     */
    float: (x: Frag, integerText = false): Frag =>
      flavor === 'postgres'
        ? // Text matching INT_RE holds no exponent: its strpos tests are skipped (0.2 s per million rows in PGlite).
          sql`CASE WHEN length(${x}) < 16${integerText ? sql`` : sql` AND strpos(${x}, 'e') = 0 AND strpos(${x}, 'E') = 0`} THEN CAST(${x} AS float8) ELSE CAST(LEAST(GREATEST(CAST(${x} AS numeric), -1.7976931348623157e308), 1.7976931348623157e308) AS float8) END`
        : sql`CAST(${x} AS DOUBLE)`,
    /** True when a string matching NUM_RE is beyond the float64 range (parseStrictNumber gives NaN). */
    notFinite: (x: Frag): Frag =>
      flavor === 'postgres'
        ? sql`abs(CAST(${x} AS numeric)) > 1.7976931348623157e308`
        : sql`NOT isfinite(CAST(${x} AS DOUBLE))`,
  };
}

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
   * from them where they determine them (sql-source.ts `topsFromBuckets`), else read by `fallback`.
   */
  readonly bucketTops?: readonly BucketTops[];
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
  readonly fallback: (
    cells: readonly { readonly key: readonly (number | null)[]; readonly threshold: number | null }[],
  ) => CompiledSql;
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

/**
 * Whether the plan reads the top contributions of sum cells: the magnitude rules of the sdc regime (dominance, p%, (p,q))
 * and the ckm regime (magnitude perturbation). Otherwise the SQL sources do not compute them (sum cells get `top: []`).
 */
export function planUsesTop(plan: Plan): boolean {
  const p = plan.protection;
  return p.regime === 'ckm' || (p.regime === 'sdc' && (p.dominance.length > 0 || p.pPercent !== null || p.pq !== null));
}

/** Which unit column the per-unit steps group by: the unit id itself, or its integer key once shown injective. */
export type UnitKey = 'u' | 'uk';

const GROUPING_CHUNK = 30;
/** Names split into GROUPING() argument lists of at most GROUPING_CHUNK (an int result holds that many bits). */
function groupingChunks(names: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < names.length; i += GROUPING_CHUNK) out.push(names.slice(i, i + GROUPING_CHUNK));
  return out;
}
/** The value GROUPING(chunk...) takes in a set grouping `grouped`: bit 1 = not grouped, the last argument lowest. */
export function groupingMask(chunk: readonly string[], grouped: ReadonlySet<string>): number {
  return chunk.reduce((acc, name) => acc * 2 + (grouped.has(name) ? 0 : 1), 0);
}
/** Code lists at least this long are mapped by a join against a VALUES list rather than a CASE (see buildSql). */
const LOOKUP_MIN = 9;
/** Integer bin sources whose declared range holds fewer values than this are binned by an array lookup (see buildSql). */
const BIN_TABLE_MAX = 10_000;
/** Buckets of the PostgreSQL per-unit top pre-filter (sum tables with a unit: units dealt by key bits); a power of 2. */
const TOP_BUCKETS = 8;
/**
 * Buckets per finest cell for PostgreSQL's row tops in one pass (random dealing; any partition of the rows is exact, the
 * count only decides how often the bucket maxima determine the tops on their own).
 */
const ROW_TOP_BUCKETS = 16;

/**
 * Build the statements for a plan over a relation. `keyParam` is passed as
 * the single bind parameter ($1): the bounding key never appears in SQL text
 * (so not in server logs).
 */
export function buildSql(
  plan: Plan,
  rel: SqlRelation,
  flavor: SqlFlavor,
  keyHex: string,
  opts: BuildSqlOptions = { typedTable: null },
): SqlQueryPlan {
  const ops = flavorOps(flavor);
  const ds = plan.dataset;
  // Top contributions are read only by the magnitude rules of the sdc regime (dominance, p%, (p,q)) and by ckm (its
  // magnitude perturbation); otherwise they are not computed (cells get `top: []`).
  const needTop = planUsesTop(plan);
  const layout = makeRecordLayout(plan);
  const column = (name: string): ColumnPlan => {
    const c = ds.columns.find((x) => x.name === name);
    if (!c)
      throw new StatguardError('POLICY_INVALID', `column ${JSON.stringify(name)} is not declared in the dataset`, {
        path: '/dataset/columns',
      });
    return c;
  };
  // Each source text, regex test and float value is computed once per row in nested projections (levels 1-3) and
  // referenced by name in the conversion expressions (level 4): no expression is repeated per bin or constraint.
  const texts = new Map<string, string>();
  const oks = new Map<string, { alias: string; text: string; re: string }>();
  const floats = new Map<string, { alias: string; text: string; ok: string; re: string }>();
  const raw = (name: string): Frag => {
    let a = texts.get(name);
    if (a === undefined) {
      a = `t${texts.size}`;
      texts.set(name, a);
    }
    return sql.ref(a) as Frag;
  };
  const okOf = (name: string, re: string): Frag => {
    const key = `${name}\u0000${re}`;
    let o = oks.get(key);
    if (o === undefined) {
      raw(name);
      o = { alias: `o${oks.size}`, text: texts.get(name)!, re };
      oks.set(key, o);
    }
    return sql.ref(o.alias) as Frag;
  };
  /** float64 of the text (NULL unless it matches `re`). */
  const floatOf = (name: string, re: string): Frag => {
    const key = `${name}\u0000${re}`;
    let f = floats.get(key);
    if (f === undefined) {
      okOf(name, re);
      f = { alias: `f${floats.size}`, text: texts.get(name)!, ok: oks.get(key)!.alias, re };
      floats.set(key, f);
    }
    return sql.ref(f.alias) as Frag;
  };
  const inList = (x: Frag, values: readonly string[]): Frag =>
    values.length === 0 ? sql`FALSE` : sql`${x} IN (${join(values.map(lit))})`;
  // Code lists of LOOKUP_MIN codes or more are mapped by a LEFT JOIN against a VALUES list (a hash join: one probe per
  // row) instead of a CASE that compares the text with every code in turn (measured at 10M rows in DuckDB: the CASE
  // projection took ~3x the CPU of the whole conversion otherwise; PostgreSQL: 50 codes ~0.24 s per million rows against
  // ~0.02 s). Same rule: a listed code gives its value, anything else falls through to the missing-value check. Not in the
  // form without GROUPING SETS (Citus), which keeps every statement a plain scan of the distributed table.
  const useLookups = opts.groupingSets !== false;
  const lookups: { alias: string; text: string; pairs: readonly (readonly [string, number])[] }[] = [];
  /** The looked-up value of the text of column `name` (NULL when not listed), or null to use a CASE. */
  const lookup = (name: string, pairs: readonly (readonly [string, number])[]): Frag | null => {
    if (flavor === 'duckdb' && pairs.length > 0) {
      // DuckDB: a cast to an inline ENUM of the codes is one hash probe per row inside the projection (its position, or NULL
      // when not listed), with no join: at 10M rows the three joins had also slowed the CSV scan under them (2.2 s -> 5.0 s
      // CPU); the conversion fell 8.2 s -> 5.3 s CPU. Values other than the positions (recodes) are an array element.
      const pos = sql`enum_code(TRY_CAST(${raw(name)} AS ENUM(${join(pairs.map(([c]) => lit(c)))})))`;
      return pairs.every(([, k], i) => k === i) ? pos : sql`[${join(pairs.map(([, k]) => lit(k)))}][${pos} + 1]`;
    }
    if (!useLookups || pairs.length < LOOKUP_MIN) return null;
    raw(name);
    const alias = `j${lookups.length}`;
    lookups.push({ alias, text: texts.get(name)!, pairs });
    return sql.ref(`${alias}i`) as Frag;
  };
  const caseOrLookup = (
    name: string,
    r: Frag,
    pairs: readonly (readonly [string, number])[],
    missing: readonly string[],
  ): Frag => {
    const fallback = sql`CASE WHEN ${inList(r, missing)} THEN ${lit(-RC.missingValue)} ELSE ${lit(-RC.unknownCategory)} END`;
    const lk = lookup(name, pairs);
    return lk !== null
      ? sql`COALESCE(${lk}, ${fallback})`
      : sql`CASE ${r} ${join(
          pairs.map(([c, k]) => sql`WHEN ${lit(c)} THEN ${lit(k)}`),
          sql` `,
        )} ELSE ${fallback} END`;
  };

  /* ---------------- typed conversion: one expression per variable / measure ---------------- */
  const positionColumn: string[] = [];
  const varExprs: Frag[] = layout.variables.map((v) => {
    const derived = ds.derived.find((d) => d.name === v.name);
    if (!derived) {
      const col = column(v.name);
      positionColumn.push(col.name);
      const r = raw(col.name);
      // Declared categories first (a code such as 'N' may be a real category), then missing codes.
      return caseOrLookup(
        col.name,
        r,
        v.codes.map((c, k) => [c, k] as const),
        col.missingValues,
      );
    }
    const src = column(derived.from);
    positionColumn.push(src.name);
    const r = raw(src.name);
    if (derived.bins && derived.bins.length > 0) {
      const codeIdx = new Map(v.codes.map((c, k) => [c, k] as const));
      const isInt = src.type === 'integer';
      const x = floatOf(src.name, isInt ? INT_RE : NUM_RE);
      const range: Frag[] = [];
      if (src.minimum !== undefined) range.push(sql`${x} < ${lit(src.minimum)}`);
      if (src.maximum !== undefined) range.push(sql`${x} > ${lit(src.maximum)}`);
      // An integer source with a short declared range (age 0-99) is binned by an array indexed by the value (one lookup)
      // rather than a CASE testing every bin in turn (DuckDB at 10M rows: ~0.7 s of ~5.5 s conversion CPU). Same result:
      // the element is the first bin holding the value, as the CASE picks; the range check before it keeps the index in
      // bounds.
      const lo = isInt && src.minimum !== undefined ? Math.ceil(src.minimum) : NaN;
      const hi = isInt && src.maximum !== undefined ? Math.floor(src.maximum) : NaN;
      const binOf = (v: number): number => {
        const b = derived.bins!.find((bin) => v >= bin.min && v <= bin.max);
        return b === undefined ? -RC.noBin : codeIdx.get(b.code)!;
      };
      const binned =
        hi >= lo && hi - lo < BIN_TABLE_MAX
          ? (() => {
              const arr = join(Array.from({ length: hi - lo + 1 }, (_, i) => lit(binOf(lo + i))));
              return flavor === 'duckdb'
                ? sql`ELSE [${arr}][CAST(${x} AS BIGINT) - ${lit(lo - 1)}] END`
                : sql`ELSE (CAST(ARRAY[${arr}] AS integer[]))[CAST(${x} AS integer) - ${lit(lo - 1)}] END`;
            })()
          : sql`${join(
              derived.bins.map(
                (b) => sql`WHEN ${x} >= ${lit(b.min)} AND ${x} <= ${lit(b.max)} THEN ${lit(codeIdx.get(b.code)!)}`,
              ),
              sql` `,
            )}
        ELSE ${lit(-RC.noBin)} END`;
      return sql`CASE WHEN NOT ${okOf(src.name, isInt ? INT_RE : NUM_RE)} THEN (CASE WHEN ${inList(r, src.missingValues)} THEN ${lit(-RC.missingValue)} ELSE ${lit(-RC.wrongType)} END)
        ${isInt ? sql`WHEN abs(${x}) > ${lit(MAX_SAFE)} THEN ${lit(-RC.wrongType)}` : sql`WHEN ${flavor === 'duckdb' ? sql`NOT isfinite(${x})` : ops.notFinite(r)} THEN ${lit(-RC.wrongType)}`}
        ${range.length > 0 ? sql`WHEN ${join(range, sql` OR `)} THEN ${lit(-RC.outOfRange)}` : sql``}
        ${binned}`;
    }
    // Recode: source code -> target code, composed into one lookup (as RowConverter does).
    const target = new Map(v.codes.map((c, k) => [c, k] as const));
    const sources = src.categories
      ? src.categories.map((c) => c.code)
      : [...Object.keys(derived.map ?? {}), ...v.codes];
    const seen = new Set<string>();
    const pairs: [string, number][] = [];
    for (const code of sources) {
      if (seen.has(code)) continue;
      seen.add(code);
      const t = target.get(derived.map?.[code] ?? code);
      pairs.push([code, t === undefined ? -RC.unmapped : t]);
    }
    return caseOrLookup(src.name, r, pairs, src.missingValues);
  });

  // Measures: scaled exact integer round(v * 10^decimals) (half away from zero, as parse-number.ts), NULL when missing.
  const measVal: Frag[] = [];
  const measErr: Frag[] = [];
  for (const s of layout.measureSources) {
    const col = column(s.column);
    positionColumn.push(col.name);
    const r = raw(col.name);
    const integerOnly = col.type === 'integer';
    const ok = okOf(col.name, integerOnly ? INT_RE : NUM_RE);
    // The float value only when a range is declared: with projection fences (PostgreSQL) an unused column is still computed.
    const x = (): Frag => floatOf(col.name, integerOnly ? INT_RE : NUM_RE);
    const range: Frag[] = [];
    if (col.minimum !== undefined) range.push(sql`${x()} < ${lit(col.minimum)}`);
    if (col.maximum !== undefined) range.push(sql`${x()} > ${lit(col.maximum)}`);
    measErr.push(sql`CASE WHEN NOT ${ok} THEN (CASE WHEN ${inList(r, col.missingValues)} THEN ${col.required ? lit(RC.missingValue) : sql`NULL`} ELSE ${lit(RC.wrongType)} END)
      ${range.length > 0 ? sql`WHEN ${join(range, sql` OR `)} THEN ${lit(RC.outOfRange)}` : sql``} ELSE NULL END`);
    const scale = 10 ** s.decimals;
    const exactRounded = ops.exactInt(sql`round(${ops.exact(r)}${scale === 1 ? sql`` : sql` * ${lit(scale)}`})`);
    // DuckDB: integer text is scaled in HUGEINT (exact, and far cheaper than DECIMAL(38,12)); same value as the rounded decimal.
    const intOk = integerOnly ? ok : okOf(col.name, INT_RE);
    // PostgreSQL: an integer column's text (checked by its regex) is exact as numeric without round().
    measVal.push(
      flavor === 'duckdb'
        ? sql`CASE WHEN ${intOk} THEN CAST(${r} AS HUGEINT)${scale === 1 ? sql`` : sql` * ${lit(scale)}`} WHEN ${ok} THEN ${exactRounded} ELSE NULL END`
        : integerOnly
          ? sql`CASE WHEN ${ok} THEN CAST(${r} AS numeric)${scale === 1 ? sql`` : sql` * ${lit(scale)}`} ELSE NULL END`
          : sql`CASE WHEN ${ok} THEN ${exactRounded} ELSE NULL END`,
    );
  }

  const unitCol = ds.unit.column;
  const hasUnit = unitCol !== null;
  if (hasUnit) positionColumn.push(unitCol);
  const unitMissing = hasUnit ? (ds.columns.find((c) => c.name === unitCol)?.missingValues ?? []) : [];

  const nv = layout.variables.length;
  const ns = layout.measureSources.length;
  const vName = (i: number) => `v${i}`;
  const mName = (i: number) => `m${i}`;
  const eName = (i: number) => `x${i}`;

  // Row error code: first failing position in RowConverter's order (variables, measures, unit).
  const errWhens: Frag[] = [];
  for (let i = 0; i < nv; i++)
    errWhens.push(sql`WHEN ${sql.ref(vName(i))} < 0 THEN ${lit(i * POS_FACTOR)} - ${sql.ref(vName(i))}`);
  for (let i = 0; i < ns; i++)
    errWhens.push(sql`WHEN ${sql.ref(eName(i))} IS NOT NULL THEN ${lit((nv + i) * POS_FACTOR)} + ${sql.ref(eName(i))}`);
  if (hasUnit)
    errWhens.push(
      sql`WHEN ${sql.ref('u')} = '' OR ${inList(sql.ref('u') as Frag, unitMissing)} THEN ${lit((nv + ns) * POS_FACTOR + RC.missingUnit)}`,
    );
  const errExpr = errWhens.length > 0 ? sql`CASE ${join(errWhens, sql` `)} ELSE 0 END` : sql`0`;

  // PostgreSQL pulls plain subqueries up into their parent, which would evaluate every regex and float cast once per
  // REFERENCE (a bin list reads f0 a dozen times): 3-4x the conversion cost. OFFSET 0 keeps each level a separate
  // projection, computed once per row. Only on a materialised typed table (Citus plans an OFFSET subquery on the coordinator).
  const fence = flavor === 'postgres' && (opts.fence ?? opts.typedTable !== null) ? sql` OFFSET 0` : sql``;
  const lnExpr = sql`ln`;
  const blocks = opts.blocks;
  const blockFilter =
    blocks === undefined
      ? sql``
      : sql` WHERE ctid >= CAST(${lit(`(${blocks[0]},0)`)} AS tid)${blocks[1] === null ? sql`` : sql` AND ctid < CAST(${lit(`(${blocks[1]},0)`)} AS tid)`}`;
  if (hasUnit) raw(unitCol);
  positionColumn.forEach((name) => raw(name));
  const part = opts.unitPart;
  const unitFilter =
    part === undefined || !hasUnit || flavor !== 'postgres'
      ? sql``
      : sql` WHERE (${ops.unitKey(sql`COALESCE(${ops.text(sql.ref(unitCol) as Frag)}, '')`)} & 1023) % ${lit(part[1])} = ${lit(part[0])}`;
  const level1 = sql`SELECT ${join([
    ...[...texts].map(([name, a]) => sql`COALESCE(${ops.text(sql.ref(name) as Frag)}, '') AS ${sql.ref(a)}`),
    sql`${rel.rowNumberColumn !== null ? sql.ref(rel.rowNumberColumn) : sql`CAST(NULL AS bigint)`} AS ln`,
  ])} FROM ${rel.from}${blockFilter}${unitFilter}${fence}`;
  const level2 =
    oks.size === 0
      ? level1
      : sql`SELECT l1.*, ${join([...oks.values()].map((o) => sql`${ops.matches(sql.ref(o.text) as Frag, o.re)} AS ${sql.ref(o.alias)}`))} FROM (${level1}) l1${fence}`;
  const level3 =
    floats.size === 0
      ? level2
      : sql`SELECT l2.*, ${join([...floats.values()].map((f) => sql`CASE WHEN ${sql.ref(f.ok)} THEN ${ops.float(sql.ref(f.text) as Frag, f.re === INT_RE)} END AS ${sql.ref(f.alias)}`))} FROM (${level2}) l2${fence}`;
  // Stored types: category indices (negative = reason code) as small integers; measures exact (as before).
  const catType = (i: number): Frag => (layout.variables[i]!.codes.length < 32000 ? sql`smallint` : sql`integer`);
  const converted = (withRaw: boolean): Frag =>
    sql`SELECT ${join([
      ...(withRaw ? positionColumn.map((name, i) => sql`${raw(name)} AS ${sql.ref(`raw${i}`)}`) : []),
      ...(hasUnit ? [sql`${raw(unitCol)} AS u`] : []),
      sql`${lnExpr} AS ln`,
      ...varExprs.map((e, i) => sql`CAST(${e} AS ${catType(i)}) AS ${sql.ref(vName(i))}`),
      ...measVal.map((e, i) => sql`${e} AS ${sql.ref(mName(i))}`),
      ...measErr.map((e, i) => sql`${e} AS ${sql.ref(eName(i))}`),
    ])} FROM (${level3}) l3${join(
      lookups.map(
        (l) =>
          sql` LEFT JOIN (VALUES ${join(l.pairs.map(([c, k]) => sql`(${lit(c)}, ${lit(k)})`))}) AS ${sql.ref(l.alias)}(${sql.ref(`${l.alias}c`)}, ${sql.ref(`${l.alias}i`)}) ON ${sql.ref(`${l.alias}c`)} = ${sql.ref(l.text)}`,
      ),
      sql``,
    )}${fence}`;
  const hasUnitKey = hasUnit && opts.typedTable !== null;
  const storedCols = [
    ...(hasUnit ? [sql`u`] : []),
    ...(hasUnitKey ? [sql`${ops.unitKey(sql`u`)} AS uk`] : []),
    ...(rel.rowNumberColumn !== null ? [sql`ln`] : []),
    ...[...Array(nv).keys()].map((i) => sql.ref(vName(i)) as Frag),
    ...[...Array(ns).keys()].map((i) => sql.ref(mName(i)) as Frag),
  ];
  // The typed relation: one conversion pass; the source materialises it once (a temporary table) when it can.
  const typedSelect = sql`SELECT ${join([...storedCols, sql`CAST(${errExpr} AS integer) AS e`])} FROM (${converted(false)}) c`;
  const T: Frag = opts.typedTable !== null ? (sql.id(opts.typedTable) as unknown as Frag) : sql`(${typedSelect})`;

  const validate = sql`SELECT CAST(e AS varchar) AS e, CAST(count(*) AS varchar) AS n, CAST(${rel.rowNumberColumn !== null ? sql`min(ln)` : sql`NULL`} AS varchar) AS first FROM ${T} t GROUP BY e`;
  // The raw text of the failing column of one invalid row (the first by row number when there is one). Error path only:
  // re-reads the relation (with the raw texts) instead of storing them.
  const rawOfErr = sql`CASE ${join(
    positionColumn.map(
      (_, i) => sql`WHEN e >= ${lit(i * POS_FACTOR)} AND e < ${lit((i + 1) * POS_FACTOR)} THEN ${sql.ref(`raw${i}`)}`,
    ),
    sql` `,
  )} END`;
  const locate = sql`SELECT CAST(e AS varchar) AS e, CAST(ln AS varchar) AS ln, ${positionColumn.length > 0 ? rawOfErr : sql`NULL`} AS raw FROM (SELECT c.*, ${errExpr} AS e FROM (${converted(true)}) c) t WHERE e <> 0 ORDER BY ln NULLS LAST LIMIT 1`;

  /* ---------------- level columns and grouping sets ---------------- */
  const canon: VarCanon[] = layout.variables.map((v, vi) => {
    // Canonical dimension of the variable: one with a total if any table has it (hierarchies are per column, so equal).
    const dims = layout.tables.flatMap((b) => b.plan.dimensions.filter((_, d) => b.dimVar[d] === vi));
    const dim = dims.find((d) => d.total !== null) ?? dims[0]!;
    const depth = dim.nodes.map((n) => n.level + (dim.total === null ? 1 : 0));
    const maxDepth = Math.max(...depth);
    const leafNodes = v.codes.map((code) => dim.nodes.findIndex((n) => n.leaf && n.code === code));
    const cols: LevelCol[] = [];
    for (let dd = 1; dd <= maxDepth; dd++) {
      const map = leafNodes.map((leaf) => {
        let cur: number | null = leaf;
        while (cur !== null && depth[cur]! > dd) cur = dim.nodes[cur]!.parent;
        return cur !== null && depth[cur] === dd ? cur : null;
      });
      cols.push({ name: `l${vi}_${dd}`, variable: vi, depth: dd, map, nullable: map.some((x) => x === null) });
    }
    return { dim, depth, cols };
  });
  const levelCols = canon.flatMap((c) => c.cols);

  const sets = new Map<string, GroupingSet>();
  const addSet = (cols: string[], table: number | null): void => {
    const key = [...cols].sort().join(',');
    let s = sets.get(key);
    if (!s) {
      s = { key, cols, tables: [] };
      sets.set(key, s);
    }
    if (table !== null && !s.tables.includes(table)) s.tables.push(table);
  };
  addSet([], null); // statistics set: one group per unit
  layout.tables.forEach((b, ti) => {
    if (new Set(b.dimVar).size !== b.dimVar.length) {
      throw new StatguardError(
        'POLICY_INVALID',
        `table ${JSON.stringify(b.plan.id)} uses the same variable twice (not supported by the SQL sources)`,
        { path: `/tables/${ti}/dimensions` },
      );
    }
    // Options per dimension: the total (column omitted) when published, else one level column.
    const options: (string | null)[][] = b.plan.dimensions.map((dim, d) => {
      const c = canon[b.dimVar[d]!]!;
      const opts: (string | null)[] = dim.total !== null ? [null] : [];
      if (dim.total !== null) for (const lc of c.cols) opts.push(lc.name);
      else opts.push(c.cols[c.cols.length - 1]!.name); // no total: leaves only (no hierarchy possible)
      return opts;
    });
    let combos: string[][] = [[]];
    for (const o of options) combos = combos.flatMap((prefix) => o.map((x) => (x === null ? prefix : [...prefix, x])));
    for (const c of combos) addSet(c, ti);
  });

  /* ---------------- bounding ---------------- */
  const m = ds.unit.maxRowsPerUnit;
  const hashText = (): Frag => {
    const parts: Frag[] = [sql`${sql`${sql.val(keyHex)}`}`, sql`chr(31)`, sql`u`, sql`chr(31)`];
    for (let i = 0; i < nv; i++) {
      if (i > 0) parts.push(sql`','`);
      parts.push(ops.text(sql.ref(vName(i)) as Frag));
    }
    parts.push(sql`chr(31)`);
    for (let i = 0; i < ns; i++) {
      if (i > 0) parts.push(sql`','`);
      parts.push(sql`COALESCE(${ops.text(sql.ref(mName(i)) as Frag)}, '')`);
    }
    return join(parts, sql` || `);
  };
  const varList = [...Array(nv).keys()].map((i) => sql.ref(vName(i)) as Frag);
  const measList = [...Array(ns).keys()].map((i) => sql.ref(mName(i)) as Frag);
  const base = [...(hasUnit ? [sql`u`] : []), ...varList, ...measList];

  // Units per valid row count: how many units, how many exceed m (only those are bounded), rows removed, largest unit.
  // Keyed: grouped by the integer key uk, and a key group whose rows carry two unit ids (min(u) <> max(u)) is a collision.
  // With no collision uk is injective on the units present, so grouping or counting distinct by uk equals doing it by u.
  const unitStats = hasUnit
    ? (keyed: boolean): CompiledSql =>
        compile(sql`SELECT CAST(count(*) AS varchar) AS units, CAST(count(*) FILTER (WHERE n > ${lit(m)}) AS varchar) AS big,
        CAST(COALESCE(sum(n - ${lit(m)}) FILTER (WHERE n > ${lit(m)}), 0) AS varchar) AS removed, CAST(COALESCE(max(n), 0) AS varchar) AS maxn,
        ${keyed ? sql`CAST(count(*) FILTER (WHERE NOT one) AS varchar)` : sql`'0'`} AS collisions
        FROM (SELECT count(*) AS n${keyed ? sql`, min(u) = max(u) AS one` : sql``} FROM ${T} t WHERE e = 0 GROUP BY ${keyed ? sql`uk` : sql`u`}) g`)
    : null;
  // Bounding. Guarantee: at most m rows per unit survive; a unit with n <= m keeps all its rows (no hashing needed), a unit with
  // n > m keeps the m rows with the smallest SHA-256(hex(key) | unit | content) (ROW_NUMBER() <= m; same canonical text as
  // engine/aggregate/bound.ts), so the kept rows do not depend on row order and cannot be predicted without the per-run key.
  // The kept relation has the unit column `k` (u, or its injective integer key uk) for the per-unit steps; the hash text always
  // uses the unit id itself.
  const keptRel = (bounded: boolean, key: UnitKey = 'u'): Frag => {
    const out = [...(hasUnit ? [sql`${sql.ref(key)} AS k`] : []), ...varList, ...measList];
    if (!bounded || !hasUnit) return sql`(SELECT ${join(out)} FROM ${T} t WHERE e = 0)`;
    const big = sql`SELECT ${sql.ref(key)} FROM ${T} t WHERE e = 0 GROUP BY ${sql.ref(key)} HAVING count(*) > ${lit(m)}`;
    return sql`(SELECT ${join(out)} FROM ${T} t WHERE e = 0 AND ${sql.ref(key)} NOT IN (${big})
      UNION ALL SELECT ${join(out)} FROM (SELECT ${join([...base, ...(key === 'uk' ? [sql`uk`] : [])])}, row_number() OVER (PARTITION BY ${sql.ref(key)} ORDER BY ${ops.sha256(hashText())}) AS rn
        FROM ${T} t WHERE e = 0 AND ${sql.ref(key)} IN (${big})) r WHERE rn <= ${lit(m)})`;
  };
  // Clamping: every kept value is forced into [lower, upper] (scaled integers), so one row moves a sum by at most
  // max(|L|,|U|). NULL (missing) stays NULL and out of the sums.
  const clampExpr = (ci: number): Frag => {
    const c = layout.clamps[ci]!;
    const x = sql.ref(mName(c.source)) as Frag;
    const e = sql`CASE WHEN ${x} < ${lit(c.lower)} THEN ${lit(c.lower)} WHEN ${x} > ${lit(c.upper)} THEN ${lit(c.upper)} ELSE ${x} END`;
    // Within safe integer bounds the clamped value is a 64-bit integer: sums over bigint are several times cheaper than over
    // numeric (PostgreSQL) or HUGEINT (DuckDB), and still exact (both sum bigint in a wider type). PostgreSQL: within 32 bits
    // an integer (sum(integer) is a bigint, exact): bigint is passed by reference on 32-bit builds (PGlite's WASM), where
    // max(bigint) copied the value per row and grouping set (PGlite at 1M rows, sdc one-pass statement: 6.1 s -> 5.5 s).
    const int32 = (v: number): boolean => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;
    if (flavor === 'postgres' && int32(c.lower) && int32(c.upper)) return sql`CAST(${e} AS integer)`;
    return Number.isSafeInteger(c.lower) && Number.isSafeInteger(c.upper) ? sql`CAST(${e} AS bigint)` : e;
  };
  const clampStats = (bounded: boolean, key: UnitKey = 'u'): CompiledSql | null =>
    layout.clamps.length === 0
      ? null
      : compile(
          sql`SELECT ${join(
            layout.clamps.map((c, ci) => {
              const x = sql.ref(mName(c.source)) as Frag;
              return sql`CAST(count(*) FILTER (WHERE ${x} < ${lit(c.lower)} OR ${x} > ${lit(c.upper)}) AS varchar) AS ${sql.ref(`clamped${ci}`)}`;
            }),
          )} FROM ${keptRel(bounded, key)} k`,
        );

  /* ---------------- aggregation: one statement per table owning new grouping sets ---------------- */
  const levelExpr = (lc: LevelCol): Frag => {
    const v = sql.ref(vName(lc.variable)) as Frag;
    const identity = lc.map.every((x, i) => x === i);
    // A long map is an element of a constant array indexed by the leaf (one lookup instead of a CASE comparing with every leaf).
    const arr = join(lc.map.map((node) => (node === null ? sql`NULL` : lit(node))));
    const e = identity
      ? v
      : useLookups && lc.map.length >= LOOKUP_MIN
        ? flavor === 'duckdb'
          ? sql`CASE WHEN ${v} >= 0 THEN [${arr}][${v} + 1] END`
          : sql`(CAST(ARRAY[${arr}] AS integer[]))[${v} + 1]`
        : sql`CASE ${v} ${join(
            lc.map
              .map((node, leaf) => (node === null ? null : sql`WHEN ${lit(leaf)} THEN ${lit(node)}`))
              .filter((x): x is Frag => x !== null),
            sql` `,
          )} END`;
    return sql`${e} AS ${sql.ref(lc.name)}`;
  };
  const byName = new Map(levelCols.map((c) => [c.name, c] as const));
  // Statement of each set: sets needing sums (used by a sum table) go to the first sum table's statement (per-(unit,
  // cell) contributions), count-only sets to the first count table's (distinct units, one pass).
  const owner = new Map<string, number>();
  const setClamps = (st: GroupingSet): number[] =>
    [...new Set(st.tables.map((u) => layout.tables[u]!.clamp).filter((c) => c >= 0))].sort((a, b) => a - b);
  for (const st of sets.values()) {
    if (st.tables.length === 0) continue;
    const sumUsers = st.tables.filter((u) => layout.tables[u]!.clamp >= 0);
    owner.set(st.key, Math.min(...(sumUsers.length > 0 ? sumUsers : st.tables)));
  }
  /**
   * Top TOP_K values of x (descending) among rows passing `filter`, as a text list ("[a, b]" or "{a,b}"); NULL when the
   * plan uses no top contributions (`needTop`). DuckDB's max(x, k) keeps k values per group. PostgreSQL has no bounded
   * top-k aggregate: array_agg would hold every value of a group (the grand total: every row or unit, so the backend's
   * memory grew with the rows), so the caller passes `rank`, a row_number() over a window partitioned by a refinement of
   * every cell and ordered by x descending: only the first TOP_K rows of each partition enter the array (the top k of a
   * cell are among the top k of the partitions it is made of).
   */
  const topK = (x: Frag, filter: Frag, rank: Frag | null): Frag => {
    if (!needTop) return sql`CAST(NULL AS varchar)`;
    if (flavor === 'duckdb') return sql`CAST(max(${x}, ${lit(TOP_K)}) FILTER (WHERE ${filter}) AS varchar)`;
    if (rank === null) throw new Error('topK: PostgreSQL needs a rank');
    return sql`CAST((array_agg(${x} ORDER BY ${x} DESC) FILTER (WHERE ${filter} AND ${rank} <= ${lit(TOP_K)}))[1:${lit(TOP_K)}] AS text)`;
  };
  /** row_number() over `partition` ordered by x descending (NULLs last), as column `name` (PostgreSQL tops, see topK). */
  const rankCol = (x: Frag, partition: readonly Frag[], name: string): Frag =>
    sql`row_number() OVER (${partition.length > 0 ? sql`PARTITION BY ${join(partition)} ` : sql``}ORDER BY ${x} DESC NULLS LAST) AS ${sql.ref(name)}`;
  const pgRanks = flavor === 'postgres' && needTop;

  const useGroupingSets = opts.groupingSets !== false;
  /**
   * SELECT [gv, ev] g0.. <level columns> <aggs> FROM src grouped by each spec (lead column u or e, then level columns).
   * Rows of a grouped nullable level column that is NULL (a leaf shallower than that level) are dropped. `withE`: the
   * one-pass head (gv = GROUPING(e), ev = e as text; the one pass with GROUPING SETS is built by its rollup instead).
   */
  const groupedBy = (
    src: Frag,
    cols: readonly LevelCol[],
    chunks: readonly (readonly string[])[],
    specs: readonly { lead: 'u' | 'e' | null; cols: readonly string[] }[],
    aggs: readonly Frag[],
    withE = false,
  ): Frag => {
    const ref = (c: string): Frag => sql.ref(c) as Frag;
    if (useGroupingSets) {
      const groupingExprs = chunks.map((chunk, i) => sql`GROUPING(${join(chunk.map(ref))}) AS ${ref(`g${i}`)}`);
      const setList = join(
        specs.map((sp) => {
          const cs = [...(sp.lead !== null ? [ref(sp.lead)] : []), ...sp.cols.map(ref)];
          return cs.length > 0 ? sql`(${join(cs)})` : sql`()`;
        }),
      );
      const having = cols
        .filter((lc) => lc.nullable)
        .map((lc) => sql`NOT (GROUPING(${ref(lc.name)}) = 0 AND ${ref(lc.name)} IS NULL)`);
      const head = withE ? [sql`GROUPING(e) AS gv`, sql`CAST(e AS varchar) AS ev`] : [];
      const hv =
        having.length === 0
          ? sql``
          : withE
            ? sql` HAVING GROUPING(e) = 0 OR (${join(having, sql` AND `)})`
            : sql` HAVING ${join(having, sql` AND `)}`;
      return sql`SELECT ${join([...head, ...groupingExprs, ...cols.map((c) => ref(c.name)), ...aggs])} FROM ${src} GROUP BY GROUPING SETS (${setList})${hv}`;
    }
    // One GROUP BY per set, UNION ALL; GROUPING(a, b, ..) as a constant (bit 1 = not grouped, the last argument lowest).
    return join(
      specs.map((sp) => {
        const grouped = new Set(sp.cols);
        const gconst = chunks.map((chunk, i) => sql`${lit(groupingMask(chunk, grouped))} AS ${ref(`g${i}`)}`);
        const head = withE
          ? sp.lead === 'e'
            ? [sql`0 AS gv`, sql`CAST(e AS varchar) AS ev`]
            : [sql`1 AS gv`, sql`CAST(NULL AS varchar) AS ev`]
          : [];
        const colSel = cols.map((c) =>
          grouped.has(c.name)
            ? sql`CAST(${ref(c.name)} AS integer) AS ${ref(c.name)}`
            : sql`CAST(NULL AS integer) AS ${ref(c.name)}`,
        );
        const keys = [...(sp.lead !== null ? [ref(sp.lead)] : []), ...sp.cols.map(ref)];
        const notNull = cols
          .filter((c) => c.nullable && grouped.has(c.name))
          .map((c) => sql`${ref(c.name)} IS NOT NULL`);
        return sql`SELECT ${join([...head, ...gconst, ...colSel, ...aggs])} FROM ${src}${keys.length > 0 ? sql` GROUP BY ${join(keys)}` : sql``}${notNull.length > 0 ? sql` HAVING ${join(notNull, sql` AND `)}` : sql``}`;
      }),
      sql` UNION ALL `,
    );
  };

  const statements = (mode: AggMode, bounded: boolean, key: UnitKey = 'u'): AggStatement[] => {
    if (key === 'uk' && !hasUnitKey) throw new Error('statements: no unit key in the typed relation');
    const out: AggStatement[] = [];
    layout.tables.forEach((_, ti) => {
      const mine = [...sets.values()].filter((s) => owner.get(s.key) === ti);
      if (mine.length === 0) return;
      const clamps = [...new Set(mine.flatMap(setClamps))].sort((a, b) => a - b);
      const cols = levelCols.filter((lc) => mine.some((s) => s.cols.includes(lc.name)));
      const chunks = groupingChunks(cols.map((c) => c.name));
      const rel = keptRel(bounded, key);
      const inner = sql`SELECT ${join([...(mode === 'row' ? [] : [sql`k AS u`]), ...cols.map(levelExpr), ...clamps.map((ci) => sql`${clampExpr(ci)} AS ${sql.ref(`c${ci}`)}`), sql`1 AS one`])} FROM ${rel} k`;
      // Per-(unit, cell) grouping (sum tables with units) groups the unit with every set; other statements group cells only.
      // DuckDB also counts the units of count tables this way: a plain GROUPING SETS ((u, ...)) hash aggregate then a count
      // per cell is faster there than count(DISTINCT u) (measured: ~1.3-1.5x at 1M rows) and its hash tables can spill;
      // PostgreSQL keeps count(DISTINCT u) (its two-phase plan sorts the (unit, cell) rows twice: measured slower).
      const perUnitCells = mode === 'units' && (clamps.length > 0 || flavor === 'duckdb');
      const specs = mine.map((st) => ({ lead: perUnitCells ? ('u' as const) : null, cols: st.cols }));
      const src = sql`(${inner}) k`;
      const colRefs = cols.map((c) => sql.ref(c.name) as Frag);
      let q: Frag;
      if (mode !== 'units') {
        // Each unit is one row (no unit column, or no unit has two valid rows): units = rows, contributions = row values.
        const aggs: Frag[] = [sql`CAST(count(*) AS varchar) AS units`, sql`CAST(count(*) AS varchar) AS rows`];
        for (const ci of clamps) {
          const c = sql.ref(`c${ci}`) as Frag;
          aggs.push(
            sql`CAST(count(${c}) AS varchar) AS ${sql.ref(`units${ci}`)}`,
            sql`CAST(count(${c}) AS varchar) AS ${sql.ref(`rows${ci}`)}`,
            sql`CAST(sum(${c}) AS varchar) AS ${sql.ref(`sum${ci}`)}`,
            sql`${topK(c, sql`${c} IS NOT NULL`, sql.ref(`rn${ci}`) as Frag)} AS ${sql.ref(`top${ci}`)}`,
          );
        }
        // PostgreSQL tops: each row ranked within its finest cell (every level column of the statement).
        const ranked =
          pgRanks && clamps.length > 0
            ? sql`(SELECT k.*, ${join(clamps.map((ci) => rankCol(sql.ref(`c${ci}`) as Frag, colRefs, `rn${ci}`)))} FROM ${src}) k`
            : src;
        q = groupedBy(ranked, cols, chunks, specs, aggs);
      } else if (!perUnitCells) {
        // Count tables only: distinct units and rows per cell, one pass (no per-(unit, cell) intermediate).
        q = groupedBy(src, cols, chunks, specs, [
          sql`CAST(count(DISTINCT u) AS varchar) AS units`,
          sql`CAST(count(*) AS varchar) AS rows`,
        ]);
      } else {
        // Per (unit, cell): a unit's kept rows in the cell and its summed (clamped) contribution; then per cell.
        const perUnit: Frag[] = [sql`count(*) AS rr`];
        for (const ci of clamps)
          perUnit.push(
            sql`count(${sql.ref(`c${ci}`)}) AS ${sql.ref(`r${ci}`)}`,
            sql`sum(${sql.ref(`c${ci}`)}) AS ${sql.ref(`s${ci}`)}`,
          );
        // PostgreSQL tops: each unit's bucket of the pre-filter below (the unit is grouped in every set: at most once per
        // cell), from a hash of its key: cheaper than dealing the rows by a row_number() window.
        if (pgRanks)
          perUnit.push(
            key === 'uk'
              ? sql`CAST(u & ${lit(TOP_BUCKETS - 1)} AS integer) AS b`
              : sql`(hashtext(u) & ${lit(TOP_BUCKETS - 1)}) AS b`,
          );
        const unitCells = groupedBy(src, cols, chunks, specs, perUnit);
        const keys = [...chunks.map((_, i) => sql.ref(`g${i}`) as Frag), ...colRefs];
        const aggs: Frag[] = [sql`CAST(count(*) AS varchar) AS units`, sql`CAST(sum(rr) AS varchar) AS rows`];
        for (const ci of clamps) {
          const r = sql.ref(`r${ci}`) as Frag;
          const s = sql.ref(`s${ci}`) as Frag;
          aggs.push(
            sql`CAST(count(*) FILTER (WHERE ${r} > 0) AS varchar) AS ${sql.ref(`units${ci}`)}`,
            sql`CAST(sum(${r}) AS varchar) AS ${sql.ref(`rows${ci}`)}`,
            sql`CAST(sum(${s}) AS varchar) AS ${sql.ref(`sum${ci}`)}`,
          );
          if (!pgRanks) aggs.push(sql`${topK(s, sql`${r} > 0`, null)} AS ${sql.ref(`top${ci}`)}`);
        }
        const grouped = (from: Frag): Frag =>
          sql`SELECT ${join([...keys, ...aggs])} FROM ${from}${keys.length > 0 ? sql` GROUP BY ${join(keys)}` : sql``}`;
        if (!pgRanks) q = grouped(sql`(${unitCells}) uc`);
        else {
          // PostgreSQL tops: the per-(unit, cell) rows are kept once (a materialised CTE, dealt into TOP_BUCKETS buckets by
          // the unit key, `b` above). One hash aggregate over them gives the cell totals and, per cell, each bucket's largest sum (FILTER);
          // the TOP_K-th largest of those maxima is a lower bound of the cell's TOP_K-th largest sum (TOP_K distinct units),
          // so only the units at or above it are sorted (a window per cell, bounded by work_mem), then joined to the totals.
          // Exact for any dealing; a cell with fewer than TOP_K non-empty buckets keeps all its units (threshold NULL).
          const ref = (c: string): Frag => sql.ref(c) as Frag;
          const names = [...chunks.map((_, i) => `g${i}`), ...cols.map((c) => c.name)];
          const bucketAggs: Frag[] = [];
          const thresholds: Frag[] = [];
          for (const ci of clamps) {
            const r = ref(`r${ci}`);
            const s = ref(`s${ci}`);
            const bms = [...Array(TOP_BUCKETS).keys()].map((j) => ref(`bm${ci}_${j}`));
            bms.forEach((bm, j) => bucketAggs.push(sql`max(${s}) FILTER (WHERE ${r} > 0 AND b = ${lit(j)}) AS ${bm}`));
            thresholds.push(
              sql`(SELECT x FROM unnest(ARRAY[${join(bms)}]) x WHERE x IS NOT NULL ORDER BY x DESC OFFSET ${lit(TOP_K - 1)} LIMIT 1) AS ${ref(`t${ci}`)}`,
            );
          }
          // The cell is also one key `ck`: PostgreSQL estimates 200 groups for one column of a CTE (it has no statistics
          // there) against ~90,000 for three, and with that estimate it sorted all the per-(unit, cell) rows to merge-join
          // them with the cell thresholds (1M rows: 5.2-5.6 s -> 3.5-4.0 s for the statement); with one key it hashes the
          // (few) cells. A bigint (mixed radix: GROUPING() chunks, then each level + 1, NULL = 0) when the radix product fits
          // in 2^53, else an int[] (NULL levels as -1).
          const radix = [
            ...chunks.map((ch) => 2 ** ch.length),
            ...cols.map((c) => canon[c.variable]!.dim.nodes.length + 1),
          ];
          const ck =
            radix.reduce((a, b) => a * b, 1) <= MAX_SAFE
              ? names.reduce<Frag>(
                  (acc, n, i) => {
                    const d = i < chunks.length ? ref(n) : sql`(COALESCE(${ref(n)}, -1) + 1)`;
                    return i === 0 ? sql`CAST(${d} AS bigint)` : sql`(${acc}) * ${lit(radix[i]!)} + ${d}`;
                  },
                  sql`CAST(0 AS bigint)`,
                )
              : sql`ARRAY[${join(names.map((n) => sql`COALESCE(${ref(n)}, -1)`))}]`;
          const ctes: Frag[] = [
            sql`uc AS MATERIALIZED (SELECT u0.*, ${ck} AS ck FROM (${unitCells}) u0)`,
            sql`a AS MATERIALIZED (SELECT a0.*, ${join(thresholds)} FROM (SELECT ${join([sql`ck`, ...names.map((n) => sql`min(${ref(n)}) AS ${ref(n)}`), ...aggs, ...bucketAggs])} FROM uc GROUP BY ck) a0)`,
          ];
          const joins: Frag[] = [];
          const tops: Frag[] = [];
          for (const ci of clamps) {
            const s = ref(`uc.s${ci}`);
            const tp = ref(`tp${ci}`);
            const t = ref(`a.t${ci}`);
            const w = sql`SELECT uc.ck, ${s} AS x, ${rankCol(s, [sql`uc.ck`], 'rn')} FROM uc JOIN a ON uc.ck = a.ck WHERE ${ref(`uc.r${ci}`)} > 0 AND (${t} IS NULL OR ${s} >= ${t})`;
            const rel = sql`(SELECT ck, CAST((array_agg(x ORDER BY x DESC))[1:${lit(TOP_K)}] AS text) AS top FROM (${w}) w WHERE rn <= ${lit(TOP_K)} GROUP BY ck)`;
            joins.push(sql` LEFT JOIN ${rel} ${tp} ON ${tp}.ck = a.ck`);
            tops.push(sql`${tp}.top AS ${ref(`top${ci}`)}`);
          }
          const outCols = [
            ...names,
            'units',
            'rows',
            ...clamps.flatMap((ci) => [`units${ci}`, `rows${ci}`, `sum${ci}`]),
          ].map((n) => ref(`a.${n}`));
          q = sql`WITH ${join(ctes)} SELECT ${join([...outCols, ...tops])} FROM a${join(joins, sql``)}`;
        }
      }
      out.push({
        sql: compile(q),
        chunks,
        cols: cols.map((c) => byName.get(c.name)!),
        sets: mine.map((s) => s.key),
        clamps,
      });
    });
    return out;
  };

  /*
   * One pass (no unit column). Guarantees: cell aggregates count valid rows only (FILTER (WHERE e = 0)), so invalid rows
   * change no cell; a group made of invalid rows alone has rows = 0 and is skipped by the decoder (it can carry
   * meaningless keys: negative category indices); validation counts come from the (e) grouping set of the same scan, so
   * an 'error' policy still fails on the first invalid row (the located row is fetched by a second query, as before).
   */
  const onePass = ((): AggStatement | null => {
    if (hasUnit) return null;
    // Every set in one pass, sums included (plain hash aggregates). Top contributions: DuckDB's max(c, k) is a hash
    // aggregate too. PostgreSQL has no bounded top-k aggregate: when the plan uses tops, the rows are dealt at random into
    // ROW_TOP_BUCKETS buckets and one more grouping set per clamp, (finest cell, bucket), gives each bucket's row count and
    // largest value (max(c) in the same hash aggregate). The bucket maxima are distinct rows, so where they determine the
    // TOP_K largest values (sql-source.ts topsFromBuckets: e.g. TOP_K buckets reaching the clamp bound, or buckets of one
    // row each) no row is read again; otherwise one more statement ranks the rows of the undetermined cells at or above
    // their TOP_K-th bucket maximum (BucketTops.fallback). This replaced a MATERIALIZED CTE of every converted row read by
    // a ranking branch (person unit at 10M rows: the sdc release 54 s against 35 s for dp, whose statement is the same
    // without tops). The form without GROUPING SETS (Citus) keeps the sum sets in `statements('row', ...)`.
    const splitSums = flavor === 'postgres' && needTop && !useGroupingSets;
    const inPass = (st: GroupingSet): boolean => !splitSums || layout.tables[owner.get(st.key)!]!.clamp < 0;
    const mine = [...sets.values()].filter((st) => st.tables.length > 0 && inPass(st));
    const clamps = layout.clamps.map((_, ci) => ci);
    const sumsHere = !splitSums;
    const topBranch = flavor === 'postgres' && needTop && sumsHere;
    const cols = levelCols.filter((lc) => mine.some((st) => st.cols.includes(lc.name)));
    const chunks = groupingChunks(cols.map((c) => c.name));
    // Per row: the clamped values, whether each raw value was outside its bounds, the bucket of the row tops.
    const rowTail = [
      ...clamps.map((ci) => sql`${clampExpr(ci)} AS ${sql.ref(`c${ci}`)}`),
      ...clamps.map((ci) => {
        const x = sql.ref(mName(layout.clamps[ci]!.source)) as Frag;
        const cl = layout.clamps[ci]!;
        return sql`(${x} < ${lit(cl.lower)} OR ${x} > ${lit(cl.upper)}) AS ${sql.ref(`raw${ci}`)}`;
      }),
      ...(topBranch ? [sql`CAST(floor(random() * ${lit(ROW_TOP_BUCKETS)}) AS integer) AS b`] : []),
    ];
    const inner = sql`SELECT ${join([sql`e`, ...cols.map(levelExpr), ...rowTail])} FROM ${T} t`;
    /** The rows with the leaf indices of variables `vs` (the rollup below) instead of level columns. */
    const innerV = (vs: readonly number[]): Frag =>
      sql`SELECT ${join([sql`e`, ...vs.map((i) => sql.ref(vName(i)) as Frag), ...rowTail])} FROM ${T} t`;
    const ok = sql`e = 0`;
    const bucketTops: BucketTops[] = !topBranch
      ? []
      : clamps.flatMap((ci): BucketTops[] => {
          const tsets = mine.filter((st) => st.tables.some((u) => layout.tables[u]!.clamp === ci));
          if (tsets.length === 0) return [];
          const bcols = cols.filter((lc) => tsets.some((st) => st.cols.includes(lc.name))).map((lc) => lc.name);
          const ref = (c: string): Frag => sql.ref(c) as Frag;
          const c = ref(`c${ci}`);
          const ps = bcols.map((_, j) => ref(`p${j}`));
          const fallback = (
            cells: readonly { readonly key: readonly (number | null)[]; readonly threshold: number | null }[],
          ): CompiledSql => {
            // Bind parameters (one array per column), never literals: a threshold is a value of the microdata (a bucket
            // maximum), so it stays out of the SQL text (statement logs, STATGUARD_SQL_TIMING), as the bounding key does.
            const columns = [
              ...bcols.map((_, j) => sql`CAST(${sql.val(cells.map((cell) => cell.key[j] ?? -1))} AS integer[])`),
              sql`CAST(${sql.val(cells.map((cell) => (cell.threshold === null ? null : String(cell.threshold))))} AS numeric[])`,
            ];
            const on =
              bcols.length > 0
                ? join(
                    bcols.map((name, j) => sql`COALESCE(k.${ref(name)}, -1) = f.${ps[j]!}`),
                    sql` AND `,
                  )
                : sql`TRUE`;
            const w = sql`SELECT ${join([
              ...ps.map((pj) => sql`f.${pj}`),
              sql`k.${c} AS x`,
              rankCol(
                sql`k.${c}`,
                ps.map((pj) => sql`f.${pj}`),
                'rn',
              ),
            ])}
          FROM (${inner}) k JOIN unnest(${join(columns)}) AS f(${join([...ps, ref('t')])}) ON ${on}
          WHERE k.${ok} AND k.${c} IS NOT NULL AND (f.t IS NULL OR k.${c} >= f.t)`;
            return compile(sql`SELECT ${join([...ps, sql`CAST((array_agg(x ORDER BY x DESC))[1:${lit(TOP_K)}] AS text) AS top`])}
          FROM (${w}) w WHERE rn <= ${lit(TOP_K)}${ps.length > 0 ? sql` GROUP BY ${join(ps)}` : sql``}`);
          };
          return [{ clamp: ci, cols: bcols, sets: tsets.map((st) => st.key), fallback }];
        });
    // DuckDB evaluates an aggregate's FILTER in every grouping set (7 filtered aggregates x 17 sets per row in the benchmark
    // policy, before the rollup below: its hash aggregate took 9.1 s CPU at 10M rows, 6.4 s without tops): there the
    // arguments of invalid rows are NULL-ed once per row in a projection instead (count, sum and max(c, k) skip NULLs;
    // same aggregates), 5.0 s / 4.0 s.
    const noFilter = flavor === 'duckdb';
    /*
     * Finest cells first, margins from them (GROUPING SETS engines). Every row is hashed once per grouping set, so the
     * per-row work grows with the number of sets (17 in the benchmark policy), while a margin's counts, sums, largest
     * values and top lists are those of the finest cells it is made of (each row is its own unit here: nothing is
     * distinct-counted). So the scan groups the rows only by (e) and by one "base" set per table, its variables' leaf
     * indices (a table whose variables are all in another's base shares that base), plus the bucket sets of the row tops;
     * then a second GROUP BY GROUPING SETS over those few cell rows (materialised once) computes every set of the
     * statement, each from a base holding its variables, with the same level columns (a function of the leaves). Same
     * rows as one GROUP BY GROUPING SETS over every set: PGlite at 1M rows, dp statement 5.1 s -> 3.4 s (the bare query
     * of the 16 sets: 4.1 s). Invalid rows form base groups of their own with rows = 0 and no value (FILTER / NULL-ed
     * arguments), so they add nothing to a cell; a cell made of them alone has rows = 0 and is skipped, as before.
     */
    const rollup = (): Frag => {
      const ref = (c: string): Frag => sql.ref(c) as Frag;
      const varsOf = (names: readonly string[]): number[] =>
        [...new Set(names.map((c) => byName.get(c)!.variable))].sort((a, b) => a - b);
      const within = (small: readonly number[], big: readonly number[]): boolean => small.every((v) => big.includes(v));
      const tableVars = [...new Set(mine.flatMap((st) => st.tables))].map((ti) =>
        [...new Set(layout.tables[ti]!.dimVar)].sort((a, b) => a - b),
      );
      const uniq = [...new Map(tableVars.map((vs) => [vs.join(','), vs] as const)).values()];
      const bases = uniq
        .filter((vs) => !uniq.some((o) => o.length > vs.length && within(vs, o)))
        .sort((a, b) => a.length - b.length);
      const baseOf = (st: GroupingSet): number => {
        const i = bases.findIndex((b) => within(varsOf(st.cols), b));
        if (i < 0) throw new Error(`rollup: no base set holds the variables of grouping set ${JSON.stringify(st.key)}`);
        return i;
      };
      const bucketVars = [...new Map(bucketTops.map((bt) => [bt.cols.join(','), bt.cols] as const)).values()];
      const fVars = [...new Set([...bases.flat(), ...bucketVars.flatMap(varsOf)])].sort((a, b) => a - b);
      const keys = ['e', ...(topBranch ? ['b'] : []), ...fVars.map(vName)];
      const fChunks = groupingChunks(keys);
      /** The first-level rows of the set grouping `grouped`: each chunk's GROUPING() has that set's value. */
      const tag = (grouped: ReadonlySet<string>): Frag =>
        join(
          fChunks.map((chunk, i) => sql`${ref(`fg${i}`)} = ${lit(groupingMask(chunk, grouped))}`),
          sql` AND `,
        );
      const vSet = (vs: readonly number[]): string[] => vs.map(vName);
      // The scan: first-level aggregates (raw types), over valid rows only.
      const filtered = (agg: string, x: Frag | null): Frag =>
        noFilter ? sql`${sql.raw(agg)}(${x ?? ref('okv')})` : sql`${sql.raw(agg)}(${x ?? sql`*`}) FILTER (WHERE ${ok})`;
      const first: Frag[] = [
        ...fChunks.map((chunk, i) => sql`GROUPING(${join(chunk.map(ref))}) AS ${ref(`fg${i}`)}`),
        ...keys.map(ref),
        sql`count(*) AS fn`,
        sql`${filtered('count', null)} AS fr`,
      ];
      for (const ci of clamps) {
        const c = ref(noFilter ? `cv${ci}` : `c${ci}`);
        first.push(
          sql`${filtered('count', c)} AS ${ref(`fc${ci}`)}`,
          sql`${filtered('sum', c)} AS ${ref(`fs${ci}`)}`,
          noFilter
            ? sql`count(${ref(`rv${ci}`)}) AS ${ref(`fk${ci}`)}`
            : sql`count(*) FILTER (WHERE ${ref(`raw${ci}`)}) AS ${ref(`fk${ci}`)}`,
        );
        if (noFilter && needTop) first.push(sql`max(${c}, ${lit(TOP_K)}) AS ${ref(`ft${ci}`)}`);
        if (topBranch) first.push(sql`${filtered('max', c)} AS ${ref(`fm${ci}`)}`);
      }
      const rowSrc = noFilter
        ? sql`(SELECT ${join([
            sql`e`,
            ...vSet(fVars).map(ref),
            sql`CASE WHEN ${ok} THEN TRUE END AS okv`,
            ...clamps.flatMap((ci) => [
              sql`CASE WHEN ${ok} THEN ${ref(`c${ci}`)} END AS ${ref(`cv${ci}`)}`,
              sql`CASE WHEN ${ref(`raw${ci}`)} THEN TRUE END AS ${ref(`rv${ci}`)}`,
            ]),
          ])} FROM (${innerV(fVars)}) k0) k`
        : sql`(${innerV(fVars)}) k`;
      const firstSets = [
        sql`(e)`,
        ...bases.map((b) => (b.length > 0 ? sql`(${join(vSet(b).map(ref))})` : sql`()`)),
        ...bucketVars.map((bc) => sql`(${join([...vSet(varsOf(bc)).map(ref), sql`b`])})`),
      ];
      const f = sql`SELECT ${join(first)} FROM ${rowSrc} GROUP BY GROUPING SETS (${join(firstSets)})`;
      // The second level: every branch gives the columns of the one-pass row, in the same order and types.
      const txt = (x: Frag): Frag => sql`CAST(${x} AS varchar)`;
      const nullInt = sql`CAST(NULL AS integer)`;
      const gConst = (grouped: ReadonlySet<string>): Frag[] =>
        chunks.map((chunk, i) => sql`${lit(groupingMask(chunk, grouped))} AS ${ref(`g${i}`)}`);
      const head = (gv: 0 | 1, ev: Frag, bv: Frag | null): Frag[] => [
        sql`${lit(gv)} AS gv`,
        sql`${ev} AS ev`,
        ...(topBranch ? [sql`${lit(bv === null ? 1 : 0)} AS gb`, sql`${bv ?? sql`CAST(NULL AS varchar)`} AS bv`] : []),
      ];
      /** The aggregates of one first-level row (`summed` false) or over first-level rows; `withMx`: the bucket maxima. */
      const outAggs = (summed: boolean, withMx: boolean): Frag[] => {
        const s = (x: string): Frag => (summed ? sql`sum(${ref(x)})` : ref(x));
        const out: Frag[] = [sql`${txt(s('fn'))} AS n`, sql`${txt(s('fr'))} AS units`, sql`${txt(s('fr'))} AS rows`];
        for (const ci of clamps) {
          const top = !(noFilter && needTop)
            ? sql`CAST(NULL AS varchar)`
            : summed
              ? txt(sql`list_slice(list_reverse_sort(flatten(list(${ref(`ft${ci}`)}))), 1, ${lit(TOP_K)})`)
              : txt(ref(`ft${ci}`));
          out.push(
            sql`${txt(s(`fc${ci}`))} AS ${ref(`units${ci}`)}`,
            sql`${txt(s(`fc${ci}`))} AS ${ref(`rows${ci}`)}`,
            sql`${txt(s(`fs${ci}`))} AS ${ref(`sum${ci}`)}`,
            sql`${top} AS ${ref(`top${ci}`)}`,
          );
          if (topBranch)
            out.push(
              sql`${withMx ? txt(summed ? sql`max(${ref(`fm${ci}`)})` : ref(`fm${ci}`)) : sql`CAST(NULL AS varchar)`} AS ${ref(`mx${ci}`)}`,
            );
          out.push(sql`${txt(s(`fk${ci}`))} AS ${ref(`clamped${ci}`)}`);
        }
        return out;
      };
      const carried = [
        'fn',
        'fr',
        ...clamps.flatMap((ci) => [
          `fc${ci}`,
          `fs${ci}`,
          `fk${ci}`,
          ...(noFilter && needTop ? [`ft${ci}`] : []),
          ...(topBranch ? [`fm${ci}`] : []),
        ]),
      ].map(ref);
      const branches: Frag[] = [];
      // Validation groups: the (e) rows as they are.
      branches.push(sql`SELECT ${join([...head(0, txt(ref('e')), null), ...gConst(new Set()), ...cols.map((c) => sql`${nullInt} AS ${ref(c.name)}`), ...outAggs(false, true)])}
        FROM f WHERE ${tag(new Set(['e']))}`);
      // Cells: each base's sets, from its rows.
      bases.forEach((b, bi) => {
        const bsets = mine.filter((st) => baseOf(st) === bi);
        if (bsets.length === 0) return;
        const bcols = cols.filter((lc) => bsets.some((st) => st.cols.includes(lc.name)));
        const inB = new Set(bcols.map((c) => c.name));
        const g = chunks.map((chunk, i) => {
          const terms = chunk.map((name, j) => {
            const w = 2 ** (chunk.length - 1 - j);
            return inB.has(name) ? sql`GROUPING(${ref(name)}) * ${lit(w)}` : lit(w);
          });
          return sql`(${join(terms, sql` + `)}) AS ${ref(`g${i}`)}`;
        });
        const setList = join(bsets.map((st) => (st.cols.length > 0 ? sql`(${join(st.cols.map(ref))})` : sql`()`)));
        const having = bcols
          .filter((lc) => lc.nullable)
          .map((lc) => sql`NOT (GROUPING(${ref(lc.name)}) = 0 AND ${ref(lc.name)} IS NULL)`);
        const src = sql`(SELECT ${join([...bcols.map(levelExpr), ...carried])} FROM f WHERE ${tag(new Set(vSet(b)))}) x`;
        branches.push(sql`SELECT ${join([...head(1, sql`CAST(NULL AS varchar)`, null), ...g, ...cols.map((c) => (inB.has(c.name) ? ref(c.name) : sql`${nullInt} AS ${ref(c.name)}`)), ...outAggs(true, false)])}
          FROM ${src} GROUP BY GROUPING SETS (${setList})${having.length > 0 ? sql` HAVING ${join(having, sql` AND `)}` : sql``}`);
      });
      // Bucket rows (PostgreSQL row tops): per finest cell of the sum sets (its level columns) and bucket.
      for (const bc of bucketVars) {
        const lcs = cols.filter((lc) => bc.includes(lc.name));
        const src = sql`(SELECT ${join([...lcs.map(levelExpr), sql`b`, ...carried])} FROM f WHERE ${tag(new Set([...vSet(varsOf(bc)), 'b']))}) x`;
        branches.push(sql`SELECT ${join([...head(1, sql`CAST(NULL AS varchar)`, txt(sql`b`)), ...gConst(new Set(bc)), ...cols.map((c) => (bc.includes(c.name) ? ref(c.name) : sql`${nullInt} AS ${ref(c.name)}`)), ...outAggs(true, true)])}
          FROM ${src} GROUP BY ${join([...lcs.map((lc) => ref(lc.name)), sql`b`])}`);
      }
      return sql`WITH f AS MATERIALIZED (${f}) ${join(branches, sql` UNION ALL `)}`;
    };
    let q: Frag;
    if (useGroupingSets) q = rollup();
    else {
      // Without GROUPING SETS (Citus, PostgreSQL only): one GROUP BY per set, every set from the rows (groupedBy); the sum
      // sets of a plan that reads tops come from statements('row').
      const aggs: [string, Frag][] = [
        ['n', sql`CAST(count(*) AS varchar)`],
        ['units', sql`CAST(count(*) FILTER (WHERE ${ok}) AS varchar)`],
        ['rows', sql`CAST(count(*) FILTER (WHERE ${ok}) AS varchar)`],
      ];
      for (const ci of clamps) {
        const c = sql.ref(`c${ci}`) as Frag;
        if (sumsHere) {
          aggs.push(
            [`units${ci}`, sql`CAST(count(${c}) FILTER (WHERE ${ok}) AS varchar)`],
            [`rows${ci}`, sql`CAST(count(${c}) FILTER (WHERE ${ok}) AS varchar)`],
            [`sum${ci}`, sql`CAST(sum(${c}) FILTER (WHERE ${ok}) AS varchar)`],
            [`top${ci}`, sql`CAST(NULL AS varchar)`],
          );
        }
        // the raw value is outside the clamp bounds (computed once per row)
        aggs.push([`clamped${ci}`, sql`CAST(count(*) FILTER (WHERE ${sql.ref(`raw${ci}`)}) AS varchar)`]);
      }
      const specs = [
        { lead: 'e' as const, cols: [] as string[] },
        ...mine.map((st) => ({ lead: null, cols: st.cols })),
      ];
      q = groupedBy(
        sql`(${inner}) k`,
        cols,
        chunks,
        specs,
        aggs.map(([name, e]) => sql`${e} AS ${sql.ref(name)}`),
        true,
      );
    }
    return {
      sql: compile(q),
      chunks,
      cols: cols.map((c) => byName.get(c.name)!),
      sets: mine.map((st) => st.key),
      clamps: sumsHere ? clamps : [],
      ...(topBranch ? { bucketTops } : {}),
    };
  })();

  return {
    onePass,
    layout,
    typedSelect: compile(typedSelect),
    validate: compile(validate),
    locate: compile(locate),
    unitStats,
    hasUnitKey,
    clampStats,
    statements,
    sets,
    canon,
    positionColumn,
    hasUnit,
  };
}
