import { cellCoords, strides } from '../types.ts';
import type { DimensionPlan, ExactTable } from '../types.ts';
import type { CellSystem } from './relations.ts';
import { tolerance } from './tolerance.ts';
import type { HighsRuntime } from './highs.ts';
import { attackerModel, protectionTargets } from './audit.ts';
import type { AttackerModel } from './audit.ts';

/**
 * Balanced hypercubes: alternative tables an attacker cannot rule out.
 *
 * A **cube** around a centre cell is a set of cells with signs such that moving every cell by `sign * t` keeps every
 * relation of the release satisfied. When all its cells are suppressed and `t` keeps them within their a priori
 * bounds, the moved table is consistent with everything published: a **witness** that the attacker's interval for the
 * centre reaches `a + t` (or `a - t`). That is a proof of protection in one direction, exactly as strong as the
 * attacker LP's optimum being at least `a + t`, and checkable by hand. The audit uses witnesses to avoid one LP per
 * sensitive cell on large tables; the heuristic builds its patterns from the same cubes.
 *
 * Construction (one table, D dimensions): a tensor product of one balanced vector per dimension. A vector `v` over a
 * dimension's nodes is balanced when `v(a) = sum v(children of a)` for every aggregate node `a`. Through the centre's
 * node n (v(n) = +1):
 * - down: when n is an aggregate, one child at +1, and so on down to a leaf (a chain);
 * - up: when n has a parent, either one sibling at -1 (with its own chain down at -1 when it is an aggregate), or the
 *   parent at +1 and the same choice again one level up (the root needs nothing).
 * Every family (aggregate and its children) then holds one +1/+1 pair, one +1/-1 pair of children, or nothing: `v` is
 * balanced. The product `v_1(c_1) * ... * v_D(c_D)` is balanced along every dimension (a relation along dimension e
 * at fixed other coordinates is `v_e`'s family scaled by the product of the other coordinates' entries), so the cube
 * satisfies every relation of its table. Relations of other tables (linked cells) and non-additive (distinct-count)
 * relations are checked explicitly by `verifyCube`.
 */
export interface Cube {
  /** Global cell ids; the first is the centre. */
  readonly ids: Int32Array;
  /** Per cell: +1 moves with the centre, -1 against it. */
  readonly signs: Int8Array;
  /** Sum of the cells' costs under the cost function used to build it. */
  readonly cost: number;
  /** Largest t >= 0 keeping `value + sign * t` within [lower, upper] for every cell (centre moving up). */
  readonly capUp: number;
  /** Likewise for the centre moving down (`value - sign * t`). */
  readonly capDown: number;
}

interface Line {
  readonly nodes: number[];
  readonly signs: number[];
  readonly cost: number;
}

/**
 * Up to `k` cheapest balanced vectors of one dimension through node `n` (the centre node itself not listed, sign +1),
 * costed by `lineCost(node)`: the cost of the cell on the centre's line at that node. Options with infinite cost
 * are dropped.
 */
export function lineVectors(dim: DimensionPlan, n: number, lineCost: (node: number) => number, k: number): Line[] {
  const memo = new Map<number, { cost: number; next: number }>();
  // Cheapest chain below `node` (one child per level down to a leaf), by line cost.
  const chain = (node: number): { cost: number; next: number } => {
    let m = memo.get(node);
    if (m) return m;
    const kids = dim.nodes[node]!.children;
    m = { cost: kids.length === 0 ? 0 : Infinity, next: -1 };
    for (const ch of kids) {
      const c = lineCost(ch) + chain(ch).cost;
      if (c < m.cost) m = { cost: c, next: ch };
    }
    memo.set(node, m);
    return m;
  };
  const chainFrom = (first: number, sign: number, into: Line): Line => {
    const nodes = [...into.nodes, first];
    const signs = [...into.signs, sign];
    for (let x = chain(first).next; x >= 0; x = chain(x).next) {
      nodes.push(x);
      signs.push(sign);
    }
    return { nodes, signs, cost: into.cost + lineCost(first) + chain(first).cost };
  };
  const empty: Line = { nodes: [], signs: [], cost: 0 };
  const node = dim.nodes[n]!;
  const downs: Line[] = node.children.length === 0 ? [empty] : node.children.map((ch) => chainFrom(ch, 1, empty));
  const ups = (x: number, depth: number): Line[] => {
    const p = dim.nodes[x]!.parent;
    if (p === null) return [empty];
    const out: Line[] = [];
    for (const sb of dim.nodes[p]!.children) if (sb !== x) out.push(chainFrom(sb, -1, empty));
    if (depth < 8) {
      const pc = lineCost(p);
      for (const u of ups(p, depth + 1))
        out.push({ nodes: [p, ...u.nodes], signs: [1, ...u.signs], cost: pc + u.cost });
    }
    return out
      .filter((l) => Number.isFinite(l.cost))
      .sort((a, b) => a.cost - b.cost)
      .slice(0, k);
  };
  const out: Line[] = [];
  for (const d of downs) {
    if (!Number.isFinite(d.cost)) continue;
    for (const u of ups(n, 0)) {
      out.push({ nodes: [...d.nodes, ...u.nodes], signs: [...d.signs, ...u.signs], cost: d.cost + u.cost });
    }
  }
  return out.sort((a, b) => a.cost - b.cost).slice(0, k);
}

