/**
 * The DP regime: exact discrete noise on every cell, then post-processing only.
 *
 * Guarantee. Neighbouring datasets differ by all rows of one unit (at most m
 * rows kept per unit by the bounding step). Each table query (the vector of
 * all its cells, margins included) has the L1/L2 sensitivity of
 * sensitivity.ts. Laplace: a table (query) with budget eps_q gets noise of
 * scale t >= L1/eps_q, so it is eps_q-DP; tables compose additively to at
 * most the plan's epsilon. Gaussian: sigma^2 >= L2^2/(2 rho_q) gives
 * rho_q-zCDP; zCDP adds to at most the plan's rho, reported as (epsilon,
 * delta)-DP by CKS 2020 Cor. 13. Mean tables spend half their budget on the
 * sum and half on the unit or row count (mean.ts).
 *
 * A truncation report (truncation.ts), where the plan asks, takes its share
 * of the total first: the tables' shares and the report's add up to at most 1.
 *
 * Post-processing (free: a function of noisy values and public plan data
 * only): clamping to >= 0 (counts; sums when lower >= 0), clamping means to
 * the range a unit's total can take, dividing by 10^decimals, the noisy
 * threshold, officer-marked cells. Exact values are read in exactly one place
 * (`exact + noise`); nothing decides on them and none is kept in the result.
 */
import type {
  CellAccuracy,
  DpPlan,
  ExactCell,
  ExactTable,
  ProtectedCell,
  ProtectedTable,
  RandomSource,
  TablePlan,
  UnitPlan,
} from '../types.ts';
import { cellCount, cellIndex } from '../types.ts';
import { StatguardError } from '../errors.ts';
import { zcdpToApproxDp } from './accounting.ts';
import { exactInt, makeNoise, queryAccounting, safeNoise, type DpQueryAccounting } from './noise.ts';
import { protectMeanCells } from './mean.ts';
import { protectQuantileCells, type QuantileAccounting } from './quantile.ts';
import { tableSensitivity } from './sensitivity.ts';
import { restrictTable, selectPartitions, type PartitionAccounting } from './partition.ts';
import type { HighsRuntime } from '../sdc/highs.ts';
import type { ExactTruncation } from '../source/source.ts';
import { protectTruncation, truncationReportOf, type TruncationAccounting } from './truncation.ts';
import {
  checkConsistency,
  consistencyHook,
  consistencyOf,
  type ConsistencyOutput,
  type ConsistencyReport,
} from './consistency.ts';

export type { DpQueryAccounting };

export interface DpTableAccounting {
  readonly table: string;
  readonly measure: 'count' | 'sum' | 'mean' | 'quantile';
  readonly budgetShare: number;
  /** Table budget: epsilon (Laplace) or rho (Gaussian); the other is null. */
  readonly epsilon: number | null;
  readonly rho: number | null;
  /** L: cells one row is counted in (product of leaf-to-root path lengths). */
  readonly cellsPerRow: number;
  /** Of the table's main query (the sum for mean tables), published unit. */
  readonly l1Sensitivity: number;
  readonly l2Sensitivity: number;
  readonly noiseScale: number;
  readonly cellsNoised: number;
  /** Cells published as null (noisy threshold or officer-marked); decided on noisy values only. */
  readonly cellsSuppressed: number;
  readonly queries: readonly DpQueryAccounting[];
  /** Consistency post-processing of this table (consistency.ts); absent when none was applied. */
  readonly consistency?: ConsistencyReport;
  /** Quantile tables (quantile.ts): the exponential mechanism per cell, its per-cell epsilon and rank bound; queries is empty. */
  readonly quantile?: QuantileAccounting;
}

export interface DpAccounting {
  readonly regime: 'dp';
  /** The neighbouring relation the guarantee is stated for. */
  readonly neighbouring: string;
  readonly unitKind: UnitPlan['kind'];
  readonly maxRowsPerUnit: number;
  readonly mechanism: DpPlan['mechanism'];
  readonly definition: 'pure-dp' | 'zcdp';
  /** Whole release: Laplace {epsilon, delta: 0, rho: null}; Gaussian {rho, epsilon, delta} with (epsilon, delta) implied by rho. */
  readonly total: { readonly epsilon: number; readonly delta: number; readonly rho: number | null };
  readonly noisyThreshold: number | null;
  readonly granularityLog2: number;
  readonly tables: readonly DpTableAccounting[];
  /** The truncation report (truncation.ts): noisy counts of rows dropped and values clamped; null when not asked. */
  readonly truncation: TruncationAccounting | null;
  /** Open columns: their private partition selection (partition.ts); absent when the policy has none. */
  readonly partitionSelection?: readonly PartitionAccounting[];
}

