export { buildDimension, ancestorsOf, TOTAL_CODE } from './dimension.ts';
export type { DimensionSpec, HierarchyNodeSpec } from './dimension.ts';
export { validatePolicy, scaleExact, DP_REFUSAL } from './validate.ts';
export type { PolicyProblem, PolicyValidation } from './validate.ts';
export { planPolicy, DEFAULT_DELTA, DEFAULT_FREQUENCY_PROTECTION } from './plan.ts';
export type { PlanContext } from './plan.ts';
export { loadPolicy, jsonErrorPosition } from './load.ts';
export { policySchema, POLICY_SCHEMA_PATH } from './schema.ts';
export type * from './policy-doc.ts';
