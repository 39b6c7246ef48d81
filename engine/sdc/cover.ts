/**
 * The heuristic's cube phase and repairs: cells added to a pattern so that each sensitive cell gets witnesses.
 *
 * Guarantee: these functions only add cells to the pattern (never fixed cells; neverSuppress cells only at a
 * prohibitive cost), and a witness they record in `hints` was found or checked on the pattern as it then stood. They
 * prove nothing themselves: the heuristic audits the pattern afterwards.
 */
import type { Cube } from './cubes.ts';
import { bestCube } from './cubes.ts';
import { cheapestWitness, regionSizes } from './cheapest-witness.ts';
import { components } from './components.ts';
import { Deadline } from './deadline.ts';
import type { HighsRuntime } from './highs.ts';
import type { SecondaryInput } from './problem.ts';
import { requiredMovement } from './sensitive.ts';
import type { SensitiveCell } from './sensitive.ts';
import { findWitness } from './witness.ts';
import { checkWitnessOf } from './witness-check.ts';
import type { Witness, Witnesses } from './witness-check.ts';

/** Score offset of a cube that cannot carry the whole protection (any carrying cube wins). */
const SHORT = 1e30;

/** Cubes one sensitive cell may take in one cube phase (a large protection may need a sum of cubes). */
const MAX_CUBES_PER_CELL = 24;

/**
 * The cheapest balanced cube around `id` over every table holding it that adds a cell (`mustAdd`) or not. `short`:
 * the movement still missing per direction (0: none). Cubes carrying every missing movement win, by cost; otherwise
 * the lowest cost per share of the missing movement carried (the smallest share over the missing directions).
 */
