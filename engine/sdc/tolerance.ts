/** Relative numerical tolerance of the audit (LP optima and witness capacities are compared within it). */
export const AUDIT_TOLERANCE = 1e-6;

export function tolerance(scale: number): number {
  return AUDIT_TOLERANCE * Math.max(1, Math.abs(scale));
}
