/**
 * The numerical core of consistent DP tables (post-processing of noisy measurements only; see consistency.ts):
 *
 * 1. `additivity(dims)`: the additivity structure of a dense table. Every non-leaf cell (some coordinate is an
 *    aggregate node) is the sum of its children along its FIRST aggregate dimension. These n - n_leaf equations are
 *    independent (each defines one non-leaf cell) and imply every other additivity relation (by induction every cell
 *    then equals the sum of the leaf cells under it), so a table satisfying them adds up at every hierarchy level and
 *    margin.
 * 2. `projectConsistent(y, dims)`: the least-squares consistent table, min ||x - y||^2 over tables that add up (all
 *    cells of one table have the same noise variance, so plain least squares is the weighted one). The consistent
 *    tables are x = (M_1 (x) ... (x) M_d) z (z: leaf cells, M_k: leaf-to-node incidence of dimension k), so the
 *    orthogonal projector is P_1 (x) ... (x) P_d and is applied one dimension at a time. P_k on a tree is the classic
 *    two-pass estimator (Hay et al. 2010 for equal fan-out, here any fan-out): bottom-up, each node's subtree estimate
 *    combines its own measurement (variance 1) with the sum of its children's estimates (variance V): (y V + S) / (V
 *    + 1) with variance V / (V + 1); top-down, a parent's final value minus its children's estimates is shared among
 *    the children in proportion to their variances. O(cells x dimensions).
 * 3. `nonNegativeFit(y, dims, add)`: when the projection has a negative cell, the same least squares with x >= 0: the
 *    projection of y onto the intersection of the additive tables and the non-negative orthant, by Dykstra's
 *    alternating projections (Boyle and Dykstra 1986), each step the exact projection of 2. or a clamp at 0, so every
 *    iteration is O(cells x dimensions). It converges to the constrained least-squares solution; after at most
 *    `maxIterations` the last consistent iterate's leaf cells are clamped at 0 and every total recomputed as the sum
 *    of its leaves (additive and non-negative whatever the iteration count). HiGHS's QP solver was measured first:
 *    3 s for 1,150 cells and 30 s for 4,600, too slow to re-run in the accuracy simulation.
 * 4. `controlledRound(x, dims, add, highs)`: integers that still add up, each cell at the floor or the ceiling of its
 *    fitted value (zero-restricted controlled rounding). With one hierarchical dimension (the others without total)
 *    a top-down pass is exact: a node's integer target minus its children's floors is between 0 and the number of
 *    children with a fraction, so the children with the largest fractions are rounded up. Otherwise an L1 rounding
 *    LP solved by HiGHS: each cell between floor and ceiling, the additivity rows, cost (1 - 2 frac) x (|x - fit| at
 *    both ends); its optimum is integral when the constraint matrix is totally unimodular (two dimensions with
 *    margins, Cox 1987) and is checked. Where it is not integral (three or more dimensions) or not found in the time
 *    limit, leaf cells are rounded to the nearest integer and every total is the sum of its rounded leaves: still
 *    additive, still non-negative, only no longer within 1 of the fit (`controlled: false`).
 */
import type { DimensionPlan } from '../types.ts';
import { cellCount, strides } from '../types.ts';
import type { HighsRuntime } from '../sdc/highs.ts';

/** The additivity rows of a table: cell `sumCell[r]` = sum of `children[starts[r] .. starts[r+1])`. */
export interface Additivity {
  readonly n: number;
  /** 1 for a leaf cell (every coordinate a leaf node). */
  readonly leaf: Uint8Array;
  readonly sumCell: Int32Array;
  readonly starts: Int32Array;
  readonly children: Int32Array;
}

export function additivity(dims: readonly DimensionPlan[]): Additivity {
  const n = cellCount(dims);
  const st = strides(dims);
  const leaf = new Uint8Array(n);
  const sumCell: number[] = [];
  const starts: number[] = [0];
  const children: number[] = [];
  const coords = new Array<number>(dims.length).fill(0);
  for (let c = 0; c < n; c++) {
    let rest = c;
    for (let d = dims.length - 1; d >= 0; d--) {
      const len = dims[d]!.nodes.length;
      coords[d] = rest % len;
      rest = Math.floor(rest / len);
    }
    const d = coords.findIndex((node, k) => dims[k]!.nodes[node]!.children.length > 0);
    if (d < 0) {
      leaf[c] = 1;
      continue;
    }
    const node = coords[d]!;
    sumCell.push(c);
    for (const ch of dims[d]!.nodes[node]!.children) children.push(c + (ch - node) * st[d]!);
    starts.push(children.length);
  }
  return {
    n,
    leaf,
    sumCell: Int32Array.from(sumCell),
    starts: Int32Array.from(starts),
    children: Int32Array.from(children),
  };
}

