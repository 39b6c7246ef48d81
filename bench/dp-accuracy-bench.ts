/**
 * Accuracy of the dp regime over seeded releases of small tables (issue 18's closing figures), each figure against the
 * truth the table was built from:
 * - consistency: grand total minus the sum of the leaves, before post-processing (the noisy measurements, and those
 *   clamped at 0 cell by cell as `consistency: "none"` publishes them) and after (`hierarchical`), mean, sd and max;
 *   coverage of the stated 95% half-widths after post-processing;
 * - means (per unit, simulated intervals): coverage of the stated 95% intervals;
 * - medians: the published candidate's rank error beyond the best candidate's against the stated 95% rank bound, and
 *   its distance to the exact median;
 * - the truncation report: coverage of its 95% half-widths.
 * Run: npm run bench:dp-accuracy [-- runs] (default 400). Prints figures; asserts nothing (the tests in test/dp assert).
 * The wider timing figures of the consistency fit on larger tables are bench:consistency's.
 */
import { protectDp } from '../engine/dp/index.ts';
import { additivity } from '../engine/dp/consistency-fit.ts';
import { quantileCandidates } from '../engine/dp/quantile.ts';
import { seededRandom } from '../engine/random.ts';
import { highsRuntime } from '../engine/sdc/highs.ts';
import type { ExactTruncation } from '../engine/source/index.ts';
import type { DpPlan, UnitPlan } from '../engine/types.ts';
import { cellIndex } from '../engine/types.ts';
import { additiveTruth, countTable, grouped, flat, meanTable, medianTable, tablePlan } from './dp-tables.ts';

const RUNS = Number(process.argv[2] ?? 400);
const highs = await highsRuntime();

const base = { regime: 'dp', delta: 1e-10, noisyThreshold: null, granularityLog2: 0 } as const;
const MECHANISMS: [string, DpPlan][] = [
  ['Laplace eps 1', { ...base, mechanism: 'discrete-laplace', epsilon: 1, rho: null }],
  ['Gaussian rho 0.5', { ...base, mechanism: 'discrete-gaussian', epsilon: null, rho: 0.5 }],
];
const ROW_UNITS: UnitPlan = { column: null, kind: 'person', maxRowsPerUnit: 1 };
const UNITS: UnitPlan = { column: 'hh', kind: 'household', maxRowsPerUnit: 2 };

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
function summary(xs: readonly number[]): string {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  const max = xs.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
  return `mean ${mean.toFixed(2)}, sd ${sd.toFixed(2)}, max |.| ${max.toFixed(0)}`;
}
const quantileOf = (xs: readonly number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(p * xs.length) - 1)]!;

/** Region (3 groups of 4 leaves) by sex (2 and total): 48 cells, leaf counts 0 to 40 (several near 0). */
function consistency(name: string, dp: DpPlan): void {
  const dims = [grouped(12, 4, 'r'), flat(2, 's')];
  const tp = tablePlan(dims);
  const truth = additiveTruth(dims, (k) => (k * 7919) % 41);
  const add = additivity(dims);
  const grand = cellIndex(
    dims,
    dims.map((d) => d.total!),
  );
  const leaves = [...Array(add.n).keys()].filter((i) => add.leaf[i]);
  const gap = (v: ArrayLike<number>): number => v[grand]! - leaves.reduce((s, i) => s + v[i]!, 0);
  const raw: number[] = [];
  const clamped: number[] = [];
  const after: number[] = [];
  let covered = 0;
  let cells = 0;
  const t0 = performance.now();
  for (let run = 0; run < RUNS; run++) {
    const plan: DpPlan = { ...dp, consistency: 'hierarchical' };
    const res = protectDp([countTable(tp, truth)], plan, ROW_UNITS, seededRandom(`acc ${name} ${run}`), { highs });
    const t = res.tables[0]!;
    const noisy = t.consistent!.measurements.values;
    raw.push(gap(noisy));
    clamped.push(gap(noisy.map((v) => Math.max(0, v))));
    after.push(gap(t.cells.map((c) => c.value!)));
    t.cells.forEach((c, i) => {
      cells++;
      if (Math.abs(c.value! - truth[i]!) <= c.accuracy!.halfWidth95) covered++;
    });
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`consistency, ${name}, ${RUNS} runs of ${add.n} cells (${s.toFixed(1)} s):`);
  console.log(`  grand total - sum of ${leaves.length} leaves, noisy measurements: ${summary(raw)}`);
  console.log(`  ... clamped at 0 cell by cell (consistency "none"): ${summary(clamped)}`);
  console.log(`  ... after post-processing (hierarchical): ${summary(after)}`);
  console.log(`  stated 95% half-widths after post-processing cover ${pct(covered / cells)} of ${cells} cells`);
}

