/**
 * Exact top contributions from the bucket maxima of the PostgreSQL one pass (sql/one-pass.ts), reading rows again only
 * for the finest cells whose maxima do not determine them.
 */
import { TOP_K } from '../types.ts';
import { parseList } from './sql-decode.ts';
import type { Run } from './sql-run.ts';
import { toInt } from './sql-run.ts';
import { groupingMask } from './sql/index.ts';
import type { AggStatement, BucketTops, PendingTopCell } from './sql/index.ts';

interface Finest {
  readonly key: (number | null)[];
  readonly buckets: { n: number; max: number }[];
}

/** A finest cell's top when its bucket maxima determine it (see topsFromBuckets), else its fallback threshold. */
function decided(f: Finest): { top: number[] } | PendingTopCell {
  const maxima = f.buckets.map((b) => b.max).sort((a, b) => b - a);
  const multi = f.buckets.filter((b) => b.n > 1).map((b) => b.max);
  if (maxima.length >= TOP_K ? multi.every((m) => maxima[TOP_K - 1]! >= m) : multi.length === 0)
    return { top: maxima.slice(0, TOP_K) };
  return { key: f.key, threshold: maxima.length >= TOP_K ? maxima[TOP_K - 1]! : null };
}

/** Every cell of `bt.sets`: the TOP_K largest of its finest cells' tops (they partition its rows). */
function coarseTops(
  bt: BucketTops,
  st: AggStatement,
  finest: ReadonlyMap<string, Finest>,
  tops: ReadonlyMap<string, number[]>,
): Record<string, unknown>[] {
  const ci = bt.clamp;
  const out = new Map<string, { row: Record<string, unknown>; values: number[] }>();
  for (const setKey of bt.sets) {
    const grouped = new Set(setKey === '' ? [] : setKey.split(','));
    const g: Record<string, number> = {};
    st.chunks.forEach((chunk, i) => {
      g[`g${i}`] = groupingMask(chunk, grouped);
    });
    for (const [k, f] of finest) {
      // A grouped level that is NULL for this finest cell (a leaf above that level) has no cell in this set.
      if (bt.cols.some((c, j) => grouped.has(c) && f.key[j] === null)) continue;
      const cellKey = `${setKey}|${bt.cols.map((c, j) => (grouped.has(c) ? f.key[j] : '*')).join(',')}`;
      let acc = out.get(cellKey);
      if (acc === undefined) {
        const row: Record<string, unknown> = { ...g };
        for (const c of st.cols) row[c.name] = null;
        bt.cols.forEach((c, j) => {
          if (grouped.has(c)) row[c] = f.key[j];
        });
        acc = { row, values: [] };
        out.set(cellKey, acc);
      }
      acc.values.push(...(tops.get(k) ?? []));
    }
  }
  return [...out.values()].map(({ row, values }) => ({
    ...row,
    [`top${ci}`]: `{${values
      .sort((a, b) => b - a)
      .slice(0, TOP_K)
      .join(',')}}`,
  }));
}

/**
 * Exact top contributions of every cell of `bt.sets` (TOP_K largest valid values, descending), as rows decodeInto reads
 * (`g<i>`, level columns, `top<ci>`), from the bucket rows of the one pass: per finest cell and bucket, the row count and
 * the largest value. The maxima are values of distinct rows. A finest cell's top is determined by them when
 * - it has at least TOP_K non-empty buckets and its TOP_K-th largest maximum is at least the maximum of every bucket
 *   holding more than one row (the rows not seen are at most their bucket's maximum, so none can enter the top; a tie
 *   gives the same values): the top is the TOP_K largest maxima; or
 * - every non-empty bucket holds one row (all its values are seen).
 * Otherwise the cell's rows at or above its TOP_K-th largest maximum (every row when it has fewer non-empty buckets) are
 * ranked by one more statement (`bt.fallback`), for the undetermined cells only. A coarser cell's top is the TOP_K
 * largest of its finest cells' tops (they partition its rows).
 */
export async function topsFromBuckets(
  bt: BucketTops,
  st: AggStatement,
  bucketRows: readonly Record<string, unknown>[],
  run: Run,
): Promise<Record<string, unknown>[]> {
  const ci = bt.clamp;
  // A finest cell's level values (node indices; NULL below a shallow leaf), from a bucket row (by column name) or a fallback
  // row (p0, p1, ..., NULL sent and returned as -1).
  const keyOf = (r: Record<string, unknown>, fallbackRow = false): (number | null)[] =>
    bt.cols.map((c, j) => {
      const v = r[fallbackRow ? `p${j}` : c];
      if (v === null || v === undefined) return null;
      const x = toInt(v);
      return fallbackRow && x === -1 ? null : x;
    });
  const finest = new Map<string, Finest>();
  for (const r of bucketRows) {
    const n = toInt(r[`rows${ci}`]);
    if (n === 0) continue; // invalid rows only
    const key = keyOf(r);
    const k = key.join(',');
    let f = finest.get(k);
    if (f === undefined) {
      f = { key, buckets: [] };
      finest.set(k, f);
    }
    f.buckets.push({ n, max: toInt(r[`mx${ci}`]) });
  }
  const tops = new Map<string, number[]>();
  const pending: PendingTopCell[] = [];
  for (const [k, f] of finest) {
    const d = decided(f);
    if ('top' in d) tops.set(k, d.top);
    else pending.push(d);
  }
  if (pending.length > 0) {
    for (const r of await run(bt.fallback(pending)))
      tops.set(keyOf(r, true).join(','), parseList(r.top).slice(0, TOP_K));
  }
  return coarseTops(bt, st, finest, tops);
}
