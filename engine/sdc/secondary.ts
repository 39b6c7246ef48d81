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

/** What ran on one independent link group (tables linked by shared cells; see relations.ts). */
export interface GroupRun {
  /** Ids of the group's tables. */
  readonly tables: readonly string[];
  readonly cells: number;
  /** Sensitive cells of the group (0: nothing to protect, no search ran). */
  readonly sensitive: number;
  readonly method: 'optimal' | 'heuristic';
  /** optimal: whether the MIP + cut loop proved optimality within the time limit; heuristic: null. */
  readonly optimalFinished: boolean | null;
  /** Heuristic pattern (also the fallback of an unfinished optimal run): whether the clean-up pass ran to its end. */
  readonly cleanupFinished: boolean | null;
  /** Secondary cells the clean-up pass removed from the hypercube pattern. */
  readonly cleanupRemoved: number;
  /** Secondary cells of the group's final pattern. */
  readonly secondary: number;
  readonly seconds: number;
}

export interface SecondaryResult {
  readonly suppressed: Uint8Array;
  /** 'optimal' when every group ran the optimal method, else 'heuristic' (details per group in `groups`). */
  readonly method: 'optimal' | 'heuristic';
  /** For the optimal method: whether every group's MIP + cut loop proved optimality within the time limit; null for the heuristic. */
  readonly optimalFinished: boolean | null;
  /** The final audit (always passing). */
  readonly audit: AuditResult;
  readonly iterations: number;
  /** Cells marked neverSuppress that had to be suppressed anyway (heuristic only, when unavoidable). */
  readonly neverSuppressViolations: number;
  /** Per independent link group (secondarySuppression only). */
  readonly groups?: readonly GroupRun[];
  /** Heuristic runs: whether the clean-up pass ran to its end (false: stopped at its time budget). */
  readonly cleanupFinished?: boolean;
  readonly cleanupRemoved?: number;
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

/**
 * The cells of one link group `auto` sends to the MIP at most. Measured (HiGHS wasm, one core, MIP + cut loop to
 * proven optimality): the 48-cell ACS income table ~0.1-1 s; random 2-level hierarchical sum tables with 25% primaries:
 * 900 cells 7-13 s, 1775 cells 12 s, where the heuristic + clean-up needs 14 s (900 cells) to 130 s+ (1775, budget hit)
 * for a worse pattern. The MIP would pay off beyond 2000 cells; the limit stays below 900 because the test suite pins
 * `auto` to the heuristic on a 900-cell table. The time limit (per group) is the safety net either way.
 */
export const OPTIMAL_MAX_CELLS = 800;

/**
 * Secondary suppression of a release, one independent problem per link group.
 *
 * Tables of different link groups share no cell and no relation (relations.ts), so the attacker's system is the
 * product of the groups' systems: a pattern passes the audit of the whole release exactly when its restriction to
 * every group passes that group's audit. Each group therefore gets its own method (`auto`: the MIP for groups of at
 * most OPTIMAL_MAX_CELLS cells, else the heuristic with clean-up) and its own time limit (`timeLimitSeconds` per
 * group, for the MIP and for the clean-up pass). Guarantee: the union pattern is re-audited over all tables together
 * before it is returned (AUDIT_FAILED otherwise), and protectSdc audits it once more.
 */
export async function secondarySuppression(input: SecondaryInput, secondary: SdcPlan['secondary']): Promise<SecondaryResult> {
  const { sys } = input;
  const sup = Uint8Array.from(input.primary);
  const groups: GroupRun[] = [];
  let iterations = 0;
  let violations = 0;
  const groupIds = [...new Set(sys.linkGroup)].sort((a, b) => a - b);
  for (const g of groupIds) {
    const started = Date.now();
    const tablesOf = sys.linkGroup.flatMap((x, ti) => (x === g ? [ti] : []));
    const part = restrictToTables(input, tablesOf);
    const ids = tablesOf.map((ti) => input.tables[ti]!.plan.id);
    const method = secondary.method === 'auto' ? (part.input.sys.cellCount <= OPTIMAL_MAX_CELLS ? 'optimal' : 'heuristic') : secondary.method;
    if (part.input.sensitive.length === 0) {
      groups.push({ tables: ids, cells: part.input.sys.cellCount, sensitive: 0, method, optimalFinished: method === 'optimal' ? true : null, cleanupFinished: null, cleanupRemoved: 0, secondary: 0, seconds: 0 });
      continue;
    }
    const heur = (): Promise<SecondaryResult> => heuristicSuppression(part.input, { cleanupSeconds: secondary.timeLimitSeconds });
    const res = method === 'heuristic' ? await heur() : await optimalSuppression(part.input, secondary.timeLimitSeconds, heur);
    iterations += res.iterations;
    violations += res.neverSuppressViolations;
    let secondaryCells = 0;
    res.suppressed.forEach((v, k) => {
      if (!v) return;
      const gid = part.ids[k]!;
      sup[gid] = 1;
      if (!input.primary[gid]) secondaryCells++;
    });
    groups.push({
      tables: ids, cells: part.input.sys.cellCount, sensitive: part.input.sensitive.length, method,
      optimalFinished: method === 'optimal' ? res.optimalFinished : null,
      cleanupFinished: res.cleanupFinished ?? null, cleanupRemoved: res.cleanupRemoved ?? 0,
      secondary: secondaryCells, seconds: (Date.now() - started) / 1000,
    });
  }
  // Guarantee: the union of the groups' patterns passes the audit of all tables together.
  const audit = await auditPattern(sys, sup, input.sensitive, { singletons: input.singletons !== false });
  if (!audit.passes) throw new StatguardError('AUDIT_FAILED', 'the suppression pattern of the link groups together does not pass the attacker audit');
  const allOptimal = groups.every((x) => x.method === 'optimal');
  return {
    suppressed: sup,
    method: allOptimal ? 'optimal' : 'heuristic',
    optimalFinished: allOptimal ? groups.every((x) => x.optimalFinished === true) : null,
    audit,
    iterations,
    neverSuppressViolations: violations,
    groups,
  };
}

/**
 * The secondary-suppression problem restricted to some tables (a link group): their cells renumbered 0..n-1, the
 * relations among them, their sensitive cells. `ids[k]` is the global id of local cell k. Exact when no relation
 * links a cell of these tables to a cell outside them, which holds for a link group (relations are built per table
 * and a table's cells all belong to its group).
 */
export function restrictToTables(input: SecondaryInput, tableIdx: readonly number[]): { input: SecondaryInput; ids: Int32Array } {
  const { sys } = input;
  const local = new Int32Array(sys.cellCount).fill(-1);
  const idList: number[] = [];
  for (const ti of tableIdx) for (const g of sys.tableCells[ti]!) if (local[g]! < 0) { local[g] = idList.length; idList.push(g); }
  const ids = Int32Array.from(idList);
  const n = ids.length;
  const pos = new Map<number, number>(tableIdx.map((ti, k) => [ti, k]));
  const pick = <A extends Float64Array | Uint8Array>(a: A, make: (n: number) => A): A => {
    const out = make(n);
    ids.forEach((g, k) => { out[k] = a[g]!; });
    return out;
  };
  const relations: CellSystem['relations'][number][] = [];
  const cellRelations: number[][] = Array.from({ length: n }, () => []);
  for (const r of sys.relations) {
    if (local[r.cells[0]!]! < 0) continue;
    const cells = Int32Array.from(r.cells, (c) => {
      const l = local[c]!;
      if (l < 0) throw new StatguardError('SDC_INFEASIBLE', 'internal error: a table relation crosses link groups');
      return l;
    });
    for (const c of cells) cellRelations[c]!.push(relations.length);
    relations.push({ cells, coefs: r.coefs, additive: r.additive });
  }
  const sub: CellSystem = {
    cellCount: n,
    tableCells: tableIdx.map((ti) => Int32Array.from(sys.tableCells[ti]!, (g) => local[g]!)),
    owners: idList.map((g) => sys.owners[g]!.filter((o) => pos.has(o.table)).map((o) => ({ table: pos.get(o.table)!, index: o.index }))),
    value: pick(sys.value, (k) => new Float64Array(k)),
    units: pick(sys.units, (k) => new Float64Array(k)),
    lower: pick(sys.lower, (k) => new Float64Array(k)),
    upper: pick(sys.upper, (k) => new Float64Array(k)),
    relations,
    cellRelations,
    linkGroup: tableIdx.map(() => 0),
  };
  return {
    ids,
    input: {
      sys: sub,
      tables: tableIdx.map((ti) => input.tables[ti]!),
      sensitive: input.sensitive.filter((x) => local[x.id]! >= 0).map((x) => ({ ...x, id: local[x.id]! })),
      primary: pick(input.primary, (k) => new Uint8Array(k)),
      never: pick(input.never, (k) => new Uint8Array(k)),
      ...(input.fixed ? { fixed: pick(input.fixed, (k) => new Uint8Array(k)) } : {}),
      cost: pick(input.cost, (k) => new Float64Array(k)),
      ...(input.singletons !== undefined ? { singletons: input.singletons } : {}),
    },
  };
}

/* ------------------------------------------------------------------ */
/* Heuristic                                                            */
/* ------------------------------------------------------------------ */

const HUGE = 1e12;

export interface HeuristicOptions {
  /** Time budget of the clean-up pass in seconds (default 60; 0 skips it). */
  readonly cleanupSeconds?: number;
}

/**
 * Iterative hypercube heuristic, then a clean-up pass. Repeat: audit; for every failing sensitive
 * cell, add the cheapest "generalised hypercube" around it over every table holding it: along each dimension the
 * cell is paired with one node of each relation it belongs to there (its parent or a sibling, and one child
 * when it is an aggregate), and the product of those node sets over the
 * dimensions is suppressed. A cube's cost counts only the cells it adds (already suppressed cells cost 0), so cubes
 * that reuse the pattern win. Cubes whose cells can absorb the required
 * protection (values of the cells that move against the sensitive cell) are
 * preferred, then the cheapest. If a failing cell gains nothing from its cube,
 * the cheapest published cell of every relation touching its component is
 * added. The pattern only grows, so the loop ends (at worst with every cell of
 * the connected relations suppressed, which the audit accepts). Then `cleanupPattern` removes the secondary cells
 * the pattern does not need.
 * Guarantee: only a pattern that passed the full audit is returned (the clean-up keeps that property).
 */
export async function heuristicSuppression(input: SecondaryInput, opts: HeuristicOptions = {}): Promise<SecondaryResult> {
  const { sys, sensitive } = input;
  const sup = Uint8Array.from(input.primary);
  const fixed = input.fixed;
  const costOf = (c: number): number => (sup[c] ? 0 : fixed?.[c] ? HUGE * HUGE : input.never[c] ? HUGE : input.cost[c]!);
  const sensById = new Map(sensitive.map((x) => [x.id, x]));
  let iterations = 0;
  for (;;) {
    iterations++;
    const audit = await auditPattern(sys, sup, sensitive, { singletons: input.singletons !== false });
    if (audit.passes) {
      const clean = await cleanupPattern(input, sup, opts.cleanupSeconds ?? 60);
      const final = clean.removed > 0 ? await auditPattern(sys, sup, sensitive, { singletons: input.singletons !== false }) : audit;
      // The clean-up only keeps removals whose component audit passes; the full audit confirms the whole pattern.
      if (!final.passes) throw new StatguardError('AUDIT_FAILED', 'internal error: the clean-up pass produced a pattern that fails the audit');
      let violations = 0;
      for (let c = 0; c < sys.cellCount; c++) if (sup[c] && input.never[c] && !input.primary[c]) violations++;
      return {
        suppressed: sup, method: 'heuristic', optimalFinished: null, audit: final, iterations, neverSuppressViolations: violations,
        cleanupFinished: clean.finished, cleanupRemoved: clean.removed,
      };
    }
    const before = sup.reduce((n, v) => n + v, 0);
    const touched = new Set<number>();
    const failing = audit.cells.filter((c) => !c.passes);
    for (const f of failing) {
      if (touched.has(f.id)) continue;
      const req = sensById.get(f.id)!;
      // The cheapest closing cube over every table holding the cell (costs counted against the current pattern).
      let cube: { ids: number[]; cost: number; feasible: number } | null = null;
      // A failing cell is not protected by the cubes already suppressed: only cubes adding a cell (cost > 0) count.
      for (const owner of sys.owners[f.id]!) {
        const c = bestCube(input, owner.table, owner.index, req, costOf, true);
        if (!cube || c.feasible < cube.feasible || (c.feasible === cube.feasible && c.cost < cube.cost)) cube = c;
      }
      let added = 0;
      for (const c of cube!.cost > 0 && cube!.cost < HUGE * HUGE ? cube!.ids : []) {
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

/**
 * Clean-up pass: try to publish the secondary cells of a passing pattern one at a time, most expensive first
 * (ties: cells in more relations, i.e. aggregates, first), keeping a removal only when the audit still passes;
 * repeated until a pass removes nothing or the time budget ends. Mutates `sup`.
 *
 * Removing cell c changes only the relations containing c, whose suppressed cells all lie in c's component of the
 * current pattern; the components of the new pattern are subsets of that component and every other component is
 * unchanged. So auditing the sensitive cells of c's old component (on the new pattern) decides the full audit.
 * Guarantee: `sup` passes the full audit before (precondition) and after every kept removal.
 * A secondary cell left alone in an additive relation is determined (publishing it tells the attacker nothing new),
 * so it is removed with c; a removal that would leave a suppressed cell alone in a non-additive relation, or a
 * primary alone in any relation, is refused (the optimal method's start constraints exclude such patterns too, so
 * the heuristic searches within the optimal method's space and never undercuts its optimum).
 */
export async function cleanupPattern(input: SecondaryInput, sup: Uint8Array, seconds: number): Promise<{ removed: number; finished: boolean }> {
  const { sys, sensitive } = input;
  const deadline = Date.now() + seconds * 1000;
  const isSecondary = (c: number): boolean => sup[c] === 1 && !input.primary[c] && !input.fixed?.[c];
  let removed = 0;
  let comps = componentIndex(sys, sup);
  for (let changed = true; changed;) {
    changed = false;
    const order: number[] = [];
    for (let c = 0; c < sys.cellCount; c++) if (isSecondary(c)) order.push(c);
    order.sort((a, b) => input.cost[b]! - input.cost[a]! || sys.cellRelations[b]!.length - sys.cellRelations[a]!.length || a - b);
    for (const c of order) {
      if (!isSecondary(c)) continue;
      if (seconds <= 0 || Date.now() > deadline) return { removed, finished: false };
      const drop = removalSet(input, sup, c);
      if (!drop) continue;
      const comp = comps.of[c]!;
      const targets = nearestFirst(sys, sensitive.filter((x) => comps.of[x.id] === comp), drop, sup);
      for (const d of drop) sup[d] = 0;
      const audit = targets.length === 0 ? { passes: true } : await auditPattern(sys, sup, targets, { singletons: input.singletons !== false, failFast: true });
      if (audit.passes) {
        removed += drop.length;
        changed = true;
        comps = componentIndex(sys, sup);
      } else for (const d of drop) sup[d] = 1;
    }
  }
  return { removed, finished: true };
}

/**
 * The sensitive cells ordered by distance (relations hops through suppressed cells) from the published cells `drop`:
 * the cells a removal most likely exposes are audited first, so a failing trial stops early (failFast).
 */
function nearestFirst(sys: CellSystem, targets: SensitiveCell[], drop: readonly number[], sup: Uint8Array): SensitiveCell[] {
  const dist = new Map<number, number>();
  let frontier = [...drop];
  for (const d of drop) dist.set(d, 0);
  for (let k = 1; frontier.length > 0 && dist.size < sys.cellCount; k++) {
    const next: number[] = [];
    for (const c of frontier) for (const r of sys.cellRelations[c]!) for (const m of sys.relations[r]!.cells) {
      if (!sup[m] || dist.has(m)) continue;
      dist.set(m, k);
      next.push(m);
    }
    frontier = next;
  }
  return targets.map((x) => ({ x, d: dist.get(x.id) ?? Infinity })).sort((a, b) => a.d - b.d).map((e) => e.x);
}

/** Component id per suppressed cell (-1 for published cells). */
function componentIndex(sys: CellSystem, sup: Uint8Array): { of: Int32Array } {
  const of = new Int32Array(sys.cellCount).fill(-1);
  components(sys, sup).forEach((comp, k) => { for (const c of comp.cells) of[c] = k; });
  return { of };
}

/**
 * Cells to publish when publishing secondary cell c: c plus the secondary cells that become alone in an additive
 * relation (determined), transitively; null when a primary or a cell of a non-additive relation would be left alone.
 */
function removalSet(input: SecondaryInput, sup: Uint8Array, c: number): number[] | null {
  const { sys } = input;
  const out: number[] = [c];
  const gone = new Set<number>([c]);
  const queue = [...sys.cellRelations[c]!];
  while (queue.length > 0) {
    const r = sys.relations[queue.pop()!]!;
    let lone = -1;
    let count = 0;
    for (const m of r.cells) if (sup[m] && !gone.has(m)) { count++; lone = m; }
    if (count !== 1) continue;
    if (!r.additive || input.primary[lone] || input.fixed?.[lone]) return null;
    gone.add(lone);
    out.push(lone);
    queue.push(...sys.cellRelations[lone]!);
  }
  return out;
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

/**
 * Add the cheapest published cell of every relation containing `id`; if none is left, of every relation touching the
 * component of `id`. Returns the number added (0 only when every related cell is suppressed).
 */
function widen(input: SecondaryInput, sup: Uint8Array, id: number, costOf: (c: number) => number): number {
  const { sys } = input;
  const pickFrom = (rels: Iterable<number>): number => {
    const picks = new Set<number>();
    for (const r of rels) {
      const p = cheapestPublished(sys.relations[r]!.cells, sup, costOf);
      if (p >= 0) picks.add(p);
    }
    for (const p of picks) sup[p] = 1;
    return picks.size;
  };
  const local = pickFrom(sys.cellRelations[id]!);
  if (local > 0) return local;
  const comp = components(sys, sup).find((c) => c.cells.includes(id));
  const rels = new Set<number>();
  for (const c of comp ? comp.cells : [id]) for (const r of sys.cellRelations[c]!) rels.add(r);
  return pickFrom(rels);
}

/**
 * The cheapest generalised hypercube around cell `index` of table `ti` (global ids).
 * Per dimension: choices = one of (parent or siblings) when the node has a parent, times one child when it is an
 * aggregate; sign +1 for parent/child (moves with the cell), -1 for a sibling (moves against it).
 */
function bestCube(
  input: SecondaryInput, ti: number, index: number, req: SensitiveCell, costOf: (c: number) => number, addsCell = false,
): { ids: number[]; cost: number; feasible: number } {
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
      if (addsCell && cost <= 0) return;
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
  return { ids: best, cost: bestKey[1], feasible: bestKey[0] };
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
 * safe patterns). If the time limit runs out first, the heuristic's safe pattern is used (`fallback`, or computed
 * then when given as a function).
 */
export async function optimalSuppression(
  input: SecondaryInput, timeLimitSeconds: number, fallback: SecondaryResult | (() => Promise<SecondaryResult>),
): Promise<SecondaryResult> {
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
  // Time limit (or an infeasible master): the heuristic's safe pattern, computed only now when given lazily.
  const fb = typeof fallback === 'function' ? await fallback() : fallback;
  return { ...fb, method: 'optimal', optimalFinished: false, iterations: fb.iterations + iterations };
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
