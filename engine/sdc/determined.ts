/**
 * Exact disclosure by linear algebra: the suppressed cells the equality relations alone determine.
 *
 * Guarantee: a cell reported determined has its value fixed by the published cells and the additive relations
 * (e_j in the row space, read off the reduced row echelon form); a spurious "determined" from the tolerance only
 * makes the audit stricter. Inequality relations never enter: cells they pin are left to the LP.
 */
import type { Component } from './components.ts';
import type { CellSystem } from './relations.ts';

/**
 * Cells of a component whose value linear algebra alone determines: e_j lies in
 * the row space of the component's equation matrix. Only equality rows (additive
 * relations) enter: an inequality cannot pin a cell by itself, and a cell pinned
 * by inequalities together is caught by the LP (min == max). In reduced row echelon form
 * that holds exactly when column j is a pivot column whose row has no other
 * non-zero (the RREF rows are a basis; matching coefficients on pivot columns
 * forces e_j to equal that pivot row). Partial pivoting, tolerance 1e-9 on
 * entries of a 0/±1 matrix: a spurious "determined" only makes the check stricter.
 */
export function determinedCells(sys: CellSystem, comp: Component, suppressed: Uint8Array): Set<number> {
  const nc = comp.cells.length;
  const col = new Map<number, number>();
  comp.cells.forEach((c, k) => col.set(c, k));
  const rows: Float64Array[] = comp.relations
    .filter((ri) => sys.relations[ri]!.additive)
    .map((ri) => {
      const r = sys.relations[ri]!;
      const row = new Float64Array(nc);
      r.cells.forEach((c, k) => {
        if (suppressed[c]) row[col.get(c)!]! += r.coefs[k]!;
      });
      return row;
    });
  const eps = 1e-9;
  const pivotRowOfCol = new Int32Array(nc).fill(-1);
  let pr = 0;
  for (let j = 0; j < nc && pr < rows.length; j++) {
    let best = -1;
    let bestAbs = eps;
    for (let i = pr; i < rows.length; i++) {
      const v = Math.abs(rows[i]![j]!);
      if (v > bestAbs) {
        bestAbs = v;
        best = i;
      }
    }
    if (best < 0) continue;
    [rows[pr], rows[best]] = [rows[best]!, rows[pr]!];
    const p = rows[pr]!;
    const pv = p[j]!;
    for (let k = j; k < nc; k++) p[k] = p[k]! / pv;
    for (let i = 0; i < rows.length; i++) {
      if (i === pr) continue;
      const row = rows[i]!;
      const f = row[j]!;
      if (Math.abs(f) <= eps) {
        row[j] = 0;
        continue;
      }
      for (let k = j; k < nc; k++) row[k] = row[k]! - f * p[k]!;
      row[j] = 0;
    }
    pivotRowOfCol[j] = pr;
    pr++;
  }
  const out = new Set<number>();
  for (let j = 0; j < nc; j++) {
    const r = pivotRowOfCol[j]!;
    if (r < 0) continue;
    const row = rows[r]!;
    let alone = true;
    for (let k = 0; k < nc && alone; k++) if (k !== j && Math.abs(row[k]!) > eps) alone = false;
    if (alone) out.add(comp.cells[j]!);
  }
  return out;
}
