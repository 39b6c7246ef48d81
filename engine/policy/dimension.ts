/**
 * A table dimension from its declaration: leaf categories, optional hierarchy (nested codes or code prefixes) and
 * total, resolved into a DimensionPlan.
 *
 * Guarantee: nodes are leaves first (declared order), then aggregates (hierarchy levels, then the total), and the
 * hierarchy partitions the leaves (each appears exactly once); otherwise a plain Error names the offending code.
 */
import type { Category, DimensionNode, DimensionPlan } from '../types.ts';

/** A hierarchy level as declared in a policy: an aggregate code over child codes (leaf codes or other aggregates). */
export interface HierarchyNodeSpec {
  readonly code: string;
  readonly label: string;
  readonly children: readonly (HierarchyNodeSpec | string)[];
}

export interface DimensionSpec {
  readonly name: string;
  readonly label?: string;
  /** Leaf categories (declared domain), in published order. */
  readonly categories: readonly Category[];
  /** Intermediate levels between the total and the leaves; every leaf must appear exactly once. */
  readonly hierarchy?: readonly (HierarchyNodeSpec | string)[];
  /** Publish a total over the dimension (default true). */
  readonly total?: boolean;
  readonly totalCode?: string;
  readonly totalLabel?: string;
}

export const TOTAL_CODE = '_T';

/**
 * Resolve a dimension into its node list: leaves first (declared order), then
 * aggregates (hierarchy levels, then the total). Throws a plain Error naming
 * the offending code when the hierarchy does not partition the leaves; the
 * policy planner wraps it with the policy path.
 */
export function buildDimension(spec: DimensionSpec): DimensionPlan {
  const leafIndex = new Map<string, number>();
  spec.categories.forEach((c, i) => {
    if (leafIndex.has(c.code)) throw new Error(`category code ${JSON.stringify(c.code)} is declared twice`);
    leafIndex.set(c.code, i);
  });
  interface Mut {
    code: string;
    label: string;
    leaf: boolean;
    level: number;
    parent: number | null;
    children: number[];
    leaves: number[];
  }
  const nodes: Mut[] = spec.categories.map((c, i) => ({
    code: c.code,
    label: c.label,
    leaf: true,
    level: 0,
    parent: null,
    children: [],
    leaves: [i],
  }));
  const seenLeaf = new Set<number>();
  const usedCodes = new Set(leafIndex.keys());

  // Aggregates are appended after the leaves; children are resolved depth-first.
  const addAggregate = (n: HierarchyNodeSpec): number => {
    if (usedCodes.has(n.code)) throw new Error(`hierarchy code ${JSON.stringify(n.code)} is used twice`);
    usedCodes.add(n.code);
    const kids = n.children.map((ch) => resolveChild(ch));
    if (kids.length === 0) throw new Error(`hierarchy code ${JSON.stringify(n.code)} has no children`);
    const idx = nodes.length;
    nodes.push({
      code: n.code,
      label: n.label,
      leaf: false,
      level: 0,
      parent: null,
      children: kids,
      leaves: kids.flatMap((k) => nodes[k]!.leaves),
    });
    for (const k of kids) nodes[k]!.parent = idx;
    return idx;
  };
  const resolveChild = (ch: HierarchyNodeSpec | string): number => {
    if (typeof ch === 'string') {
      const li = leafIndex.get(ch);
      if (li === undefined) throw new Error(`hierarchy names ${JSON.stringify(ch)}, which is not a declared category`);
      if (seenLeaf.has(li)) throw new Error(`category ${JSON.stringify(ch)} appears twice in the hierarchy`);
      seenLeaf.add(li);
      return li;
    }
    return addAggregate(ch);
  };

  let top: number[];
  if (spec.hierarchy && spec.hierarchy.length > 0) {
    top = spec.hierarchy.map((ch) => resolveChild(ch));
    const missing = spec.categories.filter((_, i) => !seenLeaf.has(i)).map((c) => c.code);
    if (missing.length > 0)
      throw new Error(`hierarchy leaves out categories ${missing.map((c) => JSON.stringify(c)).join(', ')}`);
  } else {
    top = spec.categories.map((_, i) => i);
  }

  let total: number | null = null;
  if (spec.total !== false) {
    const code = spec.totalCode ?? TOTAL_CODE;
    if (usedCodes.has(code)) throw new Error(`total code ${JSON.stringify(code)} clashes with a category code`);
    total = nodes.length;
    nodes.push({
      code,
      label: spec.totalLabel ?? 'Total',
      leaf: false,
      level: 0,
      parent: null,
      children: top,
      leaves: spec.categories.map((_, i) => i),
    });
    for (const k of top) nodes[k]!.parent = total;
  } else if (spec.hierarchy && spec.hierarchy.length > 0) {
    throw new Error('a hierarchy needs the dimension total (set total: true)');
  }

  // Levels: depth from the root(s).
  const setLevel = (i: number, lvl: number): void => {
    nodes[i]!.level = lvl;
    for (const k of nodes[i]!.children) setLevel(k, lvl + 1);
  };
  nodes.forEach((n, i) => {
    if (n.parent === null) setLevel(i, 0);
  });

  const frozen: DimensionNode[] = nodes.map((n) =>
    Object.freeze({ ...n, children: Object.freeze(n.children), leaves: Object.freeze(n.leaves) }),
  );
  return Object.freeze({
    name: spec.name,
    label: spec.label ?? spec.name,
    nodes: Object.freeze(frozen),
    leafCount: spec.categories.length,
    total,
  });
}

