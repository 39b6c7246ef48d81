/**
 * The audit's numerical tolerance.
 *
 * Guarantee: the audit, the witness checks and the searches compare within this one relative tolerance, so a search
 * never counts on a margin the audit would not grant.
 */

/** Relative numerical tolerance of the audit (LP optima and witness capacities are compared within it). */
export const AUDIT_TOLERANCE = 1e-6;

export function tolerance(scale: number): number {
  return AUDIT_TOLERANCE * Math.max(1, Math.abs(scale));
}
