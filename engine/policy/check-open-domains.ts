/**
 * Semantic checks of open domains (a categorical column with `domain: "open"`): what the engine supports and what it
 * refuses, each at the setting that is wrong.
 *
 * Supported: an open column as a table dimension (with or without its total) under the dp regime, its categories
 * published by private partition selection (engine/dp/partition.ts). The total over an open dimension is a noisy
 * count of every row (categories not selected included), which is a fact of the mechanism, not a leak.
 * Refused: an open domain outside dp (nothing else publishes categories found in the data safely); a dp policy whose
 * tables use an open column without `protection.partitionSelection` (its delta and threshold rule must be explicit);
 * a selection without any open column; a hierarchy on an open column or a derived column reading one (both need the
 * codes in advance); consistency `hierarchical` with an open dimension (a table would add up over the published
 * categories while its total counts every row).
 */
import { arr, isObj, ptr, str, type Obj } from './json-read.ts';
import { DEFAULT_CONSISTENCY } from './plan.ts';
import type { Problems } from './problems.ts';

/** The open columns of a dataset declaration: name -> index in `dataset.columns`. */
function openColumns(dataset: Obj): Map<string, number> {
  const open = new Map<string, number>();
  arr(dataset.columns).forEach((c, i) => {
    const name = isObj(c) ? str(c.name) : undefined;
    if (name !== undefined && isObj(c) && c.domain === 'open') open.set(name, i);
  });
  return open;
}

/** Open columns used as a table dimension, in order of first use. */
function usedOpen(tables: unknown, open: ReadonlyMap<string, number>): string[] {
  const used = new Set<string>();
  for (const t of arr(tables)) {
    for (const d of isObj(t) ? arr(t.dimensions) : []) {
      const name = typeof d === 'string' ? d : isObj(d) ? str(d.column) : undefined;
      if (name !== undefined && open.has(name)) used.add(name);
    }
  }
  return [...used];
}

export function checkOpenDomains(p: Problems, dataset: Obj, protection: Obj, tables: unknown): void {
  const open = openColumns(dataset);
  const sel = protection.partitionSelection;
  if (protection.regime !== 'dp') {
    for (const [name, i] of open)
      p.bad(
        ptr('dataset', 'columns', i, 'domain'),
        `column "${name}" has an open domain, which needs the dp regime (its categories are published by differentially private partition selection); declare its categories instead`,
      );
    return;
  }
  if (open.size === 0) {
    if (sel !== undefined)
      p.bad(
        ptr('protection', 'partitionSelection'),
        'partitionSelection selects the categories of open columns (domain: "open"), and no column is open',
      );
    return;
  }
  const used = usedOpen(tables, open);
  if (used.length > 0 && !isObj(sel))
    p.bad(
      ptr('protection'),
      `tables use the open column(s) ${used.map((n) => `"${n}"`).join(', ')}: an open domain needs protection.partitionSelection (delta > 0 and a threshold rule)`,
    );
  const hierarchies = isObj(dataset.hierarchies) ? dataset.hierarchies : {};
  for (const name of open.keys())
    if (hierarchies[name] !== undefined)
      p.bad(
        ptr('dataset', 'hierarchies', name),
        `column "${name}" has an open domain: a hierarchy needs declared categories (declare them, or drop the hierarchy)`,
      );
  arr(dataset.derived).forEach((d, i) => {
    const from = isObj(d) ? str(d.from) : undefined;
    if (from !== undefined && open.has(from))
      p.bad(
        ptr('dataset', 'derived', i, 'from'),
        `derived column "${String(isObj(d) ? d.name : '')}" reads the open column "${from}": bins and recodes need declared categories`,
      );
  });
  if (used.length > 0 && (protection.consistency ?? DEFAULT_CONSISTENCY) === 'hierarchical')
    p.bad(
      ptr('protection', 'consistency'),
      `consistency "hierarchical" with the open dimension(s) ${used.map((n) => `"${n}"`).join(', ')}: a table would add up over the published categories only, while its total counts every row; use consistency "none"`,
    );
}
