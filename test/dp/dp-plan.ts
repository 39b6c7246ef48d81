/** A dp protection plan for tests: discrete Laplace with epsilon 1, no threshold, no granularity. Not a test file. */
import type { DpPlan } from '../../engine/types.ts';

export function dpPlan(extra: Partial<DpPlan> = {}): DpPlan {
  return {
    regime: 'dp',
    mechanism: 'discrete-laplace',
    epsilon: 1,
    rho: null,
    delta: 1e-10,
    noisyThreshold: null,
    granularityLog2: 0,
    ...extra,
  };
}