export interface CubeSearch {
  /** Cost of a cell (Infinity: the cube may not use it). */
  readonly costOf: (cell: number) => number;
  /** Vectors tried per dimension (the product is enumerated). */
  readonly perDimension?: number;
  /**
   * Judge a finished cube (all cells of finite cost); return a score to minimise or null to reject it.
   * Called with the cube's cost and capacities.
   */
  readonly score: (cube: Cube) => number | null;
}

/** Vectors per dimension tried by default: fewer in more dimensions (the product grows as k^D). */
export function defaultPerDimension(dims: number): number {
  return dims <= 2 ? 8 : dims === 3 ? 5 : 3;
}

/**
 * Every balanced cube around cell `index` of table `ti` built from the `k` cheapest vectors per dimension, cells of
 * infinite cost excluded: the product is built one dimension at a time and a partial cube (the cube's cells with the
 * remaining dimensions at the centre's nodes, a subset of every completion) is abandoned at its first infinite cost.
 * `visit` returns true to stop.
 */
export function forEachCube(
  sys: CellSystem,
  tables: readonly ExactTable[],
  ti: number,
  index: number,
  costOf: (cell: number) => number,
  k: number,
  visit: (cube: Cube) => boolean,
): void {
  const dims = tables[ti]!.plan.dimensions;
  const st = strides(dims);
  const loc = sys.tableCells[ti]!;
  const co = cellCoords(dims, index);
  const perDim: Line[][] = [];
  for (let d = 0; d < dims.length; d++) {
    const n = co[d]!;
    const lines = lineVectors(dims[d]!, n, (m) => costOf(loc[index + (m - n) * st[d]!]!), k);
    if (lines.length === 0) return;
    perDim.push(lines);
  }
  let stop = false;
  // Work bound: partial cubes built (each costs up to its size); a dense pattern would otherwise explore k^D products.
  let budget = MAX_PARTIALS;
  const step = (d: number, idx: number[], sg: number[], cost: number): void => {
    if (stop) return;
    if (--budget < 0) {
      stop = true;
      return;
    }
    if (d === dims.length) {
      let capUp = Infinity;
      let capDown = Infinity;
      const ids = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) {
        const g = loc[idx[i]!]!;
        ids[i] = g;
        const room = sys.value[g]! - sys.lower[g]!;
        const head = sys.upper[g]! - sys.value[g]!;
        if (sg[i]! > 0) {
          capUp = Math.min(capUp, head);
          capDown = Math.min(capDown, room);
        } else {
          capUp = Math.min(capUp, room);
          capDown = Math.min(capDown, head);
        }
      }
      stop = visit({ ids, signs: Int8Array.from(sg), cost, capUp: Math.max(0, capUp), capDown: Math.max(0, capDown) });
      return;
    }
    for (const line of perDim[d]!) {
      const nIdx = idx.slice();
      const nSg = sg.slice();
      let c = cost;
      let ok = true;
      for (let i = 0; i < idx.length && ok; i++) {
        for (let j = 0; j < line.nodes.length; j++) {
          const x = idx[i]! + (line.nodes[j]! - co[d]!) * st[d]!;
          const xc = costOf(loc[x]!);
          if (!Number.isFinite(xc)) {
            ok = false;
            break;
          }
          c += xc;
          nIdx.push(x);
          nSg.push(sg[i]! * line.signs[j]!);
        }
      }
      if (ok) step(d + 1, nIdx, nSg, c);
      if (stop) return;
    }
  };
  const c0 = costOf(loc[index]!);
  if (Number.isFinite(c0)) step(0, [index], [1], c0);
}

/** The best-scoring balanced cube around cell `index` of table `ti` (see `Cube`, `forEachCube`), or null. */
export function bestCube(
  sys: CellSystem,
  tables: readonly ExactTable[],
  ti: number,
  index: number,
  search: CubeSearch,
): Cube | null {
  const k = search.perDimension ?? defaultPerDimension(tables[ti]!.plan.dimensions.length);
  let best: Cube | null = null;
  let bestScore = Infinity;
  forEachCube(sys, tables, ti, index, search.costOf, k, (cube) => {
    const s = search.score(cube);
    if (s !== null && s < bestScore) {
      bestScore = s;
      best = cube;
    }
    return false;
  });
  return best;
}

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

/** Partial cubes one enumeration builds at most (`forEachCube`). */
const MAX_PARTIALS = 20000;
/** Cubes collected per direction at most (the search for a sum of cubes stops there). */
const MAX_CUBES = 400;
/** Complete cubes looked at per direction at most, with or without room. */
const MAX_VISITS = 4000;

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

/** Whether witnesses protect a cell: each direction that needs movement has one, and the cell moves at all. */
export function witnessed(w: Witnesses, need: { up: number; down: number; tol: number }): boolean {
  return (
    (w.up !== null || need.up <= need.tol) &&
    (w.down !== null || need.down <= need.tol) &&
    (w.up !== null || w.down !== null)
  );
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

/** The region sizes to try in turn for cell `id`: REGION_CELLS, 4x, the whole table; none beyond one covering its table. */
export function regionSizes(sys: CellSystem, tables: readonly ExactTable[], id: number): number[] {
  const dims = tables[sys.owners[id]![0]!.table]!.plan.dimensions;
  const out: number[] = [];
  for (const cells of [REGION_CELLS, 4 * REGION_CELLS, Infinity]) {
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
    model.options.set({ output_flag: false });
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
