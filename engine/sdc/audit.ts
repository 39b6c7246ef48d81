/**
 * The attacker audit of a suppression pattern (see `auditPattern`).
 *
 * Guarantee: a pattern passes only if, for every sensitive cell, the attacker's interval (what the published cells,
 * the relations and the a priori bounds allow) reaches the required protection in both directions and is not a
 * point, and no relation lets a one-unit cell's contributor compute a sensitive cell (singleton rule); with
 * `insiders`, no one-unit cell's contributor, knowing its own value, can compute another unit's sensitive cell or
 * narrow it inside its protection (insiders.ts). Exact by
 * linear algebra for determined cells and by the HiGHS LP optimum per cell and direction; where checked witnesses
 * certify a cell instead, the reported interval is a lower bound on the attacker's, and the verdict is the same.
 */
import {
  EXACT_AUDIT_MAX_CELLS,
  EXACT_AUDIT_MAX_SOLVES,
  EXACT_AUDIT_MAX_WORK,
  REGION_LP_MIN_CELLS,
} from './audit-limits.ts';
import type { ExactTable } from '../types.ts';
import { AttackerLps } from './attacker-lp.ts';
import type { AttackDual } from './attacker-lp.ts';
import { components } from './components.ts';
import type { Component } from './components.ts';
import type { Deadline } from './deadline.ts';
import { determinedCells } from './determined.ts';
import { insiderExposures } from './insiders.ts';
import type { InsiderAuditResult, InsiderExposure } from './insiders.ts';
import type { CellSystem } from './relations.ts';
import { mergeSensitive, protectionTargets, requiredMovement } from './sensitive.ts';
import type { SensitiveCell } from './sensitive.ts';
import { tolerance } from './tolerance.ts';
import { hintedWitnesses, localMove } from './witness.ts';
import { witnessed } from './witness-check.ts';
import type { Witness, Witnesses } from './witness-check.ts';

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
   * witness-check.ts): the attacker's interval contains it, and may be wider. false/absent: LP optimum (exact).
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
  /**
   * Insider audit (`AuditOptions.insiders`): what the contributor of each one-unit suppressed cell could learn of other
   * units' sensitive cells. Empty when not asked or when some sensitive cell already fails for everyone.
   */
  readonly insiders: readonly InsiderExposure[];
  /** `insiders: 'report'` stopped by `insiderDeadline` before every insider was audited: `insiders` is partial. */
  readonly insidersIncomplete?: boolean;
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
   * The insider audit (insiders.ts), once every sensitive cell passes for the public: true makes an exposure fail the
   * pattern; 'report' lists the exposures without judging by them (the reviewer report when the policy turns it off);
   * false (default) skips it.
   */
  readonly insiders?: boolean | 'report';
  /**
   * Insider witnesses kept across audits of one search (insiders.ts `InsiderAuditInput.cache`): each was checked in
   * full when found and counts again only while every cell it moves is hidden.
   */
  readonly insiderCache?: Map<string, Witness>;
  /**
   * Deadline of the insider phase (default `deadline`). Past it the audit throws TimeUp, except under
   * `insiders: 'report'`, which then returns the exposures found so far with `insidersIncomplete`.
   */
  readonly insiderDeadline?: Deadline;
  /**
   * Stop at the first failing sensitive cell (then `cells` lists only the cells judged so far and `passes` is false).
   * For searches that only need the verdict; a passing result is identical to a full audit.
   */
  readonly failFast?: boolean;
  /**
   * The release's tables (what `sys` was built from). With them, sensitive cells of large components are judged by
   * witnesses (witness.ts, checked by witness-check.ts) before any LP: see `intervals`.
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
  /** Checked before every component, witness search and LP: throws TimeUp (deadline.ts) once passed. */
  readonly deadline?: Deadline;
}

export { EXACT_AUDIT_MAX_CELLS, EXACT_AUDIT_MAX_SOLVES, EXACT_AUDIT_MAX_WORK, REGION_LP_MIN_CELLS };

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
export async function auditPattern(
  sys: CellSystem,
  suppressed: Uint8Array,
  sensitive: readonly SensitiveCell[],
  opts: AuditOptions = {},
): Promise<AuditResult> {
  const run = new PatternAudit(sys, suppressed, sensitive, opts);
  try {
    return await run.audit();
  } finally {
    run.lps.dispose();
  }
}

