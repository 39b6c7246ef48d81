/**
 * The typed conversion, as SQL: every used column converted with RowConverter's rules and in its order (categories before
 * missing codes, strict number syntax, constraints, bins, recodes, measures scaled exactly) into the typed relation
 * (u, uk, ln, v*, m*, e), plus the validation counts and the lookup of one invalid row. Same reason classes as the CSV
 * path, same first failing position.
 */
import { sql } from 'kysely';
import { StatguardError } from '../../errors.ts';
import type { ColumnPlan, DerivedColumnPlan, Plan } from '../../types.ts';
import type { RecordLayout, VariableSpec } from '../../aggregate/record-layout.ts';
import { POS_FACTOR, RC } from './codes.ts';
import { join, lit, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import type { Flavor, SqlForm } from './flavor.ts';
import { INT_RE, MAX_SAFE, NUM_RE, RowTexts } from './row-texts.ts';
import type { BuildSqlOptions, SqlRelation } from './types.ts';

/** Integer bin sources whose declared range holds fewer values than this are binned by an array lookup (see binnedExpr). */
const BIN_TABLE_MAX = 10_000;

export const vName = (i: number): string => `v${i}`;
export const mName = (i: number): string => `m${i}`;
const eName = (i: number): string => `x${i}`;

/** The typed conversion of a plan over a relation. */
export interface Conversion {
  /** The typed relation's SELECT (stored columns u, uk, ln, v*, m*, e). */
  readonly typedSelect: Frag;
  /** The typed relation as a FROM item: the materialised table, or `typedSelect` inlined. */
  readonly typed: Frag;
  /** Validation counts per error code (over `typed`). */
  readonly validate: Frag;
  /** One invalid row with its error code, row number and the raw text of the failing column (re-reads the relation). */
  readonly locate: Frag;
  /** Failing column name per error position. */
  readonly positionColumn: readonly string[];
  readonly hasUnit: boolean;
  /** Whether the typed relation carries the integer unit key `uk` (a materialised typed table with a unit column). */
  readonly hasUnitKey: boolean;
}

interface Converter {
  readonly ds: Plan['dataset'];
  readonly flavor: Flavor;
  readonly texts: RowTexts;
  column(name: string): ColumnPlan;
}

const inList = (x: Frag, values: readonly string[]): Frag =>
  values.length === 0 ? sql`FALSE` : sql`${x} IN (${join(values.map(lit))})`;

function caseOrLookup(
  cv: Converter,
  name: string,
  r: Frag,
  pairs: readonly (readonly [string, number])[],
  missing: readonly string[],
): Frag {
  const fallback = sql`CASE WHEN ${inList(r, missing)} THEN ${lit(-RC.missingValue)} ELSE ${lit(-RC.unknownCategory)} END`;
  const lk = cv.texts.lookup(name, pairs);
  return lk !== null
    ? sql`COALESCE(${lk}, ${fallback})`
    : sql`CASE ${r} ${join(
        pairs.map(([c, k]) => sql`WHEN ${lit(c)} THEN ${lit(k)}`),
        sql` `,
      )} ELSE ${fallback} END`;
}

/** A binned derived variable: category index, or a negative reason code. */
function binnedExpr(cv: Converter, v: VariableSpec, derived: DerivedColumnPlan, src: ColumnPlan, r: Frag): Frag {
  const codeIdx = new Map(v.codes.map((c, k) => [c, k] as const));
  const isInt = src.type === 'integer';
  const x = cv.texts.floatOf(src.name, isInt ? INT_RE : NUM_RE);
  const range: Frag[] = [];
  if (src.minimum !== undefined) range.push(sql`${x} < ${lit(src.minimum)}`);
  if (src.maximum !== undefined) range.push(sql`${x} > ${lit(src.maximum)}`);
  // An integer source with a short declared range (age 0-99) is binned by an array indexed by the value (one lookup)
  // rather than a CASE testing every bin in turn. Same result: the element is the first bin holding the value, as the
  // CASE picks; the range check before it keeps the index in bounds.
  const lo = isInt && src.minimum !== undefined ? Math.ceil(src.minimum) : NaN;
  const hi = isInt && src.maximum !== undefined ? Math.floor(src.maximum) : NaN;
  const binOf = (value: number): number => {
    const b = derived.bins!.find((bin) => value >= bin.min && value <= bin.max);
    return b === undefined ? -RC.noBin : codeIdx.get(b.code)!;
  };
  const binned =
    hi >= lo && hi - lo < BIN_TABLE_MAX
      ? sql`ELSE ${cv.flavor.valueAt(join(Array.from({ length: hi - lo + 1 }, (_, i) => lit(binOf(lo + i)))), x, lo)} END`
      : sql`${join(
          derived.bins!.map(
            (b) => sql`WHEN ${x} >= ${lit(b.min)} AND ${x} <= ${lit(b.max)} THEN ${lit(codeIdx.get(b.code)!)}`,
          ),
          sql` `,
        )}
        ELSE ${lit(-RC.noBin)} END`;
  return sql`CASE WHEN NOT ${cv.texts.okOf(src.name, isInt ? INT_RE : NUM_RE)} THEN (CASE WHEN ${inList(r, src.missingValues)} THEN ${lit(-RC.missingValue)} ELSE ${lit(-RC.wrongType)} END)
        ${isInt ? sql`WHEN abs(${x}) > ${lit(MAX_SAFE)} THEN ${lit(-RC.wrongType)}` : sql`WHEN ${cv.flavor.notFinite(x, r)} THEN ${lit(-RC.wrongType)}`}
        ${range.length > 0 ? sql`WHEN ${join(range, sql` OR `)} THEN ${lit(-RC.outOfRange)}` : sql``}
        ${binned}`;
}

/** A variable's category index, or a negative reason code; pushes the column it reads to `positionColumn`. */
function variableExpr(cv: Converter, v: VariableSpec, positionColumn: string[]): Frag {
  const derived = cv.ds.derived.find((d) => d.name === v.name);
  if (!derived) {
    const col = cv.column(v.name);
    positionColumn.push(col.name);
    const r = cv.texts.raw(col.name);
    // Declared categories first (a code such as 'N' may be a real category), then missing codes.
    return caseOrLookup(
      cv,
      col.name,
      r,
      v.codes.map((c, k) => [c, k] as const),
      col.missingValues,
    );
  }
  const src = cv.column(derived.from);
  positionColumn.push(src.name);
  const r = cv.texts.raw(src.name);
  if (derived.bins && derived.bins.length > 0) return binnedExpr(cv, v, derived, src, r);
  // Recode: source code -> target code, composed into one lookup (as RowConverter does).
  const target = new Map(v.codes.map((c, k) => [c, k] as const));
  const sources = src.categories ? src.categories.map((c) => c.code) : [...Object.keys(derived.map ?? {}), ...v.codes];
  const seen = new Set<string>();
  const pairs: [string, number][] = [];
  for (const code of sources) {
    if (seen.has(code)) continue;
    seen.add(code);
    const t = target.get(derived.map?.[code] ?? code);
    pairs.push([code, t === undefined ? -RC.unmapped : t]);
  }
  return caseOrLookup(cv, src.name, r, pairs, src.missingValues);
}

/** Measures: scaled exact integer round(v * 10^decimals) (half away from zero, as parse-number.ts), NULL when missing. */
function measureExprs(
  cv: Converter,
  layout: RecordLayout,
  positionColumn: string[],
): { readonly values: Frag[]; readonly errors: Frag[] } {
  const values: Frag[] = [];
  const errors: Frag[] = [];
  for (const s of layout.measureSources) {
    const col = cv.column(s.column);
    positionColumn.push(col.name);
    const r = cv.texts.raw(col.name);
    const integerOnly = col.type === 'integer';
    const ok = cv.texts.okOf(col.name, integerOnly ? INT_RE : NUM_RE);
    // The float value only when a range is declared: with projection fences (PostgreSQL) an unused column is still computed.
    const x = (): Frag => cv.texts.floatOf(col.name, integerOnly ? INT_RE : NUM_RE);
    const range: Frag[] = [];
    if (col.minimum !== undefined) range.push(sql`${x()} < ${lit(col.minimum)}`);
    if (col.maximum !== undefined) range.push(sql`${x()} > ${lit(col.maximum)}`);
    errors.push(sql`CASE WHEN NOT ${ok} THEN (CASE WHEN ${inList(r, col.missingValues)} THEN ${col.required ? lit(RC.missingValue) : sql`NULL`} ELSE ${lit(RC.wrongType)} END)
      ${range.length > 0 ? sql`WHEN ${join(range, sql` OR `)} THEN ${lit(RC.outOfRange)}` : sql``} ELSE NULL END`);
    const intOk = integerOnly ? ok : cv.texts.okOf(col.name, INT_RE);
    values.push(cv.flavor.scaledMeasure({ text: r, ok, intOk, integerOnly, scale: 10 ** s.decimals }));
  }
  return { values, errors };
}

/** Which rows of the relation this statement reads: a heap block range, or one part of the units (BuildSqlOptions). */
function rowFilter(flavor: Flavor, opts: BuildSqlOptions, unitCol: string | null): Frag {
  const blocks = opts.blocks;
  const blockFilter =
    blocks === undefined
      ? sql``
      : sql` WHERE ctid >= CAST(${lit(`(${blocks[0]},0)`)} AS tid)${blocks[1] === null ? sql`` : sql` AND ctid < CAST(${lit(`(${blocks[1]},0)`)} AS tid)`}`;
  const part = opts.unitPart;
  const unitFilter =
    part === undefined || unitCol === null || !flavor.unitParts
      ? sql``
      : sql` WHERE (${flavor.unitKey(sql`COALESCE(${flavor.text(ref(unitCol))}, '')`)} & 1023) % ${lit(part[1])} = ${lit(part[0])}`;
  return sql`${blockFilter}${unitFilter}`;
}

export function convertRows(
  plan: Plan,
  layout: RecordLayout,
  rel: SqlRelation,
  flavor: Flavor,
  form: SqlForm,
  opts: BuildSqlOptions,
): Conversion {
  const ds = plan.dataset;
  const texts = new RowTexts(flavor, form);
  const cv: Converter = {
    ds,
    flavor,
    texts,
    column: (name) => {
      const c = ds.columns.find((x) => x.name === name);
      if (!c)
        throw new StatguardError('POLICY_INVALID', `column ${JSON.stringify(name)} is not declared in the dataset`, {
          path: '/dataset/columns',
        });
      return c;
    },
  };
  const positionColumn: string[] = [];
  const varExprs = layout.variables.map((v) => variableExpr(cv, v, positionColumn));
  const meas = measureExprs(cv, layout, positionColumn);

  const unitCol = ds.unit.column;
  const hasUnit = unitCol !== null;
  if (hasUnit) positionColumn.push(unitCol);
  const unitMissing = hasUnit ? (ds.columns.find((c) => c.name === unitCol)?.missingValues ?? []) : [];
  const nv = layout.variables.length;
  const ns = layout.measureSources.length;

  // Row error code: first failing position in RowConverter's order (variables, measures, unit).
  const errWhens: Frag[] = [];
  for (let i = 0; i < nv; i++)
    errWhens.push(sql`WHEN ${ref(vName(i))} < 0 THEN ${lit(i * POS_FACTOR)} - ${ref(vName(i))}`);
  for (let i = 0; i < ns; i++)
    errWhens.push(sql`WHEN ${ref(eName(i))} IS NOT NULL THEN ${lit((nv + i) * POS_FACTOR)} + ${ref(eName(i))}`);
  if (hasUnit)
    errWhens.push(
      sql`WHEN ${sql.ref('u')} = '' OR ${inList(ref('u'), unitMissing)} THEN ${lit((nv + ns) * POS_FACTOR + RC.missingUnit)}`,
    );
  const errExpr = errWhens.length > 0 ? sql`CASE ${join(errWhens, sql` `)} ELSE 0 END` : sql`0`;

  if (hasUnit) texts.raw(unitCol);
  positionColumn.forEach((name) => texts.raw(name));
  const level3 = texts.projections(rel, rowFilter(flavor, opts, unitCol));
  // Stored types: category indices (negative = reason code) as small integers; measures exact.
  const catType = (i: number): Frag => (layout.variables[i]!.codes.length < 32000 ? sql`smallint` : sql`integer`);
  const converted = (withRaw: boolean): Frag =>
    sql`SELECT ${join([
      ...(withRaw ? positionColumn.map((name, i) => sql`${texts.raw(name)} AS ${sql.ref(`raw${i}`)}`) : []),
      ...(hasUnit ? [sql`${texts.raw(unitCol)} AS u`] : []),
      sql`ln AS ln`,
      ...varExprs.map((e, i) => sql`CAST(${e} AS ${catType(i)}) AS ${sql.ref(vName(i))}`),
      ...meas.values.map((e, i) => sql`${e} AS ${sql.ref(mName(i))}`),
      ...meas.errors.map((e, i) => sql`${e} AS ${sql.ref(eName(i))}`),
    ])} FROM (${level3}) l3${texts.joins()}${form.fence}`;
  const hasUnitKey = hasUnit && form.typedTable !== null;
  const storedCols = [
    ...(hasUnit ? [sql`u`] : []),
    ...(hasUnitKey ? [sql`${flavor.unitKey(sql`u`)} AS uk`] : []),
    ...(rel.rowNumberColumn !== null ? [sql`ln`] : []),
    ...[...Array(nv).keys()].map((i) => ref(vName(i))),
    ...[...Array(ns).keys()].map((i) => ref(mName(i))),
  ];
  // The typed relation: one conversion pass; the source materialises it once (a temporary table) when it can.
  const typedSelect = sql`SELECT ${join([...storedCols, sql`CAST(${errExpr} AS integer) AS e`])} FROM (${converted(false)}) c`;
  const typed: Frag = form.typedTable !== null ? (sql.id(form.typedTable) as unknown as Frag) : sql`(${typedSelect})`;

  const validate = sql`SELECT CAST(e AS varchar) AS e, CAST(count(*) AS varchar) AS n, CAST(${rel.rowNumberColumn !== null ? sql`min(ln)` : sql`NULL`} AS varchar) AS first FROM ${typed} t GROUP BY e`;
  // The raw text of the failing column of one invalid row (the first by row number when there is one). Error path only:
  // re-reads the relation (with the raw texts) instead of storing them.
  const rawOfErr = sql`CASE ${join(
    positionColumn.map(
      (_, i) => sql`WHEN e >= ${lit(i * POS_FACTOR)} AND e < ${lit((i + 1) * POS_FACTOR)} THEN ${sql.ref(`raw${i}`)}`,
    ),
    sql` `,
  )} END`;
  const locate = sql`SELECT CAST(e AS varchar) AS e, CAST(ln AS varchar) AS ln, ${positionColumn.length > 0 ? rawOfErr : sql`NULL`} AS raw FROM (SELECT c.*, ${errExpr} AS e FROM (${converted(true)}) c) t WHERE e <> 0 ORDER BY ln NULLS LAST LIMIT 1`;
  return { typedSelect, typed, validate, locate, positionColumn, hasUnit, hasUnitKey };
}
