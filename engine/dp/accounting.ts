/**
 * Privacy accounting and accuracy of the discrete mechanisms.
 *
 * Privacy:
 * - Discrete Gaussian with variance parameter sigma^2 on a query of L2
 *   sensitivity D is rho-zCDP with rho = D^2 / (2 sigma^2) (Canonne, Kamath,
 *   Steinke 2020, Theorem 4).
 * - Pure epsilon-DP implies (epsilon^2 / 2)-zCDP (Bun & Steinke 2016, Prop. 1.4).
 * - zCDP composes additively.
 * - rho-zCDP implies (epsilon, delta)-DP for the epsilon given by CKS 2020,
 *   Corollary 13: delta = min over alpha > 1 of
 *   exp((alpha-1)(alpha rho - epsilon)) (1 - 1/alpha)^alpha / (alpha - 1).
 *   Solved for epsilon at a given alpha:
 *   eps(alpha) = alpha rho + (log(1/delta) + (alpha-1) log(1-1/alpha) - log(alpha)) / (alpha-1);
 *   every alpha > 1 gives a valid epsilon, so the numerical minimiser below
 *   is safe even when it misses the exact optimum (it only reports a larger,
 *   still valid epsilon).
 *
 * Accuracy (computed from the exact discrete pmfs, not from continuous
 * approximations): noise standard deviation and the 95% half-width w, the
 * smallest integer with P(|X| <= w) >= 0.95.
 */
import { StatguardError } from '../errors.ts';

/** rho of the discrete Gaussian mechanism: Delta2^2 / (2 sigma^2). */
export function rhoFromDiscreteGaussian(l2Sensitivity: number, sigma2: number): number {
  if (!(l2Sensitivity >= 0) || !(sigma2 > 0))
    throw new StatguardError('USAGE', 'rho needs L2 sensitivity >= 0 and sigma^2 > 0');
  return (l2Sensitivity * l2Sensitivity) / (2 * sigma2);
}

/** epsilon of the discrete Laplace mechanism with scale b on a query of L1 sensitivity D: D / b. */
export function epsilonFromDiscreteLaplace(l1Sensitivity: number, scale: number): number {
  if (!(l1Sensitivity >= 0) || !(scale > 0))
    throw new StatguardError('USAGE', 'epsilon needs L1 sensitivity >= 0 and scale > 0');
  return l1Sensitivity / scale;
}

/** Pure epsilon-DP implies rho-zCDP with rho = epsilon^2 / 2. */
export function pureDpToRho(epsilon: number): number {
  if (!(epsilon >= 0) || !Number.isFinite(epsilon))
    throw new StatguardError('USAGE', 'epsilon must be a finite number >= 0');
  return (epsilon * epsilon) / 2;
}

/** epsilon(alpha) from CKS 2020 Corollary 13 (valid for every alpha > 1). */
export function zcdpEpsilonAt(rho: number, delta: number, alpha: number): number {
  const am1 = alpha - 1;
  return alpha * rho + (Math.log(1 / delta) + am1 * Math.log1p(-1 / alpha) - Math.log(alpha)) / am1;
}

/**
 * The epsilon at which rho-zCDP implies (epsilon, delta)-DP (CKS 2020, Cor. 13),
 * minimised numerically over alpha > 1 (grid on log(alpha - 1), then golden
 * section). Also never above the classical bound rho + 2 sqrt(rho log(1/delta))
 * (Bun & Steinke 2016), which is valid too.
 * Check: rho = 2.556, delta = 1e-10 gives epsilon ~ 17.14.
 */
export function zcdpToApproxDp(rho: number, delta: number): number {
  if (!(rho >= 0) || !Number.isFinite(rho)) throw new StatguardError('USAGE', 'rho must be a finite number >= 0');
  if (!(delta > 0 && delta < 1)) throw new StatguardError('USAGE', 'delta must be in (0, 1)');
  if (rho === 0) return 0;
  // Pure function of public parameters, ~0.2 ms per call (800 grid points): memoised, since protectDp calls it on every run.
  const key = `${rho}:${delta}`;
  const hit = conversionMemo.get(key);
  if (hit !== undefined) return hit;
  const v = zcdpToApproxDpUncached(rho, delta);
  if (conversionMemo.size >= 1024) conversionMemo.delete(conversionMemo.keys().next().value!);
  conversionMemo.set(key, v);
  return v;
}

const conversionMemo = new Map<string, number>();

