/**
 * Consistent DP tables (after Census TopDown), by post-processing the noisy measurements of one table query.
 *
 * Policy: `protection.consistency` is `hierarchical` (opt-in: tables that add up, what a statistics office publishes)
 * or `none` (the default: independent noisy cells clamped at 0), see DEFAULT_CONSISTENCY in engine/policy/plan.ts.
 * With `hierarchical`, for count and sum tables (a mean is a ratio, not additive: mean tables keep their own
 * post-processing):
 * 1. fit: least squares over the tables in which every total equals the sum of its children at every hierarchy level
 *    and margin, with every cell >= 0 for counts and for sums of non-negative values (consistency-fit.ts);
 * 2. controlled rounding to integers of the noise lattice (counts; sums in multiples of the granularity) that still
 *    add up, each cell within 1 of its fit where a controlled rounding is found (consistency-fit.ts);
 * 3. accuracy by simulation of the mechanism on the published values (parametric bootstrap): the published table t
 *    stands in for the truth, R = 199 noise vectors are drawn from the same sampler (the run's randomness: noise only,
 *    no data), each t + noise is fitted again, and a cell's 95% half-width is the 190th smallest |fit - t| (the
 *    ceil(0.95 (R + 1))-th order statistic), plus the rounding: a controlled rounding moves a cell by less than 1
 *    lattice step, and published and true values are both on the lattice, so the half-width is ceil(q); the leaf
 *    fallback moves a cell by at most half a step per leaf under it, added in full. noiseSd is the simulated root mean
 *    squared error of the fit. The rounding is bounded, not simulated: solving the rounding 199 times would cost
 *    HiGHS solves for nothing a bound does not already give.
 * 4. the unbiased noisy measurements (before any fit, clamp or rounding) are kept and published as `<table>.noisy.csv`
 *    (the Census "noisy measurement file").
 *
 * Safety: everything here reads the noisy vector and public plan data only (the dimensions, the sampler); it is
 * post-processing and changes nothing in the guarantee. A noisy threshold is refused with `hierarchical`: in a table
 * that adds up a suppressed cell is its total minus its published siblings.
 */
import type { CellAccuracy, DimensionPlan, DpPlan, NoisyMeasurements, RandomSource, TablePlan } from '../types.ts';
import type { IntegerSampler } from './samplers.ts';
import { StatguardError } from '../errors.ts';
import type { HighsRuntime } from '../sdc/highs.ts';
import { additivity, controlledRound, maxInconsistency, nonNegativeFit, projectConsistent } from './consistency-fit.ts';

export type ConsistencyMode = NonNullable<DpPlan['consistency']>;
/** Bootstrap replicates: the 190th of 199 ordered errors is an exact 95% order statistic (190 / (199 + 1)). */
export const REPLICATES = 199;
/** Dykstra iterations per replicate (the published fit gets 500): bounds the simulation on large sparse tables. */
const REPLICATE_ITERATIONS = 100;
/** Time limit of the rounding LP (seconds). */
const ROUNDING_SECONDS = 60;

/** What the manifest's per-table privacy entry says about consistency (JSON-serialisable). */
export interface ConsistencyReport {
  readonly method: 'hierarchical';
  readonly fit: 'least squares' | 'non-negative least squares';
  readonly rounding: 'controlled' | 'leaves rounded, totals summed';
  /** Largest |total - sum of its children| in the noisy measurements, published unit (0 after post-processing). */
  readonly maxInconsistencyBefore: number;
  readonly accuracy: string;
  readonly replicates: number;
  readonly noisyFile: string;
}

/** The consistency mode of a plan: absent means none (plans built before the option existed). */
export function consistencyOf(plan: DpPlan): ConsistencyMode {
  return plan.consistency ?? 'none';
}

