/**
 * Truncation report (issue 18, honest accuracy; Tumult's truncation reports do the same): where the policy asks
 * (`protection.truncationReport`), differentially private counts of what contribution bounding and clamping changed,
 * paid from the release's budget and published with their 95% half-widths. The exact counts are read once, in
 * `exact + noise`, and kept nowhere.
 *
 * Queries (one count each, noised with the release's exact integer sampler, samplers.ts):
 * - rows dropped: D = sum over units u of min(r_u - m, c) for the units with r_u > m valid rows (m = maxRowsPerUnit,
 *   c = maxDroppedPerUnit). Sensitivity c: neighbouring datasets differ by all rows of one unit v, and bounding works
 *   unit by unit (the rows a unit keeps depend on its own rows and the run's key only), so every other unit's term is
 *   unchanged and D moves by v's own term, an integer in [0, c]. L1 = L2 = c. Without the cap one unit of r rows
 *   would move it by r - m, which nothing bounds. Asked only when units have a column (a row that is its own unit is
 *   never dropped).
 * - values clamped, per clamp spec (measure column and bounds): the kept rows whose value lies outside the bounds.
 *   Sensitivity m: removing a unit removes its at most m kept rows, each counted at most once per spec, and no other
 *   unit's kept rows change. L1 = L2 = m.
 * Budget: the report's share of the release's total (epsilon or rho) is split equally over its queries; Laplace scale
 * t >= Delta / eps_q (eps_q-DP), Gaussian sigma^2 >= Delta^2 / (2 rho_q) (rho_q-zCDP), so the queries compose to the
 * report's share and, with the tables (which share the rest), to the release's total.
 * Post-processing: a noisy count below 0 is published as 0. The interval value +- halfWidth95 still covers a true
 * count (>= 0) whenever noisy +- halfWidth95 did, so its coverage is the noise's (95%).
 */
import type { DpPlan, RandomSource, TablePlan, TruncationReportPlan } from '../types.ts';
import type { ExactTruncation } from '../source/source.ts';
import { StatguardError } from '../errors.ts';
import { makeNoise, safeNoise } from './noise.ts';

/** One published count of the truncation report (noisy, never exact). */
export interface TruncationCount {
  readonly quantity: 'rows-dropped' | 'values-clamped';
  /** values-clamped: the measure column, its bounds (published unit) and the tables that clamp it to them. */
  readonly column?: string;
  readonly bounds?: readonly [number, number];
  readonly tables?: readonly string[];
  /** The noisy count, clamped at 0. */
  readonly value: number;
  readonly halfWidth95: number;
  readonly noiseSd: number;
  /** Laplace scale b or Gaussian sigma. */
  readonly noiseScale: number;
  readonly sensitivity: number;
  readonly epsilon: number | null;
  readonly rho: number | null;
  readonly noiseParameter: string;
}

/** The truncation report of a release: its budget and its noisy counts. */
export interface TruncationAccounting {
  readonly share: number;
  readonly epsilon: number | null;
  readonly rho: number | null;
  readonly maxRowsPerUnit: number;
  readonly maxDroppedPerUnit: number;
  readonly counts: readonly TruncationCount[];
}

/** The report's plan, if any; its share must leave the tables some budget (plan.ts refuses otherwise). */
export function truncationReportOf(plan: DpPlan): TruncationReportPlan | null {
  const r = plan.truncationReport ?? null;
  if (r !== null && !(r.share > 0 && r.share < 1))
    throw new StatguardError('POLICY_INVALID', `the truncation report's share ${r.share} is not in (0, 1)`, {
      path: '/protection/truncationReport',
    });
  if (r !== null && !(Number.isSafeInteger(r.maxDroppedPerUnit) && r.maxDroppedPerUnit >= 1))
    throw new StatguardError('POLICY_INVALID', 'maxDroppedPerUnit must be a positive integer', {
      path: '/protection/truncationReport/maxDroppedPerUnit',
    });
  return r;
}

