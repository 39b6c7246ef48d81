import { StatguardError } from '../errors.ts';
import { highsRuntime } from './highs.ts';
import type { HighsRuntime } from './highs.ts';
import type { CellSystem } from './relations.ts';
import type { ExactTable } from '../types.ts';
import {
  checkWitness,
  checkWitnessOf,
  cheapestWitness,
  findWitness,
  regionSizes,
  requiredMovement,
  witnessed,
} from './witness.ts';
import type { Witness, Witnesses } from './witness.ts';
import { tolerance } from './tolerance.ts';

/** A sensitive (primary) cell with its required protection, internal units. */
export interface SensitiveCell {
  readonly id: number;
  readonly upper: number;
  readonly lower: number;
}

/**
 * Dual multipliers of one attacker LP, per LP row, for Fischetti-Salazar cuts. Row k is relation `relations[k]`:
 * its sum row when `child[k] === -1` (an equality for additive relations, `sum coefs*x <= 0` otherwise), or, for a
 * non-additive relation, the row `x(cells[child[k]]) - x(cells[0]) <= 0` (a child never exceeds its aggregate).
 */
export interface AttackDual {
  readonly relations: Int32Array;
  readonly child: Int32Array;
  readonly alpha: Float64Array;
}

/**
 * The attacker's view of one sensitive cell. Reviewer-only (secure zone): the
 * interval is derived from exact values and must never reach a public output.
 */
export interface CellAudit {
  readonly id: number;
  readonly value: number;
  /** Attacker interval [min, max] for the cell's value. */
  readonly min: number;
  readonly max: number;
  /** Required bounds: max must reach `needUp`, min must reach `needDown` (protection capped at the a priori bounds). */
  readonly needUp: number;
  readonly needDown: number;
  /** max == min (within tolerance): the value is exactly disclosed. */
  readonly exact: boolean;
  readonly passes: boolean;
  /** min(max - needUp, needDown - min); negative when failing. */
  readonly margin: number;
  /**
   * true: [min, max] was certified by witnesses (alternative tables consistent with everything published, see
   * witness.ts): the attacker's interval contains it, and may be wider. false/absent: LP optimum (exact).
   */
  readonly certified?: boolean;
  /** Duals of the failing LP(s), when requested. */
  readonly dualUp?: AttackDual;
  readonly dualDown?: AttackDual;
}

export interface SingletonExposure {
  readonly relation: number;
  /** Suppressed cell with a single contributor, who knows its value. */
  readonly singleton: number;
  /** The other suppressed (sensitive) cell of the relation, which that contributor can then compute. */
  readonly exposed: number;
}

export interface AuditResult {
  readonly passes: boolean;
  readonly cells: readonly CellAudit[];
  readonly singletons: readonly SingletonExposure[];
  /** Smallest margin over sensitive cells (Infinity when there are none). */
  readonly narrowestMargin: number;
  readonly components: number;
  readonly lpSolves: number;
  /** Sensitive cells whose interval was certified by witnesses instead of solved by LP (see `AuditOptions.intervals`). */
  readonly certifiedCells: number;
}

export interface AuditOptions {
  /** Solve the LP even for cells linear algebra shows determined, and return duals of failing LPs. */
  readonly duals?: boolean;
  /** Apply the singleton rule (default true). */
  readonly singletons?: boolean;
  /**
   * Stop at the first failing sensitive cell (then `cells` lists only the cells judged so far and `passes` is false).
   * For searches that only need the verdict; a passing result is identical to a full audit.
   */
  readonly failFast?: boolean;
  /**
   * The release's tables (what `sys` was built from). With them, sensitive cells of large components are judged by
   * witnesses (witness.ts) before any LP: see `intervals`.
   */
  readonly tables?: readonly ExactTable[];
  /**
   * With `tables`: 'certified' tries witnesses in every component; 'auto' (default) only in components of more than
   * EXACT_AUDIT_MAX_CELLS suppressed cells, and in all once the exact intervals of the smaller ones (smallest first)
   * would take more than EXACT_AUDIT_MAX_SOLVES LPs; 'exact' never. A cell without
   * witnesses in both required directions is solved by LP as usual, so the verdict is the same in every mode; only the
   * reported interval of a certified cell is a lower bound on the attacker's.
   */
  readonly intervals?: 'exact' | 'certified' | 'auto';
  /**
   * Witnesses a search already built, per sensitive cell (e.g. the heuristic's). Where witnesses are tried, each hint
   * is checked exactly against this pattern (`checkWitnessOf`) before it counts, so a stale or wrong hint only costs
   * the search it was meant to save: the verdict never rests on the caller's word.
   */
  readonly witnesses?: ReadonlyMap<number, Witnesses>;
}