export function cheapestCube(
  input: SecondaryInput,
  id: number,
  short: { up: number; down: number; tol: number },
  costOf: (c: number) => number,
  mustAdd: boolean,
  perDimension?: number,
): Cube | null {
  const { sys, tables } = input;
  let best: Cube | null = null;
  let bestScore = Infinity;
  for (const o of sys.owners[id]!) {
    let score = Infinity;
    const cube = bestCube(sys, tables, o.table, o.index, {
      costOf,
      ...(perDimension ? { perDimension } : {}),
      score: (c) => {
        if (mustAdd && c.cost <= 0) return null;
        let share = c.capUp > short.tol || c.capDown > short.tol ? 1 : 0;
        if (short.up > short.tol) share = Math.min(share, c.capUp / short.up);
        if (short.down > short.tol) share = Math.min(share, c.capDown / short.down);
        if (share <= 0 || (share < 1 && c.cost <= 0)) return null;
        const s = share >= 1 - 1e-12 ? c.cost : SHORT + c.cost / share;
        score = Math.min(score, s);
        return s;
      },
    });
    if (cube && score < bestScore) {
      best = cube;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Cube phase (see heuristicSuppression): returns the number of cells added. `thirdCost`: the cost function of the
 * singleton rule's third cells (default `costOf`; the heuristic lets it take an empty cell as a last resort).
 */
export function coverWithCubes(
  input: SecondaryInput,
  sup: Uint8Array,
  costOf: (c: number) => number,
  highs: HighsRuntime | null = null,
  hints: Map<number, Witnesses> = new Map(),
  deadline: Deadline = Deadline.never,
  thirdCost: (c: number) => number = costOf,
): { added: number; short: SensitiveCell[] } {
  const { sys } = input;
  let added = 0;
  // Pass 1 with cubes alone (fast); pass 2 (below) for the cells still short.
  let short: SensitiveCell[] = [];
  for (const s of input.sensitive) {
    deadline.check('the cube phase');
    added += coverCell(input, sup, s, costOf, null, short, hints);
  }
  if (highs) {
    // Pass 2: the cheapest witness by LP over a region around each cell still short (one LP per missing direction),
    // then, should the region hold none, cubes with the local LP judging.
    const next: SensitiveCell[] = [];
    for (const s of short) {
      deadline.check('the cheapest-witness phase');
      const got = coverByLp(input, sup, s, costOf, highs, hints);
      if (got >= 0) added += got;
      else added += coverCell(input, sup, s, costOf, highs, next, hints);
    }
    short = next;
  }
  if (input.singletons === false) return { added, short };
  const sens = new Set(input.sensitive.map((s) => s.id));
  for (let ri = 0; ri < sys.relations.length; ri++) {
    if ((ri & 63) === 0) deadline.check('the singleton cover');
    const cells = sys.relations[ri]!.cells;
    if (cells.length === 2) continue; // an aggregate with a single child: same contributors (see audit.ts)
    let n = 0;
    let one = false;
    let sensitive = 0;
    for (const c of cells) {
      if (!sup[c]) continue;
      n++;
      if (sys.units[c] === 1) one = true;
      if (sens.has(c)) sensitive++;
    }
    if (n === 2 && one && sensitive > 0) {
      deadline.check('the singleton cover');
      added += protectThirdCell(input, sup, ri, thirdCost);
    }
  }
  return { added, short };
}

/**
 * Repair of insider exposures (insiders.ts): for each sensitive cell an insider could narrow, the cheapest balanced
 * cube around it that adds a cell and leaves the insider's cell still (a cube moving it is no witness for the
 * insider, who knows its value); when no such cube exists, the same with `lastResort` costs (empty cells allowed, at
 * a prohibitive cost: a published empty cell can be what bounds the insider, e.g. telling it that its unit's column
 * has nothing in a region), else the cheapest published cell of each relation around it (by `lastResort`).
 * Returns cells added.
 */
export function protectFromInsiders(
  input: SecondaryInput,
  sup: Uint8Array,
  audit: { readonly insiders: readonly { readonly insider: number; readonly exposed: number }[] },
  costOf: (c: number) => number,
  lastResort: (c: number) => number = costOf,
): number {
  let added = 0;
  const done = new Set<string>();
  for (const ex of audit.insiders) {
    const key = `${ex.insider}:${ex.exposed}`;
    if (done.has(key)) continue;
    done.add(key);
    const s = input.sensitive.find((x) => x.id === ex.exposed)!;
    const need = requiredMovement(input.sys, s);
    let n = 0;
    for (const base of lastResort === costOf ? [costOf] : [costOf, lastResort]) {
      const cost = (c: number): number => (c === ex.insider ? Infinity : base(c));
      const cube = cheapestCube(input, s.id, need, cost, true) ?? cheapestCube(input, s.id, need, cost, true, 24);
      for (const c of cube?.ids ?? [])
        if (!sup[c]) {
          sup[c] = 1;
          n++;
        }
      if (n > 0) break;
    }
    added += n > 0 ? n : widen(input, sup, s.id, lastResort);
  }
  return added;
}

/**
 * Add cubes around sensitive cell `s` until witnesses (cubes, or the local LP when `highs` is given) carry its
 * movement, at most MAX_CUBES_PER_CELL; cells still short are listed in `stillShort`. Returns the cells added.
 */
function coverCell(
  input: SecondaryInput,
  sup: Uint8Array,
  s: SensitiveCell,
  costOf: (c: number) => number,
  highs: HighsRuntime | null,
  stillShort: SensitiveCell[],
  hints: Map<number, Witnesses>,
): number {
  const { sys, tables } = input;
  const need = requiredMovement(sys, s);
  let added = 0;
  for (let k = 0; k <= MAX_CUBES_PER_CELL; k++) {
    const up = findWitness(sys, tables, sup, s.id, 1, need.up, true, highs);
    const down = findWitness(sys, tables, sup, s.id, -1, need.down, true, highs);
    const short = {
      up: need.up > need.tol ? Math.max(0, need.up - (up?.amount ?? 0)) : 0,
      down: need.down > need.tol ? Math.max(0, need.down - (down?.amount ?? 0)) : 0,
      tol: need.tol,
    };
    if (short.up <= need.tol && short.down <= need.tol && (up || down)) {
      hints.set(s.id, { up, down });
      return added;
    }
    const cube = k < MAX_CUBES_PER_CELL ? cheapestCube(input, s.id, short, costOf, true) : null;
    if (!cube) break;
    for (const c of cube.ids)
      if (!sup[c]) {
        sup[c] = 1;
        added++;
      }
  }
  stillShort.push(s);
  return added;
}

/**
 * Cover sensitive cell `s` with the cheapest witness per direction (`cheapestWitness`: an LP over a region around it),
 * suppressing the published cells the witness moves. A direction a cube of suppressed cells already carries needs no
 * LP. Returns the cells added, or -1 (nothing changed) when the region holds no witness for some direction.
 */
function coverByLp(
  input: SecondaryInput,
  sup: Uint8Array,
  s: SensitiveCell,
  costOf: (c: number) => number,
  highs: HighsRuntime,
  hints: Map<number, Witnesses>,
): number {
  const { sys, tables } = input;
  const need = requiredMovement(sys, s);
  const found: { up: Witness | null; down: Witness | null } = { up: null, down: null };
  const plans: { dir: 1 | -1; add: readonly number[]; w: Witness }[] = [];
  for (const dir of [1, -1] as const) {
    const amount = dir > 0 ? need.up : need.down;
    // A direction needing no movement is still shown to move when the other needs none either.
    const target = amount > need.tol ? amount : 0;
    if (target === 0 && (dir > 0 ? need.down : need.up) > need.tol) continue;
    const cube = findWitness(sys, tables, sup, s.id, dir, target);
    if (cube) {
      found[dir > 0 ? 'up' : 'down'] = cube;
      continue;
    }
    if (target === 0) continue;
    // A larger region when the first holds no witness (a large protection among small neighbours), at last the
    // whole table (seconds at 100,000 cells; rare).
    let lp = null;
    for (const cells of regionSizes(sys, tables, s.id)) {
      lp = cheapestWitness(sys, tables, sup, s.id, dir, target, costOf, highs, cells);
      if (lp) break;
    }
    if (!lp) return -1;
    plans.push({ dir, add: lp.added, w: lp.witness });
  }
  let added = 0;
  for (const p of plans)
    for (const c of p.add)
      if (!sup[c]) {
        sup[c] = 1;
        added++;
      }
  for (const p of plans) {
    if (!checkWitnessOf(sys, sup, p.w, s.id, p.dir))
      return added > 0 ? added + coverCell(input, sup, s, costOf, highs, [], hints) : -1;
    found[p.dir > 0 ? 'up' : 'down'] = p.w;
  }
  if (!found.up && !found.down) return added > 0 ? added + coverCell(input, sup, s, costOf, highs, [], hints) : -1;
  hints.set(s.id, found);
  return added;
}

/** Singleton rule: suppress the cheapest cube around a published cell of relation `ri` (a third moving cell). */
export function protectThirdCell(
  input: SecondaryInput,
  sup: Uint8Array,
  ri: number,
  costOf: (c: number) => number,
): number {
  const { sys } = input;
  let best: Cube | null = null;
  for (const m of sys.relations[ri]!.cells) {
    if (sup[m] || input.fixed?.[m]) continue;
    const cube = cheapestCube(input, m, { up: 0, down: 0, tol: 0 }, costOf, true);
    if (cube && (!best || cube.cost < best.cost)) best = cube;
  }
  let added = 0;
  if (best) {
    for (const c of best.ids)
      if (!sup[c]) {
        sup[c] = 1;
        added++;
      }
  } else added = widen(input, sup, sys.relations[ri]!.cells[0]!, costOf);
  return added;
}

function cheapestPublished(cells: Iterable<number>, sup: Uint8Array, costOf: (c: number) => number): number {
  let best = -1;
  let bestCost = Infinity;
  for (const c of cells) {
    if (sup[c]) continue;
    const k = costOf(c);
    if (k < bestCost) {
      bestCost = k;
      best = c;
    }
  }
  return best;
}

/**
 * Add the cheapest published cell of every relation containing `id`; if none is left, of every relation touching the
 * component of `id`. Returns the number added (0 only when every related cell is suppressed or fixed).
 */
export function widen(input: SecondaryInput, sup: Uint8Array, id: number, costOf: (c: number) => number): number {
  const { sys } = input;
  const pickFrom = (rels: Iterable<number>): number => {
    const picks = new Set<number>();
    for (const r of rels) {
      const p = cheapestPublished(sys.relations[r]!.cells, sup, costOf);
      if (p >= 0) picks.add(p);
    }
    for (const p of picks) sup[p] = 1;
    return picks.size;
  };
  const local = pickFrom(sys.cellRelations[id]!);
  if (local > 0) return local;
  const comp = components(sys, sup).find((c) => c.cells.includes(id));
  const rels = new Set<number>();
  for (const c of comp ? comp.cells : [id]) for (const r of sys.cellRelations[c]!) rels.add(r);
  return pickFrom(rels);
}
