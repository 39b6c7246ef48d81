/**
 * Witness search: alternative tables that show a suppressed cell can move, found without the component's LP.
 *
 * In order of cost: a balanced cube of suppressed cells (cubes.ts) or a greedy sum of cubes; the attacker LP over the
 * `BALL_CELLS` suppressed cells nearest the cell (`ballWitness`); for the audit's singleton rule, the region LP of
 * cheapest-witness.ts with only suppressed cells free (`localMove`).
 *
 * Guarantee: every witness returned here has passed `checkWitness` (or `checkWitnessOf`) on the pattern it was
 * searched in, except those of `modelWitness` and `ballWitness`, whose callers check them. A search that finds nothing
 * proves nothing: the caller falls back on the attacker LP.
 */
import type { ExactTable } from '../types.ts';
import { attackerModel } from './attacker-lp.ts';
import type { AttackerModel } from './attacker-lp.ts';
import { cheapestWitness, regionSizes } from './cheapest-witness.ts';
import { forEachCube } from './cubes.ts';
import type { Cube } from './cubes.ts';
import type { HighsRuntime } from './highs.ts';
import type { CellSystem } from './relations.ts';
import { tolerance } from './tolerance.ts';
import { checkWitness, checkWitnessOf, witnessed } from './witness-check.ts';
import type { Witness, Witnesses } from './witness-check.ts';

/** Cubes collected per direction at most (the search for a sum of cubes stops there). */
const MAX_CUBES = 400;
/** Complete cubes looked at per direction at most, with or without room. */
const MAX_VISITS = 4000;

/**
 * A witness that cell `id` can move by `need` in direction `dir` (+1 up, -1 down) in pattern `sup`, or null.
 * Built from balanced cubes of suppressed cells (over every table holding the cell): the single cube with the largest
 * capacity when it carries `need`; otherwise a greedy sum of cubes, each taking what the bounds still allow given the
 * cubes before it, until the centre has moved by `need`. Whatever was built is checked by `checkWitness`, so the
 * construction needs no proof of its own. `need` 0 asks for any movement. `partial`: return the sum of cubes even
 * when it falls short of `need` (a valid witness of a smaller movement, `amount < need`), for searches that extend it.
 */
export function findWitness(
  sys: CellSystem,
  tables: readonly ExactTable[],
  sup: Uint8Array,
  id: number,
  dir: 1 | -1,
  need: number,
  partial = false,
  highs: HighsRuntime | null = null,
): Witness | null {
  const tol = tolerance(Math.abs(sys.value[id]!) + need);
  const costOf = (c: number): number => (sup[c] ? 0 : Infinity);
  const cubes: Cube[] = [];
  let bestSingle = 0;
  const capOf = (c: Cube): number => (dir > 0 ? c.capUp : c.capDown);
  let visited = 0;
  for (const o of sys.owners[id]!) {
    forEachCube(sys, tables, o.table, o.index, costOf, 24, (cube) => {
      // Bounded work per cell: on a dense pattern the product of 64 vectors per dimension is huge.
      if (++visited >= MAX_VISITS) return true;
      if (capOf(cube) <= tol) return false;
      cubes.push(cube);
      bestSingle = Math.max(bestSingle, capOf(cube));
      return bestSingle >= need - tol || cubes.length >= MAX_CUBES;
    });
    if (bestSingle >= need - tol) break;
  }
  if (cubes.length === 0) return null;
  cubes.sort((x, y) => capOf(y) - capOf(x));
  if (capOf(cubes[0]!) >= need - tol) {
    // Largest carrying cubes first; a few tried (on linked tables a cube may break another table's relation).
    for (const single of cubes.slice(0, 8)) {
      const amount = capOf(single);
      if (amount < need - tol) break;
      const w: Witness = { ids: single.ids, delta: Float64Array.from(single.signs, (sg) => sg * dir * amount), amount };
      if (checkWitness(sys, sup, w)) return w;
    }
    if (!partial) return null;
  }
  // Sum of cubes: displacement per cell so far; each cube adds the largest t its cells' remaining room allows.
  const disp = new Map<number, number>();
  let moved = 0;
  for (const cube of cubes) {
    let t = need - moved;
    for (let i = 0; i < cube.ids.length && t > 0; i++) {
      const c = cube.ids[i]!;
      const dirC = cube.signs[i]! * dir;
      const x = sys.value[c]! + (disp.get(c) ?? 0);
      t = Math.min(t, dirC > 0 ? sys.upper[c]! - x : x - sys.lower[c]!);
    }
    if (t <= tol) continue;
    for (let i = 0; i < cube.ids.length; i++) {
      const c = cube.ids[i]!;
      disp.set(c, (disp.get(c) ?? 0) + cube.signs[i]! * dir * t);
    }
    moved += t;
    if (moved >= need - tol) break;
  }
  if (moved < need - tol && highs) {
    const w = ballWitness(sys, highs, sup, id, dir, need);
    if (w && w.amount > moved && checkWitness(sys, sup, w)) return w.amount >= need - tol || partial ? w : null;
  }
  if (moved < need - tol && !(partial && moved > tol)) return null;
  // Cells where the cubes cancel out do not move: left out (the clean-up watches only cells a witness needs).
  const ids = Int32Array.from(
    [...disp.keys()].filter((c) => c === id || Math.abs(disp.get(c)!) > tolerance(sys.value[c]!)),
  );
  const w: Witness = { ids, delta: Float64Array.from(ids, (c) => disp.get(c)!), amount: moved };
  return checkWitness(sys, sup, w) ? w : null;
}