/** Largest |cell - sum of its children| over the additivity rows (0 for a consistent table). */
export function maxInconsistency(x: ArrayLike<number>, add: Additivity): number {
  let worst = 0;
  for (let r = 0; r < add.sumCell.length; r++) {
    let s = 0;
    for (let k = add.starts[r]!; k < add.starts[r + 1]!; k++) s += x[add.children[k]!]!;
    worst = Math.max(worst, Math.abs(x[add.sumCell[r]!]! - s));
  }
  return worst;
}

/** The one-dimensional tree projector, in place on `v` (node order: children before parents, as buildDimension). */
function projectTree(dim: DimensionPlan, v: Float64Array, est: Float64Array, vf: Float64Array): void {
  const nodes = dim.nodes;
  const m = nodes.length;
  for (let i = 0; i < m; i++) {
    const kids = nodes[i]!.children;
    if (kids.length === 0) {
      est[i] = v[i]!;
      vf[i] = 1;
      continue;
    }
    let s = 0;
    let V = 0;
    for (const c of kids) {
      s += est[c]!;
      V += vf[c]!;
    }
    est[i] = (v[i]! * V + s) / (V + 1);
    vf[i] = V / (V + 1);
  }
  for (let i = m - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (node.parent === null) v[i] = est[i]!;
    const kids = node.children;
    if (kids.length === 0) continue;
    let s = 0;
    let V = 0;
    for (const c of kids) {
      s += est[c]!;
      V += vf[c]!;
    }
    const r = v[i]! - s;
    for (const c of kids) v[c] = est[c]! + (r * vf[c]!) / V;
  }
}

/** Least-squares consistent table (no sign constraint): the orthogonal projection of `y` onto the additive tables. */
export function projectConsistent(y: ArrayLike<number>, dims: readonly DimensionPlan[]): Float64Array {
  const x = Float64Array.from(y as ArrayLike<number>);
  const st = strides(dims);
  const n = x.length;
  dims.forEach((dim, d) => {
    const m = dim.nodes.length;
    if (dim.nodes.every((node) => node.children.length === 0)) return; // no total: nothing to reconcile
    const stride = st[d]!;
    const block = stride * m;
    const v = new Float64Array(m);
    const est = new Float64Array(m);
    const vf = new Float64Array(m);
    for (let base = 0; base < n; base += block) {
      for (let off = 0; off < stride; off++) {
        const first = base + off;
        for (let i = 0; i < m; i++) v[i] = x[first + i * stride]!;
        projectTree(dim, v, est, vf);
        for (let i = 0; i < m; i++) x[first + i * stride] = v[i]!;
      }
    }
  });
  return x;
}

/** The additivity rows as a HiGHS CSR matrix (cell - sum of children = 0). */
function rowsOf(add: Additivity): { starts: Int32Array; indices: Int32Array; values: Float64Array } {
  const rows = add.sumCell.length;
  const starts = new Int32Array(rows + 1);
  const indices = new Int32Array(add.children.length + rows);
  const values = new Float64Array(add.children.length + rows);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    starts[r] = k;
    const entries: [number, number][] = [[add.sumCell[r]!, 1]];
    for (let j = add.starts[r]!; j < add.starts[r + 1]!; j++) entries.push([add.children[j]!, -1]);
    entries.sort((a, b) => a[0] - b[0]);
    for (const [i, v] of entries) {
      indices[k] = i;
      values[k++] = v;
    }
  }
  starts[rows] = k;
  return { starts, indices, values };
}

/** Least squares over additive tables with every cell >= 0, by Dykstra's algorithm (see the header). */
export function nonNegativeFit(
  y: ArrayLike<number>,
  dims: readonly DimensionPlan[],
  add: Additivity,
  maxIterations = 500,
): Float64Array {
  const n = add.n;
  let x = Float64Array.from(y as ArrayLike<number>);
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  let u = projectConsistent(x, dims);
  for (let it = 0; it < maxIterations; it++) {
    const shifted = new Float64Array(n);
    for (let i = 0; i < n; i++) shifted[i] = x[i]! + p[i]!;
    u = projectConsistent(shifted, dims);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      p[i] = shifted[i]! - u[i]!;
      worst = Math.min(worst, u[i]!);
    }
    if (worst > -1e-9) break;
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = u[i]! + q[i]!;
      next[i] = v > 0 ? v : 0;
      q[i] = v - next[i]!;
    }
    x = next;
  }
  return sumOfLeaves(u, add, (v) => (v > 0 ? v : 0));
}

