/**
 * Mean tables under the dp regime: a noisy sum over a noisy denominator, both DP queries of the same table.
 *
 * Guarantee. The policy says what the mean is over (`measure.per`): 'unit' (default) divides the cell's sum by its
 * distinct units (each unit's total in the cell counted once: unit-count sensitivity), 'row' by its rows (row-count
 * sensitivity, sensitivity.ts). The table's budget is split in two equal halves, stated in the accounting (eps/2 +
 * eps/2 = eps; rho/2 + rho/2 = rho by composition). The published mean is post-processing of the two noisy queries:
 * noisy sum / max(noisy denominator, 1), clamped to the range the mean can take (per row: the clamping bounds; per
 * unit: what a unit's total of 1 to m rows can be).
 *
 * Accuracy. The 95% half-width of a mean comes from simulating the same mechanism around the published noisy values
 * (a parametric bootstrap, inverted at the interval's ends: see `simulator`; post-processing of noisy values only,
 * never an exact value), so it follows the ratio's skew instead of adding two 97.5% half-widths (which covered
 * 98.5-100% of cells). The simulation draws continuous Laplace or Gaussian noise of the same scale, rounded to the
 * query's lattice, from its own stream: node:crypto for a real release, a stream derived from the seed for a seeded
 * one (the release's noise stream is untouched). `test/dp/means.test.ts` measures the coverage.
 */
import type { CellAccuracy, DpPlan, ExactCell, ExactTable, ProtectedCell, RandomSource } from '../types.ts';
import { cryptoRandom, seededRandom } from '../random.ts';
import { exactInt, makeNoise, queryAccounting, safeNoise, type DpQueryAccounting, type NoiseSpec } from './noise.ts';
import type { TableSensitivity } from './sensitivity.ts';

/** Simulated draws per cell for a mean's accuracy (fewer on very large tables: at most about 1,000,000 in all). */
const DRAWS = 1000;
const MIN_DRAWS = 400;

export interface MeanInput {
  readonly table: ExactTable;
  readonly plan: DpPlan;
  readonly m: number;
  /** Budget of each of the two queries (half the table's). */
  readonly queryBudget: number;
  readonly sens: TableSensitivity;
  readonly sumNoise: NoiseSpec;
  /** The released noisy sum of cell i in scaled units (post-processed: clamped at 0 when values are >= 0). */
  readonly noisySum: (i: number) => number;
  readonly clampSum: boolean;
  /** 10^decimals, and the published units per lattice step of the sum. */
  readonly div: number;
  readonly unitOut: number;
  /** Post-processing decision on a noisy statistic (threshold, officer-marked cells). */
  readonly hide: (i: number, noisyStatistic: number) => boolean;
  readonly suppressedCell: ProtectedCell;
  readonly rng: RandomSource;
}

export interface MeanResult {
  readonly cells: ProtectedCell[];
  readonly suppressed: number;
  readonly queries: DpQueryAccounting[];
}

/** Protect the cells of a mean table (see the guarantee above). */
export function protectMeanCells(inp: MeanInput): MeanResult {
  const { table, plan, m, sens, sumNoise, div, unitOut } = inp;
  const tp = table.plan;
  const meas = tp.measure;
  if (meas.kind !== 'mean') throw new Error('protectMeanCells needs a mean table');
  const perRow = meas.per === 'row';
  const denSens = perRow ? sens.rows : sens.count;
  const denNoise = makeNoise(plan, inp.queryBudget, denSens.l1, denSens.l2Squared);
  // Per row: a mean of clamped values; per unit: of a unit's total of 1 to m rows.
  const lo = (perRow ? meas.lower : Math.min(meas.lower, m * meas.lower)) / div;
  const hi = (perRow ? meas.upper : Math.max(meas.upper, m * meas.upper)) / div;
  const post = (sum: number, den: number): number => Math.min(hi, Math.max(lo, sum / Math.max(den, 1)));
  const n = table.cells.length;
  const draws = Math.max(MIN_DRAWS, Math.min(DRAWS, Math.floor(1_000_000 / Math.max(n, 1))));
  const simulate = simulator(inp, denNoise, post, draws, [lo, hi]);
  const cells: ProtectedCell[] = new Array<ProtectedCell>(n);
  let suppressed = 0;
  for (let i = 0; i < n; i++) {
    const sum = inp.noisySum(i) / div;
    const cell = table.cells[i] as ExactCell;
    const exactDen = exactInt(tp, i, perRow ? cell.rows : cell.units, perRow ? 'row count' : 'unit count');
    const den = Math.max(0, exactDen + safeNoise(denNoise.sample(inp.rng)));
    const value = post(sum, den);
    // Noisy threshold on the NOISY denominator (a mean's size), never on an exact value.
    if (inp.hide(i, den)) {
      cells[i] = inp.suppressedCell;
      suppressed++;
      continue;
    }
    const sim = simulate(sum, den, value);
    const acc: CellAccuracy = Object.freeze({
      scale: (sumNoise.scale * unitOut) / Math.max(den, 1),
      noiseSd: sim.sd,
      halfWidth95: sim.halfWidth95,
    });
    cells[i] = Object.freeze({ value, conf: 'F', obs: 'E', accuracy: acc });
  }
  const s = sens.sum!;
  return {
    cells,
    suppressed,
    queries: [
      queryAccounting('sum', sumNoise, s.l1, s.l2, unitOut),
      queryAccounting(perRow ? 'rows' : 'count', denNoise, denSens.l1, denSens.l2, 1),
    ],
  };
}

