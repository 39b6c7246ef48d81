/** The differential-privacy regime: exact discrete samplers, accounting, and table protection. */
export {
  rational,
  rationalFromNumber,
  rationalAtLeast,
  roundUp,
  ratMul,
  ratDiv,
  ratToNumber,
  ratToString,
  isqrt,
  type Rational,
} from './rational.ts';
export {
  sampleBernoulli,
  sampleBernoulliExp,
  sampleGeometric,
  sampleDiscreteLaplace,
  sampleDiscreteGaussian,
  sampleDiscreteLaplaceNumber,
  sampleDiscreteGaussianNumber,
  makeGeometric,
  makeDiscreteLaplace,
  makeDiscreteGaussian,
  toSafeNumber,
  type IntegerSampler,
} from './samplers.ts';
export {
  rhoFromDiscreteGaussian,
  epsilonFromDiscreteLaplace,
  pureDpToRho,
  zcdpEpsilonAt,
  zcdpToApproxDp,
  discreteLaplacePmf,
  discreteLaplaceVariance,
  discreteLaplaceHalfWidth,
  discreteGaussianNormaliser,
  discreteGaussianPmf,
  discreteGaussianVariance,
  discreteGaussianCdfAbs,
  discreteGaussianHalfWidth,
} from './accounting.ts';
export { cellsPerRow, tableSensitivity, type TableSensitivity, type QuerySensitivity } from './sensitivity.ts';
export {
  protectDp,
  checkDpPlan,
  type DpResult,
  type DpAccounting,
  type DpTableAccounting,
  type DpQueryAccounting,
} from './protect.ts';
export {
  budgetCost,
  budgetProblem,
  fitsBudget,
  overBudget,
  NO_COST,
  type LedgerState,
  type ReleaseCost,
} from './budget.ts';
export { describeDp, type DpGuarantee } from './describe.ts';
