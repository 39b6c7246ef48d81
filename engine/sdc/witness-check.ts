/**
 * Witnesses and their exact check.
 *
 * A witness is an alternative table: suppressed cells moved so that every relation and a priori bound still holds.
 * Guarantee: a witness passing `checkWitness` is a table the attacker cannot tell from the true one, so the attacker's
 * interval for each moved cell reaches as far as the witness moves it; `checkWitnessOf` also checks the claim made for
 * one cell (moved by `amount` in its direction). The audit trusts no witness it has not checked here.
 */
import type { CellSystem } from './relations.ts';
import { tolerance } from './tolerance.ts';

/**
 * An alternative table: the suppressed cells `ids` moved by `delta` (every other cell unchanged), consistent with
 * every relation and a priori bound (checked by `checkWitness`); the centre moves by `amount` (> 0) in the witness's
 * direction. A single cube, or a sum of cubes when no single one carries the required movement.
 */
export interface Witness {
  readonly ids: Int32Array;
  readonly delta: Float64Array;
  readonly amount: number;
}

export interface Witnesses {
  readonly up: Witness | null;
  readonly down: Witness | null;
}

/**
 * Exact check of a witness against pattern `sup`: every moved cell suppressed and within its a priori bounds, every
 * relation touching a moved cell still holding (additive: sum coef * delta = 0 within the audit tolerance of the
 * relation's scale; non-additive: its inequalities at the moved values). A witness passing this is an alternative
 * table the attacker cannot tell from the true one.
 */
export function checkWitness(sys: CellSystem, sup: Uint8Array, w: Witness): boolean {
  const delta = new Map<number, number>();
  for (let i = 0; i < w.ids.length; i++) {
    const c = w.ids[i]!;
    if (!sup[c]) return false;
    delta.set(c, (delta.get(c) ?? 0) + w.delta[i]!);
  }
  for (const [c, d] of delta) {
    const x = sys.value[c]! + d;
    const tol = tolerance(Math.abs(sys.value[c]!) + Math.abs(d));
    if (x < sys.lower[c]! - tol || x > sys.upper[c]! + tol) return false;
  }
  const seen = new Set<number>();
  for (const c of delta.keys()) {
    for (const ri of sys.cellRelations[c]!) {
      if (seen.has(ri)) continue;
      seen.add(ri);
      const r = sys.relations[ri]!;
      let s = 0;
      let scale = 0;
      for (let m = 0; m < r.cells.length; m++) {
        const cell = r.cells[m]!;
        const x = r.additive ? (delta.get(cell) ?? 0) : sys.value[cell]! + (delta.get(cell) ?? 0);
        s += r.coefs[m]! * x;
        scale += Math.abs(x);
      }
      const tol = tolerance(scale);
      if (r.additive) {
        if (Math.abs(s) > tol) return false;
        continue;
      }
      if (s > tol) return false;
      const agg = sys.value[r.cells[0]!]! + (delta.get(r.cells[0]!) ?? 0);
      for (let m = 1; m < r.cells.length; m++) {
        if (sys.value[r.cells[m]!]! + (delta.get(r.cells[m]!) ?? 0) - agg > tol) return false;
      }
    }
  }
  return true;
}

/**
 * `checkWitness`, and the witness moves cell `id` by its `amount` (> 0) in direction `dir`: the whole claim a witness
 * makes about one cell, for witnesses handed over by another part of the engine.
 */
export function checkWitnessOf(sys: CellSystem, sup: Uint8Array, w: Witness, id: number, dir: 1 | -1): boolean {
  let d = 0;
  for (let i = 0; i < w.ids.length; i++) if (w.ids[i] === id) d += w.delta[i]!;
  return (
    w.amount > 0 &&
    Math.abs(d - dir * w.amount) <= tolerance(Math.abs(sys.value[id]!) + w.amount) &&
    checkWitness(sys, sup, w)
  );
}

/** Whether witnesses protect a cell: each direction that needs movement has one, and the cell moves at all. */
export function witnessed(w: Witnesses, need: { up: number; down: number; tol: number }): boolean {
  return (
    (w.up !== null || need.up <= need.tol) &&
    (w.down !== null || need.down <= need.tol) &&
    (w.up !== null || w.down !== null)
  );
}
