/**
 * Primary rules: which cells are sensitive, and by how much the attacker's interval must cover them.
 *
 * Guarantee: a cell is sensitive when any rule of the plan flags it (minimum frequency, (n,k) dominance, p%, (p,q),
 * zero cells, alwaysSuppress), with the protection of `applyPrimaryRules`; protection levels are in internal units,
 * derived from exact contributions, and never leave the secure zone.
 */
import { StatguardError } from '../errors.ts';
import { cellCoords, cellCount } from '../types.ts';
import type { ConfStatus, ExactCell, ExactTable, SdcPlan, TablePlan } from '../types.ts';

/** Which rule made a cell sensitive. */
export type PrimaryRule = 'frequency' | 'dominance' | 'p-percent' | 'pq' | 'zero' | 'always';

/**
 * Primary assessment of one cell. Protection levels are in the cell's
 * internal units (scaled integers of the sum; units for count tables) and
 * never leave the secure zone: they are derived from exact contributions.
 */
export interface PrimaryCell {
  readonly unsafe: boolean;
  /** 'F' for safe cells; A/O/T/C for sensitive ones. */
  readonly status: ConfStatus;
  /** First rule that flagged the cell (in the order frequency, dominance rules in plan order, p%, (p,q), zero, always), or null. */
  readonly rule: PrimaryRule | null;
  /** Every rule that flagged the cell. */
  readonly rules: readonly PrimaryRule[];
  /** Amount the attacker's upper bound must exceed the true value by. */
  readonly upper: number;
  /** Amount the attacker's lower bound must stay below the true value by. */
  readonly lower: number;
  /** The officer marked this cell neverSuppress (not a candidate for secondary suppression). */
  readonly neverSuppress: boolean;
}

export interface PrimaryResult {
  readonly cells: readonly PrimaryCell[];
  /** Number of sensitive cells per rule (a cell counts once, under its `rule`). */
  readonly counts: Readonly<Record<PrimaryRule, number>>;
}

/**
 * The value the attacker model works on: units for count tables, the scaled sum otherwise (mean tables: their sum;
 * weighted count tables: the sum of weights).
 */
export function internalValue(table: ExactTable, cell: ExactCell): number {
  const m = table.plan.measure;
  return m.kind === 'count' && m.weight === undefined ? cell.units : cell.sum;
}

/** True when the table's measure is a magnitude (sum or mean): dominance, p% and (p,q) apply. */
export function isMagnitude(plan: TablePlan): boolean {
  return plan.measure.kind !== 'count';
}

/**
 * Resolve officer-marked cells (codes per dimension, in dimension order) into dense cell indices.
 * Throws POLICY_INVALID naming the table and the unknown code.
 */
export function markedCells(
  plan: TablePlan,
  marks: readonly (readonly string[])[],
  which: 'neverSuppress' | 'alwaysSuppress',
): Set<number> {
  const out = new Set<number>();
  marks.forEach((codes, m) => {
    if (codes.length !== plan.dimensions.length) {
      throw new StatguardError(
        'POLICY_INVALID',
        `table ${JSON.stringify(plan.id)}: ${which} entry has ${codes.length} codes, expected one per dimension (${plan.dimensions.length})`,
        { path: `/tables/${plan.id}/${which}/${m}` },
      );
    }
    let idx = 0;
    plan.dimensions.forEach((dim, d) => {
      const code = codes[d]!;
      const node = dim.nodes.findIndex((n) => n.code === code);
      if (node < 0) {
        throw new StatguardError(
          'POLICY_INVALID',
          `table ${JSON.stringify(plan.id)}: ${which} names code ${JSON.stringify(code)}, which is not a node of dimension ${JSON.stringify(dim.name)}`,
          { path: `/tables/${plan.id}/${which}/${m}/${d}`, value: code },
        );
      }
      idx = idx * dim.nodes.length + node;
    });
    out.add(idx);
  });
  return out;
}

const EMPTY_COUNTS = (): Record<PrimaryRule, number> => ({
  frequency: 0,
  dominance: 0,
  'p-percent': 0,
  pq: 0,
  zero: 0,
  always: 0,
});

