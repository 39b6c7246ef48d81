/**
 * The optimal method: a minimum-cost pattern by a master MIP and an attacker cut loop (HiGHS).
 *
 * Guarantee: a pattern returned with `optimalFinished: true` passed the audit and is of minimum cost among patterns
 * with no suppressed cell alone in a relation (every cut is valid for all safe patterns); when the time limit ends
 * first, the heuristic's pattern (which passed its own audit) is returned with `optimalFinished: false`, and
 * `OptimalProgress.lowerBound` bounds the optimal cost from below.
 */
import type { AttackDual } from './attacker-lp.ts';
import { auditPattern } from './audit.ts';
import type { CellAudit } from './audit.ts';
import { Deadline, TimeUp } from './deadline.ts';
import { highsRuntime, resetHighsRuntime } from './highs.ts';
import type { InsiderExposure } from './insiders.ts';
import type { OptimalStop, SecondaryInput, SecondaryResult } from './problem.ts';
import type { CellSystem } from './relations.ts';
import type { SensitiveCell } from './sensitive.ts';
import { tolerance } from './tolerance.ts';

/** What an optimal run proved so far, readable even when it ran out of time (the benchmark reports it). */
export interface OptimalProgress {
  /** Lower bound on the optimal pattern's total cost (primaries included): the last master MIP's optimum or proven bound. */
  lowerBound: number;
}

/**
 * Test hook: called before every master MIP solve; throwing there stands for a failing HiGHS call (an exception or
 * the wasm runtime's "Aborted()"), which must end in the heuristic's pattern with the reason reported.
 */
export const optimalTestHooks: { beforeRun?: (iteration: number) => void } = {};

/**
 * Minimum-cost pattern by branch-and-cut on the master MIP (HiGHS): a binary y
 * per cell (1 = suppressed), primaries fixed to 1, neverSuppress fixed to 0,
 * minimise sum cost*y. Start constraints: no suppressed cell is alone in a
 * relation (it would be determined; an optimal pattern never pays for a
 * determined secondary cell, and a determined primary fails). Non-additive
 * (distinct-unit count) relations get the same constraint although a lone cell
 * there is only bounded, not determined: a modelling restriction, so with such
 * relations "optimal" means optimal among patterns where no suppressed cell is
 * alone in any relation (the audit still decides safety). Then repeat:
 * solve, audit the pattern, and for each failing cell add valid cuts:
 * - Fischetti-Salazar protection cuts from the attacker LP's duals: for any
 *   multipliers alpha, max z_c <= sum_j y_j [r_j^+ (ub_j - a_j) + r_j^- (a_j - lb_j)] + sigma
 *   with r = e_c - M^T alpha (weak duality; sigma = 0 for additive tables, see
 *   `protectionCut` for inequality rows), so a safe pattern satisfies
 *   sum_j min(w_j / (U - sigma), 1) y_j >= 1; with alpha from the failing LP the current
 *   pattern violates it;
 * - insider cuts: the same cuts from the LP of the insider (a one-unit cell published, insiders.ts), without the
 *   insider's own cell: whatever the pattern y, the insider sees y without that cell, which must protect the other
 *   unit's cell, so the cut of that LP over the other cells holds for every pattern safe against insiders;
 * - singleton cuts: both cells of a singleton exposure suppressed => a third cell of the relation;
 * - a no-good cut sum_{j not in P} y_j >= 1 (safety is monotone: every subset of an unsafe pattern is unsafe).
 * The first pattern that passes the audit is optimal (every cut is valid for all
 * safe patterns). If the time limit runs out first, the heuristic's safe pattern is used (`fallback`, or computed
 * then when given as a function).
 */