export interface DpResult {
  readonly tables: ProtectedTable[];
  readonly accounting: DpAccounting;
}

/** Checks that a DP plan is complete and in range. Exact-value rules do not exist in a DpPlan by construction. */
export function checkDpPlan(plan: DpPlan): void {
  const bad = (path: string, msg: string): never => {
    throw new StatguardError('POLICY_INVALID', msg, { path });
  };
  if (plan.regime !== 'dp') bad('/protection/regime', 'not a DP plan');
  if (plan.mechanism === 'discrete-laplace') {
    if (plan.epsilon === null || !(plan.epsilon > 0) || !Number.isFinite(plan.epsilon))
      bad('/protection/epsilon', 'the discrete Laplace mechanism needs a finite epsilon > 0');
  } else if (plan.mechanism === 'discrete-gaussian') {
    if (plan.rho === null || !(plan.rho > 0) || !Number.isFinite(plan.rho))
      bad('/protection/rho', 'the discrete Gaussian mechanism needs a finite rho > 0');
    if (!(plan.delta > 0 && plan.delta < 1)) bad('/protection/delta', 'delta must be in (0, 1)');
  } else {
    bad('/protection/mechanism', `unknown mechanism ${JSON.stringify(plan.mechanism)}`);
  }
  if (plan.noisyThreshold !== null && !Number.isFinite(plan.noisyThreshold))
    bad('/protection/noisyThreshold', 'noisyThreshold must be a finite number or null');
  const ps = plan.partitionSelection;
  if (ps !== undefined) {
    if (!(ps.delta > 0 && ps.delta < 1)) bad('/protection/partitionSelection/delta', 'delta must be in (0, 1)');
    if (!(ps.share > 0 && ps.share <= 1))
      bad('/protection/partitionSelection/weight', 'the selection needs a budget share > 0');
    if (ps.threshold !== 'minimum' && !(Number.isSafeInteger(ps.threshold) && ps.threshold >= 1))
      bad('/protection/partitionSelection/threshold', 'threshold must be "minimum" or an integer >= 1');
  }
  if (!Number.isInteger(plan.granularityLog2) || plan.granularityLog2 < 0 || plan.granularityLog2 > 52) {
    bad('/protection/granularityLog2', 'granularityLog2 must be an integer in [0, 52]');
  }
}

/** Cell indices of officer-marked cells (codes per dimension); public plan data. */
function markedCells(plan: TablePlan, list: readonly (readonly string[])[], field: string): Set<number> {
  const dims = plan.dimensions;
  const maps = dims.map((d) => new Map(d.nodes.map((n, i) => [n.code, i])));
  const out = new Set<number>();
  list.forEach((codes, j) => {
    if (codes.length !== dims.length) {
      throw new StatguardError(
        'POLICY_INVALID',
        `table ${plan.id}: ${field} entry ${j} has ${codes.length} codes, the table has ${dims.length} dimensions`,
        { path: `/tables/${plan.id}/${field}/${j}` },
      );
    }
    const coords = codes.map((c, d) => {
      const idx = maps[d]!.get(c);
      if (idx === undefined)
        throw new StatguardError(
          'POLICY_INVALID',
          `table ${plan.id}: ${field} entry ${j} names ${JSON.stringify(c)}, not a code of dimension ${dims[d]!.name}`,
          { path: `/tables/${plan.id}/${field}/${j}/${d}` },
        );
      return idx;
    });
    out.add(cellIndex(dims, coords));
  });
  return out;
}

/**
 * Protect exact tables with the plan's discrete mechanism. `rng` must be
 * cryptoRandom() for a real release (seededRandom is for tests and demos).
 */
