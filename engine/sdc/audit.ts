import { StatguardError } from '../errors.ts';
import type { ExactTable } from '../types.ts';
import { attackerModel } from './attacker-lp.ts';
import type { AttackDual, AttackerModel } from './attacker-lp.ts';
import { components } from './components.ts';
import type { Component } from './components.ts';
import { determinedCells } from './determined.ts';
import { highsRuntime } from './highs.ts';
import type { HighsRuntime } from './highs.ts';
import type { CellSystem } from './relations.ts';
import { mergeSensitive, protectionTargets, requiredMovement } from './sensitive.ts';
import type { SensitiveCell } from './sensitive.ts';
import { tolerance } from './tolerance.ts';
import { hintedWitnesses, movesLocally } from './witness.ts';
import { witnessed } from './witness-check.ts';
import type { Witnesses } from './witness-check.ts';

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