/** Suppressed cells around the centre that the local LP of `ballWitness` lets move. */
export const BALL_CELLS = 800;

/**
 * A witness from the attacker LP restricted to a ball: the `BALL_CELLS` suppressed cells nearest the centre (breadth
 * first over relations through suppressed cells) are variables, every other cell is held at its exact value. Holding
 * cells fixed only adds constraints, so the restricted optimum is reachable by the attacker too: a valid witness of
 * movement min(need, optimum). Used when no sum of cubes carries the movement (a large protection spread over many
 * cells); an LP over ~800 cells instead of the whole component (which on a 100,000-cell table holds tens of
 * thousands).
 */
export function ballWitness(
  sys: CellSystem,
  highs: HighsRuntime,
  sup: Uint8Array,
  id: number,
  dir: 1 | -1,
  need: number,
): Witness | null {
  const inBall = new Uint8Array(sys.cellCount);
  const cells: number[] = [id];
  inBall[id] = 1;
  const rels = new Set<number>();
  for (let q = 0; q < cells.length; q++) {
    for (const ri of sys.cellRelations[cells[q]!]!) {
      rels.add(ri);
      for (const m of sys.relations[ri]!.cells) {
        if (!sup[m] || inBall[m] || cells.length >= BALL_CELLS) continue;
        inBall[m] = 1;
        cells.push(m);
      }
    }
  }
  const m = attackerModel(highs, sys, { cells, relations: [...rels] }, inBall);
  try {
    return modelWitness(sys, highs, m, cells, id, dir, need);
  } finally {
    m.model.dispose();
  }
}

/**
 * A witness from an attacker model over `cells` (its columns, in that order): maximise the centre's movement in
 * direction `dir`, capped at `need`, and read the optimal point. The model's cost and the centre's bounds are restored
 * afterwards, so one model serves many cells.
 */
export function modelWitness(
  sys: CellSystem,
  highs: HighsRuntime,
  m: AttackerModel,
  cells: readonly number[],
  id: number,
  dir: 1 | -1,
  need: number,
): Witness | null {
  const k = m.col.get(id)!;
  m.model.changeColCost(k, -dir);
  // The centre's movement is capped at `need`: a witness moving exactly what is required.
  m.model.changeColBounds(
    k,
    dir > 0 ? sys.lower[id]! : Math.max(sys.lower[id]!, sys.value[id]! - need),
    dir > 0 ? Math.min(sys.upper[id]!, sys.value[id]! + need) : sys.upper[id]!,
  );
  try {
    const run = m.model.run();
    if (run.modelStatus !== highs.constants.modelStatus.optimal) return null;
    const x = m.model.getSolution().colValue;
    // Only the cells that move belong to the witness (fewer cells for the clean-up to watch).
    const moved = cells
      .map((c, i) => [c, x[i]! - sys.value[c]!] as const)
      .filter(([c, d]) => c === id || Math.abs(d) > tolerance(sys.value[c]!));
    const amount = dir * (x[k]! - sys.value[id]!);
    return amount > 0
      ? { ids: Int32Array.from(moved, (e) => e[0]), delta: Float64Array.from(moved, (e) => e[1]), amount }
      : null;
  } finally {
    m.model.changeColCost(k, 0);
    m.model.changeColBounds(k, sys.lower[id]!, sys.upper[id]!);
  }
}

