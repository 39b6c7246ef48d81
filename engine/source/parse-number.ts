/**
 * Strict number parsing for microdata fields. No whitespace, no thousands
 * separators, no hex, no 'Infinity'/'NaN': anything but plain decimal notation
 * is rejected (returns NaN) so that '12abc' or '' never becomes a number.
 */
const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const PARTS_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Integer syntax only ([+-]digits); NaN otherwise or when beyond the safe integer range. */
export function parseStrictInteger(raw: string): number {
  if (!INT_RE.test(raw)) return NaN;
  const v = Number(raw);
  return Number.isSafeInteger(v) ? v : NaN;
}

/** Decimal notation (optional fraction and exponent); NaN otherwise or when not finite. */
export function parseStrictNumber(raw: string): number {
  if (!NUM_RE.test(raw)) return NaN;
  const v = Number(raw);
  return Number.isFinite(v) ? v : NaN;
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * round(value * 10^decimals) computed exactly from the decimal digits of
 * `raw` (no binary floating-point step), rounding half away from zero:
 * '1.005' with 2 decimals gives 101, '-2.5' with 0 decimals gives -3.
 * Returns NaN for malformed input (or a fraction/exponent when integerOnly).
 * Results beyond 2^53 are returned approximately (they are far outside any
 * clamping bound, so clamping makes them exact again); non-finite gives NaN.
 */
export function parseScaled(raw: string, decimals: number, integerOnly: boolean): number {
  if (INT_RE.test(raw)) {
    const v = Number(raw) * POW10[decimals]!;
    if (Number.isSafeInteger(v)) return v;
    if (integerOnly && !Number.isFinite(v)) return NaN;
  } else if (integerOnly) {
    return NaN;
  }
  const m = PARTS_RE.exec(raw);
  if (m === null) return NaN;
  const sign = m[1] === '-' ? -1 : 1;
  const intDigits = m[2] ?? '';
  const fracDigits = m[3] ?? '';
  if (intDigits.length + fracDigits.length === 0) return NaN;
  const exp = m[4] !== undefined ? Number(m[4]) : 0;
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 400) return NaN;
  const digits = (intDigits + fracDigits).replace(/^0+(?=\d)/, '');
  const shift = exp - fracDigits.length + decimals; // scaled = digits * 10^shift
  let mag: number;
  if (shift >= 0) {
    mag = Number(digits + '0'.repeat(Math.min(shift, 400)));
  } else {
    const cut = digits.length + shift; // digits kept before the decimal point
    if (cut < 0) {
      mag = 0;
    } else {
      const kept = cut === 0 ? 0 : Number(digits.slice(0, cut));
      const first = digits.charCodeAt(cut) - 48; // first dropped digit decides (half away from zero)
      mag = first >= 5 ? kept + 1 : kept;
    }
  }
  if (!Number.isFinite(mag)) return NaN;
  return sign * mag + 0; // + 0 turns -0 into 0
}