/** The rounding LP (see the header); null when HiGHS gives no integral optimum in time. */
function roundingLp(
  x: ArrayLike<number>,
  add: Additivity,
  highs: HighsRuntime,
  bounds: { lower: Float64Array; upper: Float64Array; cost: Float64Array },
  timeLimit: number,
): Float64Array | null {
  const rows = add.sumCell.length;
  const model = highs.createModel({
    numCols: add.n,
    numRows: rows,
    colCost: bounds.cost,
    colLower: bounds.lower,
    colUpper: bounds.upper,
    rowLower: new Float64Array(rows),
    rowUpper: new Float64Array(rows),
    matrix: { format: 'csr', numRows: rows, numCols: add.n, ...rowsOf(add) },
  });
  try {
    model.options.set({ output_flag: false, time_limit: timeLimit });
    if (model.run().modelStatus !== highs.constants.modelStatus.optimal) return null;
    const sol = Float64Array.from(model.getSolution().colValue);
    for (let i = 0; i < add.n; i++) {
      const r = Math.round(sol[i]!);
      if (Math.abs(sol[i]! - r) > 1e-6 || Math.abs(r - x[i]!) >= 1) return null;
      sol[i] = r;
    }
    return maxInconsistency(sol, add) === 0 ? sol : null;
  } finally {
    model.dispose();
  }
}

/** Integers closest to a consistent table that add up: controlled rounding, or the leaf fallback (see the header). */
export function controlledRound(
  x: ArrayLike<number>,
  dims: readonly DimensionPlan[],
  add: Additivity,
  highs: HighsRuntime | null,
  timeLimit: number,
): { values: Float64Array; controlled: boolean } {
  const n = add.n;
  const lower = new Float64Array(n);
  const upper = new Float64Array(n);
  const cost = new Float64Array(n);
  let integral = true;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const r = Math.round(v);
    if (Math.abs(v - r) < 1e-7) {
      lower[i] = upper[i] = r;
      continue;
    }
    integral = false;
    lower[i] = Math.floor(v);
    upper[i] = lower[i]! + 1;
    cost[i] = 1 - 2 * (v - lower[i]!); // |x - v| at the two ends, linear in between
  }
  if (integral) return { values: lower, controlled: true };
  const hierarchical = dims.filter((d) => d.nodes.some((node) => node.children.length > 0));
  const sol =
    hierarchical.length === 1
      ? roundTree(x, dims, dims.indexOf(hierarchical[0]!))
      : highs
        ? roundingLp(x, add, highs, { lower, upper, cost }, timeLimit)
        : null;
  if (sol && maxInconsistency(sol, add) === 0) return { values: sol, controlled: true };
  return { values: sumOfLeaves(x, add, Math.round), controlled: false };
}

/** Exact controlled rounding along the one hierarchical dimension `d`, fibre by fibre (top-down, see the header). */
function roundTree(x: ArrayLike<number>, dims: readonly DimensionPlan[], d: number): Float64Array {
  const out = new Float64Array(x.length);
  const nodes = dims[d]!.nodes;
  const m = nodes.length;
  const stride = strides(dims)[d]!;
  const block = stride * m;
  const v = new Float64Array(m);
  const t = new Float64Array(m);
  const snap = (a: number): number => (Math.abs(a - Math.round(a)) < 1e-7 ? Math.round(a) : a);
  for (let base = 0; base < x.length; base += block) {
    for (let off = 0; off < stride; off++) {
      for (let i = 0; i < m; i++) v[i] = snap(x[base + off + i * stride]!);
      for (let i = m - 1; i >= 0; i--) {
        const node = nodes[i]!;
        if (node.parent === null) t[i] = Math.round(v[i]!);
        if (node.children.length === 0) continue;
        const kids = [...node.children];
        let need = t[i]!;
        for (const c of kids) {
          t[c] = Math.floor(v[c]!);
          need -= t[c]!;
        }
        kids.sort((a, b) => v[b]! - Math.floor(v[b]!) - (v[a]! - Math.floor(v[a]!)));
        for (const c of kids) {
          if (need <= 0) break;
          if (v[c]! === Math.floor(v[c]!)) break;
          t[c]! += 1;
          need--;
        }
      }
      for (let i = 0; i < m; i++) out[base + off + i * stride] = t[i]!;
    }
  }
  return out;
}

/**
 * Leaves mapped by f (rounded, or clamped at 0), every other cell the sum of its children. A row's children have lower cell
 * indices (a child node precedes its parent in its dimension), so one pass in cell order computes every sum.
 */
function sumOfLeaves(x: ArrayLike<number>, add: Additivity, f: (v: number) => number): Float64Array {
  const out = new Float64Array(add.n);
  for (let i = 0; i < add.n; i++) if (add.leaf[i]) out[i] = f(x[i]!);
  for (let r = 0; r < add.sumCell.length; r++) {
    let s = 0;
    for (let k = add.starts[r]!; k < add.starts[r + 1]!; k++) s += out[add.children[k]!]!;
    out[add.sumCell[r]!] = s;
  }
  return out;
}