/**
 * Apply the primary rules of `plan` to every cell of `table`.
 *
 * Rules (contributions x1 >= x2 >= ... per unit, X the cell total, in scaled integers):
 * - minimum frequency n: unsafe when 0 < units < n. Status 'A'. Protection (both sides):
 *   plan.frequencyProtection percent of the cell value (units for count tables, |sum| otherwise).
 *   tau-Argus calls this the "frequency range"; we use a percentage of the cell value only (no absolute floor).
 * - (n,k) dominance (magnitude tables only): unsafe when x1+..+xn > k/100 X. Status 'O' (n=1), 'T' (n=2), else 'C'.
 *   Upper protection (Hundepool et al. 2012, 4.2.2): (x1+..+xn) * 100/k - X, the increase of X that makes the cell safe.
 * - p% (magnitude only): unsafe when X - x1 - x2 < p/100 x1. Protection p/100 x1 - (X - x1 - x2). Status 'C'.
 * - (p,q) prior-posterior (magnitude only; Hundepool et al. 2012, 4.2.3): intruders know every contribution to
 *   within q%, so the remainder X - x1 - x2 hides x1 to within q/100 (X - x1 - x2); unsafe when that is below
 *   p/100 x1, i.e. X - x1 - x2 < (p/q) x1. Protection p/100 x1 - q/100 (X - x1 - x2) (the p% rule is q = 100).
 * - zero cells (units = 0): safe unless plan.zeroCells === 'suppress' (then status 'C', protection 0: the audit then
 *   only requires that the cell is not exactly disclosed).
 * - alwaysSuppress cells: status 'C' unless another rule flagged them; protection frequencyProtection percent.
 * Lower protection equals upper protection (symmetric interval, as tau-Argus does by default); the audit caps
 * both at the a priori bounds of the cell (a cell cannot be pushed below 0 when values are non-negative).
 * Count tables: every unit contributes 1, so dominance / p% / (p,q) carry no information and are not applied.
 *
 * A cell that is sensitive and marked neverSuppress is a contradiction: SDC_INFEASIBLE naming the cell's codes.
 */
export function applyPrimaryRules(table: ExactTable, plan: SdcPlan): PrimaryResult {
  const tp = table.plan;
  const dims = tp.dimensions;
  const expected = cellCount(dims);
  if (table.cells.length !== expected) {
    throw new StatguardError(
      'SDC_INFEASIBLE',
      `table ${JSON.stringify(tp.id)} has ${table.cells.length} cells, its dimensions define ${expected}`,
    );
  }
  validatePlan(plan);
  const never = markedCells(tp, tp.neverSuppress, 'neverSuppress');
  const always = markedCells(tp, tp.alwaysSuppress, 'alwaysSuppress');
  const magnitude = isMagnitude(tp);
  const counts = EMPTY_COUNTS();

  const cells = table.cells.map((cell, i): PrimaryCell => {
    const a = assessCell(plan, magnitude, cell, internalValue(table, cell));
    const rules = [...a.rules];
    let status = a.status;
    let prot = a.level;
    if (always.has(i) && rules.length === 0) {
      rules.push('always');
      status = 'C';
      prot = (plan.frequencyProtection / 100) * Math.abs(internalValue(table, cell));
    }
    const unsafe = rules.length > 0;
    if (unsafe && never.has(i)) {
      const codes = cellCoords(dims, i).map((n, d) => dims[d]!.nodes[n]!.code);
      throw new StatguardError(
        'SDC_INFEASIBLE',
        `table ${JSON.stringify(tp.id)}: cell (${codes.join(', ')}) is marked neverSuppress but is sensitive under the primary rules`,
        { path: `/tables/${tp.id}/neverSuppress` },
      );
    }
    if (unsafe) counts[rules[0]!]++;
    return { unsafe, status, rule: rules[0] ?? null, rules, upper: prot, lower: prot, neverSuppress: never.has(i) };
  });
  return { cells, counts };
}

/** One cell's assessment by the rules of `plan` (not alwaysSuppress, which is per table): rules, status, level. */
export interface CellAssessment {
  readonly rules: readonly PrimaryRule[];
  readonly status: ConfStatus;
  readonly level: number;
}

/**
 * The rules of `plan` applied to one cell (contributions `cell.top`, total `cell.sum`, `cell.units` contributors;
 * `value` the cell's internal value), as documented at `applyPrimaryRules`.
 */