export async function optimalSuppression(
  input: SecondaryInput,
  timeLimit: number | Deadline,
  fallback: SecondaryResult | ((start?: Uint8Array) => Promise<SecondaryResult>),
  progress: OptimalProgress = { lowerBound: 0 },
): Promise<SecondaryResult> {
  const limit = typeof timeLimit === 'number' ? Deadline.after(timeLimit) : timeLimit;
  // Nothing from HiGHS may crash the run: any exception there ends in the fallback with the reason.
  let reason = 'time limit reached before the cut loop proved a pattern safe';
  let last: Uint8Array | undefined;
  let iterations = 0;
  try {
    const out = await cutLoop(input, limit, progress, (p, k) => {
      last = p;
      iterations = k;
    });
    if ('suppressed' in out) return out;
    reason = out.reason;
  } catch (e) {
    if (e instanceof TimeUp) reason = `time limit reached during ${e.phase}`;
    else {
      reason = `HiGHS failed: ${e instanceof Error ? e.message : String(e)}`;
      // An aborted wasm module stays unusable: the heuristic gets a fresh one.
      resetHighsRuntime();
    }
  }
  // Time limit, an infeasible master or a failing solver: the heuristic's safe pattern, computed only now when given
  // lazily, from the last master pattern (the heuristic covers its failing cells and the clean-up trims it). Measured
  // on the 1k benchmark table: 144 secondaries against 154 from the primaries alone with the earlier clean-up order,
  // 128 against 127 with the current one.
  const fb = typeof fallback === 'function' ? await fallback(last) : fallback;
  const incumbentCost = fb.suppressed.reduce((k, v, c) => k + (v ? input.cost[c]! : 0), 0);
  const lowerBound = Math.min(progress.lowerBound, incumbentCost);
  const gap = incumbentCost > 0 ? (incumbentCost - lowerBound) / incumbentCost : 0;
  return {
    ...fb,
    method: 'optimal',
    optimalFinished: false,
    iterations: fb.iterations + iterations,
    optimalStop: { reason, lowerBound, incumbentCost, gap } satisfies OptimalStop,
  };
}

/**
 * The master MIP and cut loop: the proven-optimal result, or why it stopped (`last` is told every master pattern).
 * Throws on a failing HiGHS call or TimeUp from an audit; the caller falls back either way.
 */