/**
 * Witnesses of protection for one suppressed cell in pattern `sup` (see `findWitness`): up by `needUp`, down by
 * `needDown`. A direction needing no movement is still tried (any movement), so that a cell needing none in one
 * direction is still shown to move.
 */
export function findWitnesses(
  sys: CellSystem,
  tables: readonly ExactTable[],
  sup: Uint8Array,
  id: number,
  needUp: number,
  needDown: number,
  highs: HighsRuntime | null = null,
): Witnesses {
  const up = findWitness(sys, tables, sup, id, 1, needUp, false, highs);
  const down = findWitness(sys, tables, sup, id, -1, needDown, false, highs);
  return { up, down };
}

/**
 * Witnesses of protection for sensitive cell `id`: a hinted witness per direction when it carries the movement and
 * passes `checkWitness` on this pattern, else found afresh (`findWitnesses`, only for the directions still missing).
 */
export function hintedWitnesses(
  sys: CellSystem,
  tables: readonly ExactTable[],
  suppressed: Uint8Array,
  id: number,
  need: { up: number; down: number; tol: number },
  hint: Witnesses | undefined,
  highs: HighsRuntime | null,
): Witnesses {
  const ok = (w: Witness | null | undefined, n: number, dir: 1 | -1): w is Witness =>
    !!w && w.amount >= n - need.tol && checkWitnessOf(sys, suppressed, w, id, dir);
  const up = ok(hint?.up, need.up, 1) ? hint!.up : null;
  const down = ok(hint?.down, need.down, -1) ? hint!.down : null;
  if (witnessed({ up, down }, need)) return { up, down }; // both present always passes
  return {
    up: up ?? findWitness(sys, tables, suppressed, id, 1, need.up, false, highs),
    down: down ?? findWitness(sys, tables, suppressed, id, -1, need.down, false, highs),
  };
}

/**
 * A witness moving suppressed cell `id` at all, or null: a cube of suppressed cells, else the cheapest-witness LP over
 * a region around it with only suppressed cells free (a small movement in either direction). Every witness returned
 * is checked (checkWitness: balanced in every relation, within every bound), so each cell it moves is shown
 * undetermined too. Null means "not shown", not "pinned": the caller then solves the component's LP. `regions`
 * false: cubes only.
 */
export function localMove(
  sys: CellSystem,
  tables: readonly ExactTable[],
  suppressed: Uint8Array,
  id: number,
  highs: HighsRuntime,
  regions = true,
): Witness | null {
  for (const dir of [1, -1] as const) {
    const w = findWitness(sys, tables, suppressed, id, dir, 0);
    if (w && checkWitnessOf(sys, suppressed, w, id, dir)) return w;
  }
  if (!regions) return null;
  const amount = Math.max(1e-3 * Math.abs(sys.value[id]!), 100 * tolerance(sys.value[id]!));
  const onlySuppressed = (c: number): number => (suppressed[c] ? 0 : Infinity);
  // Growing regions, at last the whole table: cheaper than the component LP's two optima (measured 3 s against
  // 17 s on a 100,000-cell table's main component).
  for (const cells of regionSizes(sys, tables, id)) {
    for (const dir of [1, -1] as const) {
      const w = cheapestWitness(sys, tables, suppressed, id, dir, amount, onlySuppressed, highs, cells);
      if (w && w.added.length === 0 && checkWitnessOf(sys, suppressed, w.witness, id, dir)) return w.witness;
    }
  }
  return null;
}
