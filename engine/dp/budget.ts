/**
 * The budget rule: what a release charges the dataset's ledger, and whether that fits what remains.
 *
 * Guarantee: zCDP composes additively (Bun & Steinke 2016, Lemma 2.3), and pure epsilon-DP composes additively in
 * epsilon and implies epsilon^2/2-zCDP (Prop. 1.4). So every dp release is charged its rho (for a pure release,
 * epsilon^2/2), and pure releases are also charged epsilon. A publication is refused when either sum would exceed
 * the dataset's total. The same rule prices a plan (preview, lint) and a published manifest (the store).
 */

export interface ReleaseCost {
  readonly rho: number;
  /** Pure-DP epsilon, or null for zCDP releases and releases that spend no budget. */
  readonly epsilon: number | null;
}

/** The charge of a release that spends no budget. */
export const NO_COST: ReleaseCost = Object.freeze({ rho: 0, epsilon: null });

/** A dataset's ledger: its total budget and what its published releases spent. */
export interface LedgerState {
  readonly totalRho: number;
  readonly totalEpsilon: number;
  readonly spentRho: number;
  readonly spentEpsilon: number;
}

/** Floating-point slack in comparisons of summed budgets (budgets are decimal policy numbers). */
const EPS = 1e-9;

/**
 * The ledger charge of a stated budget (a dp plan's protection, or a manifest's `budget`): a rho is charged as is
 * (zCDP); otherwise a pure epsilon is charged epsilon^2/2 in rho plus epsilon.
 */
export function budgetCost(budget: { readonly rho?: unknown; readonly epsilon?: unknown }): ReleaseCost {
  const rho = budget.rho;
  const eps = budget.epsilon;
  if (typeof rho === 'number' && Number.isFinite(rho) && rho >= 0) return { rho, epsilon: null };
  if (typeof eps === 'number' && Number.isFinite(eps) && eps >= 0) return { rho: (eps * eps) / 2, epsilon: eps };
  throw new Error('dp manifest budget states neither rho nor epsilon');
}

/** Which of the ledger's budgets the cost would exceed. */
export function overBudget(
  state: LedgerState,
  cost: ReleaseCost,
): { readonly rho: boolean; readonly epsilon: boolean } {
  return {
    rho: state.spentRho + cost.rho > state.totalRho + EPS,
    epsilon: cost.epsilon !== null && state.spentEpsilon + cost.epsilon > state.totalEpsilon + EPS,
  };
}

/** Whether the cost fits what remains on the ledger. */
export function fitsBudget(state: LedgerState, cost: ReleaseCost): boolean {
  const over = overBudget(state, cost);
  return !over.rho && !over.epsilon;
}

/** null when the cost fits, else a sentence saying which budget it would exceed. */
export function budgetProblem(state: LedgerState, cost: ReleaseCost): string | null {
  const over = overBudget(state, cost);
  if (over.rho) {
    return `rho ${fmt(cost.rho)} on top of ${fmt(state.spentRho)} already spent exceeds the dataset's total rho ${fmt(state.totalRho)}`;
  }
  if (over.epsilon) {
    return `epsilon ${fmt(cost.epsilon!)} on top of ${fmt(state.spentEpsilon)} already spent exceeds the dataset's total epsilon ${fmt(state.totalEpsilon)}`;
  }
  return null;
}

const fmt = (x: number): string => String(Math.round(x * 1e6) / 1e6);
