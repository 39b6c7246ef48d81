/**
 * Exact samplers for discrete noise, following Canonne, Kamath & Steinke,
 * "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020; arXiv
 * 2004.00010), Algorithms 1-3. Every parameter is a rational (BigInt numerator
 * and denominator) and every random choice is a uniform integer drawn by
 * rejection sampling (engine/random.ts), so the output distributions are EXACTLY the
 * stated ones: no floating-point arithmetic touches a sample (cf. Mironov
 * 2012 on float Laplace noise).
 *
 * Hot paths run on JS numbers whenever every intermediate integer is below
 * 2^53 (exact in doubles) and fall back to BigInt otherwise; both paths
 * implement the same algorithm on exact integers.
 */
import type { RandomSource } from '../types.ts';
import { StatguardError } from '../errors.ts';
import { readerFor, type RandomReader } from '../random.ts';
import { isqrt, rational, type Rational } from './rational.ts';

const TWO32 = 0x100000000;
const TWO32N = 0x100000000n;
const TWO53N = 1n << 53n;

/* ------------------------------------------------------------------ */
/* Uniforms and Bernoulli on exact rationals                           */
/* ------------------------------------------------------------------ */

/** Uniform integer in [0, n) for an integer 1 <= n <= 2^53 (rejection sampling, exact). */
function uniformSafe(r: RandomReader, n: number): number {
  if (n <= TWO32) return r.uniformInt(n);
  // n in (2^32, 2^53]: n - 1 has 32 + hiBits bits; draw hiBits high bits and 32 low bits, reject >= n.
  const hiPart = Math.floor((n - 1) / TWO32); // exact: division by a power of two
  const hiBits = 32 - Math.clz32(hiPart);
  const hiMask = hiBits === 32 ? 0xffffffff : (1 << hiBits) - 1;
  for (;;) {
    const x = ((r.uint32() & hiMask) >>> 0) * TWO32 + r.uint32();
    if (x < n) return x;
  }
}

/** Bernoulli(num/den) for integers 0 <= num <= den, den <= 2^53: U uniform in [0, den), return U < num. Exact. */
function bernoulliNum(r: RandomReader, num: number, den: number): boolean {
  return uniformSafe(r, den) < num;
}

/** Bernoulli(num/den) on BigInts: U uniform in [0, den), return U < num. Exact. */
function bernoulliBig(r: RandomReader, num: bigint, den: bigint): boolean {
  if (den <= TWO53N) return uniformSafe(r, Number(den)) < Number(num);
  return r.uniformBigInt(den) < num;
}

/**
 * Bernoulli(exp(-n/d)) for 0 <= n <= d (gamma in [0,1]), CKS Algorithm 1:
 * K <- 1; while Bernoulli(gamma/K) = 1: K <- K+1; return K odd.
 * Why: P(K > k) = gamma^k / k!, so P(K odd) = sum_k (-gamma)^k/k! = exp(-gamma).
 */
function bernExpNegUnitNum(r: RandomReader, n: number, d: number): boolean {
  let k = 1;
  // d*k stays exact: d <= 2^32 and k is tiny (P(K > k) = gamma^k/k!).
  while (d * k <= 2 ** 53 && bernoulliNum(r, n, d * k)) k++;
  if (d * k > 2 ** 53) return bernExpNegUnitBigLoop(r, BigInt(n), BigInt(d), k);
  return (k & 1) === 1;
}

function bernExpNegUnitBig(r: RandomReader, n: bigint, d: bigint): boolean {
  if (d <= TWO32N) return bernExpNegUnitNum(r, Number(n), Number(d));
  return bernExpNegUnitBigLoop(r, n, d, 1);
}

function bernExpNegUnitBigLoop(r: RandomReader, n: bigint, d: bigint, k0: number): boolean {
  let k = k0;
  while (bernoulliBig(r, n, d * BigInt(k))) k++;
  return (k & 1) === 1;
}

/**
 * Bernoulli(exp(-gamma)) for rational gamma = num/den >= 0. For gamma > 1
 * (CKS Algorithm 1, second part): exp(-gamma) = exp(-1)^floor(gamma) *
 * exp(-(gamma - floor(gamma))); draw floor(gamma) independent Bernoulli(exp(-1))
 * (stop at the first 0) and then Bernoulli(exp(-frac)). Exact product of
 * independent events.
 */