/** A consistent plan takes no noisy threshold (see the header); the policy checks say the same at the policy path. */
export function checkConsistency(plan: DpPlan): void {
  const mode = consistencyOf(plan);
  if (mode !== 'none' && mode !== 'hierarchical')
    throw new StatguardError('POLICY_INVALID', `unknown consistency ${JSON.stringify(mode)}`, {
      path: '/protection/consistency',
    });
  if (mode === 'hierarchical' && plan.noisyThreshold !== null)
    throw new StatguardError('POLICY_INVALID', THRESHOLD_REFUSAL, { path: '/protection/noisyThreshold' });
}

export const THRESHOLD_REFUSAL =
  'a noisy threshold cannot be combined with consistency "hierarchical": in a table that adds up, a suppressed cell is its total minus its published siblings; set consistency "none" to keep the threshold';

/** The method sentence of the manifest for a consistent release. */
export function consistencyMethod(): string {
  return `Consistency (post-processing of the noisy measurements only): count and sum tables are fitted by least squares (non-negative where the quantity is) to tables in which every total equals the sum of its children at every level and margin, then rounded to integers (sums: multiples of the granularity) by controlled rounding; the unbiased noisy measurements are published beside each table (<table>.noisy.csv). Accuracy: parametric bootstrap of the mechanism on the published values (${REPLICATES} replicates, empirical 95% quantile of |error| per cell, rounding bounded); never from exact values.`;
}

export interface ConsistencyInput {
  readonly table: TablePlan;
  /** Noisy measurements on the noise lattice (integers), unclamped. */
  readonly noisy: readonly number[];
  /** A fresh noise draw of the table's sampler, lattice units. */
  readonly draw: () => number;
  readonly nonNegative: boolean;
  /** Published units per lattice step. */
  readonly unit: number;
  /** The mechanism's scale, noise sd and 95% half-width of one noisy measurement, published unit. */
  readonly scale: number;
  readonly noiseSd: number;
  readonly halfWidth95: number;
  readonly highs: HighsRuntime;
}

export interface ConsistencyOutput {
  /** Published values, lattice units (integers, additive, >= 0 where nonNegative). */
  readonly values: Float64Array;
  /** Per cell, published unit. */
  readonly accuracy: CellAccuracy[];
  readonly measurements: NoisyMeasurements;
  readonly report: ConsistencyReport;
  /** One sentence for the table's formats (JSON-stat note, web page). */
  readonly note: string;
}

/** The noise of one query as protect.ts describes it (lattice units). */
interface QueryNoise {
  readonly sample: IntegerSampler;
  readonly scale: number;
  readonly sd: number;
  readonly halfWidth95: number;
}

/**
 * The consistency hook of protect.ts, the one point where a table's post-processing changes: the noisy lattice vector
 * of a count or sum table (every cell drawn) in, consistent lattice values and their accuracy out; null when the plan
 * asks for none. Reads no exact value: only the noisy vector, public plan data and fresh noise of the same sampler.
 */
export function consistencyHook(
  ctx: { plan: DpPlan; table: TablePlan; rng: RandomSource; highs: HighsRuntime | undefined },
  noisy: number[],
  noise: QueryNoise,
  unit: number,
  nonNegative: boolean,
): ConsistencyOutput | null {
  if (consistencyOf(ctx.plan) !== 'hierarchical' || !ctx.highs) return null;
  const draw = (): number => {
    const v = Number(noise.sample(ctx.rng));
    if (!Number.isSafeInteger(v))
      throw new StatguardError('ARITHMETIC_OVERFLOW', 'a noise draw exceeds the safe integer range');
    return v;
  };
  return makeConsistent({
    table: ctx.table,
    noisy,
    draw,
    nonNegative,
    unit,
    scale: noise.scale * unit,
    noiseSd: noise.sd * unit,
    halfWidth95: noise.halfWidth95 * unit,
    highs: ctx.highs,
  });
}

/** Fit (least squares, non-negative where asked) of one noisy vector. */
function fit(
  y: ArrayLike<number>,
  dims: readonly DimensionPlan[],
  add: ReturnType<typeof additivity>,
  nonNeg: boolean,
  maxIterations = 500,
) {
  const x = projectConsistent(y, dims);
  if (!nonNeg || x.every((v) => v >= -1e-9)) return { x, constrained: false };
  return { x: nonNegativeFit(y, dims, add, maxIterations), constrained: true };
}