/** One `auditPattern` call: the verdicts so far, its attacker LPs, and what the singleton rule needs to know. */
class PatternAudit {
  readonly sens: Map<number, SensitiveCell>;
  /** Position of each sensitive cell in the caller's list (failFast judges in that order). */
  private readonly rank = new Map<number, number>();
  private readonly results = new Map<number, CellAudit>();
  readonly lps: AttackerLps;
  private readonly mode: 'exact' | 'certified' | 'auto';
  /** Suppressed cells the relations alone determine (anyone can compute them): treated as published by the singleton rule. */
  private readonly determinedAll = new Set<number>();
  /** Components audited with witnesses, and the suppressed cells some witness moves (so not determined). */
  private readonly witnessComps = new Set<Component>();
  private readonly moving = new Set<number>();
  /** Witnesses checked on this pattern per sensitive cell (certified cells), reused by the insider audit. */
  private readonly proven = new Map<number, Witnesses>();
  private insiderSolves = 0;
  private certifiedCells = 0;

  constructor(
    private readonly sys: CellSystem,
    private readonly suppressed: Uint8Array,
    sensitive: readonly SensitiveCell[],
    private readonly opts: AuditOptions,
  ) {
    this.sens = mergeSensitive(sensitive);
    sensitive.forEach((s, k) => {
      if (!this.rank.has(s.id)) this.rank.set(s.id, k);
    });
    this.lps = new AttackerLps(sys, suppressed);
    this.mode = opts.tables && !opts.duals ? (opts.intervals ?? 'auto') : 'exact';
  }

  async audit(): Promise<AuditResult> {
    const { sys, suppressed, sens, results, opts } = this;
    // Sensitive cells left published are trivially disclosed.
    for (const id of sens.keys()) if (!suppressed[id]) results.set(id, this.judge(id, sys.value[id]!, sys.value[id]!));
    if (opts.failFast) for (const r of results.values()) if (!r.passes) return this.failedEarly(r);

    const comps = components(sys, suppressed);
    let exactSolves = 0;
    let exactWork = 0;
    for (const comp of [...comps].sort((x, y) => x.cells.length - y.cells.length)) {
      opts.deadline?.check('the audit');
      const targets = comp.cells.filter((id) => sens.has(id));
      // failFast: judge cells in the caller's order (callers list the likeliest failures first).
      if (opts.failFast) targets.sort((x, y) => this.rank.get(x)! - this.rank.get(y)!);
      if (targets.length === 0) continue;
      if (comp.relations.length === 0) {
        for (const id of targets) results.set(id, this.judge(id, sys.lower[id]!, sys.upper[id]!));
        continue;
      }
      const exactHere =
        this.mode === 'exact' ||
        (this.mode === 'auto' &&
          comp.cells.length <= EXACT_AUDIT_MAX_CELLS &&
          exactSolves + 2 * targets.length <= EXACT_AUDIT_MAX_SOLVES &&
          exactWork + 2 * targets.length * comp.cells.length <= EXACT_AUDIT_MAX_WORK);
      if (exactHere) {
        exactSolves += 2 * targets.length;
        exactWork += 2 * targets.length * comp.cells.length;
      }
      const failed = await this.componentIntervals(comp, targets, exactHere);
      if (failed) return this.failedEarly(failed);
    }

    const singletons = opts.singletons !== false ? await this.singletonExposures(comps) : [];
    const cells = [...sens.keys()].sort((x, y) => x - y).map((id) => results.get(id)!);
    const narrowestMargin = cells.reduce((m, c) => Math.min(m, c.margin), Infinity);
    const publicPasses = cells.every((c) => c.passes) && singletons.length === 0;
    const insider = opts.insiders && publicPasses ? await this.insiderAudit(comps) : null;
    const insiders = insider?.exposures ?? [];
    return {
      passes: publicPasses && (opts.insiders !== true || insiders.length === 0),
      cells,
      singletons,
      insiders,
      ...(insider && !insider.complete ? { insidersIncomplete: true } : {}),
      narrowestMargin,
      components: comps.length,
      lpSolves: this.lps.lpSolves + this.insiderSolves,
      certifiedCells: this.certifiedCells,
    };
  }

  /** The insider audit (insiders.ts) of every one-unit suppressed cell, with the witnesses this audit checked. */
  private async insiderAudit(comps: readonly Component[]): Promise<InsiderAuditResult> {
    const { sys, suppressed, sens, opts } = this;
    const deadline = opts.insiderDeadline ?? opts.deadline;
    const r = await insiderExposures({
      sys,
      suppressed,
      sens,
      comps,
      proven: this.proven,
      ...(opts.tables ? { tables: opts.tables } : {}),
      ...(opts.duals ? { duals: true } : {}),
      ...(opts.failFast && opts.insiders === true ? { failFast: true } : {}),
      ...(opts.insiderCache ? { cache: opts.insiderCache } : {}),
      ...(deadline ? { deadline } : {}),
      ...(opts.insiders === 'report' ? { partial: true } : {}),
    });
    this.insiderSolves += r.lpSolves;
    return r;
  }

