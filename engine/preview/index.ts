/** Reviewer workbench: preview, compare, sweep and lint policies without publishing or spending budget. */
export { aggregateExact, previewFromExact, previewPolicy, PREVIEW_VERSION } from './preview.ts';
export type {
  BudgetPreview,
  DpTablePreview,
  ExactData,
  Preview,
  PreviewOptions,
  SdcTablePreview,
  TablePreview,
} from './preview.ts';
export { comparePreviews, previewFigures } from './compare.ts';
export type { Comparison, FigureRow } from './compare.ts';
export { combinationCheck } from './combination.ts';
export type { CombinationCheck, PublishedRelease, RecoveredCell } from './combination.ts';
export { lintDocument, lintPlan, LINT_LIMITS } from './lint.ts';
export { planCost } from '../regime.ts';
export type { LedgerState, LintContext, LintFinding, LintSeverity } from './lint.ts';
export {
  exactValue,
  realisedError,
  riskSignals,
  suppressedShare,
  REL_ERROR_LEVELS,
  SPARSITY_THRESHOLD,
} from './metrics.ts';
export type { RealisedError, RiskSignals } from './metrics.ts';
export { checkSweep, parseSweep, planWith, sweepPolicy, MAX_SWEEP_POINTS, SWEEP_PARAMS } from './sweep.ts';
export type { Sweep, SweepMetric, SweepParam, SweepPoint, SweepSpec } from './sweep.ts';
export { escapeXml, fmtNumber, niceTicks, sweepSvg, METRIC_LABELS } from './svg.ts';
export { compareText, lintText, previewHtml, previewText, sweepText } from './render.ts';