function zcdpToApproxDpUncached(rho: number, delta: number): number {
  const f = (x: number): number => zcdpEpsilonAt(rho, delta, 1 + Math.exp(x));
  // Grid over alpha - 1 in [e^-20, e^20].
  let bestX = 0;
  let best = Infinity;
  const step = 0.05;
  for (let x = -20; x <= 20; x += step) {
    const v = f(x);
    if (v < best) {
      best = v;
      bestX = x;
    }
  }
  // Golden-section refinement inside the bracket around the grid minimum.
  let a = bestX - step;
  let b = bestX + step;
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 80; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  best = Math.min(best, fc, fd);
  const classical = rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
  return Math.max(0, Math.min(best, classical));
}

/* ------------------------------------------------------------------ */
/* Discrete Laplace: P(X = x) = (1-q)/(1+q) q^|x|, q = exp(-1/t)        */
/* ------------------------------------------------------------------ */

function checkScale(t: number): void {
  if (!(t > 0) || !Number.isFinite(t)) throw new StatguardError('USAGE', 'noise scale must be a finite number > 0');
}

function checkLevel(level: number): void {
  if (!(level > 0 && level < 1)) throw new StatguardError('USAGE', 'confidence level must be in (0, 1)');
}

/** Exact pmf of the discrete Laplace with scale t. */
export function discreteLaplacePmf(t: number, x: number): number {
  checkScale(t);
  const oneMinusQ = -Math.expm1(-1 / t);
  const q = Math.exp(-1 / t);
  return (oneMinusQ / (1 + q)) * Math.exp(-Math.abs(x) / t);
}

/** Variance of the discrete Laplace with scale t: 2q / (1-q)^2, q = exp(-1/t). */
export function discreteLaplaceVariance(t: number): number {
  checkScale(t);
  const q = Math.exp(-1 / t);
  const oneMinusQ = -Math.expm1(-1 / t);
  return (2 * q) / (oneMinusQ * oneMinusQ);
}

/**
 * Smallest integer w >= 0 with P(|X| <= w) >= level for the discrete Laplace
 * with scale t. From the pmf: P(|X| > w) = 2 sum_{x > w} p(x) = 2 q^(w+1) / (1+q)
 * (geometric series), evaluated in logs: log 2 - (w+1)/t - log(1+q).
 */
export function discreteLaplaceHalfWidth(t: number, level = 0.95): number {
  checkScale(t);
  checkLevel(level);
  const logAlpha = Math.log(1 - level);
  const logTail = (w: number): number => Math.LN2 - (w + 1) / t - Math.log1p(Math.exp(-1 / t));
  // Closed-form start, then fix up against the exact inequality.
  let w = Math.max(0, Math.ceil(t * (Math.LN2 - Math.log1p(Math.exp(-1 / t)) - logAlpha)) - 1);
  while (w > 0 && logTail(w - 1) <= logAlpha) w--;
  while (logTail(w) > logAlpha) w++;
  return w;
}

/* ------------------------------------------------------------------ */
/* Discrete Gaussian: P(X = x) = exp(-x^2/(2 s2)) / Z                  */
/* ------------------------------------------------------------------ */

/** sigma above which sums are replaced by identities exact to double precision (see below). */
const DIRECT_SUM_MAX_SIGMA = 1000;
/** sigma above which the cumulative sum uses Euler-Maclaurin (error O(sigma^-3), negligible). */
const DIRECT_CDF_MAX_SIGMA = 1e6;

function checkSigma2(s2: number): void {
  if (!(s2 > 0) || !Number.isFinite(s2))
    throw new StatguardError('USAGE', 'discrete Gaussian sigma^2 must be a finite number > 0');
}

/** Terms |x| > 12 sigma + 10 are below exp(-72) of the mode: outside double precision of the sums. */
function sumBound(s2: number): number {
  return Math.ceil(12 * Math.sqrt(s2)) + 10;
}

/**
 * Normaliser Z = sum_x exp(-x^2/(2 s2)). Direct summation for sigma <= 1000;
 * above, the Poisson summation formula gives Z = sigma sqrt(2 pi) (1 + 2 sum_k
 * exp(-2 pi^2 sigma^2 k^2)), where the correction is below exp(-10^7): exactly
 * sigma sqrt(2 pi) in double precision.
 */
export function discreteGaussianNormaliser(s2: number): number {
  checkSigma2(s2);
  return remembered(normalisers, s2, () => normaliser(s2));
}

/**
 * The sums below are pure functions of s2 of up to sumBound(s2) terms each, asked for again on every table of every
 * release with the same noise (and 100,000 times by the empirical privacy test): the last few are remembered.
 */
