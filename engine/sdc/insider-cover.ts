/**
 * Witness proofs for the insider audit (insiders.ts) that need no LP, and the structure it works on.
 *
 * Guarantee: `witnessCover` returns an amount only when, for every insider u outside `blockers`, one of the witnesses
 * it found leaves u's cell at its value (a point of u's polytope moving the target by that amount: exact, witnesses
 * from the public audit were checked there, cubes are alternative tables by construction); `sameUnitCells` lists only
 * cells that provably hold u's unit alone; `splitWithout` gives the exact sub-components of a pattern.
 */
import type { ExactTable } from '../types.ts';
import type { Component } from './components.ts';
import type { CellSystem, Relation } from './relations.ts';
import { protectionTargets } from './sensitive.ts';
import type { SensitiveCell } from './sensitive.ts';
import { tolerance } from './tolerance.ts';
import { findWitness } from './witness.ts';
import type { Witness, Witnesses } from './witness-check.ts';

/**
 * Witnesses of target v (amount `amount` in direction `dir`) that leave each insider still, without an LP: w1 an
 * alternative table of the pattern (the public audit's checked witness, else a cube); then for the one-unit cells w1
 * moves, a cube of the pattern with all of them published, else, one at a time, a cube with that cell published
 * (narrowing the cells no witness so far leaves still to those the new cube moves too). An insider u for whom one of
 * these witnesses leaves u at its value sees a point of its polytope where v has moved by the amount. Returns the
 * amount proven for every insider but `blockers` (no witness found leaving them still; -1: no witness at all). Cells
 * of v's own unit are no attackers of v. `view` (the pattern) is restored.
 */
export function witnessCover(
  sys: CellSystem,
  tables: readonly ExactTable[] | undefined,
  proven: Witnesses | null | undefined,
  v: number,
  dir: 1 | -1,
  amount: number,
  view: Uint8Array,
): { amount: number; blockers: number[] } {
  const key = dir > 0 ? 'up' : 'down';
  const tol = tolerance(Math.abs(sys.value[v]!) + amount);
  const kept = proven?.[key];
  const cube = (): Witness | null => {
    const w = tables ? findWitness(sys, tables, view, v, dir, amount) : null;
    return w && w.amount >= amount - tol ? w : null;
  };
  const w1 = kept && kept.amount >= amount - tol ? kept : cube();
  if (!w1) return { amount: -1, blockers: [] };
  const same = sys.units[v] === 1 ? sameUnitCells(sys, v) : new Set([v]);
  const movedOnes = (w: Witness): number[] => {
    const out: number[] = [];
    for (let i = 0; i < w.ids.length; i++) {
      const c = w.ids[i]!;
      if (sys.units[c] === 1 && !same.has(c) && Math.abs(w.delta[i]!) > tolerance(sys.value[c]!)) out.push(c);
    }
    return out;
  };
  let open = movedOnes(w1);
  let got = w1.amount;
  const blockers: number[] = [];
  const without = (cells: readonly number[]): Witness | null => {
    for (const c of cells) view[c] = 0;
    try {
      return cube();
    } finally {
      for (const c of cells) view[c] = 1;
    }
  };
  if (open.length > 0) {
    const w2 = without(open);
    if (w2) return { amount: Math.min(got, w2.amount), blockers: [] };
  }
  while (open.length > 0) {
    const x = open[0]!;
    const w = without([x]);
    if (!w) {
      blockers.push(x);
      open = open.slice(1);
      continue;
    }
    got = Math.min(got, w.amount);
    const moved = new Set(movedOnes(w));
    open = open.filter((c) => c !== x && moved.has(c));
  }
  return { amount: got, blockers };
}

export type Need = { up: number; down: number; tol: number };

/** Both directions carried and the interval not a point (a protection of 0 both ways still needs some movement). */
export function carried(got: { up: number; down: number }, need: Need): boolean {
  return (
    (need.up <= need.tol || got.up >= need.up - need.tol) &&
    (need.down <= need.tol || got.down >= need.down - need.tol) &&
    Math.max(got.up, 0) + Math.max(got.down, 0) > need.tol
  );
}