/**
 * Components up to this many suppressed cells get exact LP intervals in the default 'auto' mode: there the LPs are
 * cheap (a few ms each) and reviewers see the attacker's exact interval. Beyond it, one LP per sensitive cell and
 * direction over a component of thousands of cells costs seconds each, and witnesses decide almost every cell.
 */
export const EXACT_AUDIT_MAX_CELLS = 2000;

/**
 * LP solves the 'auto' mode spends on exact intervals at most (smallest components first, two per sensitive cell):
 * beyond it, components are audited as in 'certified'. After a heuristic on a 100,000-cell table the pattern falls
 * into components of a few hundred cells holding thousands of sensitive cells, whose exact intervals would cost
 * about 20 ms per LP (measured: 2,360 LPs, 46 s) for a verdict the witnesses already give.
 */
export const EXACT_AUDIT_MAX_SOLVES = 1000;

export { AUDIT_TOLERANCE, tolerance } from './tolerance.ts';

class UnionFind {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r]!;
    while (this.parent[x] !== r) {
      const nx = this.parent[x]!;
      this.parent[x] = r;
      x = nx;
    }
    return r;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[ra] = rb;
  }
}

export interface Component {
  /** Suppressed global cells. */
  readonly cells: number[];
  /** Active relations (global ids) whose suppressed cells lie in this component. */
  readonly relations: number[];
}

/**
 * Split the attacker's system into independent components. Published cells are
 * constants, so a relation constrains only its suppressed cells; relations
 * without a suppressed cell carry no information about any unknown and are
 * dropped. Two suppressed cells are in the same component when a chain of
 * active relations links them; the feasible set is the product of the
 * components' feasible sets, so each component's LPs are exact on their own.
 */
export function components(sys: CellSystem, suppressed: Uint8Array): Component[] {
  const uf = new UnionFind(sys.cellCount);
  const active: number[] = [];
  sys.relations.forEach((r, ri) => {
    let first = -1;
    for (const c of r.cells) {
      if (!suppressed[c]) continue;
      if (first < 0) first = c;
      else uf.union(first, c);
    }
    if (first >= 0) active.push(ri);
  });
  const byRoot = new Map<number, Component>();
  for (let c = 0; c < sys.cellCount; c++) {
    if (!suppressed[c]) continue;
    const root = uf.find(c);
    let comp = byRoot.get(root);
    if (!comp) {
      comp = { cells: [], relations: [] };
      byRoot.set(root, comp);
    }
    comp.cells.push(c);
  }
  for (const ri of active) {
    const r = sys.relations[ri]!;
    for (const c of r.cells) {
      if (suppressed[c]) {
        byRoot.get(uf.find(c))!.relations.push(ri);
        break;
      }
    }
  }
  return [...byRoot.values()];
}

/**
 * Cells of a component whose value linear algebra alone determines: e_j lies in
 * the row space of the component's equation matrix. Only equality rows (additive
 * relations) enter: an inequality cannot pin a cell by itself, and a cell pinned
 * by inequalities together is caught by the LP (min == max). In reduced row echelon form
 * that holds exactly when column j is a pivot column whose row has no other
 * non-zero (the RREF rows are a basis; matching coefficients on pivot columns
 * forces e_j to equal that pivot row). Partial pivoting, tolerance 1e-9 on
 * entries of a 0/±1 matrix: a spurious "determined" only makes the check stricter.
 */