const normalisers = new Map<number, number>();
const variances = new Map<number, number>();
const halfWidths = new Map<string, number>();
function remembered<K>(memo: Map<K, number>, key: K, f: () => number): number {
  let v = memo.get(key);
  if (v === undefined) {
    v = f();
    if (memo.size >= 64) memo.delete(memo.keys().next().value!);
    memo.set(key, v);
  }
  return v;
}

function normaliser(s2: number): number {
  const sigma = Math.sqrt(s2);
  if (sigma > DIRECT_SUM_MAX_SIGMA) return sigma * Math.sqrt(2 * Math.PI);
  const m = sumBound(s2);
  let z = 1;
  for (let x = m; x >= 1; x--) z += 2 * Math.exp(-(x * x) / (2 * s2)); // small terms first
  return z;
}

/** Exact normalised pmf of the discrete Gaussian with variance parameter s2. */
export function discreteGaussianPmf(s2: number): (x: number) => number {
  const z = discreteGaussianNormaliser(s2);
  return (x) => Math.exp(-(x * x) / (2 * s2)) / z;
}

/**
 * Variance sum_x x^2 p(x), by summing the pmf for sigma <= 1000. Above, the
 * Poisson summation formula gives variance = s2 (1 - O(sigma^2 exp(-2 pi^2
 * sigma^2))), i.e. s2 exactly in double precision.
 */
export function discreteGaussianVariance(s2: number): number {
  checkSigma2(s2);
  return remembered(variances, s2, () => variance(s2));
}

function variance(s2: number): number {
  const sigma = Math.sqrt(s2);
  if (sigma > DIRECT_SUM_MAX_SIGMA) return s2;
  const m = sumBound(s2);
  const z = discreteGaussianNormaliser(s2);
  let v = 0;
  for (let x = m; x >= 1; x--) v += 2 * x * x * Math.exp(-(x * x) / (2 * s2));
  return v / z;
}

/** erf by its Maclaurin series (|x| <= 3: relative error ~1e-13) or the continued fraction of erfc. */
function erf(x: number): number {
  if (x < 0) return -erf(-x);
  if (x <= 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), Lentz.
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = x + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = x + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 - Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/**
 * P(|X| <= w) for the discrete Gaussian. Direct summation of the pmf for
 * sigma <= 1e6. Above, Euler-Maclaurin on f(x) = exp(-x^2/(2 s2)):
 * sum_{|x|<=w} f = 2 int_0^w f + f(w) + f'(w)/6 + O(sigma^-3 f), i.e.
 * erf(w/(sigma sqrt 2)) + f(w)(1 - w/(6 s2))/Z with an error far below 1e-12.
 */
export function discreteGaussianCdfAbs(s2: number, w: number): number {
  checkSigma2(s2);
  if (w < 0) return 0;
  const sigma = Math.sqrt(s2);
  const z = discreteGaussianNormaliser(s2);
  if (sigma <= DIRECT_CDF_MAX_SIGMA) {
    let acc = 0;
    const top = Math.min(Math.floor(w), sumBound(s2));
    for (let x = top; x >= 1; x--) acc += 2 * Math.exp(-(x * x) / (2 * s2));
    return Math.min(1, (1 + acc) / z);
  }
  const fw = Math.exp(-(w * w) / (2 * s2));
  return Math.min(1, erf(w / (sigma * Math.SQRT2)) + (fw * (1 - w / (6 * s2))) / z);
}

/**
 * Smallest integer w >= 0 with P(|X| <= w) >= level for the discrete Gaussian.
 * Direct cumulative sum of the pmf for sigma <= 1e6; above, binary search on
 * the Euler-Maclaurin cdf with a 1e-12 safety margin (so the reported w never
 * undershoots).
 */
export function discreteGaussianHalfWidth(s2: number, level = 0.95): number {
  checkSigma2(s2);
  checkLevel(level);
  return remembered(halfWidths, `${s2}|${level}`, () => gaussianHalfWidth(s2, level));
}

function gaussianHalfWidth(s2: number, level: number): number {
  const sigma = Math.sqrt(s2);
  const z = discreteGaussianNormaliser(s2);
  if (sigma <= DIRECT_CDF_MAX_SIGMA) {
    // P(|X| <= w) = (1 + 2 sum_{x=1}^w f(x)) / Z; accumulate upward.
    let acc = 1;
    const target = level * z;
    let w = 0;
    while (acc < target) {
      w++;
      acc += 2 * Math.exp(-(w * w) / (2 * s2));
      if (w > sumBound(s2)) break;
    }
    return w;
  }
  let lo = 0;
  let hi = Math.ceil(20 * sigma);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (discreteGaussianCdfAbs(s2, mid) >= level + 1e-12) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