function bernExpNeg(r: RandomReader, num: bigint, den: bigint): boolean {
  if (num === 0n) return true;
  if (num <= den) return bernExpNegUnitBig(r, num, den);
  const q = num / den;
  const rem = num - q * den;
  for (let i = 0n; i < q; i++) if (!bernExpNegUnitNum(r, 1, 1)) return false;
  return rem === 0n ? true : bernExpNegUnitBig(r, rem, den);
}

function checkProbability(p: Rational, what: string): void {
  if (p.den <= 0n || p.num < 0n || p.num > p.den)
    throw new StatguardError('USAGE', `${what} must be a rational in [0, 1]`);
}

function checkPositive(x: Rational, what: string): void {
  if (x.den <= 0n || x.num <= 0n) throw new StatguardError('USAGE', `${what} must be a positive rational`);
}

/** Bernoulli(p) for a rational p in [0, 1]; exact. */
export function sampleBernoulli(rng: RandomSource, p: Rational): boolean {
  checkProbability(p, 'Bernoulli probability');
  return bernoulliBig(readerFor(rng), p.num, p.den);
}

/** Bernoulli(exp(-gamma)) for a rational gamma >= 0; exact (CKS Algorithm 1). */
export function sampleBernoulliExp(rng: RandomSource, gamma: Rational): boolean {
  if (gamma.den <= 0n || gamma.num < 0n)
    throw new StatguardError('USAGE', 'Bernoulli(exp(-gamma)) needs a rational gamma >= 0');
  return bernExpNeg(readerFor(rng), gamma.num, gamma.den);
}

/* ------------------------------------------------------------------ */
/* Geometric and discrete Laplace (CKS Algorithm 2)                    */
/* ------------------------------------------------------------------ */

/*
 * With scale = t/s (t, s positive integers):
 *   U uniform in {0..t-1}; accept with Bernoulli(exp(-U/t)) (else restart);
 *   V <- number of successes of Bernoulli(exp(-1)) before the first failure;
 *   X <- U + t*V  is geometric: P(X = x) proportional to exp(-x/t);
 *   Y <- floor(X/s) is geometric: P(Y = y) proportional to exp(-y*s/t).
 * Discrete Laplace: B fair bit; reject (B = 1, Y = 0) (so 0 is not counted
 * twice); return (1-2B)*Y, with P(Z = z) proportional to exp(-|z| s/t).
 */

function geometricNum(r: RandomReader, t: number, s: number): number {
  for (;;) {
    const u = r.uniformInt(t);
    if (!bernExpNegUnitNum(r, u, t)) continue;
    let v = 0;
    while (bernExpNegUnitNum(r, 1, 1)) v++;
    const x = u + t * v;
    if (!Number.isSafeInteger(x)) return Number(geomTail(BigInt(u), BigInt(t), BigInt(v), BigInt(s)));
    return (x - (x % s)) / s; // exact floor(x/s) for non-negative safe integers
  }
}

function geomTail(u: bigint, t: bigint, v: bigint, s: bigint): bigint {
  return (u + t * v) / s;
}

function geometricBig(r: RandomReader, t: bigint, s: bigint): bigint {
  if (t <= TWO32N && s <= TWO32N) return BigInt(geometricNum(r, Number(t), Number(s)));
  for (;;) {
    const u = r.uniformBigInt(t);
    if (!bernExpNegUnitBig(r, u, t)) continue;
    let v = 0n;
    while (bernExpNegUnitNum(r, 1, 1)) v++;
    return (u + t * v) / s;
  }
}

function discreteLaplaceNum(r: RandomReader, t: number, s: number): number {
  for (;;) {
    const y = geometricNum(r, t, s);
    const neg = r.bit();
    if (neg && y === 0) continue; // reject -0
    return neg ? -y : y;
  }
}

function discreteLaplaceBig(r: RandomReader, t: bigint, s: bigint): bigint {
  for (;;) {
    const y = geometricBig(r, t, s);
    const neg = r.bit();
    if (neg && y === 0n) continue; // reject -0
    return neg ? -y : y;
  }
}

/** A sampler bound to its (validated, preprocessed) parameters; draws from the given source. */
export type IntegerSampler = (rng: RandomSource) => bigint;

