/**
 * Synthetic dp tables shared by the dp benchmarks (consistency-bench.ts, dp-accuracy-bench.ts): hierarchical
 * dimensions, count tables whose every aggregate is the sum of its leaves, mean and median tables from seeded units.
 * Not a benchmark itself.
 */
import { QuantileHist } from '../engine/aggregate/quantile-hist.ts';
import { additivity } from '../engine/dp/consistency-fit.ts';
import { buildDimension } from '../engine/policy/dimension.ts';
import { RandomReader, seededRandom } from '../engine/random.ts';
import type { DimensionPlan, ExactCell, ExactTable, MeasurePlan, TablePlan } from '../engine/types.ts';
import { cellIndex } from '../engine/types.ts';

const cats = (n: number, p: string) => Array.from({ length: n }, (_, i) => ({ code: `${p}${i}`, label: `${p}${i}` }));

/** n leaves in groups of g under a total. */
export const grouped = (n: number, g: number, p: string): DimensionPlan =>
  buildDimension({
    name: p,
    categories: cats(n, p),
    hierarchy: Array.from({ length: Math.ceil(n / g) }, (_, k) => ({
      code: `${p}G${k}`,
      label: `${p} group ${k}`,
      children: Array.from({ length: Math.min(g, n - k * g) }, (_, j) => `${p}${k * g + j}`),
    })),
  });

/** n flat categories and their total. */
export const flat = (n: number, p: string): DimensionPlan => buildDimension({ name: p, categories: cats(n, p) });

export function tablePlan(dims: DimensionPlan[], measure: MeasurePlan = { kind: 'count' }): TablePlan {
  return {
    id: 't',
    title: 't',
    description: '',
    dimensions: dims,
    measure,
    budgetShare: 1,
    neverSuppress: [],
    alwaysSuppress: [],
  };
}

/** True cell values of a table from its leaf values: every aggregate the sum of its children. */
export function additiveTruth(dims: DimensionPlan[], leaf: (k: number) => number): Float64Array {
  const add = additivity(dims);
  const truth = new Float64Array(add.n);
  let k = 0;
  for (let i = 0; i < add.n; i++) if (add.leaf[i]) truth[i] = leaf(k++);
  for (let r = 0; r < add.sumCell.length; r++) {
    let s = 0;
    for (let j = add.starts[r]!; j < add.starts[r + 1]!; j++) s += truth[add.children[j]!]!;
    truth[add.sumCell[r]!] = s;
  }
  return truth;
}

/** An exact count table (each row its own unit) with these cell values. */
export function countTable(tp: TablePlan, truth: ArrayLike<number>): ExactTable {
  const cells = Array.from(truth, (v): ExactCell => ({ units: v, rows: v, sum: v, top: [] }));
  return { kind: 'exact', plan: tp, cells };
}

/**
 * 3 x 4 cells with margins; 1,400 units of 1 or 2 rows (at most m = 2), values in [0, 1000], more units in `a` than in
 * `c`. The exact table for a mean (or sum) measure and the true per-unit mean of each cell.
 */
export function meanTable(measure: MeasurePlan): { table: ExactTable; truth: number[] } {
  const dims = [flat(3, 'g'), flat(4, 'h')];
  const tp = tablePlan(dims, measure);
  const r = new RandomReader(seededRandom('bench mean data'));
  const n = dims.reduce((k, d) => k * d.nodes.length, 1);
  const units = new Array<number>(n).fill(0);
  const rows = new Array<number>(n).fill(0);
  const sums = new Array<number>(n).fill(0);
  for (let u = 0; u < 1400; u++) {
    const g = u % 7 < 4 ? 0 : u % 7 < 6 ? 1 : 2;
    const h = r.uniformInt(4);
    const k = 1 + r.uniformInt(2);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += 100 + r.uniformInt(400) + 300 * g;
    for (const x of [g, dims[0]!.total!])
      for (const y of [h, dims[1]!.total!]) {
        const i = cellIndex(dims, [x, y]);
        units[i]!++;
        rows[i]! += k;
        sums[i]! += sum;
      }
  }
  const cells: ExactCell[] = units.map((u, i) => ({ units: u, rows: rows[i]!, sum: sums[i]!, top: [] }));
  return { table: { kind: 'exact', plan: tp, cells }, truth: units.map((u, i) => sums[i]! / u) };
}

/**
 * 3 x 2 cells with margins; 3,000 units of 1 or 2 rows, skewed values in [0, 1000] per group. The exact median table
 * (with its per-cell histogram) and every cell's values.
 */
export function medianTable(bins: number): { table: ExactTable; values: number[][] } {
  const dims = [flat(3, 'g'), flat(2, 'h')];
  const tp = tablePlan(dims, { kind: 'quantile', column: 'x', lower: 0, upper: 1000, decimals: 0, a: 5000, bins });
  const n = dims.reduce((k, d) => k * d.nodes.length, 1);
  const hist = new QuantileHist(tp, n);
  const values: number[][] = Array.from({ length: n }, () => []);
  const units = new Array<number>(n).fill(0);
  const r = new RandomReader(seededRandom('bench quantile data'));
  for (let u = 0; u < 3000; u++) {
    const g = u % 6 < 3 ? 0 : u % 6 < 5 ? 1 : 2;
    const seen = new Set<number>();
    for (let k = 1 + r.uniformInt(2); k > 0; k--) {
      const h = r.uniformInt(2);
      const v = Math.min(1000, Math.floor(((200 + 250 * g) * (r.uniformInt(1000) * r.uniformInt(1000))) / 250_000));
      const cells = Int32Array.from(
        [g, dims[0]!.total!].flatMap((x) => [h, dims[1]!.total!].map((y) => cellIndex(dims, [x, y]))),
      );
      hist.add(cells, 0, cells.length, v);
      for (const c of cells) {
        values[c]!.push(v);
        seen.add(c);
      }
    }
    for (const c of seen) units[c]!++;
  }
  const cells: ExactCell[] = values.map((v, i) => ({ units: units[i]!, rows: v.length, sum: 0, top: [] }));
  return { table: { kind: 'exact', plan: tp, cells, histogram: hist.result() }, values };
}