export function protectDp(
  tables: readonly ExactTable[],
  plan: DpPlan,
  unit: UnitPlan,
  rng: RandomSource,
  options: {
    readonly highs?: HighsRuntime;
    readonly truncation?: ExactTruncation | undefined;
    /** Selection queries of open columns (engine/policy/open-domain.ts `selectionTables`), aggregated with the tables. */
    readonly selection?: readonly ExactTable[];
  } = {},
): DpResult {
  checkDpPlan(plan);
  checkConsistency(plan);
  if (consistencyOf(plan) === 'hierarchical' && !options.highs)
    throw new StatguardError('USAGE', 'consistency "hierarchical" needs the HiGHS runtime (engine/sdc/highs.ts)');
  const m = unit.maxRowsPerUnit;
  if (!Number.isSafeInteger(m) || m < 1)
    throw new StatguardError('POLICY_INVALID', 'maxRowsPerUnit must be a positive integer', {
      path: '/dataset/unit/maxRowsPerUnit',
    });
  // The budget check includes the truncation report and the partition selection: together they spend at most the total.
  const report = truncationReportOf(plan);
  const selection = options.selection ?? [];
  const shareSum = [...tables, ...selection].reduce((s, t) => s + t.plan.budgetShare, 0) + (report?.share ?? 0);
  if (shareSum > 1 + 1e-9) {
    throw new StatguardError(
      'POLICY_INVALID',
      `budget shares of the tables${report ? ' and the truncation report' : ''} add up to ${shareSum}, more than 1`,
      { path: report ? '/protection/truncationReport' : '/tables' },
    );
  }
  if (report && !options.truncation)
    throw new StatguardError(
      'USAGE',
      'the policy asks for a truncation report but the source gave no truncation counts',
    );
  const laplace = plan.mechanism === 'discrete-laplace';
  const totalBudget = laplace ? plan.epsilon! : plan.rho!;
  const k = plan.granularityLog2;

  // Open columns first: the categories published, from noisy counts only; every table is then restricted to them.
  const picked = selectPartitions(selection, plan, m, totalBudget, rng);
  for (const t of tables)
    for (const d of t.plan.dimensions)
      if (d.open === true && !picked.released.has(d.name))
        throw new StatguardError(
          'USAGE',
          `table ${t.plan.id}: dimension ${d.name} is an open column, and its partition selection query was not given`,
          { path: `/tables/${t.plan.id}` },
        );
  const out: ProtectedTable[] = [];
  const accounts: DpTableAccounting[] = [];
  for (const table of tables) {
    const r = protectTable(restrictTable(table, picked.released), plan, m, totalBudget, rng, options.highs);
    out.push(r.table);
    accounts.push(r.account);
  }
  // After every table's noise: a release without a report draws the same sequence as before.
  const truncation = report
    ? protectTruncation(
        plan,
        unit,
        tables.map((t) => t.plan),
        report,
        options.truncation!,
        totalBudget,
        rng,
      )
    : null;

  // Partition selection adds its delta (partition.ts): (eps, delta_sel) for Laplace, (eps(rho, delta), delta + delta_sel).
  const selDelta = plan.partitionSelection !== undefined && selection.length > 0 ? plan.partitionSelection.delta : 0;
  const total = laplace
    ? { epsilon: plan.epsilon!, delta: selDelta, rho: null }
    : { rho: plan.rho!, epsilon: zcdpToApproxDp(plan.rho!, plan.delta), delta: plan.delta + selDelta };
  const accounting: DpAccounting = Object.freeze({
    regime: 'dp',
    neighbouring: `datasets differ by all rows of one ${unit.kind} (at most ${m} rows per unit)`,
    unitKind: unit.kind,
    maxRowsPerUnit: m,
    mechanism: plan.mechanism,
    definition: laplace ? 'pure-dp' : 'zcdp',
    total: Object.freeze(total),
    noisyThreshold: plan.noisyThreshold,
    granularityLog2: k,
    tables: Object.freeze(accounts),
    truncation,
    ...(picked.accounting.length > 0 ? { partitionSelection: picked.accounting } : {}),
  });
  return { tables: out, accounting };
}

