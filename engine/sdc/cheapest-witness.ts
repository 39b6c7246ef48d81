/**
 * The cheapest witness of one sensitive cell: an LP over a region around it.
 *
 * Guarantee: a `cheapestWitness` result moves only cells of the region (cells outside, and cells of infinite cost,
 * stay at their values), keeps every relation through the region and every a priori bound, and moves the centre by
 * exactly `need`; once the published cells it lists in `added` are suppressed, it is a witness (callers check it with
 * `checkWitnessOf`). Holding cells fixed only restricts the attacker, so any region gives a valid witness.
 */
import { cellCoords, strides } from '../types.ts';
import type { DimensionPlan, ExactTable } from '../types.ts';
import type { HighsRuntime } from './highs.ts';
import type { CellSystem } from './relations.ts';
import { tolerance } from './tolerance.ts';
import type { Witness } from './witness-check.ts';

/** Cells of the region box `cheapestWitness` solves over, at most (the product of the per-dimension node lists). */
export const REGION_CELLS = 3000;

/**
 * Nodes of one dimension around node `n`, nearest first in the hierarchy (parent and children, then siblings,
 * grandparent and grandchildren, and so on), at most `cap`.
 */
function regionNodes(dim: DimensionPlan, n: number, cap: number): number[] {
  const out = [n];
  const seen = new Set(out);
  for (let q = 0; q < out.length && out.length < cap; q++) {
    const node = dim.nodes[out[q]!]!;
    for (const x of [...(node.parent === null ? [] : [node.parent]), ...node.children]) {
      if (seen.has(x) || out.length >= cap) continue;
      seen.add(x);
      out.push(x);
    }
  }
  return out;
}

/** Nodes per dimension of a region box of `cells` cells over `dims` (at least 3). */
function regionCap(dims: readonly DimensionPlan[], cells: number): number {
  return Math.max(3, Math.floor(cells ** (1 / Math.max(1, dims.length))));
}

/**
 * The first, small region (at least 3 nodes per dimension: the cell's node, its parent and a child or sibling). Most
 * witnesses are local: measured on the sparse 4-dimension 10k benchmark table (181 cells the cubes left short), a third
 * of them found in the 300-cell box at 1-20 ms per LP, against 0.2-3.5 s for the 3,000-cell box (4,800 columns); a
 * failing small LP costs 1-3 ms.
 */
export const SMALL_REGION_CELLS = 300;

/**
 * The region sizes to try in turn for cell `id`: SMALL_REGION_CELLS, REGION_CELLS, 4x, the whole table; none beyond one
 * covering its table.
 */
export function regionSizes(sys: CellSystem, tables: readonly ExactTable[], id: number): number[] {
  const dims = tables[sys.owners[id]![0]!.table]!.plan.dimensions;
  const out: number[] = [];
  for (const cells of [SMALL_REGION_CELLS, REGION_CELLS, 4 * REGION_CELLS, Infinity]) {
    out.push(cells);
    const cap = regionCap(dims, cells);
    if (dims.every((d) => d.nodes.length <= cap)) break;
  }
  return out;
}

/** A witness of the cheapest movement found by `cheapestWitness`, and the published cells it moves. */
export interface CheapestWitness {
  readonly witness: Witness;
  /** Cells the witness moves that are not yet suppressed (the caller suppresses them). */
  readonly added: readonly number[];
}

/**
 * The cheapest way to give sensitive cell `id` a witness of movement `need` in direction `dir`: the LP relaxation of
 * the single-cell suppression problem (Fischetti and Salazar's model for one attacker subproblem) over a region
 * around the cell. Variables are the movements y of the region's cells (split into up and down parts, each within
 * the cell's a priori bounds), the centre moves by exactly `need`, every relation touching the region holds (cells
 * outside it do not move), and the objective charges each published cell `costOf(c)` per movement of
 * min(room, need) (so a cell that alone carries the whole movement costs its full cost) and each suppressed cell
 * almost nothing. The optimal point moves a small set of cells (a vertex); suppressing the published ones among them
 * makes the point itself a witness (an alternative table over suppressed cells). Cells of infinite cost never move.
 *
 * Region: the box of `regionCells` cells around the cell in its first table (per dimension the nearest nodes in the
 * hierarchy); relations of other tables through region cells are kept, with their other cells fixed, so linked and
 * distinct-count tables stay exact. Holding cells fixed only restricts the attacker, so the result is a valid witness
 * whatever the region. Null when no movement of `need` exists inside the region.
 */