async function cutLoop(
  input: SecondaryInput,
  limit: Deadline,
  progress: OptimalProgress,
  seen: (pattern: Uint8Array, iterations: number) => void,
): Promise<SecondaryResult | { reason: string }> {
  const { sys, sensitive } = input;
  const highs = await highsRuntime();
  const N = sys.cellCount;
  const lower = new Float64Array(N);
  const upper = new Float64Array(N).fill(1);
  for (let c = 0; c < N; c++) {
    if (input.primary[c]) lower[c] = 1;
    else if (input.never[c] || input.fixed?.[c]) upper[c] = 0;
  }
  // Cells in no relation never need secondary suppression.
  for (let c = 0; c < N; c++) if (!input.primary[c] && sys.cellRelations[c]!.length === 0) upper[c] = 0;

  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const rowLower: number[] = [];
  const addRow = (entries: Map<number, number>, lo: number): void => {
    for (const [k, v] of [...entries].sort((x, y) => x[0] - y[0])) {
      if (v !== 0) {
        indices.push(k);
        values.push(v);
      }
    }
    starts.push(indices.length);
    rowLower.push(lo);
  };
  for (const r of sys.relations) {
    for (const i of r.cells) {
      const e = new Map<number, number>();
      for (const j of r.cells) e.set(j, (e.get(j) ?? 0) + (j === i ? -1 : 1));
      addRow(e, 0);
    }
  }
  const model = highs.createModel({
    numCols: N,
    numRows: rowLower.length,
    colCost: input.cost,
    colLower: lower,
    colUpper: upper,
    rowLower,
    rowUpper: rowLower.map(() => Infinity),
    matrix: { format: 'csr', numRows: rowLower.length, numCols: N, starts, indices, values },
    integrality: new Int32Array(N).fill(highs.constants.variableType.integer),
  });
  let iterations = 0;
  try {
    model.options.set({ output_flag: false, mip_rel_gap: 0, mip_abs_gap: 1e-9 });
    for (;;) {
      const remaining = limit.remaining();
      if (remaining <= 0) return { reason: 'time limit reached in the cut loop' };
      model.options.set({ time_limit: remaining });
      iterations++;
      optimalTestHooks.beforeRun?.(iterations);
      const run = model.run();
      if (run.modelStatus !== highs.constants.modelStatus.optimal) {
        // Stopped by the time limit: HiGHS's proven bound of this master problem still bounds the optimum.
        const bound = Number(model.info.get('mip_dual_bound'));
        if (Number.isFinite(bound)) progress.lowerBound = Math.max(progress.lowerBound, bound);
        const timeUp = run.modelStatus === highs.constants.modelStatus.timeLimit;
        return { reason: timeUp ? 'the master MIP stopped at the time limit' : `master MIP status ${run.modelStatus}` };
      }
      // Every cut is valid for all safe patterns, so each master optimum is a lower bound on the optimal cost.
      progress.lowerBound = Math.max(progress.lowerBound, model.getObjectiveValue());
      const y = model.getSolution().colValue;
      const pattern = Uint8Array.from(y, (v: number) => (v > 0.5 ? 1 : 0));
      seen(pattern, iterations);
      const audit = await auditPattern(sys, pattern, sensitive, {
        duals: true,
        singletons: input.singletons !== false,
        insiders: input.insiders === true,
        deadline: limit,
      });
      if (audit.passes) {
        return {
          suppressed: pattern,
          method: 'optimal',
          optimalFinished: true,
          audit,
          iterations,
          neverSuppressViolations: 0,
        };
      }
      for (const cell of audit.cells) {
        if (cell.passes) continue;
        const s = sensitive.find((x) => x.id === cell.id)!;
        for (const dir of ['up', 'down'] as const) {
          const cut = protectionCut(sys, cell, s, dir, pattern);
          if (cut) model.addRow(1, Infinity, cut);
        }
      }
      for (const ex of audit.insiders)
        for (const cut of insiderCuts(sys, ex, sensitive, pattern)) model.addRow(1, Infinity, cut);
      for (const ex of audit.singletons) {
        const r = sys.relations[ex.relation]!;
        const idx: number[] = [];
        const val: number[] = [];
        for (const j of r.cells) {
          if (j === ex.singleton || j === ex.exposed) continue;
          idx.push(j);
          val.push(1);
        }
        // sum others - y_s - y_v >= -1
        const e = new Map<number, number>();
        idx.forEach((j) => e.set(j, 1));
        e.set(ex.singleton, -1);
        e.set(ex.exposed, (e.get(ex.exposed) ?? 0) - 1);
        const sorted = [...e].filter(([, v]) => v !== 0).sort((a, b) => a[0] - b[0]);
        model.addRow(-1, Infinity, { indices: sorted.map((x) => x[0]), values: sorted.map((x) => x[1]) });
      }
      const out: number[] = [];
      for (let c = 0; c < N; c++) if (!pattern[c] && upper[c]! > 0) out.push(c);
      if (out.length === 0) return { reason: 'every cell is suppressed and the pattern still fails the audit' };
      model.addRow(1, Infinity, { indices: out, values: out.map(() => 1) });
    }
  } finally {
    model.dispose();
  }
}

/**
 * Fischetti-Salazar cuts from an insider's failing LPs (see `optimalSuppression`): the insider's cell is a constant of
 * that LP, so its term is dropped and the cut is judged on the pattern without it.
 */
function insiderCuts(
  sys: CellSystem,
  ex: InsiderExposure,
  sensitive: readonly SensitiveCell[],
  pattern: Uint8Array,
): { indices: number[]; values: number[] }[] {
  const s = sensitive.find((x) => x.id === ex.exposed)!;
  const value = sys.value[ex.exposed]!;
  // The insider's requirement (capped at what it knows a priori: insider-prior.ts), so that no cut asks of a pattern
  // what no pattern can give.
  const t = { needUp: ex.needUp, needDown: ex.needDown };
  const cell: CellAudit = {
    id: ex.exposed,
    value,
    min: ex.min,
    max: ex.max,
    needUp: t.needUp,
    needDown: t.needDown,
    exact: ex.exact,
    passes: false,
    margin: Math.min(ex.max - t.needUp, t.needDown - ex.min),
    ...(ex.dualUp ? { dualUp: ex.dualUp } : {}),
    ...(ex.dualDown ? { dualDown: ex.dualDown } : {}),
  };
  const seen = Uint8Array.from(pattern);
  seen[ex.insider] = 0;
  const out: { indices: number[]; values: number[] }[] = [];
  for (const dir of ['up', 'down'] as const) {
    const cut = protectionCut(sys, cell, s, dir, seen);
    if (!cut) continue;
    const keep = cut.indices.map((j, i) => i).filter((i) => cut.indices[i] !== ex.insider);
    if (keep.length > 0)
      out.push({ indices: keep.map((i) => cut.indices[i]!), values: keep.map((i) => cut.values[i]!) });
  }
  return out;
}

