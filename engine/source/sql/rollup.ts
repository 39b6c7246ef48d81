/**
 * The one pass in two levels (GROUPING SETS engines, no unit column). Every row is hashed once per grouping set, while
 * a margin's counts, sums, largest values and top lists are those of the finest cells it is made of (each row is its own
 * unit here: nothing is distinct-counted). So the scan groups the rows only by (e) and by one "base" set per table, its
 * variables' leaf indices (a table whose variables are all in another's base shares that base), plus the bucket sets of
 * the ranked row tops; then a second GROUP BY GROUPING SETS over those few cell rows (materialised once) computes every
 * set of the statement, each from a base holding its variables, with the same level columns (a function of the leaves).
 * Same rows as one GROUP BY GROUPING SETS over every set. Invalid rows form base groups of their own with rows = 0 and
 * no value (FILTER / NULL-ed arguments), so they add nothing to a cell; a cell made of them alone has rows = 0 and is
 * skipped by the decoder.
 */
import { sql } from 'kysely';
import { TOP_K } from '../../types.ts';
import { join, lit, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import type { SqlContext } from './context.ts';
import { vName } from './conversion.ts';
import { groupingChunks, groupingMask } from './grouping-mask.ts';
import { levelExpr } from './levels.ts';
import type { BucketTops, GroupingSet, LevelCol } from './types.ts';

/** What the one pass computes (one-pass.ts). */
export interface OnePassShape {
  readonly mine: readonly GroupingSet[];
  readonly clamps: readonly number[];
  readonly cols: readonly LevelCol[];
  readonly chunks: readonly (readonly string[])[];
  /** Ranked row tops: bucket rows (`gb` = 0) per finest cell of the sum sets and bucket `b`. */
  readonly topBranch: boolean;
  readonly bucketTops: readonly BucketTops[];
  /** The rows with the leaf indices of variables `vs` instead of level columns (e, v*, c*, raw*, b). */
  readonly innerV: (vs: readonly number[]) => Frag;
}

/** The first level's grouping: its base sets, bucket sets and GROUPING() chunks. */
interface FirstLevel {
  readonly bases: readonly (readonly number[])[];
  readonly baseOf: (st: GroupingSet) => number;
  /** Level columns of each bucket set (ranked row tops). */
  readonly bucketVars: readonly (readonly string[])[];
  readonly varsOf: (names: readonly string[]) => number[];
  /** Every leaf variable grouped at the first level. */
  readonly fVars: readonly number[];
  readonly keys: readonly string[];
  readonly fChunks: readonly (readonly string[])[];
}

const vSet = (vs: readonly number[]): string[] => vs.map(vName);

function firstLevelShape(ctx: SqlContext, s: OnePassShape): FirstLevel {
  const varsOf = (names: readonly string[]): number[] =>
    [...new Set(names.map((c) => ctx.grouping.byName.get(c)!.variable))].sort((a, b) => a - b);
  const within = (small: readonly number[], big: readonly number[]): boolean => small.every((v) => big.includes(v));
  const tableVars = [...new Set(s.mine.flatMap((st) => st.tables))].map((ti) =>
    [...new Set(ctx.layout.tables[ti]!.dimVar)].sort((a, b) => a - b),
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
  const bucketVars = [...new Map(s.bucketTops.map((bt) => [bt.cols.join(','), bt.cols] as const)).values()];
  const fVars = [...new Set([...bases.flat(), ...bucketVars.flatMap(varsOf)])].sort((a, b) => a - b);
  const keys = ['e', ...(s.topBranch ? ['b'] : []), ...fVars.map(vName)];
  return { bases, baseOf, bucketVars, varsOf, fVars, keys, fChunks: groupingChunks(keys) };
}

/**
 * The scan: first-level aggregates (raw types) over valid rows only. Where the flavour NULLs the arguments of invalid
 * rows instead of a FILTER per grouping set, they are NULL-ed once per row in a projection (count, sum and max(c, k)
 * skip NULLs; same aggregates).
 */
function firstLevelSql(ctx: SqlContext, s: OnePassShape, fl: FirstLevel): Frag {
  const noFilter = ctx.flavor.nullInsteadOfFilter;
  const ok = sql`e = 0`;
  const filtered = (agg: string, x: Frag | null): Frag =>
    noFilter ? sql`${sql.raw(agg)}(${x ?? ref('okv')})` : sql`${sql.raw(agg)}(${x ?? sql`*`}) FILTER (WHERE ${ok})`;
  const first: Frag[] = [
    ...fl.fChunks.map((chunk, i) => sql`GROUPING(${join(chunk.map(ref))}) AS ${ref(`fg${i}`)}`),
    ...fl.keys.map(ref),
    sql`count(*) AS fn`,
    sql`${filtered('count', null)} AS fr`,
  ];
  for (const ci of s.clamps) {
    const c = ref(noFilter ? `cv${ci}` : `c${ci}`);
    first.push(
      sql`${filtered('count', c)} AS ${ref(`fc${ci}`)}`,
      sql`${filtered('sum', c)} AS ${ref(`fs${ci}`)}`,
      noFilter
        ? sql`count(${ref(`rv${ci}`)}) AS ${ref(`fk${ci}`)}`
        : sql`count(*) FILTER (WHERE ${ref(`raw${ci}`)}) AS ${ref(`fk${ci}`)}`,
    );
    if (noFilter && ctx.needTop) first.push(sql`max(${c}, ${lit(TOP_K)}) AS ${ref(`ft${ci}`)}`);
    if (s.topBranch) first.push(sql`${filtered('max', c)} AS ${ref(`fm${ci}`)}`);
  }
  const rowSrc = noFilter
    ? sql`(SELECT ${join([
        sql`e`,
        ...vSet(fl.fVars).map(ref),
        sql`CASE WHEN ${ok} THEN TRUE END AS okv`,
        ...s.clamps.flatMap((ci) => [
          sql`CASE WHEN ${ok} THEN ${ref(`c${ci}`)} END AS ${ref(`cv${ci}`)}`,
          sql`CASE WHEN ${ref(`raw${ci}`)} THEN TRUE END AS ${ref(`rv${ci}`)}`,
        ]),
      ])} FROM (${s.innerV(fl.fVars)}) k0) k`
    : sql`(${s.innerV(fl.fVars)}) k`;
  const firstSets = [
    sql`(e)`,
    ...fl.bases.map((b) => (b.length > 0 ? sql`(${join(vSet(b).map(ref))})` : sql`()`)),
    ...fl.bucketVars.map((bc) => sql`(${join([...vSet(fl.varsOf(bc)).map(ref), sql`b`])})`),
  ];
  return sql`SELECT ${join(first)} FROM ${rowSrc} GROUP BY GROUPING SETS (${join(firstSets)})`;
}

const txt = (x: Frag): Frag => sql`CAST(${x} AS varchar)`;
const nullInt = sql`CAST(NULL AS integer)`;

/** The aggregates of one first-level row (`summed` false) or over first-level rows; `withMx`: the bucket maxima. */
function outAggs(ctx: SqlContext, s: OnePassShape, summed: boolean, withMx: boolean): Frag[] {
  const listTops = ctx.flavor.nullInsteadOfFilter && ctx.needTop;
  const sm = (x: string): Frag => (summed ? sql`sum(${ref(x)})` : ref(x));
  const out: Frag[] = [sql`${txt(sm('fn'))} AS n`, sql`${txt(sm('fr'))} AS units`, sql`${txt(sm('fr'))} AS rows`];
  for (const ci of s.clamps) {
    const top = !listTops
      ? sql`CAST(NULL AS varchar)`
      : summed
        ? txt(sql`list_slice(list_reverse_sort(flatten(list(${ref(`ft${ci}`)}))), 1, ${lit(TOP_K)})`)
        : txt(ref(`ft${ci}`));
    out.push(
      sql`${txt(sm(`fc${ci}`))} AS ${ref(`units${ci}`)}`,
      sql`${txt(sm(`fc${ci}`))} AS ${ref(`rows${ci}`)}`,
      sql`${txt(sm(`fs${ci}`))} AS ${ref(`sum${ci}`)}`,
      sql`${top} AS ${ref(`top${ci}`)}`,
    );
    if (s.topBranch)
      out.push(
        sql`${withMx ? txt(summed ? sql`max(${ref(`fm${ci}`)})` : ref(`fm${ci}`)) : sql`CAST(NULL AS varchar)`} AS ${ref(`mx${ci}`)}`,
      );
    out.push(sql`${txt(sm(`fk${ci}`))} AS ${ref(`clamped${ci}`)}`);
  }
  return out;
}

/** The second level: every branch gives the columns of the one-pass row, in the same order and types. */
function secondLevelBranches(ctx: SqlContext, s: OnePassShape, fl: FirstLevel): Frag[] {
  const { cols, chunks } = s;
  const listTops = ctx.flavor.nullInsteadOfFilter && ctx.needTop;
  /** The first-level rows of the set grouping `grouped`: each chunk's GROUPING() has that set's value. */
  const tag = (grouped: ReadonlySet<string>): Frag =>
    join(
      fl.fChunks.map((chunk, i) => sql`${ref(`fg${i}`)} = ${lit(groupingMask(chunk, grouped))}`),
      sql` AND `,
    );
  const gConst = (grouped: ReadonlySet<string>): Frag[] =>
    chunks.map((chunk, i) => sql`${lit(groupingMask(chunk, grouped))} AS ${ref(`g${i}`)}`);
  const head = (gv: 0 | 1, ev: Frag, bv: Frag | null): Frag[] => [
    sql`${lit(gv)} AS gv`,
    sql`${ev} AS ev`,
    ...(s.topBranch ? [sql`${lit(bv === null ? 1 : 0)} AS gb`, sql`${bv ?? sql`CAST(NULL AS varchar)`} AS bv`] : []),
  ];
  const carried = [
    'fn',
    'fr',
    ...s.clamps.flatMap((ci) => [
      `fc${ci}`,
      `fs${ci}`,
      `fk${ci}`,
      ...(listTops ? [`ft${ci}`] : []),
      ...(s.topBranch ? [`fm${ci}`] : []),
    ]),
  ].map(ref);
  const levelOf = (lc: LevelCol): Frag => levelExpr(ctx.flavor, ctx.form, lc);
  const branches: Frag[] = [];
  // Validation groups: the (e) rows as they are.
  branches.push(sql`SELECT ${join([...head(0, txt(ref('e')), null), ...gConst(new Set()), ...cols.map((c) => sql`${nullInt} AS ${ref(c.name)}`), ...outAggs(ctx, s, false, true)])}
        FROM f WHERE ${tag(new Set(['e']))}`);
  // Cells: each base's sets, from its rows.
  fl.bases.forEach((b, bi) => {
    const bsets = s.mine.filter((st) => fl.baseOf(st) === bi);
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
    const src = sql`(SELECT ${join([...bcols.map(levelOf), ...carried])} FROM f WHERE ${tag(new Set(vSet(b)))}) x`;
    branches.push(sql`SELECT ${join([...head(1, sql`CAST(NULL AS varchar)`, null), ...g, ...cols.map((c) => (inB.has(c.name) ? ref(c.name) : sql`${nullInt} AS ${ref(c.name)}`)), ...outAggs(ctx, s, true, false)])}
          FROM ${src} GROUP BY GROUPING SETS (${setList})${having.length > 0 ? sql` HAVING ${join(having, sql` AND `)}` : sql``}`);
  });
  // Bucket rows (ranked row tops): per finest cell of the sum sets (its level columns) and bucket.
  for (const bc of fl.bucketVars) {
    const lcs = cols.filter((lc) => bc.includes(lc.name));
    const src = sql`(SELECT ${join([...lcs.map(levelOf), sql`b`, ...carried])} FROM f WHERE ${tag(new Set([...vSet(fl.varsOf(bc)), 'b']))}) x`;
    branches.push(sql`SELECT ${join([...head(1, sql`CAST(NULL AS varchar)`, txt(sql`b`)), ...gConst(new Set(bc)), ...cols.map((c) => (bc.includes(c.name) ? ref(c.name) : sql`${nullInt} AS ${ref(c.name)}`)), ...outAggs(ctx, s, true, true)])}
          FROM ${src} GROUP BY ${join([...lcs.map((lc) => ref(lc.name)), sql`b`])}`);
  }
  return branches;
}

/** The two-level one-pass statement (see the file comment). */
export function rollup(ctx: SqlContext, s: OnePassShape): Frag {
  const fl = firstLevelShape(ctx, s);
  const f = firstLevelSql(ctx, s, fl);
  return sql`WITH f AS MATERIALIZED (${f}) ${join(secondLevelBranches(ctx, s, fl), sql` UNION ALL `)}`;
}
