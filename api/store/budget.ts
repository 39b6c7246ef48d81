/**
 * Privacy-budget accounting across the releases of one dataset.
 *
 * Guarantee: zCDP composes additively (Bun & Steinke 2016, Lemma 2.3), and
 * pure epsilon-DP composes additively in epsilon and implies epsilon^2/2-zCDP
 * (Prop. 1.4). So every dp release is charged its rho (for a pure release,
 * epsilon^2/2), and pure releases are also charged epsilon. A dataset's
 * spending is the sum of its ledger entries; a publication is refused when
 * either sum would exceed the dataset's total. sdc releases cost nothing in
 * this ledger (their guarantee is not a budget).
 */
import type { Manifest } from '../../engine/release/manifest.ts';

/** Default total budget of a dataset when it is first seen (an officer changes it with `datasets set-budget`). */
export const DEFAULT_TOTAL_RHO = 5;
export const DEFAULT_TOTAL_EPSILON = 10;

/** Floating-point slack in comparisons of summed budgets (budgets are decimal policy numbers). */
const EPS = 1e-9;

export interface ReleaseCost {
  readonly rho: number;
  /** Pure-DP epsilon, or null for zCDP / sdc releases. */
  readonly epsilon: number | null;
}

export function releaseCost(m: Pick<Manifest, 'regime' | 'budget'>): ReleaseCost {
  if (m.regime !== 'dp' || !m.budget) return { rho: 0, epsilon: null };
  const rho = m.budget.rho;
  const eps = m.budget.epsilon;
  if (typeof rho === 'number' && Number.isFinite(rho) && rho >= 0) return { rho, epsilon: null };
  if (typeof eps === 'number' && Number.isFinite(eps) && eps >= 0) return { rho: (eps * eps) / 2, epsilon: eps };
  throw new Error('dp manifest budget states neither rho nor epsilon');
}

export interface BudgetState {
  readonly totalRho: number;
  readonly totalEpsilon: number;
  readonly spentRho: number;
  readonly spentEpsilon: number;
}

/** null when the cost fits, else a sentence saying which budget it would exceed. */
export function budgetProblem(state: BudgetState, cost: ReleaseCost): string | null {
  if (state.spentRho + cost.rho > state.totalRho + EPS) {
    return `rho ${fmt(cost.rho)} on top of ${fmt(state.spentRho)} already spent exceeds the dataset's total rho ${fmt(state.totalRho)}`;
  }
  if (cost.epsilon !== null && state.spentEpsilon + cost.epsilon > state.totalEpsilon + EPS) {
    return `epsilon ${fmt(cost.epsilon)} on top of ${fmt(state.spentEpsilon)} already spent exceeds the dataset's total epsilon ${fmt(state.totalEpsilon)}`;
  }
  return null;
}

const fmt = (x: number): string => String(Math.round(x * 1e6) / 1e6);
