/**
 * What an insider knows before anything is published, and the requirement the insider audit (insiders.ts) judges by.
 *
 * The public audit caps a sensitive cell's protection interval at its a priori bounds (sensitive.ts): a pattern
 * cannot hide what the attacker knows anyway. The insider (the lone contributor of a suppressed cell u, who knows u's
 * value) knows more a priori: with nothing published at all, u's value and the a priori bounds of the cells already
 * bound other cells. Issue 21's five-enterprise table: the contributor of (N, B) = 900 knows region N's total is at
 * least 900 (its own 900 plus non-negative others), while N's p% protection asked the interval to reach 885.5; and in
 * a three-enterprise table the contributor of one cell knows the other two's region total is at most the grand total
 * (an a priori bound) minus its own value. No pattern, not even every cell hidden, changes either, so the search found
 * nothing to add and refused a table it could not protect better. The insider's requirement is therefore capped at the
 * insider's a priori interval, as the public one is capped at the a priori bounds; the insider must still be left
 * that whole interval (e.g. N's total down to 900: the other contributors' share of it wholly unknown).
 *
 * Guarantee: `insiderRequirement` only ever relaxes the public requirement to an interval the insider knows with
 * nothing published; the prior is computed conservatively (every other cell hidden, cells of earlier releases too,
 * so the prior is never narrower than the insider's true one):
 * - the floor, in closed form, for every cell containing u's cell (containingCells, insider-cover.ts);
 * - in components of at most PRIOR_MAX_CELLS cells (with every cell but u hidden), the exact prior by LP, once per
 *   insider and cell and kept per cell system (it does not depend on the pattern). Beyond that size only the floor.
 */
import { AttackerLps } from './attacker-lp.ts';
import type { Component } from './components.ts';
import type { Deadline } from './deadline.ts';
import { insiderTargets } from './insider-cover.ts';
import type { CellSystem } from './relations.ts';
import type { SensitiveCell } from './sensitive.ts';

/** Components (every cell hidden but the insider's) up to this many cells get the insider's exact prior by LP. */
export const PRIOR_MAX_CELLS = 2000;

/** The insider's requirement for one target: reach needUp and needDown, compared within tol. */
export interface InsiderRequirement {
  readonly needUp: number;
  readonly needDown: number;
  readonly tol: number;
  /** The insider knows the cell exactly a priori (nothing a pattern could protect). */
  readonly knownApriori: boolean;
}

interface Prior {
  readonly lo: number;
  readonly hi: number;
}

/** Exact priors per cell system (they depend only on the system, the insider and the cell). */
const priors = new WeakMap<CellSystem, Map<string, Prior | null>>();

/**
 * What insider u must leave uncertain of sensitive cell s, given the interval [lo, hi] the pattern gives u (its LP):
 * the public requirement capped at u's a priori floor, and, when that is not enough for the pattern's interval, at
 * u's exact prior too (by LP on small components, see the header).
 */
export async function insiderRequirement(
  sys: CellSystem,
  s: SensitiveCell,
  u: number,
  above: ReadonlySet<number>,
  interval: { lo: number; hi: number },
  deadline?: Deadline,
): Promise<InsiderRequirement> {
  const t = { ...insiderTargets(sys, s, u, above), knownApriori: false };
  const exact = interval.hi - interval.lo <= t.tol;
  if (!exact && interval.hi >= t.needUp - t.tol && interval.lo <= t.needDown + t.tol) return t;
  deadline?.check('the insider audit');
  const prior = await insiderPrior(sys, u, s.id);
  if (!prior) return t;
  return {
    needUp: Math.min(t.needUp, Math.max(prior.hi, sys.value[s.id]!)),
    needDown: Math.max(t.needDown, Math.min(prior.lo, sys.value[s.id]!)),
    tol: t.tol,
    knownApriori: prior.hi - prior.lo <= t.tol,
  };
}

/** Whether the pattern's interval meets the requirement (not a point unless known a priori; both targets reached). */
export function meets(r: InsiderRequirement, interval: { lo: number; hi: number }): boolean {
  if (r.knownApriori) return true;
  return interval.hi - interval.lo > r.tol && interval.hi >= r.needUp - r.tol && interval.lo <= r.needDown + r.tol;
}

/**
 * v's interval for insider u with every other cell hidden (u a constant at its value), or null when v's component
 * then exceeds PRIOR_MAX_CELLS cells or the LP does not solve (the floor alone caps the requirement then).
 */
async function insiderPrior(sys: CellSystem, u: number, v: number): Promise<Prior | null> {
  let bySys = priors.get(sys);
  if (!bySys) priors.set(sys, (bySys = new Map()));
  const key = `${u}:${v}`;
  if (bySys.has(key)) return bySys.get(key)!;
  const comp = hiddenComponent(sys, u, v);
  let prior: Prior | null = null;
  if (comp) {
    const hidden = new Uint8Array(sys.cellCount).fill(1);
    hidden[u] = 0;
    const lps = new AttackerLps(sys, hidden);
    try {
      const m = await lps.modelOf(comp);
      const k = m.col.get(v)!;
      prior = { lo: lps.solve(m, k, 1, false).value, hi: lps.solve(m, k, -1, false).value };
    } catch {
      prior = null;
    } finally {
      lps.dispose();
    }
  }
  bySys.set(key, prior);
  return prior;
}

/** v's component when every cell but u is hidden (u a constant), or null beyond PRIOR_MAX_CELLS cells. */
function hiddenComponent(sys: CellSystem, u: number, v: number): Component | null {
  const cells = new Set<number>([v]);
  const rels = new Set<number>();
  const queue = [v];
  while (queue.length > 0) {
    for (const ri of sys.cellRelations[queue.pop()!]!) {
      if (rels.has(ri)) continue;
      rels.add(ri);
      for (const c of sys.relations[ri]!.cells) {
        if (c === u || cells.has(c)) continue;
        cells.add(c);
        if (cells.size > PRIOR_MAX_CELLS) return null;
        queue.push(c);
      }
    }
  }
  return { cells: [...cells], relations: [...rels] };
}
