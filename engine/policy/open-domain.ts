/**
 * Open domains: a plan whose categorical column has `domain: "open"` (dp only) declares no categories; the source
 * collects the codes it meets (engine/source/open-scan.ts) and `withOpenDomains` rebuilds the plan over them, so the
 * rest of the data path (conversion, bounding, aggregation, SQL pushdown) runs unchanged. Private partition selection
 * (engine/dp/partition.ts) then decides, on noisy counts only, which of these candidates are published.
 *
 * Guarantees:
 * - candidates are sorted by code (UTF-16 order), so the published order depends on which codes are selected only;
 *   their labels are their codes (nothing about them is declared);
 * - the empty string, the column's missing codes and the total code `_T` are never candidates (a row holding `_T` in
 *   an open column is an invalid row, "unknown category", like any undeclared code of a declared column);
 * - each open column used by a table gets one selection query (`selectionTables`): a count of units per candidate,
 *   without total, with the selection's budget share split evenly over the open columns. It is aggregated with the
 *   tables (same bounding), and never published.
 */
import { StatguardError } from '../errors.ts';
import type { Category, ColumnPlan, DimensionPlan, Plan, TablePlan } from '../types.ts';
import { buildDimension, TOTAL_CODE } from './dimension.ts';

/** Most candidate codes an open column may hold (the aggregation's memory grows with them). */
export const MAX_OPEN_CATEGORIES = 100_000;

/** Table ids of selection queries start with this (policy table ids are slugs, which cannot start with "_"). */
export const SELECTION_PREFIX = '_select_';

/** Open columns read by some table dimension, in column order. */
export function openColumnsUsed(plan: Plan): ColumnPlan[] {
  const used = new Set(plan.tables.flatMap((t) => t.dimensions.map((d) => d.name)));
  return plan.dataset.columns.filter((c) => c.open === true && used.has(c.name));
}

/** Whether a plan still has open columns without their candidates (the source must collect them). */
export function needsOpenDomains(plan: Plan): boolean {
  return openColumnsUsed(plan).some((c) => (c.categories ?? []).length === 0);
}

/** Keeps the codes that can be categories: not empty, not a missing code, not the total code; sorted, unique. */
export function candidateCodes(col: ColumnPlan, met: Iterable<string>, path = '/dataset/columns'): string[] {
  const missing = new Set(col.missingValues);
  const out = new Set<string>();
  for (const v of met) if (v !== '' && v !== TOTAL_CODE && !missing.has(v)) out.add(v);
  if (out.size > MAX_OPEN_CATEGORIES)
    throw new StatguardError(
      'USAGE',
      `open column ${col.name} holds more than ${MAX_OPEN_CATEGORIES} distinct codes: declare its categories, or recode it into fewer`,
      { path },
    );
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A dimension rebuilt over other leaf categories (no hierarchy: open columns have none), keeping its total. */
export function dimensionOver(dim: DimensionPlan, categories: readonly Category[]): DimensionPlan {
  const total = dim.total === null ? null : dim.nodes[dim.total]!;
  const built = buildDimension({
    name: dim.name,
    label: dim.label,
    categories,
    total: total !== null,
    ...(total !== null ? { totalCode: total.code, totalLabel: total.label } : {}),
  });
  return dim.open === true ? Object.freeze({ ...built, open: true }) : built;
}

/** The plan with every open column's candidates (codes met in the data, `candidateCodes`) as its categories. */
export function withOpenDomains(plan: Plan, met: ReadonlyMap<string, readonly string[]>): Plan {
  const cats = new Map<string, Category[]>();
  for (const c of openColumnsUsed(plan)) {
    const codes = candidateCodes(c, met.get(c.name) ?? [], `/dataset/columns/${plan.dataset.columns.indexOf(c)}`);
    cats.set(
      c.name,
      codes.map((code) => ({ code, label: code })),
    );
  }
  const columns = plan.dataset.columns.map((c) => (cats.has(c.name) ? { ...c, categories: cats.get(c.name)! } : c));
  const table = (t: TablePlan): TablePlan => ({
    ...t,
    dimensions: t.dimensions.map((d) => (cats.has(d.name) ? dimensionOver(d, cats.get(d.name)!) : d)),
  });
  return { ...plan, dataset: { ...plan.dataset, columns }, tables: plan.tables.map(table) };
}

/**
 * One selection query per open column used by a table: units per candidate, no total, budget share
 * `partitionSelection.share / (open columns)`. Empty when the plan has no open column.
 */
export function selectionTables(plan: Plan): TablePlan[] {
  const open = openColumnsUsed(plan);
  const p = plan.protection;
  if (open.length === 0) return [];
  if (p.regime !== 'dp' || p.partitionSelection === undefined)
    throw new StatguardError(
      'POLICY_INVALID',
      `open column(s) ${open.map((c) => c.name).join(', ')} need protection.partitionSelection (dp regime)`,
      { path: '/protection/partitionSelection' },
    );
  const share = p.partitionSelection.share / open.length;
  return open.map((c) => ({
    id: `${SELECTION_PREFIX}${c.name}`,
    title: `Partition selection of ${c.name}`,
    description: 'Units per candidate category (never published).',
    dimensions: [
      {
        ...buildDimension({ name: c.name, label: c.name, categories: c.categories ?? [], total: false }),
        open: true,
      },
    ],
    measure: { kind: 'count' },
    budgetShare: share,
    neverSuppress: [],
    alwaysSuppress: [],
  }));
}