  /** The verdict on sensitive cell `id` given its attacker interval [min, max]. */
  private judge(
    id: number,
    min: number,
    max: number,
    extra: { dualUp?: AttackDual; dualDown?: AttackDual; certified?: boolean } = {},
  ): CellAudit {
    const a = this.sys.value[id]!;
    const { needUp, needDown, tol } = protectionTargets(this.sys, this.sens.get(id)!);
    const exact = max - min <= tol;
    const passes = !exact && max >= needUp - tol && min <= needDown + tol;
    const margin = Math.min(max - needUp, needDown - min);
    return { id, value: a, min, max, needUp, needDown, exact, passes, margin, ...extra };
  }

  /** failFast: the verdict (fail) with the cells judged so far. */
  private failedEarly(c: CellAudit): AuditResult {
    return {
      passes: false,
      cells: [...this.results.values(), c].filter((x, i, a) => a.indexOf(x) === i),
      singletons: [],
      insiders: [],
      narrowestMargin: c.margin,
      components: 0,
      lpSolves: this.lps.lpSolves,
      certifiedCells: 0,
    };
  }

  /**
   * Intervals of the sensitive cells `targets` of one component: by witnesses first (`exactHere` false), else by
   * linear algebra first; the cells left open by LP. Returns the first failing cell under failFast, else null.
   */
  private async componentIntervals(comp: Component, targets: number[], exactHere: boolean): Promise<CellAudit | null> {
    let open: number[];
    if (!exactHere) open = await this.certifyByWitnesses(comp, targets);
    else {
      const algebra = this.determinedByAlgebra(comp, targets);
      if (algebra.failed) return algebra.failed;
      open = algebra.open;
    }
    if (open.length === 0) return null;
    return this.solveIntervals(comp, open);
  }

  /** Certified intervals from witnesses (no RREF: on a component of thousands of cells it costs more than the LPs it saves); returns the cells without witnesses. */
  private async certifyByWitnesses(comp: Component, targets: readonly number[]): Promise<number[]> {
    const { sys, opts } = this;
    this.witnessComps.add(comp);
    const highs = await this.lps.runtime();
    const open: number[] = [];
    for (const id of targets) {
      opts.deadline?.check('the audit');
      const a = sys.value[id]!;
      const need = requiredMovement(sys, this.sens.get(id)!);
      const w = hintedWitnesses(sys, opts.tables!, this.suppressed, id, need, opts.witnesses?.get(id), highs);
      if (witnessed(w, need)) {
        // Only cells a witness really moves are shown undetermined (a sum of cubes can cancel out on a cell).
        for (const x of [w.up, w.down])
          if (x)
            x.ids.forEach((c, i) => {
              if (Math.abs(x.delta[i]!) > tolerance(sys.value[c]!)) this.moving.add(c);
            });
        this.results.set(id, this.judge(id, a - (w.down?.amount ?? 0), a + (w.up?.amount ?? 0), { certified: true }));
        this.proven.set(id, w);
        this.certifiedCells++;
      } else open.push(id);
    }
    return open;
  }

  /** Cells linear algebra shows determined are judged exactly disclosed (unless duals are asked for); the rest stay open. */
  private determinedByAlgebra(
    comp: Component,
    targets: readonly number[],
  ): { open: number[]; failed: CellAudit | null } {
    const { sys, opts, results } = this;
    const determined = determinedCells(sys, comp, this.suppressed);
    for (const c of determined) this.determinedAll.add(c);
    const skip = opts.duals ? new Set<number>() : determined;
    for (const id of targets) if (skip.has(id)) results.set(id, this.judge(id, sys.value[id]!, sys.value[id]!));
    if (opts.failFast)
      for (const id of targets) {
        const r = results.get(id);
        if (r && !r.passes) return { open: [], failed: r };
      }
    return { open: targets.filter((id) => !skip.has(id)), failed: null };
  }