export function determinedCells(sys: CellSystem, comp: Component, suppressed: Uint8Array): Set<number> {
  const nc = comp.cells.length;
  const col = new Map<number, number>();
  comp.cells.forEach((c, k) => col.set(c, k));
  const rows: Float64Array[] = comp.relations
    .filter((ri) => sys.relations[ri]!.additive)
    .map((ri) => {
      const r = sys.relations[ri]!;
      const row = new Float64Array(nc);
      r.cells.forEach((c, k) => {
        if (suppressed[c]) row[col.get(c)!]! += r.coefs[k]!;
      });
      return row;
    });
  const eps = 1e-9;
  const pivotRowOfCol = new Int32Array(nc).fill(-1);
  let pr = 0;
  for (let j = 0; j < nc && pr < rows.length; j++) {
    let best = -1;
    let bestAbs = eps;
    for (let i = pr; i < rows.length; i++) {
      const v = Math.abs(rows[i]![j]!);
      if (v > bestAbs) {
        bestAbs = v;
        best = i;
      }
    }
    if (best < 0) continue;
    [rows[pr], rows[best]] = [rows[best]!, rows[pr]!];
    const p = rows[pr]!;
    const pv = p[j]!;
    for (let k = j; k < nc; k++) p[k] = p[k]! / pv;
    for (let i = 0; i < rows.length; i++) {
      if (i === pr) continue;
      const row = rows[i]!;
      const f = row[j]!;
      if (Math.abs(f) <= eps) {
        row[j] = 0;
        continue;
      }
      for (let k = j; k < nc; k++) row[k] = row[k]! - f * p[k]!;
      row[j] = 0;
    }
    pivotRowOfCol[j] = pr;
    pr++;
  }
  const out = new Set<number>();
  for (let j = 0; j < nc; j++) {
    const r = pivotRowOfCol[j]!;
    if (r < 0) continue;
    const row = rows[r]!;
    let alone = true;
    for (let k = 0; k < nc && alone; k++) if (k !== j && Math.abs(row[k]!) > eps) alone = false;
    if (alone) out.add(comp.cells[j]!);
  }
  return out;
}

/**
 * The attacker audit of a suppression pattern over the whole release.
 *
 * Variables: suppressed cells, with a priori bounds [sys.lower, sys.upper];
 * published cells are constants substituted into the relations. For each
 * sensitive cell, min and max of its value over that polytope (HiGHS LP, per
 * independent component). Guarantee: an attacker who knows the published
 * values, the table relations and the a priori bounds can narrow the cell to
 * [min, max] and no further (LP optimality); the cell passes when
 * max >= min(a + upper, ub) and min <= max(a - lower, lb) within a relative
 * tolerance of 1e-6, and max > min (never exactly disclosed).
 *
 * Inequality relations (distinct-unit counts that do not add up, see relations.ts) enter the LP as
 * `aggregate <= sum(children)` and `child <= aggregate` rows; the guarantee is the same (the LP optimum is the
 * attacker's best bound given everything true of distinct counts).
 *
 * Singleton rule: a suppressed cell with one contributor is known to that
 * contributor; if a relation has exactly two suppressed cells that the
 * relations do not already determine (determined ones are as good as
 * published) and one is such a singleton, the contributor computes the other
 * (equality relation) or at least narrows it (inequality relation: flagged all
 * the same, conservatively). When the other is sensitive the pattern fails
 * (reported in `singletons`). "Determined" = shown by linear algebra on the
 * equalities; in components with inequality rows, cells pinned by the
 * inequalities (LP min == max) count as determined too, so that a relation is
 * never let off because a cell everyone can compute was counted as hidden.
 */
/** Sensitive cells by id; a cell listed twice (several rules, linked tables) keeps the larger protection each way. */
export function mergeSensitive(sensitive: readonly SensitiveCell[]): Map<number, SensitiveCell> {
  const sens = new Map<number, SensitiveCell>();
  for (const s of sensitive) {
    const prev = sens.get(s.id);
    sens.set(s.id, prev ? { id: s.id, upper: Math.max(prev.upper, s.upper), lower: Math.max(prev.lower, s.lower) } : s);
  }
  return sens;
}