/** u and every cell reached from it: `step(x, relation)` names the cells one relation of x leads to. */
function reached(sys: CellSystem, u: number, step: (x: number, rel: Relation) => Iterable<number>): Set<number> {
  const seen = new Set<number>([u]);
  const queue = [u];
  while (queue.length > 0) {
    const x = queue.pop()!;
    for (const ri of sys.cellRelations[x]!)
      for (const y of step(x, sys.relations[ri]!))
        if (!seen.has(y)) {
          seen.add(y);
          queue.push(y);
        }
  }
  return seen;
}

/**
 * The cells provably holding only u's unit: u and the one-unit cells linked to it by relations through one-unit cells
 * (a one-unit aggregate has exactly its non-empty children's unit; a one-unit child's one-unit aggregate, the child's).
 */
export function sameUnitCells(sys: CellSystem, u: number): Set<number> {
  return reached(sys, u, (x, rel) => {
    const agg = rel.cells[0]!;
    // From an aggregate down to its one-unit children, or from a child up to a one-unit aggregate.
    const next = agg === x ? rel.cells.slice(1) : [agg];
    return next.filter((y) => sys.units[y] === 1);
  });
}

/**
 * The cells that contain u's cell: u and its ancestors through relations where the attacker's own model makes the
 * aggregate at least the child whatever is published (an inequality relation: parent >= each child; an additive one
 * whose other children are non-negative a priori). u's contributor knows u's value, so with nothing published at all
 * it knows each of these cells is at least that value (issue 21: the lone contributor of (N, B) = 900 knows region
 * N's total is at least 900; no pattern, not even every cell hidden, can take that from it).
 */
export function containingCells(sys: CellSystem, u: number): Set<number> {
  return reached(sys, u, (x, rel) => {
    const agg = rel.cells[0]!;
    if (agg === x) return [];
    if (rel.additive && rel.cells.some((c, i) => i > 0 && c !== x && sys.lower[c]! < 0)) return [];
    return [agg];
  });
}

/**
 * What the insider audit requires of sensitive cell s against insider u (`above` = containingCells(sys, u)): the
 * public requirement (protectionTargets), with the lower target raised to u's a priori floor when s contains u's
 * cell. The insider knows that floor before anything is published, so the audit asks of a pattern only what a
 * pattern can give, as it caps the public requirement at the a priori bounds: the insider's interval must still reach
 * down to the floor (e.g. N's total to 900, leaving the other contributors' share of it wholly unknown). Without the
 * cap such a cell fails for every pattern, and the search ended in a false AUDIT_FAILED (issue 21).
 */
export function insiderTargets(
  sys: CellSystem,
  s: SensitiveCell,
  u: number,
  above: ReadonlySet<number>,
): { needUp: number; needDown: number; tol: number } {
  const t = protectionTargets(sys, s);
  if (!above.has(s.id)) return t;
  const floor = Math.min(sys.value[u]!, sys.value[s.id]!);
  return { ...t, needDown: Math.max(t.needDown, floor) };
}

/** `insiderTargets` as movements (requiredMovement's form, for witness searches). */
export function insiderMovement(sys: CellSystem, s: SensitiveCell, u: number, above: ReadonlySet<number>): Need {
  const a = sys.value[s.id]!;
  const t = insiderTargets(sys, s, u, above);
  return { up: Math.max(0, t.needUp - a), down: Math.max(0, a - t.needDown), tol: t.tol };
}

/** The sub-components of `comp` under pattern `view` (the insider's cell published), per suppressed cell. */
export function splitWithout(sys: CellSystem, comp: Component, view: Uint8Array): Map<number, Component> {
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const c of comp.cells) if (view[c]) parent.set(c, c);
  const active: number[] = [];
  for (const ri of comp.relations) {
    let first = -1;
    for (const c of sys.relations[ri]!.cells) {
      if (!view[c]) continue;
      if (first < 0) first = c;
      else {
        const a = find(first);
        const b = find(c);
        if (a !== b) parent.set(a, b);
      }
    }
    if (first >= 0) active.push(ri);
  }
  const byRoot = new Map<number, Component>();
  const out = new Map<number, Component>();
  for (const c of parent.keys()) {
    const r = find(c);
    let sub = byRoot.get(r);
    if (!sub) byRoot.set(r, (sub = { cells: [], relations: [] }));
    sub.cells.push(c);
    out.set(c, sub);
  }
  for (const ri of active) {
    const first = sys.relations[ri]!.cells.find((c) => view[c] === 1)!;
    out.get(first)!.relations.push(ri);
  }
  return out;
}
