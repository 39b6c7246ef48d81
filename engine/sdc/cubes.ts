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
 * relations are not covered by this construction: a witness built from cubes is checked by `checkWitness`.
 *
 * Guarantee: every cube `forEachCube` yields is balanced along every dimension of its table (every relation of that
 * table keeps its sum when the cube moves) and uses only cells of finite cost; its capacities keep every cell within its a priori
 * bounds. The enumeration is bounded (`MAX_PARTIALS` partial cubes).
 */
import { cellCoords, strides } from '../types.ts';
import type { DimensionPlan, ExactTable } from '../types.ts';
import type { CellSystem } from './relations.ts';

/** A balanced cube around a centre cell (see above), with its cost and capacities. */
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

/** Partial cubes one enumeration builds at most (`forEachCube`). */
const MAX_PARTIALS = 20000;
