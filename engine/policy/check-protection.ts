/**
 * Semantic checks of a policy's protection, per regime: dp refuses every sdc setting and checks that the budget
 * matches the mechanism; ckm checks its ptable, record key and tables (no means, no suppression settings, no weights);
 * sdc checks the (p,q) rule.
 *
 * Guarantee: a dp policy carrying a rule or setting that decides on exact values gets a POLICY_REFUSED problem at that
 * setting, never a mere POLICY_INVALID.
 */
import { arr, isObj, num, ptr, str, type Obj } from './json-read.ts';
import { THRESHOLD_REFUSAL } from '../dp/consistency.ts';
import { DEFAULT_CONSISTENCY } from './plan.ts';
import { SDC_ONLY_PROTECTION, SDC_ONLY_TABLE, type ColInfo, type Problems } from './problems.ts';

/** dp: no sdc setting; the budget parameter of the mechanism (epsilon for discrete-laplace, rho for discrete-gaussian). */
function checkDp(p: Problems, protection: Obj): void {
  for (const key of SDC_ONLY_PROTECTION) {
    if (protection[key] !== undefined)
      p.refuse(
        ptr('protection', key),
        `"${key}" (${key === 'secondary' || key === 'zeroCells' ? 'an sdc suppression setting' : 'an sdc rule on exact values'})`,
      );
  }
  // Consistency 'hierarchical' (the default) publishes every cell: a suppressed cell would be its total minus its siblings.
  if (protection.noisyThreshold !== undefined && (protection.consistency ?? DEFAULT_CONSISTENCY) === 'hierarchical')
    p.bad(ptr('protection', 'noisyThreshold'), THRESHOLD_REFUSAL);
  const budget = isObj(protection.budget) ? protection.budget : null;
  checkTruncationReport(p, protection, budget);
  // An empty budget is reported by the schema (minProperties).
  if (budget && Object.keys(budget).length > 0) {
    if (protection.mechanism === 'discrete-laplace') {
      if (budget.epsilon === undefined)
        p.bad(
          ptr('protection', 'budget'),
          `discrete-laplace needs budget.epsilon (pure differential privacy)${budget.rho !== undefined ? '; budget.rho is for discrete-gaussian (zCDP)' : ''}`,
        );
      else if (budget.rho !== undefined)
        p.bad(
          ptr('protection', 'budget', 'rho'),
          'budget.rho is for discrete-gaussian (zCDP); discrete-laplace takes budget.epsilon only',
        );
    } else if (protection.mechanism === 'discrete-gaussian') {
      if (budget.rho === undefined)
        p.bad(
          ptr('protection', 'budget'),
          `discrete-gaussian needs budget.rho (zero-concentrated differential privacy)${budget.epsilon !== undefined ? '; budget.epsilon is for discrete-laplace (a pure epsilon converts as rho = epsilon^2/2)' : ''}`,
        );
      else if (budget.epsilon !== undefined)
        p.bad(
          ptr('protection', 'budget', 'epsilon'),
          'budget.epsilon is for discrete-laplace; discrete-gaussian takes budget.rho only',
        );
    }
  }
}

/**
 * dp: a truncation report's budget amount is of the mechanism's parameter and less than the release's total (the
 * report is paid from the total; the tables share the rest), naming the amount's path.
 */
function checkTruncationReport(p: Problems, protection: Obj, budget: Obj | null): void {
  const r = protection.truncationReport;
  if (!isObj(r) || !isObj(r.budget)) return;
  const param = protection.mechanism === 'discrete-laplace' ? 'epsilon' : 'rho';
  const other = param === 'rho' ? 'epsilon' : 'rho';
  if (r.budget[other] !== undefined) {
    p.bad(
      ptr('protection', 'truncationReport', 'budget', other),
      `the report's budget is taken from the release's ${param} (${String(protection.mechanism)}), not ${other}`,
    );
    return;
  }
  const amount = num(r.budget[param]);
  const total = budget ? num(budget[param]) : undefined;
  if (amount !== undefined && total !== undefined && amount >= total)
    p.bad(
      ptr('protection', 'truncationReport', 'budget', param),
      `the truncation report does not fit in the release's budget: ${param} ${amount} is not less than the total ${param} ${total} (the tables would get nothing)`,
    );
}