function means(name: string, dp: DpPlan): void {
  const { table, truth } = meanTable({ kind: 'mean', column: 'x', lower: 0, upper: 1000, decimals: 0, per: 'unit' });
  let covered = 0;
  let cells = 0;
  const perCell = new Array<number>(truth.length).fill(0);
  for (let run = 0; run < RUNS; run++) {
    const res = protectDp([table], dp, UNITS, seededRandom(`mean ${name} ${run}`));
    res.tables[0]!.cells.forEach((c, i) => {
      cells++;
      if (Math.abs(c.value! - truth[i]!) <= c.accuracy!.halfWidth95) {
        covered++;
        perCell[i]!++;
      }
    });
  }
  const lo = Math.min(...perCell) / RUNS;
  const hi = Math.max(...perCell) / RUNS;
  console.log(
    `means per unit, ${name}: stated 95% intervals cover ${pct(covered / cells)} of ${cells} cells (per cell ${pct(lo)} to ${pct(hi)})`,
  );
}

function medians(name: string, dp: DpPlan): void {
  const { table, values } = medianTable(50);
  const cands = quantileCandidates(table.plan.measure as Parameters<typeof quantileCandidates>[0]);
  const rankError = (xs: readonly number[], v: number): number =>
    Math.abs(xs.filter((x) => x < v).length - xs.filter((x) => x > v).length) / 2;
  const sorted = values.map((v) => [...v].sort((a, b) => a - b));
  const exact = sorted.map((s) => s[Math.ceil(s.length / 2) - 1]!);
  const best = values.map((v) => Math.min(...cands.map((c) => rankError(v, c))));
  const excess: number[] = [];
  const distance: number[] = [];
  let bound = 0;
  let within = 0;
  for (let run = 0; run < RUNS; run++) {
    const res = protectDp([table], dp, UNITS, seededRandom(`median ${name} ${run}`));
    bound = res.accounting.tables[0]!.quantile!.rankBound95;
    res.tables[0]!.cells.forEach((c, i) => {
      const e = rankError(values[i]!, c.value!) - best[i]!;
      excess.push(e);
      distance.push(Math.abs(c.value! - exact[i]!));
      if (e <= bound) within++;
    });
  }
  console.log(
    `medians, ${name} (cells of ${Math.min(...values.map((v) => v.length))} to ${Math.max(...values.map((v) => v.length))} rows, candidates every 20 in [0, 1000]): ` +
      `stated 95% rank bound ${bound.toFixed(1)} rows, met in ${pct(within / excess.length)} of ${excess.length} cells; ` +
      `excess rank error median ${quantileOf(excess, 0.5)}, 95th pct ${quantileOf(excess, 0.95)} rows; ` +
      `|published - exact median| median ${quantileOf(distance, 0.5)}, 95th pct ${quantileOf(distance, 0.95)}`,
  );
}

function truncation(name: string, dp: DpPlan): void {
  const exact: ExactTruncation = {
    rowsDropped: 500,
    valuesClamped: [{ column: 'x', decimals: 0, lower: 0, upper: 1000, count: 300 }],
  };
  const truth = [500, 300];
  const dims = [flat(2, 'g')];
  const covered = [0, 0];
  for (let run = 0; run < RUNS; run++) {
    const plan: DpPlan = { ...dp, truncationReport: { share: 0.2, maxDroppedPerUnit: 3 } };
    const table = { ...countTable(tablePlan(dims), [40, 60, 100]), plan: { ...tablePlan(dims), budgetShare: 0.8 } };
    const rep = protectDp([table], plan, UNITS, seededRandom(`trunc ${name} ${run}`), { truncation: exact }).accounting
      .truncation!;
    rep.counts.forEach((c, k) => {
      if (Math.abs(c.value - truth[k]!) <= c.halfWidth95) covered[k]!++;
    });
  }
  console.log(
    `truncation report, ${name} (share 0.2): 95% half-widths cover rows dropped ${pct(covered[0]! / RUNS)}, values clamped ${pct(covered[1]! / RUNS)}`,
  );
}

for (const [name, dp] of MECHANISMS) {
  consistency(name, dp);
  means(name, dp);
  medians(name, dp);
  truncation(name, dp);
}