/** Post-process one table's noisy measurements into a consistent table with simulated accuracy (see the header). */
export function makeConsistent(input: ConsistencyInput): ConsistencyOutput {
  const dims = input.table.dimensions;
  const add = additivity(dims);
  const n = add.n;
  if (input.noisy.length !== n)
    throw new Error(`table ${input.table.id}: ${input.noisy.length} noisy values, ${n} cells`);
  const fitted = fit(input.noisy, dims, add, input.nonNegative);
  const rounded = controlledRound(fitted.x, dims, add, input.highs, ROUNDING_SECONDS);
  const t = rounded.values;
  // Rounding allowance per cell, lattice units: < 1 for a controlled rounding; half a step per leaf under the cell otherwise.
  const leavesUnder = new Float64Array(n);
  for (let i = 0; i < n; i++) if (add.leaf[i]) leavesUnder[i] = 1;
  for (let r = 0; r < add.sumCell.length; r++) {
    let s = 0;
    for (let k = add.starts[r]!; k < add.starts[r + 1]!; k++) s += leavesUnder[add.children[k]!]!;
    leavesUnder[add.sumCell[r]!] = s;
  }
  const errs = new Float64Array(REPLICATES * n);
  const sq = new Float64Array(n);
  const y = new Float64Array(n);
  for (let r = 0; r < REPLICATES; r++) {
    for (let i = 0; i < n; i++) y[i] = t[i]! + input.draw();
    const { x } = fit(y, dims, add, input.nonNegative, REPLICATE_ITERATIONS);
    for (let i = 0; i < n; i++) {
      const e = x[i]! - t[i]!;
      errs[i * REPLICATES + r] = Math.abs(e);
      sq[i]! += e * e;
    }
  }
  const k = Math.ceil(0.95 * (REPLICATES + 1));
  const u = input.unit;
  const accuracy: CellAccuracy[] = new Array<CellAccuracy>(n);
  for (let i = 0; i < n; i++) {
    const col = errs.subarray(i * REPLICATES, (i + 1) * REPLICATES).sort();
    const q = col[k - 1]!;
    const hw = rounded.controlled ? Math.ceil(q - 1e-9) : Math.ceil(q + leavesUnder[i]! / 2 - 1e-9);
    accuracy[i] = Object.freeze({
      scale: input.scale,
      noiseSd: Math.sqrt(sq[i]! / REPLICATES) * u,
      halfWidth95: hw * u,
    });
  }
  const noisyFile = `${input.table.id}.noisy.csv`;
  for (let i = 0; i < n; i++) t[i] = t[i]! + 0; // no -0
  return {
    note: `Consistent table: every total equals the sum of its children at every level and margin (least-squares fit of the noisy measurements, ${rounded.controlled ? 'controlled rounding' : 'leaves rounded, totals summed'}); 95% half-widths by simulation of the mechanism on the published values; the unbiased noisy measurements are in ${noisyFile}.`,
    values: t,
    accuracy,
    measurements: Object.freeze({
      values: Object.freeze(input.noisy.map((v) => v * u)),
      noiseSd: input.noiseSd,
      halfWidth95: input.halfWidth95,
    }),
    report: Object.freeze({
      method: 'hierarchical',
      fit: fitted.constrained ? 'non-negative least squares' : 'least squares',
      rounding: rounded.controlled ? 'controlled' : 'leaves rounded, totals summed',
      maxInconsistencyBefore: maxInconsistency(input.noisy, add) * u,
      accuracy: `parametric bootstrap on the published values: ${REPLICATES} replicates of the mechanism's noise, fit re-run, 95% half-width = ${k}th smallest |error| per cell${rounded.controlled ? ' rounded up to the lattice (controlled rounding moves a cell by less than one step)' : ' plus half a step per leaf under the cell (rounding)'}`,
      replicates: REPLICATES,
      noisyFile,
    }),
  };
}
