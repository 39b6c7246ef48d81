import { StatguardError } from '../errors.ts';
import { cellCoords, strides } from '../types.ts';
import type { ExactTable, SdcPlan } from '../types.ts';
import { auditPattern, components, tolerance } from './audit.ts';
import type { AttackDual, AuditResult, CellAudit, SensitiveCell } from './audit.ts';
import { highsRuntime } from './highs.ts';
import type { CellSystem } from './relations.ts';

export interface SecondaryInput {
  readonly sys: CellSystem;
  readonly tables: readonly ExactTable[];
  readonly sensitive: readonly SensitiveCell[];
  /** Cells suppressed before secondary suppression (primaries), per global id. */
  readonly primary: Uint8Array;
  /** Cells the officer marked neverSuppress, per global id. */
  readonly never: Uint8Array;
  /** Cells that can never be suppressed (published in a linked release, `--against`): a hard constraint. */
  readonly fixed?: Uint8Array;
  /** Cost of suppressing each cell (> 0). */
  readonly cost: Float64Array;
  /** Apply the audit's singleton rule (default true). */
  readonly singletons?: boolean;
}

export interface SecondaryResult {
  readonly suppressed: Uint8Array;
  readonly method: 'optimal' | 'heuristic';
  /** For the optimal method: whether the MIP + cut loop proved optimality within the time limit; null for the heuristic. */
  readonly optimalFinished: boolean | null;
  /** The final audit (always passing). */
  readonly audit: AuditResult;
  readonly iterations: number;
  /** Cells marked neverSuppress that had to be suppressed anyway (heuristic only, when unavoidable). */
  readonly neverSuppressViolations: number;
}

/** Cost per cell: unity 1, frequency = units, value = |internal value|, plus a small tie-breaker so every cell costs > 0. */
export function cellCosts(sys: CellSystem, cost: SdcPlan['secondary']['cost']): Float64Array {
  const base = new Float64Array(sys.cellCount);
  for (let i = 0; i < sys.cellCount; i++) {
    base[i] = cost === 'unity' ? 1 : cost === 'frequency' ? sys.units[i]! : Math.abs(sys.value[i]!);
  }
  let mean = 0;
  for (const b of base) mean += b;
  mean = sys.cellCount > 0 ? mean / sys.cellCount : 1;
  // Tie-breaker: 1e-3 of the mean cost, so zero-cost cells are not suppressed for nothing and fewer cells win ties.
  const eps = cost === 'unity' ? 0 : 1e-3 * Math.max(mean, 1);
  return base.map((b) => b + eps);
}

/** The cells `auto` sends to the MIP at most. */
export const OPTIMAL_MAX_CELLS = 200;

export async function secondarySuppression(input: SecondaryInput, secondary: SdcPlan['secondary']): Promise<SecondaryResult> {
  const method = secondary.method === 'auto' ? (input.sys.cellCount <= OPTIMAL_MAX_CELLS ? 'optimal' : 'heuristic') : secondary.method;
  const heur = await heuristicSuppression(input);
  if (method === 'heuristic') return heur;
  const opt = await optimalSuppression(input, secondary.timeLimitSeconds, heur);
  return opt;
}

/* ------------------------------------------------------------------ */
/* Heuristic                                                            */
/* ------------------------------------------------------------------ */

const HUGE = 1e12;

/**
 * Iterative hypercube heuristic. Repeat: audit; for every failing sensitive
 * cell, add the cheapest "generalised hypercube" around it in one of the
 * tables holding it: along each dimension the cell is paired with one node of
 * each relation it belongs to there (its parent or a sibling, and one child
 * when it is an aggregate), and the product of those node sets over the
 * dimensions is suppressed. Cubes whose cells can absorb the required
 * protection (values of the cells that move against the sensitive cell) are
 * preferred, then the cheapest. If a failing cell gains nothing from its cube,
 * the cheapest published cell of every relation touching its component is
 * added. The pattern only grows, so the loop ends (at worst with every cell of
 * the connected relations suppressed, which the audit accepts).
 * Guarantee: only a pattern that passed the full audit is returned.
 */