/**
 * Geometric on {0, 1, ...} with P(Y = y) = (1 - q) q^y, q = exp(-1/scale);
 * exact (CKS Algorithm 2, magnitude part).
 */
export function makeGeometric(scale: Rational): IntegerSampler {
  checkPositive(scale, 'geometric scale');
  const { num: t, den: s } = rational(scale.num, scale.den);
  if (t <= TWO32N && s <= TWO32N) {
    const tn = Number(t);
    const sn = Number(s);
    return (rng) => BigInt(geometricNum(readerFor(rng), tn, sn));
  }
  return (rng) => geometricBig(readerFor(rng), t, s);
}

/**
 * Discrete Laplace with scale b = t/s: P(Z = z) = (1 - q)/(1 + q) q^|z|,
 * q = exp(-1/b); exact (CKS Algorithm 2). Adding it to an integer query of L1
 * sensitivity D gives (D/b)-DP (pure), as for the continuous Laplace.
 */
export function makeDiscreteLaplace(scale: Rational): IntegerSampler {
  checkPositive(scale, 'discrete Laplace scale');
  const { num: t, den: s } = rational(scale.num, scale.den);
  if (t <= TWO32N && s <= TWO32N) {
    const tn = Number(t);
    const sn = Number(s);
    return (rng) => BigInt(discreteLaplaceNum(readerFor(rng), tn, sn));
  }
  return (rng) => discreteLaplaceBig(readerFor(rng), t, s);
}

/* ------------------------------------------------------------------ */
/* Discrete Gaussian (CKS Algorithm 3)                                 */
/* ------------------------------------------------------------------ */

/**
 * Discrete Gaussian with variance parameter sigma^2 = n/d:
 * P(Z = z) proportional to exp(-z^2 / (2 sigma^2)); exact (CKS Algorithm 3).
 *   t <- floor(sigma) + 1;
 *   loop: Y <- discrete Laplace with scale t;
 *         C <- Bernoulli(exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)));
 *         if C = 1 return Y.
 * In integers: gamma = (|Y| d t - n)^2 / (2 n d t^2).
 * Adding it to an integer query of L2 sensitivity D gives rho-zCDP with
 * rho = D^2 / (2 sigma^2) (CKS Theorem 4).
 */
export function makeDiscreteGaussian(sigma2: Rational): IntegerSampler {
  checkPositive(sigma2, 'discrete Gaussian sigma^2');
  const { num: n, den: d } = rational(sigma2.num, sigma2.den);
  const t = isqrt(n / d) + 1n; // floor(sqrt(n/d)) = isqrt(floor(n/d)) since k^2 <= n/d iff k^2 <= floor(n/d)
  const gammaDen = 2n * n * d * t * t;
  const dt = d * t;
  const lap = makeDiscreteLaplace(rational(t, 1n));
  return (rng) => {
    const r = readerFor(rng);
    for (;;) {
      const y = lap(rng);
      const a = (y < 0n ? -y : y) * dt - n;
      if (bernExpNeg(r, a * a, gammaDen)) return y;
    }
  };
}

/** One discrete Laplace draw with rational scale (see makeDiscreteLaplace). */
export function sampleDiscreteLaplace(rng: RandomSource, scale: Rational): bigint {
  return makeDiscreteLaplace(scale)(rng);
}

/** One discrete Gaussian draw with rational sigma^2 (see makeDiscreteGaussian). */
export function sampleDiscreteGaussian(rng: RandomSource, sigma2: Rational): bigint {
  return makeDiscreteGaussian(sigma2)(rng);
}

/** One geometric draw (see makeGeometric). */
export function sampleGeometric(rng: RandomSource, scale: Rational): bigint {
  return makeGeometric(scale)(rng);
}

/** Number conveniences (throw if the draw is not a safe integer, which needs an absurd scale). */
export function toSafeNumber(x: bigint): number {
  const v = Number(x);
  if (!Number.isSafeInteger(v))
    throw new StatguardError('ARITHMETIC_OVERFLOW', 'noise draw exceeds the safe integer range');
  return v;
}

export function sampleDiscreteLaplaceNumber(rng: RandomSource, scale: Rational): number {
  return toSafeNumber(sampleDiscreteLaplace(rng, scale));
}

export function sampleDiscreteGaussianNumber(rng: RandomSource, sigma2: Rational): number {
  return toSafeNumber(sampleDiscreteGaussian(rng, sigma2));
}
