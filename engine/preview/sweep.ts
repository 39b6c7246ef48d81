/**
 * Sweeps: the same policy previewed for several values of one parameter, on
 * one aggregation of the data (exact tables computed once), giving the
 * trade-off between error and budget (dp) or suppression and rule parameter
 * (sdc). Nothing is spent or written (see preview.ts).
 */
import { StatguardError } from '../errors.ts';
import type { Plan, ProtectionPlan } from '../types.ts';
import type { RegimeName } from '../release/manifest.ts';
import { previewFromExact, type ExactData, type Preview } from './preview.ts';

export type SweepParam = 'epsilon' | 'rho' | 'threshold' | 'p' | 'n';
export const SWEEP_PARAMS: readonly SweepParam[] = ['epsilon', 'rho', 'threshold', 'p', 'n'];

/** Figures a chart can plot: unitless shares by default (mean/max absolute errors mix units across tables). */
export type SweepMetric =
  | 'shareRelAbove10'
  | 'shareRelAbove50'
  | 'meanAbsError'
  | 'maxAbsError'
  | 'halfWidth95'
  | 'shareCellsSuppressed'
  | 'shareValueSuppressed';

export interface SweepSpec {
  readonly param: SweepParam;
  readonly values: readonly number[];
}

export interface SweepPoint {
  readonly value: number;
  /** Release-wide figures (cell-weighted over tables). */
  readonly cells: number;
  readonly shareCellsSuppressed: number;
  /** dp */
  readonly meanAbsError: number | null;
  readonly maxAbsError: number | null;
  readonly shareRelAbove10: number | null;
  readonly shareRelAbove50: number | null;
  readonly halfWidth95: number | null;
  /** sdc */
  readonly shareValueSuppressed: number | null;
  readonly primary: number | null;
  readonly secondary: number | null;
}

export interface Sweep {
  readonly policy: string;
  readonly regime: RegimeName;
  readonly param: SweepParam;
  /** The figure a chart shows by default. */
  readonly metric: SweepMetric;
  readonly points: readonly SweepPoint[];
}

/** Parses `epsilon=0.1,0.5,1` (CLI and API). */
export function parseSweep(text: string): SweepSpec {
  const m = /^([a-z]+)=(.+)$/.exec(text.trim());
  if (!m || !SWEEP_PARAMS.includes(m[1] as SweepParam)) {
    throw new StatguardError(
      'USAGE',
      `--sweep takes <param>=<v1>,<v2>,... with param one of ${SWEEP_PARAMS.join(', ')} (got ${JSON.stringify(text)})`,
    );
  }
  const values = m[2]!.split(',').map((s) => s.trim());
  return checkSweep({
    param: m[1] as SweepParam,
    values: values.map((v) => (/^[0-9]*\.?[0-9]+(e[-+]?[0-9]+)?$/i.test(v) ? Number(v) : NaN)),
  });
}

export const MAX_SWEEP_POINTS = 12;

export function checkSweep(spec: SweepSpec): SweepSpec {
  if (!SWEEP_PARAMS.includes(spec.param))
    throw new StatguardError(
      'USAGE',
      `unknown sweep parameter ${JSON.stringify(spec.param)} (one of ${SWEEP_PARAMS.join(', ')})`,
    );
  if (spec.values.length < 1 || spec.values.length > MAX_SWEEP_POINTS)
    throw new StatguardError('USAGE', `a sweep takes 1 to ${MAX_SWEEP_POINTS} values`);
  for (const v of spec.values) {
    if (!Number.isFinite(v) || v <= 0)
      throw new StatguardError('USAGE', `sweep ${spec.param}: every value must be a number > 0`);
    if ((spec.param === 'n' || spec.param === 'threshold') && !Number.isInteger(v))
      throw new StatguardError('USAGE', `sweep ${spec.param}: values must be whole numbers`);
    if (spec.param === 'p' && v > 100) throw new StatguardError('USAGE', 'sweep p: values are percents in (0, 100]');
  }
  return { param: spec.param, values: [...spec.values].sort((a, b) => a - b) };
}

/** How one regime is swept: its parameters, its default chart figure and its figures of a point. */
interface RegimeSweep<P extends ProtectionPlan> {
  /** The protection with one parameter set, or why the parameter cannot be swept. */
  set(p: P, param: SweepParam, value: number): P | string;
  readonly metric: SweepMetric;
  /** The regime's figures of one point; `w` averages a per-table figure weighted by cells. */
  figures(p: Preview, w: (f: (t: Preview['tables'][number]) => number | null) => number | null): Partial<SweepPoint>;
}