/** Node indices on the path from a leaf up to the root (leaf first). */
export function ancestorsOf(dim: DimensionPlan, leaf: number): number[] {
  const out: number[] = [];
  let cur: number | null = leaf;
  while (cur !== null) {
    out.push(cur);
    cur = dim.nodes[cur]!.parent;
  }
  return out;
}

/** A hierarchy derived from code prefixes (policy `hierarchies.<column>: { prefixLengths, labels? }`). */
export interface PrefixHierarchySpec {
  readonly prefixLengths: readonly number[];
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Nested hierarchy levels from code prefixes: level k groups the categories by the first `prefixLengths[k]`
 * characters of their code; an aggregate's code is that prefix. Groups keep the categories' declared order (first
 * appearance). Throws a plain Error naming the offending code when the lengths are not strictly increasing, a code
 * is not longer than the longest prefix, or a prefix equals a category code (or the total code).
 * Guarantee: the result partitions the categories (each leaf under exactly one aggregate per level), so
 * `buildDimension` accepts it and every level's subtotal becomes a node (a cell of every table and of the audit).
 */
export function prefixHierarchy(categories: readonly Category[], spec: PrefixHierarchySpec): HierarchyNodeSpec[] {
  const lens = spec.prefixLengths;
  lens.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 1) throw new Error(`prefix length ${l} must be a positive integer`);
    if (i > 0 && l <= lens[i - 1]!) throw new Error('prefix lengths must be strictly increasing');
  });
  const maxLen = lens[lens.length - 1]!;
  const codes = new Set(categories.map((c) => c.code));
  for (const c of categories) {
    if ([...c.code].length <= maxLen)
      throw new Error(`category code ${JSON.stringify(c.code)} is not longer than the longest prefix length ${maxLen}`);
  }
  const prefix = (code: string, n: number): string => [...code].slice(0, n).join('');
  const level = (cats: readonly Category[], k: number): (HierarchyNodeSpec | string)[] => {
    if (k === lens.length) return cats.map((c) => c.code);
    const groups = new Map<string, Category[]>();
    for (const c of cats) {
      const p = prefix(c.code, lens[k]!);
      if (codes.has(p) || p === TOTAL_CODE)
        throw new Error(
          `prefix ${JSON.stringify(p)} equals a category code (or the total code): rename the category or choose other prefix lengths`,
        );
      let g = groups.get(p);
      if (!g) {
        g = [];
        groups.set(p, g);
      }
      g.push(c);
    }
    return [...groups].map(([p, cs]) => ({ code: p, label: spec.labels?.[p] ?? p, children: level(cs, k + 1) }));
  };
  return level(categories, 0) as HierarchyNodeSpec[];
}

/**
 * The hierarchy of a policy's `hierarchies.<column>` entry: nested codes (array) as declared, or derived from code
 * prefixes (object). Throws a plain Error (see `prefixHierarchy`) for a bad prefix hierarchy.
 */
export function resolveHierarchy(
  h: unknown,
  categories: readonly Category[],
): readonly (HierarchyNodeSpec | string)[] | undefined {
  if (Array.isArray(h)) return h as (HierarchyNodeSpec | string)[];
  if (h !== null && typeof h === 'object' && Array.isArray((h as { prefixLengths?: unknown }).prefixLengths)) {
    return prefixHierarchy(categories, h as PrefixHierarchySpec);
  }
  return undefined;
}