/**
 * What the audit requires of a sensitive cell: its attacker interval must reach `needUp` and `needDown` (protection
 * capped at the a priori bounds), compared within `tol`.
 */
export function protectionTargets(
  sys: CellSystem,
  s: SensitiveCell,
): { needUp: number; needDown: number; tol: number } {
  const a = sys.value[s.id]!;
  return {
    needUp: Math.min(a + s.upper, sys.upper[s.id]!),
    needDown: Math.max(a - s.lower, sys.lower[s.id]!),
    tol: tolerance(Math.abs(a) + Math.max(s.upper, s.lower)),
  };
}

export async function auditPattern(
  sys: CellSystem,
  suppressed: Uint8Array,
  sensitive: readonly SensitiveCell[],
  opts: AuditOptions = {},
): Promise<AuditResult> {
  const sens = mergeSensitive(sensitive);
  const results = new Map<number, CellAudit>();
  const rank = new Map<number, number>();
  sensitive.forEach((s, k) => {
    if (!rank.has(s.id)) rank.set(s.id, k);
  });
  let lpSolves = 0;

  const judge = (
    id: number,
    min: number,
    max: number,
    extra: { dualUp?: AttackDual; dualDown?: AttackDual; certified?: boolean } = {},
  ): CellAudit => {
    const a = sys.value[id]!;
    const { needUp, needDown, tol } = protectionTargets(sys, sens.get(id)!);
    const exact = max - min <= tol;
    const passes = !exact && max >= needUp - tol && min <= needDown + tol;
    const margin = Math.min(max - needUp, needDown - min);
    return { id, value: a, min, max, needUp, needDown, exact, passes, margin, ...extra };
  };

  // Sensitive cells left published are trivially disclosed.
  for (const id of sens.keys()) if (!suppressed[id]) results.set(id, judge(id, sys.value[id]!, sys.value[id]!));
  // failFast: the verdict (fail) with the cells judged so far.
  const failedEarly = (c: CellAudit): AuditResult => ({
    passes: false,
    cells: [...results.values(), c].filter((x, i, a) => a.indexOf(x) === i),
    singletons: [],
    narrowestMargin: c.margin,
    components: 0,
    lpSolves,
    certifiedCells: 0,
  });
  if (opts.failFast) for (const r of results.values()) if (!r.passes) return failedEarly(r);

  const comps = components(sys, suppressed);
  // Suppressed cells the relations alone determine (anyone can compute them): treated as published by the singleton rule.
  const determinedAll = new Set<number>();
  // Components audited with witnesses, and the suppressed cells some witness moves (so not determined).
  const mode = opts.tables && !opts.duals ? (opts.intervals ?? 'auto') : 'exact';
  const witnessComps = new Set<Component>();
  const moving = new Set<number>();
  let certifiedCells = 0;
  // One attacker model per component, built on demand, disposed at the end.
  const models = new Map<Component, AttackerModel>();
  let highs: HighsRuntime | null = null;
  const modelOf = async (comp: Component): Promise<AttackerModel> => {
    let m = models.get(comp);
    if (!m) {
      highs ??= await highsRuntime();
      m = attackerModel(highs, sys, comp, suppressed);
      models.set(comp, m);
    }
    return m;
  };
  const solve = (m: AttackerModel, k: number, sign: 1 | -1, duals: boolean): { value: number; dual?: AttackDual } => {
    const { model } = m;
    model.changeColCost(k, sign);
    const run = model.run();
    lpSolves++;
    if (run.modelStatus !== highs!.constants.modelStatus.optimal) {
      model.changeColCost(k, 0);
      throw new StatguardError(
        'AUDIT_FAILED',
        `the attacker LP did not solve to optimality (HiGHS model status ${run.modelStatus}); table relations may be inconsistent`,
      );
    }
    // Read the solution before resetting the cost (a model change invalidates it).
    const value = sign * model.getObjectiveValue();
    const sol = duals ? model.getSolution() : null;
    model.changeColCost(k, 0);
    if (!sol) return { value };
    return { value, dual: { relations: m.rowRel, child: m.rowChild, alpha: Float64Array.from(sol.rowDual) } };
  };

  try {
    let exactSolves = 0;
    for (const comp of [...comps].sort((x, y) => x.cells.length - y.cells.length)) {
      const targets = comp.cells.filter((id) => sens.has(id));
      // failFast: judge cells in the caller's order (callers list the likeliest failures first).
      if (opts.failFast) targets.sort((x, y) => rank.get(x)! - rank.get(y)!);
      if (targets.length === 0) continue;
      if (comp.relations.length === 0) {
        for (const id of targets) results.set(id, judge(id, sys.lower[id]!, sys.upper[id]!));
        continue;
      }
      let open: number[];
      const exactHere =
        mode === 'exact' ||
        (mode === 'auto' &&
          comp.cells.length <= EXACT_AUDIT_MAX_CELLS &&
          exactSolves + 2 * targets.length <= EXACT_AUDIT_MAX_SOLVES);
      if (exactHere) exactSolves += 2 * targets.length;
      if (!exactHere) {
        // Witnesses first (no RREF: on a component of thousands of cells it costs more than the LPs it saves).
        witnessComps.add(comp);
        highs ??= await highsRuntime();
        open = [];
        for (const id of targets) {
          const a = sys.value[id]!;
          const need = requiredMovement(sys, sens.get(id)!);
          const w = hintedWitnesses(sys, opts.tables!, suppressed, id, need, opts.witnesses?.get(id), highs);
          if (witnessed(w, need)) {
            // Only cells a witness really moves are shown undetermined (a sum of cubes can cancel out on a cell).
            for (const x of [w.up, w.down])
              if (x)
                x.ids.forEach((c, i) => {
                  if (Math.abs(x.delta[i]!) > tolerance(sys.value[c]!)) moving.add(c);
                });
            results.set(id, judge(id, a - (w.down?.amount ?? 0), a + (w.up?.amount ?? 0), { certified: true }));
            certifiedCells++;
          } else open.push(id);
        }
      } else {
        const determined = determinedCells(sys, comp, suppressed);
        for (const c of determined) determinedAll.add(c);
        const skip = opts.duals ? new Set<number>() : determined;
        for (const id of targets) if (skip.has(id)) results.set(id, judge(id, sys.value[id]!, sys.value[id]!));
        if (opts.failFast)
          for (const id of targets) {
            const r = results.get(id);
            if (r && !r.passes) return failedEarly(r);
          }
        open = targets.filter((id) => !skip.has(id));
      }
      if (open.length === 0) continue;
      const m = await modelOf(comp);
      for (const id of open) {
        const k = m.col.get(id)!;
        const lo = solve(m, k, 1, opts.duals === true);
        const hi = solve(m, k, -1, opts.duals === true);
        const audit = judge(id, lo.value, hi.value);
        if (!audit.exact) moving.add(id);
        if (!audit.passes && opts.failFast) return failedEarly(audit);
        if (!audit.passes && opts.duals) {
          results.set(id, {
            ...audit,
            ...(hi.dual ? { dualUp: hi.dual } : {}),
            ...(lo.dual ? { dualDown: lo.dual } : {}),
          });
        } else results.set(id, audit);
      }
    }

    const singletons: SingletonExposure[] = [];
    if (opts.singletons !== false) {
      const compOf = new Map<number, Component>();
      for (const c of comps) for (const id of c.cells) compOf.set(id, c);
      const lpExact = new Map<number, boolean>();
      const pinned = async (id: number): Promise<boolean> => {
        let e = lpExact.get(id);
        if (e === undefined) {
          const r = results.get(id);
          if (r) e = r.exact;
          else if (
            witnessComps.has(compOf.get(id)!) &&
            (highs ??= await highsRuntime()) &&
            movesLocally(sys, opts.tables!, suppressed, id, highs)
          ) {
            // A witness moving the cell at all: not pinned (no LP over the large component).
            e = false;
          } else {
            const m = await modelOf(compOf.get(id)!);
            const k = m.col.get(id)!;
            e = solve(m, k, -1, false).value - solve(m, k, 1, false).value <= tolerance(sys.value[id]!);
          }
          lpExact.set(id, e);
        }
        return e;
      };
      for (let ri = 0; ri < sys.relations.length; ri++) {
        const r = sys.relations[ri]!;
        // An aggregate with a single child has exactly the child's contributors (a unit of the aggregate is in one
        // of its children): the lone contributor of one learns only its own value from the other.
        if (r.cells.length === 2) continue;
        let sup: number[] = [];
        for (const c of r.cells) if (suppressed[c] && !determinedAll.has(c)) sup.push(c);
        if (sup.length < 2) continue;
        const comp = compOf.get(sup[0]!)!;
        if (witnessComps.has(comp)) {
          // No RREF ran here: a cell no witness moves may be determined. Only relations holding a one-unit cell and a
          // sensitive cell can expose anything; in those, such cells are checked by LP (pinned = as good as published).
          if (!sup.some((c) => sys.units[c] === 1) || !sup.some((c) => sens.has(c))) continue;
          const keep: number[] = [];
          for (const c of sup) if (moving.has(c) || !(await pinned(c))) keep.push(c);
          sup = keep;
        }
        if (
          sup.length > 2 &&
          sup.some((c) => sys.units[c] === 1) &&
          sup.some((c) => sens.has(c)) &&
          comp.relations.some((x) => !sys.relations[x]!.additive)
        ) {
          // Inequalities may pin cells linear algebra cannot see: drop those before counting (conservative).
          const keep: number[] = [];
          for (const c of sup) if (!(await pinned(c))) keep.push(c);
          sup = keep;
        }
        if (sup.length !== 2) continue;
        const [u, v] = sup as [number, number];
        if (u === v) continue;
        if (sys.units[u] === 1 && sens.has(v)) singletons.push({ relation: ri, singleton: u, exposed: v });
        if (sys.units[v] === 1 && sens.has(u)) singletons.push({ relation: ri, singleton: v, exposed: u });
      }
    }

    const cells = [...sens.keys()].sort((x, y) => x - y).map((id) => results.get(id)!);
    const narrowestMargin = cells.reduce((m, c) => Math.min(m, c.margin), Infinity);
    return {
      passes: cells.every((c) => c.passes) && singletons.length === 0,
      cells,
      singletons,
      narrowestMargin,
      components: comps.length,
      lpSolves,
      certifiedCells,
    };
  } finally {
    for (const m of models.values()) m.model.dispose();
  }
}