const sdc: RegimeSweep<Extract<ProtectionPlan, { regime: 'sdc' }>> = {
  set(p, param, value) {
    if (param === 'threshold' || param === 'n') return { ...p, minFrequency: value };
    if (param === 'p') return { ...p, pPercent: value };
    return `${param} is a dp budget; this is an sdc policy`;
  },
  metric: 'shareCellsSuppressed',
  figures: (p, w) => ({
    shareValueSuppressed: w((t) => t.sdc!.shareValueSuppressed),
    primary: p.tables.reduce((n, t) => n + t.sdc!.primaryTotal, 0),
    secondary: p.tables.reduce((n, t) => n + t.sdc!.secondary, 0),
  }),
};

const dp: RegimeSweep<Extract<ProtectionPlan, { regime: 'dp' }>> = {
  set(p, param, value) {
    if (param === 'epsilon')
      return p.mechanism === 'discrete-laplace'
        ? { ...p, epsilon: value }
        : 'its mechanism is discrete-gaussian (sweep rho)';
    if (param === 'rho')
      return p.mechanism === 'discrete-gaussian'
        ? { ...p, rho: value }
        : 'its mechanism is discrete-laplace (sweep epsilon)';
    if (param === 'threshold') return { ...p, noisyThreshold: value };
    return 'p and n are sdc rule parameters; this is a dp policy';
  },
  metric: 'shareRelAbove10',
  figures: (p, w) => ({
    meanAbsError: w((t) => t.dp!.error.meanAbsError),
    maxAbsError: Math.max(...p.tables.map((t) => t.dp!.error.maxAbsError)),
    shareRelAbove10: w((t) => t.dp!.error.shareRelAbove10),
    shareRelAbove50: w((t) => t.dp!.error.shareRelAbove50),
    halfWidth95: w((t) => t.dp!.halfWidth95),
  }),
};

/** The regimes a sweep supports. */
const SWEEPS: { readonly [R in RegimeName]?: RegimeSweep<Extract<ProtectionPlan, { regime: R }>> } = { sdc, dp };

function sweepOf(regime: RegimeName): RegimeSweep<ProtectionPlan> | undefined {
  return SWEEPS[regime] as RegimeSweep<ProtectionPlan> | undefined;
}

/** The plan with one protection parameter changed (the plan itself is frozen and left alone). */
export function planWith(plan: Plan, param: SweepParam, value: number): Plan {
  const p = plan.protection;
  const sweep = sweepOf(p.regime);
  const q = sweep
    ? sweep.set(p, param, value)
    : `sweeps support the ${Object.keys(SWEEPS).join(' and ')} regimes, not ${p.regime}`;
  if (typeof q === 'string')
    throw new StatguardError('USAGE', `cannot sweep ${param} on policy ${plan.policyId}: ${q}`);
  return { ...plan, protection: q };
}

export async function sweepPolicy(plan: Plan, spec: SweepSpec, data: ExactData): Promise<Sweep> {
  const s = checkSweep(spec);
  const points: SweepPoint[] = [];
  for (const v of s.values) points.push(pointOf(v, await previewFromExact(planWith(plan, s.param, v), data)));
  return {
    policy: plan.policyId,
    regime: plan.protection.regime,
    param: s.param,
    metric: sweepOf(plan.protection.regime)!.metric,
    points,
  };
}

function pointOf(value: number, p: Preview): SweepPoint {
  const cells = p.tables.reduce((n, t) => n + t.cells, 0);
  const sup = p.tables.reduce((n, t) => n + t.suppressed, 0);
  const w = (f: (t: Preview['tables'][number]) => number | null): number | null => {
    let num = 0;
    let den = 0;
    for (const t of p.tables) {
      const x = f(t);
      if (x === null) return null;
      num += x * t.cells;
      den += t.cells;
    }
    return den > 0 ? num / den : null;
  };
  return {
    value,
    cells,
    shareCellsSuppressed: cells > 0 ? sup / cells : 0,
    meanAbsError: null,
    maxAbsError: null,
    shareRelAbove10: null,
    shareRelAbove50: null,
    halfWidth95: null,
    shareValueSuppressed: null,
    primary: null,
    secondary: null,
    ...sweepOf(p.regime)!.figures(p, w),
  };
}