  /** Exact intervals by the component's attacker LP (min and max per cell). Returns the first failing cell under failFast. */
  private async solveIntervals(comp: Component, open: readonly number[]): Promise<CellAudit | null> {
    const { opts, lps } = this;
    const m = await lps.modelOf(comp);
    for (const id of open) {
      opts.deadline?.check('the audit');
      // HiGHS stops at the deadline too (AttackerLps.solve then throws TimeUp): one LP over a large component can
      // take seconds (measured: a coarse rung's audit on the 10k benchmark table ran 24 s past its deadline).
      if (opts.deadline && opts.deadline.at !== Infinity)
        m.model.options.set({ time_limit: Math.max(0.01, opts.deadline.remaining()) });
      const k = m.col.get(id)!;
      const lo = lps.solve(m, k, 1, opts.duals === true);
      const hi = lps.solve(m, k, -1, opts.duals === true);
      const audit = this.judge(id, lo.value, hi.value);
      if (!audit.exact) this.moving.add(id);
      if (!audit.passes && opts.failFast) return audit;
      if (!audit.passes && opts.duals) {
        this.results.set(id, {
          ...audit,
          ...(hi.dual ? { dualUp: hi.dual } : {}),
          ...(lo.dual ? { dualDown: lo.dual } : {}),
        });
      } else this.results.set(id, audit);
    }
    return null;
  }

  /**
   * The singleton rule (see `auditPattern`): relations whose only two undetermined suppressed cells are a one-unit cell
   * and a sensitive cell.
   */
  private async singletonExposures(comps: readonly Component[]): Promise<SingletonExposure[]> {
    const { sys, opts, suppressed, sens, results, lps } = this;
    const singletons: SingletonExposure[] = [];
    const compOf = new Map<number, Component>();
    for (const c of comps) for (const id of c.cells) compOf.set(id, c);
    // Once per component, not per relation (on a 100,000-cell table: 13 s of a 50 s search, the main component's
    // tens of thousands of relations scanned again for every relation of it).
    const withInequalities = new Set(comps.filter((c) => c.relations.some((x) => !sys.relations[x]!.additive)));
    const lpExact = new Map<number, boolean>();
    const pinned = async (id: number): Promise<boolean> => {
      opts.deadline?.check('the audit (singleton rule)');
      if (this.moving.has(id)) return false;
      let e = lpExact.get(id);
      if (e === undefined) {
        const r = results.get(id);
        const comp = compOf.get(id)!;
        // Region LPs only on a large component: there they cost less than the component's two optima (3 s against
        // 17 s on a 100,000-cell table's main component); on a small one the two optima are cheap, and a pinned cell
        // would pay every region size first (on a 1,001-cell table, most of the audit's time).
        const w =
          r || !this.witnessComps.has(comp)
            ? null
            : localMove(
                sys,
                opts.tables!,
                suppressed,
                id,
                await lps.runtime(),
                comp.cells.length >= REGION_LP_MIN_CELLS,
              );
        if (r) e = r.exact;
        else if (w) {
          // A witness moving the cell at all: not pinned (no LP over the large component), and neither is any other
          // cell the (checked) witness moves.
          w.ids.forEach((c, i) => {
            if (Math.abs(w.delta[i]!) > tolerance(sys.value[c]!)) this.moving.add(c);
          });
          e = false;
        } else {
          const m = await lps.modelOf(comp);
          const k = m.col.get(id)!;
          const hi = lps.solve(m, k, -1, false, true);
          const lo = lps.solve(m, k, 1, false, true);
          e = hi.value - lo.value <= tolerance(sys.value[id]!);
          // Both optima are alternative tables: every cell on which they differ moves, so it is not pinned either.
          if (hi.x && lo.x)
            comp.cells.forEach((c, j) => {
              if (Math.abs(hi.x![j]! - lo.x![j]!) > tolerance(sys.value[c]!)) this.moving.add(c);
            });
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
      for (const c of r.cells) if (suppressed[c] && !this.determinedAll.has(c)) sup.push(c);
      if (sup.length < 2) continue;
      const comp = compOf.get(sup[0]!)!;
      if (this.witnessComps.has(comp)) {
        // No RREF ran here: a cell no witness moves may be determined. Only relations holding a one-unit cell and a
        // sensitive cell can expose anything; in those, such cells are checked by LP (pinned = as good as published).
        if (!sup.some((c) => sys.units[c] === 1) || !sup.some((c) => sens.has(c))) continue;
        const keep: number[] = [];
        for (const c of sup) if (this.moving.has(c) || !(await pinned(c))) keep.push(c);
        sup = keep;
      }
      if (
        sup.length > 2 &&
        sup.some((c) => sys.units[c] === 1) &&
        sup.some((c) => sens.has(c)) &&
        withInequalities.has(comp)
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
    return singletons;
  }
}
