/**
 * The clean-up's insider check (cleanup.ts): whether a removal lets an insider of the components around it expose
 * another unit's sensitive cell.
 *
 * Guarantee: true whenever the insider audit (insiders.ts) of the components reachable from the removed cells, up to
 * INSIDER_NEAR_MAX_CELLS suppressed cells, finds an exposure; beyond that size false, and the heuristic's full audit
 * after the clean-up judges and repairs the pattern.
 */
import { insiderExposures } from './insiders.ts';
import type { InsiderAuditInput } from './insiders.ts';

/**
 * The clean-up's check of a trial pattern (cells `drop` just published): whether an insider of the components around
 * the dropped cells exposes another unit's sensitive cell. A removal changes only those components (the others keep
 * their cells and relations), so insiders elsewhere see what they saw before. Components are collected by a walk from
 * the dropped cells' relations through suppressed cells, up to INSIDER_NEAR_MAX_CELLS; beyond it (the exact LPs there
 * cost seconds) the removal is not judged here: the heuristic's full audit after the clean-up judges and repairs it.
 */
export async function insiderExposedNear(
  inp: Omit<InsiderAuditInput, 'comps' | 'failFast' | 'duals'>,
  drop: readonly number[],
): Promise<boolean> {
  const { sys, suppressed } = inp;
  const seen = new Set<number>();
  const rels = new Set<number>();
  const queue: number[] = [];
  const visit = (ri: number): void => {
    if (rels.has(ri)) return;
    rels.add(ri);
    for (const c of sys.relations[ri]!.cells)
      if (suppressed[c] && !seen.has(c)) {
        seen.add(c);
        queue.push(c);
      }
  };
  for (const d of drop) for (const ri of sys.cellRelations[d]!) visit(ri);
  while (queue.length > 0) {
    if (seen.size > INSIDER_NEAR_MAX_CELLS) return false;
    for (const ri of sys.cellRelations[queue.pop()!]!) visit(ri);
  }
  const cells = [...seen];
  if (!cells.some((c) => sys.units[c] === 1)) return false;
  // One component record for all of them: insiderExposures splits it again without each insider's cell.
  const relations = [...rels].filter((ri) => sys.relations[ri]!.cells.some((c) => suppressed[c]));
  const r = await insiderExposures({ ...inp, comps: [{ cells, relations }], failFast: true });
  return r.exposures.length > 0;
}

/** Suppressed cells the clean-up's insider check walks at most around a removal (as EXACT_AUDIT_MAX_CELLS, audit.ts). */
export const INSIDER_NEAR_MAX_CELLS = 2000;
