/**
 * Tables on demand, computed in the secure zone (README.md): the query and its checks, the resident rows, the
 * protected computation, and the worker process's messages. `worker-main.ts` itself is an entry (forked by
 * api/ondemand/client.ts), not imported.
 */
export {
  cellCount,
  checkQuery,
  depthOf,
  nodesAtLevel,
  ON_DEMAND_FORMATS,
  onDemandOf,
  publicSchema,
  validateQuery,
} from './query.ts';
export type {
  DimensionShape,
  OnDemandDimension,
  OnDemandFormat,
  OnDemandPlanOf,
  OnDemandQuery,
  PublicSchema,
  PublicSchemaCode,
  QueryProblem,
} from './query.ts';
export { loadPlanOf, loadResident, ResidentCache } from './resident.ts';
export type { ResidentData } from './resident.ts';
export { computeOnDemand, exactOnDemand } from './compute.ts';
export type { ComputeOptions, OnDemandResult } from './compute.ts';
export { projectDimension, projectTable } from './project.ts';
export type { WorkerError, WorkerReply, WorkerRequest } from './worker-main.ts';