export interface AttackerModel {
  readonly model: ReturnType<HighsRuntime['createModel']>;
  /** Global cell id -> column. */
  readonly col: Map<number, number>;
  /** Per LP row: relation index and child position (-1 = the relation's sum row); see AttackDual. */
  readonly rowRel: Int32Array;
  readonly rowChild: Int32Array;
}

/**
 * The attacker's LP over one component: columns = suppressed cells with their a priori bounds, rows = active
 * relations with published cells moved to the right-hand side. Additive relation: one equality row. Non-additive
 * (distinct-unit count) relation: the row `aggregate - sum(children) <= 0` plus, for each child where the child or
 * the aggregate is suppressed, `child - aggregate <= 0` (pairs of published cells carry no information).
 * Every row holds on the exact values, so the exact table is feasible.
 */
export function attackerModel(
  highs: HighsRuntime,
  sys: CellSystem,
  comp: Component,
  suppressed: Uint8Array,
): AttackerModel {
  const col = new Map<number, number>();
  comp.cells.forEach((c, k) => col.set(c, k));
  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const rowLower: number[] = [];
  const rowUpper: number[] = [];
  const rowRel: number[] = [];
  const rowChild: number[] = [];
  const addRow = (
    cells: readonly number[],
    coefs: readonly number[],
    equality: boolean,
    ri: number,
    child: number,
  ): void => {
    let b = 0;
    const entries = new Map<number, number>();
    cells.forEach((c, k) => {
      const coef = coefs[k]!;
      if (suppressed[c]) entries.set(col.get(c)!, (entries.get(col.get(c)!) ?? 0) + coef);
      else b -= coef * sys.value[c]!;
    });
    for (const [k, v] of [...entries].sort((x, y) => x[0] - y[0])) {
      if (v !== 0) {
        indices.push(k);
        values.push(v);
      }
    }
    starts.push(indices.length);
    rowLower.push(equality ? b : -Infinity);
    rowUpper.push(b);
    rowRel.push(ri);
    rowChild.push(child);
  };
  for (const ri of comp.relations) {
    const r = sys.relations[ri]!;
    addRow([...r.cells], [...r.coefs], r.additive, ri, -1);
    if (r.additive) continue;
    const agg = r.cells[0]!;
    for (let k = 1; k < r.cells.length; k++) {
      const c = r.cells[k]!;
      if (suppressed[c] || suppressed[agg]) addRow([c, agg], [1, -1], false, ri, k);
    }
  }
  const nc = comp.cells.length;
  const nr = rowUpper.length;
  const model = highs.createModel({
    numCols: nc,
    numRows: nr,
    colCost: new Float64Array(nc),
    colLower: Float64Array.from(comp.cells, (c) => sys.lower[c]!),
    colUpper: Float64Array.from(comp.cells, (c) => sys.upper[c]!),
    rowLower,
    rowUpper,
    matrix: { format: 'csr', numRows: nr, numCols: nc, starts, indices, values },
  });
  try {
    // Primal simplex: between solves only the objective changes, so the previous basis stays primal feasible (measured 2.5x faster than the default on a 6,000-cell component).
    model.options.set({ output_flag: false, simplex_strategy: 4 });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, col, rowRel: Int32Array.from(rowRel), rowChild: Int32Array.from(rowChild) };
}

