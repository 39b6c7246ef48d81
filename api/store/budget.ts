/**
 * Privacy-budget accounting across the releases of one dataset.
 *
 * The rule (what a release costs, whether it fits) is the engine's (engine/dp/budget.ts, engine/regime.ts): every
 * dp release is charged its rho (for a pure release, epsilon^2/2) and pure releases also epsilon; a publication is
 * refused when either sum would exceed the dataset's total. sdc and ckm releases cost nothing in this ledger (their
 * guarantee is not a budget). This module keeps the store's names and its default totals.
 */
export { releaseCost } from '../../engine/regime.ts';
export { budgetProblem, type LedgerState as BudgetState, type ReleaseCost } from '../../engine/dp/index.ts';

/** Default total budget of a dataset when it is first seen (an officer changes it with `datasets set-budget`). */
export const DEFAULT_TOTAL_RHO = 5;
export const DEFAULT_TOTAL_EPSILON = 10;