export function assessCell(plan: SdcPlan, magnitude: boolean, cell: ExactCell, value: number): CellAssessment {
  const rules: PrimaryRule[] = [];
  let status: ConfStatus = 'F';
  let prot = 0;
  const X = cell.sum;
  const flag = (rule: PrimaryRule, st: ConfStatus, level: number): void => {
    if (rules.length === 0) status = st;
    rules.push(rule);
    prot = Math.max(prot, level);
  };
  const freqLevel = (plan.frequencyProtection / 100) * Math.abs(value);
  if (cell.units === 0) {
    if (plan.zeroCells === 'suppress') flag('zero', 'C', 0);
    return { rules, status, level: prot };
  }
  if (plan.minFrequency !== null && cell.units < plan.minFrequency) flag('frequency', 'A', freqLevel);
  if (magnitude) {
    const x = (j: number): number => cell.top[j] ?? 0;
    for (const rule of plan.dominance) {
      let topN = 0;
      for (let j = 0; j < rule.n; j++) topN += x(j);
      // Guarantee: after protection, the attacker cannot bound X below topN*100/k, so x1..xn stay <= k% of any feasible X.
      if (topN > (rule.k / 100) * X)
        flag('dominance', rule.n === 1 ? 'O' : rule.n === 2 ? 'T' : 'C', (topN * 100) / rule.k - X);
    }
    const x1 = x(0);
    const rest = X - x1 - x(1);
    if (plan.pPercent !== null && rest < (plan.pPercent / 100) * x1) {
      // Guarantee: the second-largest contributor cannot estimate x1 to within p% once X is hidden by this much.
      flag('p-percent', 'C', (plan.pPercent / 100) * x1 - rest);
    }
    if (plan.pq !== null && rest < (plan.pq.p / plan.pq.q) * x1) {
      flag('pq', 'C', (plan.pq.p / 100) * x1 - (plan.pq.q / 100) * rest);
    }
  }
  return { rules, status, level: prot };
}

/**
 * The primary rules applied to a cell of the difference table of a correction (`linkPublished`): `diff` is the
 * change of the cell's internal value between a published release and the current microdata, the sum of the changed
 * units' contributions. Which units changed is not known here, so the rules see the worst case the difference allows:
 * a count table's difference of d comes from at least |d| units (the frequency rule applies to |d|); any other
 * difference may be one unit's contribution (one contributor of |d|: frequency, dominance and p% apply to it).
 * Protection levels are of the difference, which the attacker learns by subtracting the published value.
 */
export function assessDifference(plan: SdcPlan, table: TablePlan, diff: number): CellAssessment {
  const d = Math.abs(diff);
  const countOfUnits = table.measure.kind === 'count' && table.measure.weight === undefined;
  const cell: ExactCell = countOfUnits
    ? { units: d, rows: d, sum: d, top: [] }
    : { units: d > 0 ? 1 : 0, rows: d > 0 ? 1 : 0, sum: d, top: [d] };
  return assessCell({ ...plan, zeroCells: 'publish' }, !countOfUnits, cell, d);
}

function validatePlan(plan: SdcPlan): void {
  const bad = (path: string, msg: string): never => {
    throw new StatguardError('POLICY_INVALID', msg, { path: `/protection/${path}` });
  };
  if (plan.minFrequency !== null && (!Number.isInteger(plan.minFrequency) || plan.minFrequency < 1))
    bad('minFrequency', 'minFrequency must be a positive integer or null');
  if (!(plan.frequencyProtection >= 0))
    bad('frequencyProtection', 'frequencyProtection must be a non-negative percentage');
  plan.dominance.forEach((r, i) => {
    if (!Number.isInteger(r.n) || r.n < 1 || r.n > 4)
      bad(`dominance/${i}/n`, 'dominance n must be an integer in 1..4 (TOP_K contributions are kept)');
    if (!(r.k > 0 && r.k <= 100)) bad(`dominance/${i}/k`, 'dominance k must be a percentage in (0, 100]');
  });
  if (plan.pPercent !== null && !(plan.pPercent > 0)) bad('pPercent', 'p% must be positive');
  if (plan.pq !== null && !(plan.pq.p > 0 && plan.pq.q > 0 && plan.pq.p < plan.pq.q))
    bad('pq', '(p,q) needs 0 < p < q');
}