/**
 * Witnesses of protection for sensitive cell `id`: a hinted witness per direction when it carries the movement and
 * passes `checkWitness` on this pattern, else found afresh (`findWitnesses`, only for the directions still missing).
 */
export function hintedWitnesses(
  sys: CellSystem,
  tables: readonly ExactTable[],
  suppressed: Uint8Array,
  id: number,
  need: { up: number; down: number; tol: number },
  hint: Witnesses | undefined,
  highs: HighsRuntime | null,
): Witnesses {
  const ok = (w: Witness | null | undefined, n: number, dir: 1 | -1): w is Witness =>
    !!w && w.amount >= n - need.tol && checkWitnessOf(sys, suppressed, w, id, dir);
  const up = ok(hint?.up, need.up, 1) ? hint!.up : null;
  const down = ok(hint?.down, need.down, -1) ? hint!.down : null;
  if (witnessed({ up, down }, need)) return { up, down }; // both present always passes
  return {
    up: up ?? findWitness(sys, tables, suppressed, id, 1, need.up, false, highs),
    down: down ?? findWitness(sys, tables, suppressed, id, -1, need.down, false, highs),
  };
}

/**
 * Whether a witness moves suppressed cell `id` at all: a cube of suppressed cells, else the cheapest-witness LP over a
 * region around it with only suppressed cells free (a small movement in either direction). False means "not shown",
 * not "pinned": the caller then solves the component's LP.
 */
function movesLocally(
  sys: CellSystem,
  tables: readonly ExactTable[],
  suppressed: Uint8Array,
  id: number,
  highs: HighsRuntime,
): boolean {
  if (findWitness(sys, tables, suppressed, id, 1, 0) || findWitness(sys, tables, suppressed, id, -1, 0)) return true;
  const amount = Math.max(1e-3 * Math.abs(sys.value[id]!), 100 * tolerance(sys.value[id]!));
  const onlySuppressed = (c: number): number => (suppressed[c] ? 0 : Infinity);
  // Growing regions, at last the whole table: cheaper than the component LP's two optima (measured 3 s against
  // 17 s on a 100,000-cell table's main component).
  for (const cells of regionSizes(sys, tables, id)) {
    for (const dir of [1, -1] as const) {
      const w = cheapestWitness(sys, tables, suppressed, id, dir, amount, onlySuppressed, highs, cells);
      if (w && w.added.length === 0 && checkWitnessOf(sys, suppressed, w.witness, id, dir)) return true;
    }
  }
  return false;
}