/**
 * The accuracy of one published mean by simulation from its noisy sum and denominator. The noise of both queries is
 * drawn once per table (`draws` pairs, common to all its cells). For a truth c with the published denominator d, the
 * errors are post(c d + e1, d + e2) - c. Half-width: h0 = the 95% quantile of |error| at c = the published mean; then,
 * inverting the test at the interval's ends (a truth at published - h0 must not produce an estimate above published
 * more often than 2.5%, and one at published + h0 one below it), h = the larger of the 97.5% quantile of the error at
 * published - h0 and of minus the error at published + h0. The ratio's skew makes h0 alone cover 89-95% when the noise
 * is large; h covers 95-96% (test/dp/means.test.ts). The sd is the root mean square error at the published mean.
 */
function simulator(
  inp: MeanInput,
  denNoise: NoiseSpec,
  post: (sum: number, den: number) => number,
  draws: number,
  range: readonly [number, number],
): (sum: number, den: number, value: number) => { sd: number; halfWidth95: number } {
  const u = uniforms(inp.rng, inp.table.plan.id);
  const laplace = inp.plan.mechanism === 'discrete-laplace';
  // One draw of a query's noise, in lattice steps: continuous noise of the same scale, rounded to the lattice.
  const draw = (spec: NoiseSpec): number => {
    if (laplace) {
      const v = u() - 0.5;
      return Math.round(-spec.scale * Math.sign(v) * Math.log(1 - 2 * Math.abs(v)));
    }
    return Math.round(spec.scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
  };
  const e1 = Float64Array.from({ length: draws }, () => draw(inp.sumNoise) * inp.unitOut);
  const e2 = Float64Array.from({ length: draws }, () => draw(denNoise));
  const err = new Float64Array(draws);
  /** The signed errors for a truth c with denominator d, sorted ascending; and their mean square. */
  const errorsAt = (c: number, d: number): number => {
    let sq = 0;
    for (let r = 0; r < draws; r++) {
      const s0 = c * d + e1[r]!;
      const e = post(inp.clampSum ? Math.max(0, s0) : s0, Math.max(0, d + e2[r]!)) - c;
      err[r] = e;
      sq += e * e;
    }
    err.sort();
    return sq / draws;
  };
  const q = (p: number): number => err[Math.min(draws - 1, Math.max(0, Math.ceil(p * draws) - 1))]!;
  const clampToRange = (c: number): number => Math.min(range[1], Math.max(range[0], c));
  return (_sum, den, value) => {
    const d = Math.max(den, 1);
    const ms = errorsAt(value, d);
    const abs = Float64Array.from(err, Math.abs).sort();
    const h0 = abs[Math.ceil(0.95 * draws) - 1]!;
    errorsAt(clampToRange(value - h0), d);
    const up = q(0.975);
    errorsAt(clampToRange(value + h0), d);
    const down = -q(0.025);
    return { sd: Math.sqrt(ms), halfWidth95: Math.max(0, up, down) };
  };
}

/** Uniform doubles in (0, 1) for the accuracy simulation: its own stream, never the release's noise stream. */
function uniforms(rng: RandomSource, tableId: string): () => number {
  const src = rng.kind === 'seeded' ? seededRandom(`${rng.seed}\u0000mean accuracy\u0000${tableId}`) : cryptoRandom();
  let buf = src.bytes(4096);
  let at = 0;
  return () => {
    if (at + 7 > buf.length) {
      buf = src.bytes(4096);
      at = 0;
    }
    // 53 random bits: 7 bytes, the top 3 bits of the first dropped.
    let x = buf[at]! & 0x1f;
    for (let k = 1; k < 7; k++) x = x * 256 + buf[at + k]!;
    at += 7;
    return (x + 0.5) / 2 ** 53;
  };
}
