/**
 * The engine's public surface: a policy becomes a frozen Plan (policy/), a source aggregates exact tables
 * (source/, aggregate/), a regime protects them (REGIMES: sdc/, dp/, ckm/), and release/ writes and reads release
 * directories. The engine imports neither api/ nor cli/ nor fastify; database drivers only in source/ (checked by
 * `npm run check:imports`). See README.md.
 */
export { runRelease } from './pipeline.ts';
export type { ReleaseRun, RunOptions } from './pipeline.ts';
export { REGIMES, regimeOf, planCost, releaseCost, startRun } from './regime.ts';
export type { PlanOf, ProtectContext, Regime, RunStart } from './regime.ts';
export { cryptoRandom, seededRandom, randomSourceFor, drawKey } from './random.ts';
export { StatguardError, formatLocation } from './errors.ts';
export type { ErrorCode, ErrorDetail, ErrorLocation } from './errors.ts';
export { ENGINE_VERSION } from './version.ts';
export { loadPolicy, planPolicy, validatePolicy } from './policy/index.ts';
export { readReleaseDir, writeRelease, publicManifest } from './release/index.ts';
export type { Manifest, Guarantee } from './release/index.ts';
export type * from './types.ts';