/** One noisy count (exact + noise, clamped at 0) and its accounting. */
function noisyCount(
  plan: DpPlan,
  budget: number,
  sensitivity: number,
  exact: number,
  rng: RandomSource,
): Omit<TruncationCount, 'quantity'> {
  if (!Number.isSafeInteger(exact) || exact < 0)
    throw new StatguardError('ARITHMETIC_OVERFLOW', 'a truncation report count is not a safe non-negative integer');
  const noise = makeNoise(plan, budget, sensitivity, BigInt(sensitivity) * BigInt(sensitivity));
  return {
    value: Math.max(0, exact + safeNoise(noise.sample(rng))), // post-processing: counts are >= 0
    halfWidth95: noise.halfWidth95,
    noiseSd: noise.sd,
    noiseScale: noise.scale,
    sensitivity,
    epsilon: noise.budgetEps,
    rho: noise.budgetRho,
    noiseParameter: noise.param,
  };
}

/**
 * The noisy truncation report: `exact` from the source (secure zone), `report` from the plan; `totalBudget` is the
 * release's epsilon (Laplace) or rho (Gaussian). Draws after every table's noise, so a release without a report draws
 * the same sequence as before.
 */
export function protectTruncation(
  plan: DpPlan,
  unit: { readonly column: string | null; readonly maxRowsPerUnit: number },
  tables: readonly TablePlan[],
  report: TruncationReportPlan,
  exact: ExactTruncation,
  totalBudget: number,
  rng: RandomSource,
): TruncationAccounting {
  const m = unit.maxRowsPerUnit;
  const c = report.maxDroppedPerUnit;
  const dropped = unit.column !== null;
  const nQueries = (dropped ? 1 : 0) + exact.valuesClamped.length;
  if (nQueries === 0)
    throw new StatguardError(
      'POLICY_INVALID',
      'a truncation report has nothing to count: each row is its own unit (no bounding) and no table clamps a measure',
      { path: '/protection/truncationReport' },
    );
  const reportBudget = totalBudget * report.share;
  const perQuery = reportBudget / nQueries; // equal split: the queries compose to the report's budget
  const counts: TruncationCount[] = [];
  if (dropped) counts.push({ quantity: 'rows-dropped', ...noisyCount(plan, perQuery, c, exact.rowsDropped, rng) });
  for (const k of exact.valuesClamped) {
    const div = 10 ** k.decimals;
    const users = tables.filter(
      (t) =>
        t.measure.kind !== 'count' &&
        t.measure.column === k.column &&
        t.measure.decimals === k.decimals &&
        t.measure.lower === k.lower &&
        t.measure.upper === k.upper,
    );
    counts.push({
      quantity: 'values-clamped',
      column: k.column,
      bounds: [k.lower / div, k.upper / div],
      tables: users.map((t) => t.id),
      ...noisyCount(plan, perQuery, m, k.count, rng),
    });
  }
  const laplace = plan.mechanism === 'discrete-laplace';
  return Object.freeze({
    share: report.share,
    epsilon: laplace ? reportBudget : null,
    rho: laplace ? null : reportBudget,
    maxRowsPerUnit: m,
    maxDroppedPerUnit: c,
    counts: Object.freeze(counts.map((x) => Object.freeze(x))),
  });
}

/** The manifest's method note on the report. */
export function truncationMethod(acc: TruncationAccounting, unitKind: string): string {
  return `Truncation report (differentially private, paid from this release's budget: share ${fmt(acc.share)} of the total): noisy counts of the rows contribution bounding dropped (a ${unitKind}'s dropped rows counted up to ${acc.maxDroppedPerUnit}, so one ${unitKind} moves the count by at most ${acc.maxDroppedPerUnit}) and of the kept values clamped to each measure's bounds (one ${unitKind} moves each by at most ${acc.maxRowsPerUnit}), each with its 95% half-width, in the manifest's truncation part; never exact counts.`;
}

/** A short text of one count for the tables' bias notes: "about N (+- h)". */
export function aboutCount(c: TruncationCount): string {
  return `about ${c.value} (95% half-width ${fmt(c.halfWidth95)})`;
}

function fmt(x: number): string {
  return String(Number(x.toPrecision(4)));
}