export async function heuristicSuppression(input: SecondaryInput): Promise<SecondaryResult> {
  const { sys, sensitive } = input;
  const sup = Uint8Array.from(input.primary);
  const fixed = input.fixed;
  const costOf = (c: number): number => (sup[c] ? 0 : fixed?.[c] ? HUGE * HUGE : input.never[c] ? HUGE : input.cost[c]!);
  let iterations = 0;
  for (;;) {
    iterations++;
    const audit = await auditPattern(sys, sup, sensitive, { singletons: input.singletons !== false });
    if (audit.passes) {
      let violations = 0;
      for (let c = 0; c < sys.cellCount; c++) if (sup[c] && input.never[c] && !input.primary[c]) violations++;
      return { suppressed: sup, method: 'heuristic', optimalFinished: null, audit, iterations, neverSuppressViolations: violations };
    }
    const before = sup.reduce((n, v) => n + v, 0);
    const touched = new Set<number>();
    const failing = audit.cells.filter((c) => !c.passes);
    for (const f of failing) {
      if (touched.has(f.id)) continue;
      const req = sensitive.find((s) => s.id === f.id)!;
      const owners = sys.owners[f.id]!;
      const owner = owners[iterations % owners.length]!;
      const cube = bestCube(input, owner.table, owner.index, req, costOf).ids;
      let added = 0;
      for (const c of cube) {
        touched.add(c);
        if (!sup[c] && !fixed?.[c]) { sup[c] = 1; added++; }
      }
      if (added === 0) added = widen(input, sup, f.id, costOf);
    }
    for (const s of audit.singletons) {
      // A third cell in the relation, itself hidden by a cube (a lone extra cell would be determined and not count).
      const r = sys.relations[s.relation]!;
      let best: { ids: number[]; cost: number } | null = null;
      for (const m of r.cells) {
        if (sup[m] || fixed?.[m]) continue;
        const o = sys.owners[m]![0]!;
        const cube = bestCube(input, o.table, o.index, { id: m, upper: 0, lower: 0 }, costOf);
        if (!best || cube.cost < best.cost) best = cube;
      }
      if (best) for (const c of best.ids) { if (!fixed?.[c]) sup[c] = 1; }
      else widen(input, sup, s.exposed, costOf);
    }
    const after = sup.reduce((n, v) => n + v, 0);
    if (after === before) {
      const linked = fixed?.some((f) => f === 1) ? '; cells published in a release given with --against cannot be suppressed, and the pattern needs them' : '';
      throw new StatguardError('AUDIT_FAILED', `secondary suppression could not find a pattern that passes the audit (every related cell is already suppressed${linked})`);
    }
  }
}

function cheapestPublished(cells: Iterable<number>, sup: Uint8Array, costOf: (c: number) => number): number {
  let best = -1;
  let bestCost = Infinity;
  for (const c of cells) {
    if (sup[c]) continue;
    const k = costOf(c);
    if (k >= HUGE * HUGE) continue; // fixed: never suppressible
    if (k < bestCost) { bestCost = k; best = c; }
  }
  return best;
}

/** Add the cheapest published cell of every relation touching the component of `id`; returns the number added. */
function widen(input: SecondaryInput, sup: Uint8Array, id: number, costOf: (c: number) => number): number {
  const { sys } = input;
  const comp = components(sys, sup).find((c) => c.cells.includes(id));
  const rels = new Set<number>();
  for (const c of comp ? comp.cells : [id]) for (const r of sys.cellRelations[c]!) rels.add(r);
  const picks = new Set<number>();
  for (const r of rels) {
    const p = cheapestPublished(sys.relations[r]!.cells, sup, costOf);
    if (p >= 0) picks.add(p);
  }
  for (const p of picks) sup[p] = 1;
  return picks.size;
}

/**
 * The cheapest generalised hypercube around cell `index` of table `ti` (global ids).
 * Per dimension: choices = one of (parent or siblings) when the node has a parent, times one child when it is an
 * aggregate; sign +1 for parent/child (moves with the cell), -1 for a sibling (moves against it).
 */