export function cheapestWitness(
  sys: CellSystem,
  tables: readonly ExactTable[],
  sup: Uint8Array,
  id: number,
  dir: 1 | -1,
  need: number,
  costOf: (c: number) => number,
  highs: HighsRuntime,
  regionCells = REGION_CELLS,
): CheapestWitness | null {
  const o = sys.owners[id]![0]!;
  const dims = tables[o.table]!.plan.dimensions;
  const loc = sys.tableCells[o.table]!;
  const st = strides(dims);
  const co = cellCoords(dims, o.index);
  const cap = regionCap(dims, regionCells);
  const nodes = dims.map((d, k) => regionNodes(d, co[k]!, cap));
  // Region cells: the box product; cells of infinite cost stay out (held fixed).
  const cells: number[] = [];
  const col = new Map<number, number>();
  const walk = (d: number, index: number): void => {
    if (d === dims.length) {
      const g = loc[index]!;
      if ((g === id || Number.isFinite(costOf(g))) && !col.has(g)) {
        col.set(g, cells.length);
        cells.push(g);
      }
      return;
    }
    for (const x of nodes[d]!) walk(d + 1, index + (x - co[d]!) * st[d]!);
  };
  walk(0, o.index);
  if (!col.has(id)) return null;
  const n = cells.length;
  let minCost = Infinity;
  for (const c of cells) if (!sup[c] && costOf(c) > 0) minCost = Math.min(minCost, costOf(c));
  const eps = 1e-3 * (Number.isFinite(minCost) ? minCost : 1);
  // Columns 2k (up) and 2k+1 (down), in units of `need`.
  const colCost = new Float64Array(2 * n);
  const colLower = new Float64Array(2 * n);
  const colUpper = new Float64Array(2 * n);
  cells.forEach((c, k) => {
    const v = sys.value[c]!;
    const head = Math.max(0, sys.upper[c]! - v) / need;
    const room = Math.max(0, v - sys.lower[c]!) / need;
    colUpper[2 * k] = head;
    colUpper[2 * k + 1] = room;
    const cost = sup[c] ? eps : costOf(c);
    colCost[2 * k] = cost / Math.min(1, Math.max(head, 1e-9));
    colCost[2 * k + 1] = cost / Math.min(1, Math.max(room, 1e-9));
  });
  const k0 = col.get(id)!;
  // The centre moves by exactly `need` (1 in these units): impossible beyond its own bound in that direction.
  const moving = dir > 0 ? 2 * k0 : 2 * k0 + 1;
  const still = dir > 0 ? 2 * k0 + 1 : 2 * k0;
  if (colUpper[moving]! < 1 - tolerance(1)) return null;
  colCost[moving] = 0;
  colCost[still] = 0;
  colLower[moving] = 1;
  colUpper[moving] = 1;
  colUpper[still] = 0;

  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const rowLower: number[] = [];
  const rowUpper: number[] = [];
  // One row: sum coef * y over region cells within [lo, hi] (movements in units of need).
  const addRow = (terms: [number, number][], lo: number, hi: number): void => {
    const byCol = new Map<number, number>();
    for (const [c, coef] of terms) {
      const k = col.get(c);
      if (k === undefined) continue;
      byCol.set(k, (byCol.get(k) ?? 0) + coef);
    }
    if (byCol.size === 0) return;
    for (const [k, coef] of [...byCol].sort((a, b) => a[0] - b[0])) {
      if (coef === 0) continue;
      indices.push(2 * k, 2 * k + 1);
      values.push(coef, -coef);
    }
    starts.push(indices.length);
    rowLower.push(lo);
    rowUpper.push(hi);
  };
  const rels = new Set<number>();
  for (const c of cells) for (const ri of sys.cellRelations[c]!) rels.add(ri);
  for (const ri of rels) {
    const r = sys.relations[ri]!;
    const terms = Array.from(r.cells, (c, m) => [c, r.coefs[m]!] as [number, number]);
    if (r.additive) {
      addRow(terms, 0, 0);
      continue;
    }
    // Distinct counts: sum coef * (value + y) <= 0, and every child <= the aggregate.
    let b = 0;
    r.cells.forEach((c, m) => {
      b -= r.coefs[m]! * sys.value[c]!;
    });
    addRow(terms, -Infinity, b / need);
    const agg = r.cells[0]!;
    for (let m = 1; m < r.cells.length; m++) {
      const c = r.cells[m]!;
      if (col.has(c) || col.has(agg))
        addRow(
          [
            [c, 1],
            [agg, -1],
          ],
          -Infinity,
          (sys.value[agg]! - sys.value[c]!) / need,
        );
    }
  }
  const nr = rowUpper.length;
  const model = highs.createModel({
    numCols: 2 * n,
    numRows: nr,
    colCost,
    colLower,
    colUpper,
    rowLower,
    rowUpper,
    matrix: { format: 'csr', numRows: nr, numCols: 2 * n, starts, indices, values },
  });
  try {
    // No presolve: on these one-shot region LPs it costs more than it saves (CPU per LP, bench tables, same witnesses
    // found: 10k 3d dense 3,000-cell region 88 -> 44 ms, 10k 4d sparse 300-cell 37 -> 24 ms, 10k 5d sparse 88 -> 59 ms).
    model.options.set({ output_flag: false, presolve: 'off' });
    const run = model.run();
    if (run.modelStatus !== highs.constants.modelStatus.optimal) return null;
    const x = model.getSolution().colValue;
    const ids: number[] = [];
    const delta: number[] = [];
    const added: number[] = [];
    cells.forEach((c, k) => {
      const d = (x[2 * k]! - x[2 * k + 1]!) * need;
      if (c !== id && Math.abs(d) <= tolerance(sys.value[c]!)) return;
      ids.push(c);
      delta.push(c === id ? dir * need : d);
      if (!sup[c]) added.push(c);
    });
    return { witness: { ids: Int32Array.from(ids), delta: Float64Array.from(delta), amount: need }, added };
  } finally {
    model.dispose();
  }
}