/** An exact table's kind, budget share and cell count, checked; its cell count. */
function checkExactTable(table: ExactTable): number {
  const tp = table.plan;
  const where = { path: `/tables/${tp.id}` };
  if (table.kind !== 'exact') throw new StatguardError('USAGE', `table ${tp.id} is not an exact table`, where);
  if (!(tp.budgetShare > 0) || !Number.isFinite(tp.budgetShare)) {
    throw new StatguardError('POLICY_INVALID', `table ${tp.id}: a DP table needs a budget share > 0`, {
      path: `/tables/${tp.id}/budgetShare`,
    });
  }
  const n = cellCount(tp.dimensions);
  if (table.cells.length !== n)
    throw new StatguardError(
      'USAGE',
      `table ${tp.id} has ${table.cells.length} cells, its dimensions give ${n}`,
      where,
    );
  return n;
}

/** One table: its noisy cells and its accounting (the table's budget is `totalBudget` x its share). */
function protectTable(
  table: ExactTable,
  plan: DpPlan,
  m: number,
  totalBudget: number,
  rng: RandomSource,
  highs?: HighsRuntime,
): { table: ProtectedTable; account: DpTableAccounting } {
  const laplace = plan.mechanism === 'discrete-laplace';
  const k = plan.granularityLog2;
  const tp = table.plan;
  const n = checkExactTable(table);

  const sens = tableSensitivity(tp, m, k);
  const tableBudget = totalBudget * tp.budgetShare;
  const meas = tp.measure;
  // Budget split: one query for count and sum tables; sum and count each get half for mean tables
  // (eps/2 + eps/2 = eps; rho/2 + rho/2 = rho by composition).
  const queryBudget = meas.kind === 'mean' ? tableBudget / 2 : tableBudget;

  const never = markedCells(tp, tp.neverSuppress, 'neverSuppress');
  const always = markedCells(tp, tp.alwaysSuppress, 'alwaysSuppress');
  const threshold = plan.noisyThreshold;
  const cells: ProtectedCell[] = new Array<ProtectedCell>(n);
  let suppressed = 0;
  // Post-processing decision: uses only the noisy statistic and public plan data.
  const hide = (i: number, noisyStatistic: number): boolean =>
    always.has(i) || (threshold !== null && !never.has(i) && noisyStatistic < threshold);
  const suppressedCell: ProtectedCell = Object.freeze({ value: null, conf: 'C', obs: 'E', accuracy: null });
  let post: ConsistencyOutput | null = null; // the consistency hook's output (count and sum tables)
  if (meas.kind === 'quantile') return quantileTable(table, plan, m, tableBudget, rng, always, suppressedCell);

  let queries: DpQueryAccounting[];
  if (meas.kind === 'count') {
    const noise = makeNoise(plan, queryBudget, sens.count.l1, sens.count.l2Squared);
    const acc: CellAccuracy = Object.freeze({
      scale: noise.scale,
      noiseSd: noise.sd,
      halfWidth95: noise.halfWidth95,
    });
    // The only read of an exact value: the thing the noise is added to.
    const noisy = Array.from(
      { length: n },
      (_, i) => exactInt(tp, i, (table.cells[i] as ExactCell).units, 'unit count') + safeNoise(noise.sample(rng)),
    );
    post = consistencyHook({ plan, table: tp, rng, highs }, noisy, noise, 1, true);
    for (let i = 0; i < n; i++) {
      const value = post ? post.values[i]! : Math.max(0, noisy[i]!); // post-processing: counts are >= 0
      if (hide(i, value)) {
        cells[i] = suppressedCell;
        suppressed++;
      } else cells[i] = Object.freeze({ value, conf: 'F', obs: 'E', accuracy: post ? post.accuracy[i]! : acc });
    }
    queries = [queryAccounting('count', noise, sens.count.l1, sens.count.l2, 1)];
  } else {
    const s = sens.sum!;
    if (s.bound === 0)
      throw new StatguardError('POLICY_INVALID', `table ${tp.id}: measure bounds are both 0, nothing to publish`, {
        path: `/tables/${tp.id}/measure`,
      });
    const g = s.granularity; // scaled units per lattice step
    const div = 10 ** meas.decimals;
    const unitOut = g / div; // published units per lattice step
    const clampSum = meas.lower >= 0; // sums of non-negative values are >= 0: public knowledge
    const sumNoise = makeNoise(plan, queryBudget, s.l1, s.l2Squared);
    // Released sum (scaled units) = g * (floor(x/g) + N): floor(x/g) has the lattice sensitivity of sensitivity.ts.
    const noisyLattice = (i: number): number =>
      Math.floor(exactInt(tp, i, (table.cells[i] as ExactCell).sum, 'sum') / g) + safeNoise(sumNoise.sample(rng)); // floor(x/g) exact: g is a power of two
    const noisySum = (i: number, lattice = noisyLattice(i)): number => {
      const v = lattice * g;
      if (!Number.isSafeInteger(v))
        throw new StatguardError('ARITHMETIC_OVERFLOW', `table ${tp.id}: a noisy sum exceeds the safe integer range`, {
          path: `/tables/${tp.id}/cells/${i}`,
        });
      return clampSum ? Math.max(0, v) : v;
    };
    if (meas.kind === 'sum') {
      const acc: CellAccuracy = Object.freeze({
        scale: sumNoise.scale * unitOut,
        noiseSd: sumNoise.sd * unitOut,
        halfWidth95: sumNoise.halfWidth95 * unitOut,
      });
      const noisy = Array.from({ length: n }, (_, i) => noisyLattice(i));
      post = consistencyHook({ plan, table: tp, rng, highs }, noisy, sumNoise, unitOut, clampSum);
      for (let i = 0; i < n; i++) {
        const value = post ? (post.values[i]! * g) / div : noisySum(i, noisy[i]) / div;
        if (hide(i, value)) {
          cells[i] = suppressedCell;
          suppressed++;
        } else cells[i] = Object.freeze({ value, conf: 'F', obs: 'E', accuracy: post ? post.accuracy[i]! : acc });
      }
      queries = [queryAccounting('sum', sumNoise, s.l1, s.l2, unitOut)];
    } else {
      const r = protectMeanCells({
        table,
        plan,
        m,
        queryBudget,
        sens,
        sumNoise,
        noisySum,
        clampSum,
        div,
        unitOut,
        hide,
        suppressedCell,
        rng,
      });
      r.cells.forEach((c, i) => (cells[i] = c));
      suppressed += r.suppressed;
      queries = r.queries;
    }
  }
  const main = queries[0]!;
  return {
    table: Object.freeze({
      kind: 'protected',
      plan: tp,
      cells: Object.freeze(cells) as ProtectedCell[],
      ...(post ? { consistent: Object.freeze({ note: post.note, measurements: post.measurements }) } : {}),
    }),
    account: Object.freeze({
      table: tp.id,
      measure: meas.kind,
      budgetShare: tp.budgetShare,
      epsilon: laplace ? tableBudget : null,
      rho: laplace ? null : tableBudget,
      cellsPerRow: sens.cellsPerRow,
      l1Sensitivity: main.l1Sensitivity,
      l2Sensitivity: main.l2Sensitivity,
      noiseScale: main.noiseScale,
      cellsNoised: n,
      cellsSuppressed: suppressed,
      queries: Object.freeze(queries),
      ...(post ? { consistency: post.report } : {}),
    }),
  };
}

