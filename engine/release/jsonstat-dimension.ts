/**
 * The one builder of a DimensionPlan from a published dimension: from the JSON-stat `category` of a release file
 * (`dimensionFromJsonStat`, used by the release reader), and from a node tree given by parents
 * (`dimensionFromTree`, used by the store for its stored dimension rows). Both share one core.
 *
 * Guarantee: node order is the given order (the JSON-stat index order, which is the engine's node order: leaves
 * first, then aggregates), so cell index i refers to the same cell as in the release files. A node's children keep
 * the order given (JSON-stat `category.child`; index order for a tree given by parents); leaves are numbered in index
 * order; the total is the one root with children, if there is exactly one. A JSON-stat category that is not a
 * forest over its index (repeated or unknown code, a code with two parents, a cycle) is refused with a ReleaseInvalid.
 */
import type { DimensionNode, DimensionPlan } from '../types.ts';
import { bad, isObj, obj } from './read-check.ts';

/** One node of a published dimension: its code, label and parent (index in the same list, or null). */
export interface TreeNode {
  readonly code: string;
  readonly label: string;
  readonly parent: number | null;
}

/** Direct children of each node, in index order, from the nodes' parents. */
function childrenByParent(nodes: readonly TreeNode[]): number[][] {
  const children: number[][] = nodes.map(() => []);
  nodes.forEach((node, i) => {
    if (node.parent !== null) children[node.parent]!.push(i);
  });
  return children;
}

/**
 * A DimensionPlan from nodes in node order. `children` (per node, in the order to keep) defaults to the children
 * found from the parents in index order. The nodes must form a forest (no cycle).
 */
export function dimensionFromTree(
  name: string,
  label: string,
  tree: readonly TreeNode[],
  children: readonly (readonly number[])[] = childrenByParent(tree),
): DimensionPlan {
  const n = tree.length;
  const isLeaf = children.map((c) => c.length === 0);
  const leafOrdinal = new Map<number, number>();
  isLeaf.forEach((l, i) => {
    if (l) leafOrdinal.set(i, leafOrdinal.size);
  });
  const leavesOf: number[][] = new Array(n);
  const collect = (i: number): number[] => {
    if (leavesOf[i]) return leavesOf[i]!;
    const r = isLeaf[i] ? [leafOrdinal.get(i)!] : children[i]!.flatMap(collect);
    leavesOf[i] = r;
    return r;
  };
  const level = new Array<number>(n).fill(0);
  const setLevel = (i: number, l: number): void => {
    level[i] = l;
    for (const c of children[i]!) setLevel(c, l + 1);
  };
  tree.forEach((node, i) => {
    if (node.parent === null) setLevel(i, 0);
  });
  const nodes: DimensionNode[] = tree.map((node, i) =>
    Object.freeze({
      code: node.code,
      label: node.label,
      leaf: isLeaf[i]!,
      level: level[i]!,
      parent: node.parent,
      children: Object.freeze([...children[i]!]),
      leaves: Object.freeze(collect(i)),
    }),
  );
  const roots = nodes.map((x, i) => (x.parent === null && !x.leaf ? i : -1)).filter((i) => i >= 0);
  return Object.freeze({
    name,
    label,
    nodes: Object.freeze(nodes),
    leafCount: leafOrdinal.size,
    total: roots.length === 1 ? roots[0]! : null,
  });
}

/** Codes of `category.index` (an array, or an object code -> position) in index order. */
function indexCodes(cat: Record<string, unknown>, where: string): string[] {
  const index = cat.index;
  if (Array.isArray(index)) return index.map(String);
  if (isObj(index))
    return Object.entries(index)
      .sort((a, b) => Number(a[1]) - Number(b[1]))
      .map(([c]) => c);
  return bad(`${where}/category/index`, 'expected an array or object');
}

/**
 * A JSON-stat 2.0 dimension as a DimensionPlan: nodes in `category.index` order, labels from `category.label` (the
 * code when absent), parents and children from `category.child`; the dimension label from `label` (the name when
 * absent). `where` names the dimension in messages (`<file>/dimension/<name>`).
 */
export function dimensionFromJsonStat(name: string, d: unknown, where: string): DimensionPlan {
  if (!isObj(d)) bad(where, 'expected a dimension object');
  const cat = obj(d, 'category', where);
  const codes = indexCodes(cat, where);
  const pos = new Map<string, number>();
  codes.forEach((c, i) => {
    if (pos.has(c)) bad(`${where}/category/index`, `code ${JSON.stringify(c)} appears twice`);
    pos.set(c, i);
  });
  const labels = isObj(cat.label) ? cat.label : {};
  const parent: (number | null)[] = codes.map(() => null);
  const children: number[][] = codes.map(() => []);
  if (cat.child !== undefined) {
    if (!isObj(cat.child)) bad(`${where}/category/child`, 'expected an object');
    for (const [p, kids] of Object.entries(cat.child)) {
      const pi = pos.get(p);
      if (pi === undefined || !Array.isArray(kids)) bad(`${where}/category/child/${p}`, 'names an unknown code');
      for (const k of kids) {
        const ki = pos.get(String(k));
        if (ki === undefined)
          bad(`${where}/category/child/${p}`, `child ${JSON.stringify(k)} is not a code of the dimension`);
        if (parent[ki] !== null) bad(`${where}/category/child/${p}`, `code ${JSON.stringify(k)} has two parents`);
        parent[ki] = pi;
        children[pi]!.push(ki);
      }
    }
    // With at most one parent per code, a chain longer than the index can only be a cycle.
    parent.forEach((_, i) => {
      let cur: number | null = parent[i] ?? null;
      for (let steps = 0; cur !== null; steps++, cur = parent[cur] ?? null) {
        if (steps >= codes.length)
          bad(`${where}/category/child`, `code ${JSON.stringify(codes[i])} is its own ancestor`);
      }
    });
  }
  const tree: TreeNode[] = codes.map((c, i) => ({
    code: c,
    label: typeof labels[c] === 'string' ? (labels[c] as string) : c,
    parent: parent[i] ?? null,
  }));
  return dimensionFromTree(name, typeof d.label === 'string' ? d.label : name, tree, children);
}
