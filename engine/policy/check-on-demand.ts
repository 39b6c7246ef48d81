/**
 * Semantic checks of a policy's `onDemand` section (tables on demand, engine/ondemand): the regime offers them (ckm
 * or dp; never sdc, whose suppression is not safe against ad-hoc overlapping tables), dp states a per-query budget in
 * its mechanism's parameter (ckm none), every offered dimension is a buildable closed-domain categorical or derived
 * column, and every measure is a named sum (or dp mean) on a numeric column with exact bounds.
 *
 * Guarantee: a policy whose `onDemand` passes these checks plans into an `OnDemandPlan` without error; every problem
 * names its JSON path under `/onDemand`.
 */
import { checkMeasureAt, tableDimensions } from './check-tables.ts';
import { arr, isObj, ptr, str, type Obj } from './json-read.ts';
import type { DatasetFacts, Problems } from './problems.ts';

export const ON_DEMAND_SDC_REFUSAL =
  'tables on demand need regime "ckm" or "dp": suppression is not safe against ad-hoc overlapping tables';

/** The columns offered by default: every closed-domain categorical or derived column read from a required column. */
export function defaultOnDemandDimensions(dataset: Obj, facts: DatasetFacts): string[] {
  const open = new Set(
    arr(dataset.columns)
      .filter((c) => isObj(c) && c.domain === 'open')
      .map((c) => str((c as Obj).name)),
  );
  return [...facts.dims.entries()]
    .filter(([name, d]) => {
      const base = d.base === undefined ? undefined : facts.cols.get(d.base);
      return !open.has(name) && !facts.badDims.has(name) && !(base && base.required === false);
    })
    .map(([name]) => name);
}

export function checkOnDemand(p: Problems, json: Obj, facts: DatasetFacts, hierarchies: Obj): void {
  const od = json.onDemand;
  if (!isObj(od)) return;
  const protection = isObj(json.protection) ? json.protection : {};
  const dataset = isObj(json.dataset) ? json.dataset : {};
  const regime = protection.regime;
  if (regime === 'sdc') {
    p.bad(ptr('onDemand'), ON_DEMAND_SDC_REFUSAL);
    return;
  }
  checkBudget(p, od, protection);
  if (od.dimensions !== undefined) {
    tableDimensions(p, { dimensions: od.dimensions }, ptr('onDemand'), facts, hierarchies, new Set());
    const open = new Set(
      arr(dataset.columns)
        .filter((c) => isObj(c) && c.domain === 'open')
        .map((c) => str((c as Obj).name)),
    );
    arr(od.dimensions).forEach((d, j) => {
      if (typeof d === 'string' && open.has(d))
        p.bad(
          ptr('onDemand', 'dimensions', j),
          `dimension "${d}" has an open domain; tables on demand cross declared domains only`,
        );
    });
  } else if (defaultOnDemandDimensions(dataset, facts).length === 0)
    p.bad(ptr('onDemand'), 'no column can be offered as a dimension: declare categorical or derived columns');
  const names = new Map<string, number>();
  arr(od.measures).forEach((m, i) => {
    if (!isObj(m)) return;
    const at = ptr('onDemand', 'measures', i);
    const name = str(m.name);
    if (name === 'count') p.bad(`${at}/name`, '"count" is always offered; name the measure otherwise');
    else if (name !== undefined && names.has(name))
      p.bad(
        `${at}/name`,
        `measure name "${name}" is used twice (first at ${ptr('onDemand', 'measures', names.get(name)!)})`,
      );
    if (name !== undefined && !names.has(name)) names.set(name, i);
    if (m.kind === 'mean' && regime === 'ckm')
      p.bad(
        `${at}/kind`,
        'the cell key method perturbs counts and sums; offer a mean as a sum measure (with the count)',
      );
    checkMeasureAt(p, m, at, facts, regime === 'dp');
  });
}

/** dp: a per-query budget in the mechanism's parameter; ckm: none (it spends no budget). */
function checkBudget(p: Problems, od: Obj, protection: Obj): void {
  const budget = isObj(od.dp) ? od.dp : undefined;
  if (protection.regime === 'ckm') {
    if (od.dp !== undefined)
      p.bad(ptr('onDemand', 'dp'), 'a per-query budget is for dp; the cell key method spends no budget');
    return;
  }
  if (protection.regime !== 'dp') return;
  const param = protection.mechanism === 'discrete-gaussian' ? 'rho' : 'epsilon';
  if (budget === undefined) {
    p.bad(ptr('onDemand'), `a dp dataset needs "dp": { "${param}": ... }, what each on-demand table costs`);
    return;
  }
  const other = param === 'rho' ? 'epsilon' : 'rho';
  if (budget[other] !== undefined)
    p.bad(
      ptr('onDemand', 'dp', other),
      `the per-query budget is in ${param}, the parameter of ${String(protection.mechanism)}, not ${other}`,
    );
}
