/**
 * Defensive readers of a raw (unvalidated) policy document and JSON pointers, for the semantic checks.
 *
 * Guarantee: the readers never throw; a value of the wrong type reads as absent (undefined, or an empty array).
 */

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}
export function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}
/** JSON pointer from segments. */
export function ptr(...segs: (string | number)[]): string {
  return segs.map((s) => `/${escapePointer(String(s))}`).join('');
}

/**
 * value * 10^decimals as an exact safe integer, or null when the value has
 * more decimals than kept or the scaled value exceeds 2^53. Decimal string
 * arithmetic avoids float error (0.1 * 10 is exact only by luck).
 */
export function scaleExact(value: number, decimals: number): number | null {
  if (!Number.isFinite(value)) return null;
  const s = value.toString();
  if (/e/i.test(s)) {
    // Exponent form: only accept when the float product is an integer and exact.
    const r = value * 10 ** decimals;
    return Number.isSafeInteger(r) && r / 10 ** decimals === value ? r : null;
  }
  const neg = s.startsWith('-');
  const [intPart, frac = ''] = (neg ? s.slice(1) : s).split('.');
  if (frac.length > decimals) return null;
  const digits = `${intPart}${frac.padEnd(decimals, '0')}`;
  const n = Number(digits) * (neg ? -1 : 1);
  return Number.isSafeInteger(n) ? (Object.is(n, -0) ? 0 : n) : null;
}