/**
 * A violated Fischetti-Salazar cut for one failing direction of a cell, or null.
 *
 * Validity (weak duality), with d = x - a the attacker's deviation from the exact values: every LP row reads
 * m_k . d (= or <=) s_k, where s_k = -(m_k . a) is the row's slack at the exact values (0 for equalities; >= 0 for the
 * rows of non-additive count relations). For multipliers alpha with alpha_k >= 0 on inequality rows (free on
 * equalities), sign*d_c <= r . d + sum_k alpha_k s_k with r = sign*e_c - M^T alpha, hence the attacker's best
 * deviation is at most sum_j y_j [r_j^+ (ub_j - a_j) + r_j^- (a_j - lb_j)] + sigma, sigma = sum_k alpha_k s_k, for
 * every pattern y. A safe pattern needs that bound >= need, i.e. sum_j min(w_j / (need - sigma), 1) y_j >= 1 when
 * need > sigma. HiGHS's dual sign convention is not relied on: both signs of its row duals are tried and the
 * inequality multipliers clamped at 0, which keeps any resulting cut valid.
 */
function protectionCut(
  sys: CellSystem,
  cell: CellAudit,
  s: SensitiveCell,
  dir: 'up' | 'down',
  pattern: Uint8Array,
): { indices: number[]; values: number[] } | null {
  const need = dir === 'up' ? cell.needUp - cell.value : cell.value - cell.needDown;
  const tol = tolerance(Math.abs(cell.value) + Math.max(s.upper, s.lower));
  if (need <= tol) return null;
  const dual: AttackDual | undefined = dir === 'up' ? cell.dualUp : cell.dualDown;
  if (!dual) return null;
  const sign = dir === 'up' ? 1 : -1;
  let best: Map<number, number> | null = null;
  let bestLhs = Infinity;
  for (const flip of [1, -1]) {
    // r = sign*e_c - M^T alpha; sigma = sum over inequality rows of alpha * slack.
    const r = new Map<number, number>([[cell.id, sign]]);
    let sigma = 0;
    dual.relations.forEach((ri, k) => {
      const rel = sys.relations[ri]!;
      const child = dual.child[k]!;
      let al = flip * dual.alpha[k]!;
      if (!rel.additive) al = Math.max(al, 0);
      if (al === 0) return;
      if (child < 0) {
        let dot = 0;
        rel.cells.forEach((c, m) => {
          r.set(c, (r.get(c) ?? 0) - rel.coefs[m]! * al);
          dot += rel.coefs[m]! * sys.value[c]!;
        });
        if (!rel.additive) sigma += al * Math.max(0, -dot);
      } else {
        const c = rel.cells[child]!;
        const agg = rel.cells[0]!;
        r.set(c, (r.get(c) ?? 0) - al);
        r.set(agg, (r.get(agg) ?? 0) + al);
        sigma += al * Math.max(0, sys.value[agg]! - sys.value[c]!);
      }
    });
    const rest = need - sigma;
    if (rest <= tol) continue;
    const coef = new Map<number, number>();
    let lhs = 0;
    for (const [j, rj] of r) {
      if (Math.abs(rj) < 1e-12) continue;
      const w = rj > 0 ? rj * (sys.upper[j]! - sys.value[j]!) : -rj * (sys.value[j]! - sys.lower[j]!);
      const k = Math.min(w / rest, 1);
      if (k <= 1e-12) continue;
      coef.set(j, k);
      if (pattern[j]) lhs += k;
    }
    if (lhs < bestLhs) {
      bestLhs = lhs;
      best = coef;
    }
  }
  if (!best || bestLhs >= 1 - 1e-9) return null;
  const sorted = [...best].sort((a, b) => a[0] - b[0]);
  return { indices: sorted.map((x) => x[0]), values: sorted.map((x) => x[1]) };
}
