/**
 * The dense cell layout of a table (row-major over its dimensions' nodes, the last dimension fastest): strides, cell
 * count, and the conversions between a cell index and its node index per dimension. Split from types.ts (which
 * re-exports them) to keep that file to types; only the nodes' count of each dimension matters here, so the
 * functions take any dimension with `nodes` (a DimensionPlan fits) and import nothing.
 */

/** What the layout needs of a dimension. */
export interface LaidOutDimension {
  readonly nodes: { readonly length: number };
}

/** Strides for the dense cell layout. */
export function strides(dims: readonly LaidOutDimension[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let d = dims.length - 2; d >= 0; d--) s[d] = s[d + 1]! * dims[d + 1]!.nodes.length;
  return s;
}

export function cellCount(dims: readonly LaidOutDimension[]): number {
  return dims.reduce((n, d) => n * d.nodes.length, 1);
}

/** Node index per dimension of a dense cell index. */
export function cellCoords(dims: readonly LaidOutDimension[], index: number): number[] {
  const out = new Array<number>(dims.length);
  for (let d = dims.length - 1; d >= 0; d--) {
    const n = dims[d]!.nodes.length;
    out[d] = index % n;
    index = Math.floor(index / n);
  }
  return out;
}

export function cellIndex(dims: readonly LaidOutDimension[], coords: readonly number[]): number {
  let idx = 0;
  for (let d = 0; d < dims.length; d++) idx = idx * dims[d]!.nodes.length + coords[d]!;
  return idx;
}
