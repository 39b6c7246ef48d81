/**
 * Noise for one DP query (a table's vector of counts, sums or row counts): the exact sampler with its parameter
 * rounded up from the budget and sensitivity, its accuracy figures, and the query's accounting.
 *
 * Guarantee: Laplace scale t >= L1 / eps (eps-DP), Gaussian sigma^2 >= L2^2 / (2 rho) (rho-zCDP, CKS 2020 Thm 4),
 * each parameter rounded UP to a multiple of 2^-20 after shaving the budget by 2^-40 (relative), so float rounding
 * never makes the noise smaller than the accounting states. Exact inputs are checked without being quoted.
 */
import type { DpPlan, TablePlan } from '../types.ts';
import { StatguardError } from '../errors.ts';
import {
  discreteGaussianHalfWidth,
  discreteGaussianVariance,
  discreteLaplaceHalfWidth,
  discreteLaplaceVariance,
} from './accounting.ts';
import { rational, ratDiv, rationalFromNumber, ratToNumber, ratToString, roundUp, type Rational } from './rational.ts';
import { makeDiscreteGaussian, makeDiscreteLaplace, type IntegerSampler } from './samplers.ts';

/** Accounting of one noisy query (a table's count or sum vector). */
export interface DpQueryAccounting {
  /** 'count': unit counts; 'sum': sums of the clamped measure; 'rows': row counts (denominator of a mean per row). */
  readonly quantity: 'count' | 'sum' | 'rows';
  /** Budget of this query: epsilon (Laplace) or rho (Gaussian); the other is null. */
  readonly epsilon: number | null;
  readonly rho: number | null;
  /** Sensitivities and noise, in the published unit (units for counts, natural measure units for sums). */
  readonly l1Sensitivity: number;
  readonly l2Sensitivity: number;
  /** Laplace scale b or Gaussian sigma. */
  readonly noiseScale: number;
  readonly noiseSd: number;
  readonly halfWidth95: number;
  /** Noise is a multiple of this (published unit). */
  readonly granularity: number;
  /** Exact noise parameter on the integer lattice: "scale=t/s" (Laplace) or "sigma2=n/d" (Gaussian). */
  readonly noiseParameter: string;
}

/**
 * Budgets are shaved by 2^-40 (relative) before computing noise, so float
 * rounding in total * share * 1/2 can never make the noise smaller than the
 * budget stated in the accounting.
 */
const BUDGET_SHAVE = 1 - 2 ** -40;
/** Noise parameters are rounded UP to multiples of 2^-20 (more noise, never less). */
const PARAM_BITS = 20;

/** Noise for one query: its sampler and its description. */
export interface NoiseSpec {
  readonly sample: IntegerSampler;
  readonly budgetEps: number | null;
  readonly budgetRho: number | null;
  readonly param: string;
  /** In lattice units. */
  readonly scale: number;
  readonly sd: number;
  readonly halfWidth95: number;
  readonly halfWidth975: number;
}

export function makeNoise(plan: DpPlan, budget: number, l1: number, l2Squared: bigint): NoiseSpec {
  const b = rationalFromNumber(budget * BUDGET_SHAVE);
  if (plan.mechanism === 'discrete-laplace') {
    // scale t >= L1 / eps  =>  the query is eps-DP (discrete Laplace mechanism, CKS 2020 / Ghosh et al. 2009).
    const t: Rational = roundUp(ratDiv(rational(BigInt(l1)), b), PARAM_BITS);
    const tn = ratToNumber(t);
    return {
      sample: makeDiscreteLaplace(t),
      budgetEps: budget,
      budgetRho: null,
      param: `scale=${ratToString(t)}`,
      scale: tn,
      sd: Math.sqrt(discreteLaplaceVariance(tn)),
      halfWidth95: discreteLaplaceHalfWidth(tn, 0.95),
      halfWidth975: discreteLaplaceHalfWidth(tn, 0.975),
    };
  }
  // sigma^2 >= L2^2 / (2 rho)  =>  the query is rho-zCDP (CKS 2020 Theorem 4).
  const s2: Rational = roundUp(ratDiv(rational(l2Squared), { num: 2n * b.num, den: b.den }), PARAM_BITS);
  const s2n = ratToNumber(s2);
  return {
    sample: makeDiscreteGaussian(s2),
    budgetEps: null,
    budgetRho: budget,
    param: `sigma2=${ratToString(s2)}`,
    scale: Math.sqrt(s2n),
    sd: Math.sqrt(discreteGaussianVariance(s2n)),
    halfWidth95: discreteGaussianHalfWidth(s2n, 0.95),
    halfWidth975: discreteGaussianHalfWidth(s2n, 0.975),
  };
}

export function queryAccounting(
  quantity: DpQueryAccounting['quantity'],
  n: NoiseSpec,
  l1: number,
  l2: number,
  unit: number,
): DpQueryAccounting {
  return Object.freeze({
    quantity,
    epsilon: n.budgetEps,
    rho: n.budgetRho,
    l1Sensitivity: l1 * unit,
    l2Sensitivity: l2 * unit,
    noiseScale: n.scale * unit,
    noiseSd: n.sd * unit,
    halfWidth95: n.halfWidth95 * unit,
    granularity: unit,
    noiseParameter: n.param,
  });
}

export function safeNoise(x: bigint): number {
  const v = Number(x);
  if (!Number.isSafeInteger(v))
    throw new StatguardError(
      'ARITHMETIC_OVERFLOW',
      'a noise draw exceeds the safe integer range (noise scale too large)',
    );
  return v;
}

/** Exact input, validated without ever quoting it. */
export function exactInt(table: TablePlan, i: number, v: number, what: string): number {
  if (!Number.isSafeInteger(v)) {
    throw new StatguardError(
      'ARITHMETIC_OVERFLOW',
      `table ${table.id}: the exact ${what} of cell ${i} is not a safe integer`,
      { path: `/tables/${table.id}/cells/${i}` },
    );
  }
  return v;
}
