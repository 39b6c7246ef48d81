/**
 * Sensitive cells and what protecting them means.
 *
 * Guarantee: `protectionTargets` is the one definition of a cell's requirement that the audit judges by: the
 * attacker's interval must reach `value + upper` and `value - lower`, each capped at the cell's a priori bounds, within
 * the audit tolerance. `requiredMovement` is the same requirement as movements, for witness searches.
 */
import type { CellSystem } from './relations.ts';
import { tolerance } from './tolerance.ts';

/** A sensitive (primary) cell with its required protection, internal units. */
export interface SensitiveCell {
  readonly id: number;
  readonly upper: number;
  readonly lower: number;
}

/** Sensitive cells by id; a cell listed twice (several rules, linked tables) keeps the larger protection each way. */
export function mergeSensitive(sensitive: readonly SensitiveCell[]): Map<number, SensitiveCell> {
  const sens = new Map<number, SensitiveCell>();
  for (const s of sensitive) {
    const prev = sens.get(s.id);
    sens.set(s.id, prev ? { id: s.id, upper: Math.max(prev.upper, s.upper), lower: Math.max(prev.lower, s.lower) } : s);
  }
  return sens;
}

/**
 * What the audit requires of a sensitive cell: its attacker interval must reach `needUp` and `needDown` (protection
 * capped at the a priori bounds), compared within `tol`.
 */
export function protectionTargets(
  sys: CellSystem,
  s: SensitiveCell,
): { needUp: number; needDown: number; tol: number } {
  const a = sys.value[s.id]!;
  return {
    needUp: Math.min(a + s.upper, sys.upper[s.id]!),
    needDown: Math.max(a - s.lower, sys.lower[s.id]!),
    tol: tolerance(Math.abs(a) + Math.max(s.upper, s.lower)),
  };
}

/**
 * Movement a sensitive cell needs in each direction (protection capped at the a priori bounds, as the audit judges
 * it) and the audit's tolerance for it.
 */
export function requiredMovement(
  sys: CellSystem,
  s: { id: number; upper: number; lower: number },
): { up: number; down: number; tol: number } {
  const a = sys.value[s.id]!;
  const t = protectionTargets(sys, s);
  return { up: Math.max(0, t.needUp - a), down: Math.max(0, a - t.needDown), tol: t.tol };
}
