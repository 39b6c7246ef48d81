/**
 * Exact non-negative rationals (BigInt numerator / denominator) for noise
 * parameters. Samplers only ever see rationals, so no floating-point rounding
 * enters a noise distribution.
 *
 * Converting a JS number:
 * - `rationalFromNumber(x)` is EXACT: every finite double is a dyadic rational
 *   m / 2^e, and we return exactly that.
 * - `rationalAtLeast(x, bits)` returns ceil(x * 2^bits) / 2^bits >= x, the
 *   smallest multiple of 2^-bits not below x. Use it for a noise SCALE (or a
 *   variance): rounding a scale up can only add noise, so the privacy cost of
 *   the mechanism is at most the one computed for x.
 * - `roundUp(r, bits)` does the same for a rational that is already exact
 *   (e.g. L1 / epsilon computed exactly), keeping numbers small for speed.
 */
import { StatguardError } from '../errors.ts';

export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A reduced rational num/den (den > 0). */
export function rational(num: bigint, den: bigint = 1n): Rational {
  if (den === 0n) throw new StatguardError('USAGE', 'rational denominator must not be zero');
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const g = gcd(num, den);
  return g > 1n ? Object.freeze({ num: num / g, den: den / g }) : Object.freeze({ num, den });
}

/** The exact value of a finite JS number as a rational (dyadic: den is a power of two). */
export function rationalFromNumber(x: number): Rational {
  if (!Number.isFinite(x)) throw new StatguardError('USAGE', `cannot convert ${x} to a rational`);
  // Multiplying by 2 is exact for doubles (no overflow below 2^1023 here since
  // we stop as soon as the value is an integer, at most 1074 doublings).
  let e = 0;
  let y = x;
  while (!Number.isInteger(y)) {
    y *= 2;
    e++;
  }
  return rational(BigInt(y), 1n << BigInt(e));
}

/** Smallest multiple of 2^-bits that is >= x (x finite): errs on the side of MORE noise when x is a scale. */
export function rationalAtLeast(x: number, bits = 20): Rational {
  return roundUp(rationalFromNumber(x), bits);
}

/** Smallest multiple of 2^-bits that is >= r. */
export function roundUp(r: Rational, bits = 20): Rational {
  const scale = 1n << BigInt(bits);
  const n = r.num * scale;
  let q = n / r.den; // truncates toward zero
  if (q * r.den < n) q += 1n; // ceil for positive values
  return rational(q, scale);
}

export function ratMul(a: Rational, b: Rational): Rational {
  return rational(a.num * b.num, a.den * b.den);
}

export function ratDiv(a: Rational, b: Rational): Rational {
  if (b.num === 0n) throw new StatguardError('USAGE', 'division of a rational by zero');
  return rational(a.num * b.den, a.den * b.num);
}

/** Nearest double of a rational (for reporting; never used inside a sampler). */
export function ratToNumber(r: Rational): number {
  let { num, den } = r;
  const neg = num < 0n;
  if (neg) num = -num;
  // Scale both down if huge so Number() does not overflow; keep 64 bits of precision.
  const nb = num.toString(2).length;
  const db = den.toString(2).length;
  const shift = Math.max(nb, db) - 1000;
  if (shift > 0) {
    num >>= BigInt(shift);
    den >>= BigInt(shift);
    if (den === 0n) return neg ? -Infinity : Infinity;
  }
  // Integer part exactly, then the fraction.
  const ip = num / den;
  const fp = num % den;
  const frac = Number((fp << 64n) / den) / 2 ** 64;
  const v = Number(ip) + frac;
  return neg ? -v : v;
}

/** floor(sqrt(n)) for n >= 0 (Newton iteration on BigInt). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new StatguardError('USAGE', 'isqrt of a negative number');
  if (n < 2n) return n;
  if (n < 1n << 52n) {
    // Float estimate is within 1 of the root; fix it up exactly.
    let r = BigInt(Math.floor(Math.sqrt(Number(n))));
    while (r * r > n) r -= 1n;
    while ((r + 1n) * (r + 1n) <= n) r += 1n;
    return r;
  }
  // Newton iteration from a start above the root decreases monotonically to floor(sqrt(n)).
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function ratToString(r: Rational): string {
  return r.den === 1n ? r.num.toString() : `${r.num}/${r.den}`;
}