/** A quantile table (quantile.ts): no noisy count exists, so only officer-marked cells are hidden (no noisy threshold). */
function quantileTable(
  table: ExactTable,
  plan: DpPlan,
  m: number,
  tableBudget: number,
  rng: RandomSource,
  always: ReadonlySet<number>,
  suppressedCell: ProtectedCell,
): { table: ProtectedTable; account: DpTableAccounting } {
  const tp = table.plan;
  const laplace = plan.mechanism === 'discrete-laplace';
  const r = protectQuantileCells(table, plan, m, tableBudget, rng, (i) => always.has(i), suppressedCell);
  const q = r.accounting;
  return {
    table: Object.freeze({ kind: 'protected', plan: tp, cells: Object.freeze(r.cells) }),
    account: Object.freeze({
      table: tp.id,
      measure: 'quantile',
      budgetShare: tp.budgetShare,
      epsilon: laplace ? tableBudget : null,
      rho: laplace ? null : tableBudget,
      cellsPerRow: tableSensitivity(tp, m).cellsPerRow,
      l1Sensitivity: q.utilitySensitivity,
      l2Sensitivity: q.utilitySensitivity,
      noiseScale: (2 * q.utilitySensitivity) / q.epsilonPerCell,
      cellsNoised: r.cells.length,
      cellsSuppressed: r.suppressed,
      queries: Object.freeze([]),
      quantile: q,
    }),
  };
}