function bestCube(input: SecondaryInput, ti: number, index: number, req: SensitiveCell, costOf: (c: number) => number): { ids: number[]; cost: number } {
  const { sys } = input;
  const table = input.tables[ti]!;
  const dims = table.plan.dimensions;
  const st = strides(dims);
  const loc = sys.tableCells[ti]!;
  const co = cellCoords(dims, index);
  const K = dims.length <= 2 ? 8 : dims.length === 3 ? 4 : 3;
  type Choice = { nodes: { node: number; sign: number }[]; cost: number; parents: number };
  const perDim: Choice[][] = dims.map((dim, d) => {
    const n = co[d]!;
    const node = dim.nodes[n]!;
    const lineCell = (m: number): number => loc[index + (m - n) * st[d]!]!;
    const up: { node: number; sign: number }[] = [];
    if (node.parent !== null) {
      up.push({ node: node.parent, sign: 1 });
      for (const s of dim.nodes[node.parent]!.children) if (s !== n) up.push({ node: s, sign: -1 });
    }
    const down = node.children.map((ch) => ({ node: ch, sign: 1 }));
    const ups: ({ node: number; sign: number } | null)[] = up.length ? up : [null];
    const downs: ({ node: number; sign: number } | null)[] = down.length ? down : [null];
    const out: Choice[] = [];
    for (const u of ups) for (const w of downs) {
      const nodes = [u, w].filter((x): x is { node: number; sign: number } => x !== null);
      out.push({ nodes, cost: nodes.reduce((s, x) => s + costOf(lineCell(x.node)), 0), parents: u !== null && u.node === node.parent ? 1 : 0 });
    }
    out.sort((a, b) => a.cost - b.cost || a.parents - b.parents);
    return out.slice(0, K);
  });
  const a = sys.value[loc[index]!]!;
  let best: number[] = [];
  let bestKey: [number, number, number] = [2, Infinity, Infinity];
  const pick: Choice[] = [];
  const visit = (d: number): void => {
    if (d === dims.length) {
      // Cube = product over dims of ({cell's node, sign +1} ∪ chosen nodes).
      let cells: { idx: number; sign: number }[] = [{ idx: index, sign: 1 }];
      pick.forEach((ch, dd) => {
        const next: { idx: number; sign: number }[] = [];
        for (const c of cells) {
          next.push(c);
          const base = c.idx - co[dd]! * st[dd]!;
          for (const x of ch.nodes) next.push({ idx: base + x.node * st[dd]!, sign: c.sign * x.sign });
        }
        cells = next;
      });
      let cost = 0;
      let capUp = Infinity;
      let capDown = Infinity;
      const ids: number[] = [];
      for (const c of cells) {
        const g = loc[c.idx]!;
        ids.push(g);
        cost += costOf(g);
        const room = sys.value[g]! - sys.lower[g]!;
        if (c.sign < 0) capUp = Math.min(capUp, room);
        else capDown = Math.min(capDown, room);
      }
      const needUp = Math.min(req.upper, sys.upper[loc[index]!]! - a);
      const needDown = Math.min(req.lower, a - sys.lower[loc[index]!]!);
      const tol = tolerance(Math.abs(a) + req.upper);
      const feasible = capUp >= needUp - tol && capDown >= needDown - tol ? 0 : 1;
      // Ties go to cubes using fewer parent nodes: a parent has relations of its own that would then need cover.
      const parents = pick.reduce((n, ch) => n + ch.parents, 0);
      if (feasible < bestKey[0] || (feasible === bestKey[0] && (cost < bestKey[1] || (cost === bestKey[1] && parents < bestKey[2])))) {
        bestKey = [feasible, cost, parents];
        best = ids;
      }
      return;
    }
    for (const ch of perDim[d]!) {
      pick.push(ch);
      visit(d + 1);
      pick.pop();
    }
  };
  visit(0);
  return { ids: best, cost: bestKey[1] };
}

/* ------------------------------------------------------------------ */
/* Optimal: MIP + attacker cut loop                                     */
/* ------------------------------------------------------------------ */

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
 * - singleton cuts: both cells of a singleton exposure suppressed => a third cell of the relation;
 * - a no-good cut sum_{j not in P} y_j >= 1 (safety is monotone: every subset of an unsafe pattern is unsafe).
 * The first pattern that passes the audit is optimal (every cut is valid for all
 * safe patterns). If the time limit runs out first, the heuristic's safe pattern is used.
 */
export async function optimalSuppression(input: SecondaryInput, timeLimitSeconds: number, fallback: SecondaryResult): Promise<SecondaryResult> {
  const { sys, sensitive } = input;
  const highs = await highsRuntime();
  const N = sys.cellCount;
  const deadline = Date.now() + timeLimitSeconds * 1000;
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
      if (v !== 0) { indices.push(k); values.push(v); }
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
      const remaining = (deadline - Date.now()) / 1000;
      if (remaining <= 0) break;
      model.options.set({ time_limit: remaining });
      iterations++;
      const run = model.run();
      if (run.modelStatus !== highs.constants.modelStatus.optimal) break;
      const y = model.getSolution().colValue;
      const pattern = Uint8Array.from(y, (v: number) => (v > 0.5 ? 1 : 0));
      const audit = await auditPattern(sys, pattern, sensitive, { duals: true, singletons: input.singletons !== false });
      if (audit.passes) {
        return { suppressed: pattern, method: 'optimal', optimalFinished: true, audit, iterations, neverSuppressViolations: 0 };
      }
      for (const cell of audit.cells) {
        if (cell.passes) continue;
        const s = sensitive.find((x) => x.id === cell.id)!;
        for (const dir of ['up', 'down'] as const) {
          const cut = protectionCut(sys, cell, s, dir, pattern);
          if (cut) model.addRow(1, Infinity, cut);
        }
      }
      for (const ex of audit.singletons) {
        const r = sys.relations[ex.relation]!;
        const idx: number[] = [];
        const val: number[] = [];
        for (const j of r.cells) {
          if (j === ex.singleton || j === ex.exposed) continue;
          idx.push(j); val.push(1);
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
      if (out.length === 0) break;
      model.addRow(1, Infinity, { indices: out, values: out.map(() => 1) });
    }
  } finally {
    model.dispose();
  }
  return { ...fallback, method: 'optimal', optimalFinished: false, iterations: fallback.iterations + iterations };
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
function protectionCut(sys: CellSystem, cell: CellAudit, s: SensitiveCell, dir: 'up' | 'down', pattern: Uint8Array): { indices: number[]; values: number[] } | null {
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
    if (lhs < bestLhs) { bestLhs = lhs; best = coef; }
  }
  if (!best || bestLhs >= 1 - 1e-9) return null;
  const sorted = [...best].sort((a, b) => a[0] - b[0]);
  return { indices: sorted.map((x) => x[0]), values: sorted.map((x) => x[1]) };
}