/** dp: a truncation report needs something to count: a unit column (rows dropped) or a table that clamps a measure. */
function checkReportHasCounts(p: Problems, protection: Obj, dataset: Obj, tables: unknown): void {
  if (!isObj(protection.truncationReport)) return;
  const unit = isObj(dataset.unit) ? dataset.unit : {};
  const clamps = arr(tables).some((t) => isObj(t) && isObj(t.measure) && t.measure.kind !== 'count');
  if (str(unit.column) === undefined && !clamps)
    p.bad(
      ptr('protection', 'truncationReport'),
      'a truncation report has nothing to count: each row is its own unit (no unit column, so no row is dropped) and no table clamps a measure',
    );
}

/** ckm: a ptable file or its parameters (variance at most D^2), a numeric record key, no means, suppression settings or weights. */
function checkCkm(
  p: Problems,
  protection: Obj,
  dataset: Obj,
  tables: unknown,
  cols: ReadonlyMap<string, ColInfo>,
): void {
  const pt = isObj(protection.ptable) ? protection.ptable : {};
  const params = ['maxDeviation', 'variance', 'js', 'pstay'].filter((k) => pt[k] !== undefined);
  if (pt.file !== undefined && params.length > 0)
    p.bad(
      ptr('protection', 'ptable'),
      `give either a ptable "file" or its parameters, not both (got file and ${params.join(', ')})`,
    );
  if (pt.file === undefined) {
    for (const k of ['maxDeviation', 'variance'])
      if (pt[k] === undefined)
        p.bad(ptr('protection', 'ptable'), `a generated ptable needs "${k}" (or give a ptable "file")`);
    const D = num(pt.maxDeviation);
    const V = num(pt.variance);
    if (D !== undefined && V !== undefined && V > D * D)
      p.bad(
        ptr('protection', 'ptable', 'variance'),
        `variance ${V} exceeds D^2 = ${D * D}: no perturbation bounded by D has it`,
      );
  }
  const rk = isObj(protection.recordKey) ? str(protection.recordKey.column) : undefined;
  if (rk !== undefined) {
    const c = cols.get(rk);
    if (c === undefined)
      p.bad(ptr('protection', 'recordKey', 'column'), `record-key column "${rk}" is not a declared column`);
    else if (c.type !== 'number')
      p.bad(
        ptr('protection', 'recordKey', 'column'),
        `record-key column "${rk}" must be a number column, but it is ${c.type}`,
      );
  }
  arr(tables).forEach((t, i) => {
    if (isObj(t) && isObj(t.measure) && t.measure.kind === 'mean')
      p.bad(
        ptr('tables', i, 'measure', 'kind'),
        'the cell key method perturbs counts and sums; publish a mean as a sum table and a count table',
      );
    for (const key of SDC_ONLY_TABLE)
      if (isObj(t) && t[key] !== undefined)
        p.bad(ptr('tables', i, key), `"${key}" is a suppression setting; the cell key method suppresses nothing`);
  });
  if (str(dataset.weight) !== undefined)
    p.bad(ptr('dataset', 'weight'), 'sampling weights are not supported under ckm');
}

/** sdc: the (p,q) rule needs p < q. */
function checkSdc(out: Problems, protection: Obj): void {
  const rules = isObj(protection.rules) ? protection.rules : {};
  if (isObj(rules.pq)) {
    const p = num(rules.pq.p);
    const q = num(rules.pq.q);
    if (p !== undefined && q !== undefined && p >= q)
      out.bad(ptr('protection', 'rules', 'pq'), `(p,q) rule needs p < q (got p = ${p}, q = ${q})`);
  }
}

/** The protection's problems for its regime. */
export function checkProtection(
  p: Problems,
  protection: Obj,
  dataset: Obj,
  tables: unknown,
  cols: ReadonlyMap<string, ColInfo>,
): void {
  if (protection.regime === 'dp') {
    checkDp(p, protection);
    checkReportHasCounts(p, protection, dataset, tables);
  } else if (protection.regime === 'ckm') checkCkm(p, protection, dataset, tables, cols);
  else if (protection.regime === 'sdc') checkSdc(p, protection);
}
