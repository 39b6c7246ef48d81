/** Public functions of engine/policy: policy file -> validated document -> frozen Plan (see README.md). */
export { buildDimension, ancestorsOf, TOTAL_CODE } from './dimension.ts';
export type { DimensionSpec, HierarchyNodeSpec } from './dimension.ts';
export { validatePolicy } from './validate.ts';
export type { PolicyValidation } from './validate.ts';
export { DP_REFUSAL } from './problems.ts';
export type { PolicyProblem } from './problems.ts';
export { scaleExact } from './json-read.ts';
export { planPolicy, DEFAULT_DELTA, DEFAULT_FREQUENCY_PROTECTION } from './plan.ts';
export type { PlanContext } from './plan.ts';
export { loadPolicy, jsonErrorPosition, planPolicyBytes } from './load.ts';
export { policySchema, POLICY_SCHEMA_PATH } from './schema.ts';
export type * from './policy-doc.ts';
