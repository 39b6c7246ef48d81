/**
 * A table at the hierarchy levels a query asks for, cut from the table at every dimension's finest level.
 *
 * Every node of a dimension (hierarchy levels and total included) is a cell of the finest table, aggregated from the
 * rows directly (units, sum, top contributions and the ckm cell key are exact for the node, engine/aggregate), so
 * keeping only the nodes at depth <= level is exact: no cell is rebuilt from others.
 *
 * Guarantee: the projected dimension is a valid DimensionPlan (leaves first, in declared order; then aggregates in
 * their order; parents, children and leaves re-indexed), and the cells keep their row-major layout.
 */
import type { DimensionNode, DimensionPlan, ExactCell, ExactTable, TablePlan } from '../types.ts';
import { cellCoords, cellCount, strides } from '../types.ts';
import { nodesAtLevel } from './query.ts';

/** A dimension cut at `level`, and for each new node the index of its node in the full dimension. */
export function projectDimension(
  dim: DimensionPlan,
  level: number | undefined,
): { dim: DimensionPlan; from: number[] } {
  const kept = nodesAtLevel(dim, level);
  const keptSet = new Set(kept);
  const isLeaf = (i: number): boolean => dim.nodes[i]!.leaf || dim.nodes[i]!.children.every((c) => !keptSet.has(c));
  const firstLeaf = (i: number): number => Math.min(...dim.nodes[i]!.leaves);
  const leaves = kept.filter(isLeaf).sort((a, b) => firstLeaf(a) - firstLeaf(b));
  const aggregates = kept.filter((i) => !isLeaf(i));
  const from = [...leaves, ...aggregates];
  const index = new Map(from.map((old, i) => [old, i] as const));
  const leafIndex = (old: number): number[] =>
    leaves.flatMap((l, j) => (dim.nodes[old]!.leaves.includes(firstLeaf(l)) ? [j] : []));
  const nodes: DimensionNode[] = from.map((old, i) => {
    const n = dim.nodes[old]!;
    const leaf = i < leaves.length;
    return Object.freeze({
      code: n.code,
      label: n.label,
      ...(n.labels ? { labels: n.labels } : {}),
      leaf,
      level: n.level,
      parent: n.parent !== null && index.has(n.parent) ? index.get(n.parent)! : null,
      children: Object.freeze(leaf ? [] : n.children.filter((c) => index.has(c)).map((c) => index.get(c)!)),
      leaves: Object.freeze(leaf ? [i] : leafIndex(old)),
    });
  });
  const total =
    dim.total !== null && index.has(dim.total) && aggregates.includes(dim.total) ? index.get(dim.total)! : null;
  return {
    dim: Object.freeze({ ...dim, nodes: Object.freeze(nodes), leafCount: leaves.length, total }),
    from,
  };
}

/** The exact table restricted to the requested levels (per dimension, in the table's order). */
export function projectTable(
  table: ExactTable,
  levels: readonly (number | undefined)[],
  plan: Omit<TablePlan, 'dimensions'>,
): ExactTable {
  const full = table.plan.dimensions;
  const cut = full.map((d, i) => projectDimension(d, levels[i]));
  const dims = cut.map((c) => c.dim);
  const st = strides(full);
  const n = cellCount(dims);
  const cells: ExactCell[] = new Array<ExactCell>(n);
  for (let i = 0; i < n; i++) {
    const coords = cellCoords(dims, i);
    let src = 0;
    for (let d = 0; d < dims.length; d++) src += cut[d]!.from[coords[d]!]! * st[d]!;
    cells[i] = table.cells[src]!;
  }
  return { kind: 'exact', plan: { ...plan, dimensions: dims }, cells };
}
