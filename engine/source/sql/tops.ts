/**
 * Top contributions (the TOP_K largest per-unit contributions of a cell), read only when the plan uses them
 * (planUsesTop). An engine with a bounded top-k aggregate (DuckDB `max(x, k)`) computes them in the same hash
 * aggregate. Without one (PostgreSQL) array_agg would hold every value of a group (the grand total: every row or unit),
 * so the values are ranked by a row_number() window over a refinement of every cell, and only the first TOP_K of each
 * partition enter the array (the top k of a cell are among the top k of the partitions it is made of); the windows read
 * only values at or above a lower bound of the cell's TOP_K-th largest value taken from bucket maxima.
 */
import { sql } from 'kysely';
import { TOP_K } from '../../types.ts';
import { compile, join, lit, ref } from './compiler.ts';
import type { CompiledSql, Frag } from './compiler.ts';
import type { SqlContext } from './context.ts';
import { MAX_SAFE } from './row-texts.ts';
import type { BucketTops, GroupingSet, LevelCol, PendingTopCell } from './types.ts';

/** Buckets of the PostgreSQL per-unit top pre-filter (sum tables with a unit: units dealt by key bits); a power of 2. */
export const TOP_BUCKETS = 8;
/**
 * Buckets per finest cell for PostgreSQL's row tops in one pass (random dealing; any partition of the rows is exact, the
 * count only decides how often the bucket maxima determine the tops on their own).
 */
export const ROW_TOP_BUCKETS = 16;

/**
 * Top TOP_K values of x (descending) among rows passing `filter`, as a text list ("[a, b]" or "{a,b}"); NULL when the
 * plan uses no top contributions. Without a bounded top-k aggregate the caller passes `rank` (see rankCol).
 */
export function topK(ctx: SqlContext, x: Frag, filter: Frag, rank: Frag | null): Frag {
  if (!ctx.needTop) return sql`CAST(NULL AS varchar)`;
  if (ctx.flavor.boundedTopK) return sql`CAST(max(${x}, ${lit(TOP_K)}) FILTER (WHERE ${filter}) AS varchar)`;
  if (rank === null) throw new Error('topK: PostgreSQL needs a rank');
  return sql`CAST((array_agg(${x} ORDER BY ${x} DESC) FILTER (WHERE ${filter} AND ${rank} <= ${lit(TOP_K)}))[1:${lit(TOP_K)}] AS text)`;
}

/** row_number() over `partition` ordered by x descending (NULLs last), as column `name` (ranked tops, see topK). */
export function rankCol(x: Frag, partition: readonly Frag[], name: string): Frag {
  return sql`row_number() OVER (${partition.length > 0 ? sql`PARTITION BY ${join(partition)} ` : sql``}ORDER BY ${x} DESC NULLS LAST) AS ${sql.ref(name)}`;
}

/** The per-(unit, cell) statement of sum tables with ranked tops (see rankedUnitTops). */
export interface UnitCellsInput {
  readonly chunks: readonly (readonly string[])[];
  readonly cols: readonly LevelCol[];
  readonly clamps: readonly number[];
  /** Per (unit, cell) rows: g*, level columns, rr, r<ci>, s<ci>, and the unit's bucket `b`. */
  readonly unitCells: Frag;
  /** The per-cell totals (units, rows, units<ci>, rows<ci>, sum<ci>). */
  readonly aggs: readonly Frag[];
}

/**
 * Per-cell totals and ranked tops of sum tables with a unit: the per-(unit, cell) rows are kept once (a materialised CTE,
 * dealt into TOP_BUCKETS buckets by the unit key, `b`). One hash aggregate over them gives the cell totals and, per cell,
 * each bucket's largest sum (FILTER); the TOP_K-th largest of those maxima is a lower bound of the cell's TOP_K-th largest
 * sum (TOP_K distinct units), so only the units at or above it are sorted (a window per cell, bounded by work_mem), then
 * joined to the totals. Exact for any dealing; a cell with fewer than TOP_K non-empty buckets keeps all its units
 * (threshold NULL).
 */
export function rankedUnitTops(ctx: SqlContext, input: UnitCellsInput): Frag {
  const { chunks, cols, clamps, unitCells, aggs } = input;
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
  // The cell is also one key `ck`: PostgreSQL has no statistics on a CTE and estimates 200 groups for one column against
  // far more for several, and with that estimate it sorted all the per-(unit, cell) rows to merge-join them with the cell
  // thresholds; with one key it hashes the (few) cells. A bigint (mixed radix: GROUPING() chunks, then each level + 1,
  // NULL = 0) when the radix product fits in 2^53, else an int[] (NULL levels as -1).
  const radix = [
    ...chunks.map((ch) => 2 ** ch.length),
    ...cols.map((c) => ctx.grouping.canon[c.variable]!.dim.nodes.length + 1),
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
  const outCols = [...names, 'units', 'rows', ...clamps.flatMap((ci) => [`units${ci}`, `rows${ci}`, `sum${ci}`])].map(
    (n) => ref(`a.${n}`),
  );
  return sql`WITH ${join(ctes)} SELECT ${join([...outCols, ...tops])} FROM a${join(joins, sql``)}`;
}

/**
 * The bucket tops of the one pass (ranked tops, no unit column): per clamp read by a table of `mine`, the finest cell's
 * level columns and the statement ranking the rows of the cells the bucket maxima leave undetermined (`inner`: the
 * one pass's rows with their level columns and `e`).
 */
export function bucketTopsOf(
  mine: readonly GroupingSet[],
  ctx: SqlContext,
  clamps: readonly number[],
  cols: readonly LevelCol[],
  inner: Frag,
): BucketTops[] {
  const ok = sql`e = 0`;
  return clamps.flatMap((ci): BucketTops[] => {
    const tsets = mine.filter((st) => st.tables.some((u) => ctx.layout.tables[u]!.clamp === ci));
    if (tsets.length === 0) return [];
    const bcols = cols.filter((lc) => tsets.some((st) => st.cols.includes(lc.name))).map((lc) => lc.name);
    const c = ref(`c${ci}`);
    const ps = bcols.map((_, j) => ref(`p${j}`));
    const fallback = (cells: readonly PendingTopCell[]): CompiledSql => {
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
}
