/**
 * `buildSql`: every statement a pushdown source runs for a plan over a relation, reproducing the CSV path exactly:
 *
 *   typed conversion and domain checks (RowConverter rules, same reason classes, same order of checks)
 *     -> contribution bounding: ROW_NUMBER() OVER (PARTITION BY unit ORDER BY keyed hash) <= m
 *     -> clamping per kept row
 *     -> per (unit, cell) rows and sums: GROUP BY GROUPING SETS over every table's margins and hierarchy levels
 *     -> per cell: units, rows, sum, the TOP_K largest per-unit contributions.
 *
 * Only cells come back (plus one statistics row). The bounding key is the single bind parameter ($1): it never appears
 * in SQL text (so not in server logs).
 */
import type { Plan } from '../../types.ts';
import { makeRecordLayout } from '../../aggregate/record-layout.ts';
import { truncationCap } from '../source.ts';
import { clampStatsSql, unitStatsSql } from './bounding.ts';
import { compile } from './compiler.ts';
import type { SqlContext } from './context.ts';
import { convertRows } from './conversion.ts';
import { FLAVORS, formOf } from './flavor.ts';
import type { SqlFlavor } from './flavor.ts';
import { groupingModel } from './levels.ts';
import { onePassStatement } from './one-pass.ts';
import { aggStatements } from './statements.ts';
import type { BuildSqlOptions, SqlQueryPlan, SqlRelation } from './types.ts';

/**
 * Whether the plan reads the top contributions of sum cells: the magnitude rules of the sdc regime (dominance, p%, (p,q))
 * and the ckm regime (magnitude perturbation). Otherwise the SQL sources do not compute them (sum cells get `top: []`).
 */
export function planUsesTop(plan: Plan): boolean {
  const p = plan.protection;
  return p.regime === 'ckm' || (p.regime === 'sdc' && (p.dominance.length > 0 || p.pPercent !== null || p.pq !== null));
}

/** Build the statements for a plan over a relation (`keyHex`: the bounding key, sent as bind parameter $1). */
export function buildSql(
  plan: Plan,
  rel: SqlRelation,
  flavorName: SqlFlavor,
  keyHex: string,
  opts: BuildSqlOptions = { typedTable: null },
): SqlQueryPlan {
  const flavor = FLAVORS[flavorName];
  const form = formOf(flavor, opts);
  const layout = makeRecordLayout(plan);
  const conv = convertRows(plan, layout, rel, flavor, form, opts);
  const grouping = groupingModel(layout);
  const ctx: SqlContext = {
    layout,
    flavor,
    form,
    needTop: planUsesTop(plan),
    keyHex,
    maxRowsPerUnit: plan.dataset.unit.maxRowsPerUnit,
    dropCap: truncationCap(plan) ?? plan.dataset.unit.maxRowsPerUnit,
    conv,
    grouping,
  };
  return {
    onePass: onePassStatement(ctx),
    layout,
    typedSelect: compile(conv.typedSelect),
    validate: compile(conv.validate),
    locate: compile(conv.locate),
    unitStats: conv.hasUnit ? (keyed) => unitStatsSql(ctx, keyed) : null,
    hasUnitKey: conv.hasUnitKey,
    clampStats: (bounded, key) => clampStatsSql(ctx, bounded, key),
    statements: (mode, bounded, key) => aggStatements(ctx, mode, bounded, key),
    sets: grouping.sets,
    canon: grouping.canon,
    positionColumn: conv.positionColumn,
    hasUnit: conv.hasUnit,
  };
}
