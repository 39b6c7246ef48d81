/**
 * Semantic checks of a policy's hierarchies (`dataset.hierarchies`): each on a categorical or derived column, and
 * partitioning its declared categories (nested codes as declared, or derived from code prefixes).
 *
 * Guarantee: a hierarchy on an unknown or non-categorical column, a malformed one (the schema says why) and one that
 * does not partition its categories all mark the column in `badDims`, so the tables using it do not report it again.
 */
import { buildDimension, resolveHierarchy } from './dimension.ts';
import { isObj, ptr, type Obj } from './json-read.ts';
import type { DatasetFacts, Problems } from './problems.ts';

/** Hierarchies: on a categorical or derived column, partitioning its declared categories. */
export function checkHierarchies(p: Problems, hierarchies: Obj, { cols, dims, badDims }: DatasetFacts): void {
  for (const [col, h] of Object.entries(hierarchies)) {
    const path = ptr('dataset', 'hierarchies', col);
    const d = dims.get(col);
    if (d === undefined) {
      p.bad(
        path,
        cols.has(col)
          ? `a hierarchy needs a categorical or derived column, but "${col}" is ${cols.get(col)!.type}`
          : `hierarchy on "${col}", which is not a declared categorical or derived column`,
      );
      badDims.add(col);
      continue;
    }
    if (badDims.has(col)) continue;
    if (!wellFormedHierarchy(h) && !wellFormedPrefix(h)) {
      badDims.add(col);
      continue;
    } // malformed: the schema errors say why
    try {
      buildDimension({ name: col, categories: d.categories, hierarchy: resolveHierarchy(h, d.categories) });
    } catch (err) {
      p.bad(path, `hierarchy of "${col}" does not partition its categories: ${(err as Error).message}`);
      badDims.add(col);
    }
  }
}

function wellFormedPrefix(h: unknown): boolean {
  return (
    isObj(h) &&
    Array.isArray(h.prefixLengths) &&
    h.prefixLengths.length > 0 &&
    h.prefixLengths.every((l) => Number.isInteger(l) && (l as number) >= 1)
  );
}

function wellFormedHierarchy(h: unknown): boolean {
  const child = (c: unknown): boolean =>
    typeof c === 'string' ||
    (isObj(c) &&
      typeof c.code === 'string' &&
      typeof c.label === 'string' &&
      Array.isArray(c.children) &&
      c.children.length > 0 &&
      c.children.every(child));
  return Array.isArray(h) && h.length > 0 && h.every(child);
}
