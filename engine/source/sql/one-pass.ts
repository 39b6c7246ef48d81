/**
 * One pass (no unit column). Guarantees: cell aggregates count valid rows only (FILTER (WHERE e = 0), or arguments NULL-ed
 * for invalid rows), so invalid rows change no cell; a group made of invalid rows alone has rows = 0 and is skipped by
 * the decoder (it can carry meaningless keys: negative category indices); validation counts come from the (e) grouping
 * set of the same scan, so an 'error' policy still fails on the first invalid row (the located row is fetched by a
 * second query).
 * Every set in one pass, sums included (plain hash aggregates). Ranked tops (no bounded top-k aggregate): the rows are
 * dealt at random into ROW_TOP_BUCKETS buckets and one more grouping set per clamp, (finest cell, bucket), gives each
 * bucket's row count and largest value in the same hash aggregate. The bucket maxima are distinct rows, so where they
 * determine the TOP_K largest values (sql-tops.ts topsFromBuckets) no row is read again; otherwise one more statement
 * ranks the rows of the undetermined cells at or above their TOP_K-th bucket maximum (BucketTops.fallback). The Citus
 * form keeps the sum sets of a plan reading tops in `statements('row', ...)`.
 */
import { sql } from 'kysely';
import { compile, join, lit, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import { clampExpr, outsideBounds } from './bounding.ts';
import { citusOnePassAggs, unionGroupedBy } from './citus.ts';
import { rankedTops } from './context.ts';
import type { SqlContext } from './context.ts';
import { vName } from './conversion.ts';
import { groupingChunks } from './grouping-mask.ts';
import { levelExpr } from './levels.ts';
import { rollup } from './rollup.ts';
import { ROW_TOP_BUCKETS, bucketTopsOf } from './tops.ts';
import type { AggStatement, GroupingSet } from './types.ts';

export function onePassStatement(ctx: SqlContext): AggStatement | null {
  if (ctx.conv.hasUnit) return null;
  const { layout, grouping, form } = ctx;
  const splitSums = rankedTops(ctx) && !form.groupingSets;
  const inPass = (st: GroupingSet): boolean => !splitSums || layout.tables[grouping.owner.get(st.key)!]!.clamp < 0;
  const mine = [...grouping.sets.values()].filter((st) => st.tables.length > 0 && inPass(st));
  const clamps = layout.clamps.map((_, ci) => ci);
  const sumsHere = !splitSums;
  const topBranch = rankedTops(ctx) && sumsHere;
  const cols = grouping.levelCols.filter((lc) => mine.some((st) => st.cols.includes(lc.name)));
  const chunks = groupingChunks(cols.map((c) => c.name));
  const T = ctx.conv.typed;
  // Per row: the clamped values, whether each raw value was outside its bounds, the bucket of the row tops.
  const rowTail = [
    ...clamps.map((ci) => sql`${clampExpr(ctx, ci)} AS ${sql.ref(`c${ci}`)}`),
    ...clamps.map((ci) => sql`(${outsideBounds(ctx, ci)}) AS ${sql.ref(`raw${ci}`)}`),
    ...(topBranch ? [sql`CAST(floor(random() * ${lit(ROW_TOP_BUCKETS)}) AS integer) AS b`] : []),
  ];
  const inner = sql`SELECT ${join([sql`e`, ...cols.map((lc) => levelExpr(ctx.flavor, ctx.form, lc)), ...rowTail])} FROM ${T} t`;
  /** The rows with the leaf indices of variables `vs` (the rollup) instead of level columns. */
  const innerV = (vs: readonly number[]): Frag =>
    sql`SELECT ${join([sql`e`, ...vs.map((i) => ref(vName(i))), ...rowTail])} FROM ${T} t`;
  const bucketTops = topBranch ? bucketTopsOf(mine, ctx, clamps, cols, inner) : [];
  const q = form.groupingSets
    ? rollup(ctx, { mine, clamps, cols, chunks, topBranch, bucketTops, innerV })
    : // Without GROUPING SETS (Citus): one GROUP BY per set, every set from the rows; the sum sets of a plan that reads
      // tops come from statements('row').
      unionGroupedBy(
        sql`(${inner}) k`,
        cols,
        chunks,
        [{ lead: 'e' as const, cols: [] as string[] }, ...mine.map((st) => ({ lead: null, cols: st.cols }))],
        citusOnePassAggs(clamps, sumsHere),
        true,
      );
  return {
    sql: compile(q),
    chunks,
    cols: cols.map((c) => grouping.byName.get(c.name)!),
    sets: mine.map((st) => st.key),
    clamps: sumsHere ? clamps : [],
    ...(topBranch ? { bucketTops } : {}),
  };
}
