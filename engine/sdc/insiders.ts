/**
 * The insider audit: what the contributor of a one-unit suppressed cell can learn of other units' sensitive cells.
 *
 * The attack (tau-Argus and GaussSuppression call it the singleton problem): the lone contributor of a suppressed cell
 * knows that cell's value, so for that contributor the cell is published. The lone-cell rule (audit.ts) covers one
 * relation whose only two hidden cells are the one-unit cell and a sensitive cell; but fixing the insider's value and
 * solving the attacker LPs again can pin cells further away (a person alone in an age x health cell, knowing that
 * count is 1, pinned five suppressed cells of the same table on a census pattern the lone-cell rule passed).
 *
 * Guarantee: `insiderExposures` reports, for every suppressed one-unit cell u and every sensitive cell v of another
 * unit in u's component, whether the attacker's LP with u published (its value a constant, exactly the insider's
 * knowledge added to the public's) leaves v exact or short of its protection interval; nothing is missed:
 * - only u's component can change (other components do not contain u, their LPs are unchanged), and within it only
 *   the sub-component holding v once u is a constant (the LP over it is exact, components.ts); so the LPs per insider
 *   are limited to u's neighbourhood in the pattern, never the whole release;
 * - a cheaper equivalent proof is tried first: a witness of v (an alternative table consistent with everything
 *   published, witness-check.ts) that leaves u at its value is also a point of the insider's polytope, so v's interval
 *   for the insider reaches at least as far. The witnesses the main audit already checked are reused when they do not
 *   move u; else balanced cubes of the insider's pattern (u not suppressed, so no cube moves it); only the cells
 *   left without such a witness in a direction get the insider's LP.
 * - v is skipped when it is u itself or provably the same unit's cell: a one-unit cell linked to u through relations
 *   whose cells all have one unit (a one-unit aggregate holds exactly its children's one unit). Other one-unit cells
 *   count as other units (conservative: the audit does not see which unit a cell holds).
 */
import type { ExactTable } from '../types.ts';
import {
  carried,
  containingCells,
  insiderMovement,
  sameUnitCells,
  splitWithout,
  witnessCover,
} from './insider-cover.ts';
import type { Need } from './insider-cover.ts';
import { insiderRequirement, meets } from './insider-prior.ts';
import { AttackerLps } from './attacker-lp.ts';
import type { AttackDual, AttackerModel } from './attacker-lp.ts';
import type { Component } from './components.ts';
import { TimeUp } from './deadline.ts';
import type { Deadline } from './deadline.ts';
import type { CellSystem } from './relations.ts';
import { requiredMovement } from './sensitive.ts';
import type { SensitiveCell } from './sensitive.ts';
import { tolerance } from './tolerance.ts';
import { findWitness, modelWitness } from './witness.ts';
import { checkWitnessOf } from './witness-check.ts';
import type { Witness, Witnesses } from './witness-check.ts';

/** What one insider can learn of one other unit's sensitive cell. Reviewer-only: the interval comes from exact values. */
export interface InsiderExposure {
  /** Suppressed one-unit cell whose contributor knows its value. */
  readonly insider: number;
  /** Sensitive cell of another unit that this contributor can compute exactly or narrow inside its protection. */
  readonly exposed: number;
  /** The insider's interval for the exposed cell (LP optimum with the insider's cell published). */
  readonly min: number;
  readonly max: number;
  readonly exact: boolean;
  /** What the insider had to be left (insider-prior.ts: the public requirement capped at the insider's prior). */
  readonly needUp: number;
  readonly needDown: number;
  /** Duals of the insider's failing LPs (asked with `duals`), for Fischetti-Salazar cuts without the insider's cell. */
  readonly dualUp?: AttackDual;
  readonly dualDown?: AttackDual;
}

export interface InsiderAuditInput {
  readonly sys: CellSystem;
  readonly suppressed: Uint8Array;
  readonly sens: ReadonlyMap<number, SensitiveCell>;
  /** The components of `suppressed` (components.ts). */
  readonly comps: readonly Component[];
  /** The release's tables: with them, balanced cubes are tried before any LP. */
  readonly tables?: readonly ExactTable[];
  /** Witnesses the main audit checked on this pattern, per sensitive cell: reused when they leave the insider's cell still. */
  readonly proven?: ReadonlyMap<number, Witnesses | null>;
  readonly duals?: boolean;
  /** Stop at the first exposure. */
  readonly failFast?: boolean;
  /** Only these insiders (default: every suppressed one-unit cell). */
  readonly insiders?: ReadonlySet<number>;
  /**
   * Insider witnesses found, per `insider:cell:direction` (`*` for every insider at once), kept across calls (the
   * search's audits, the clean-up's trials, the final audit): each is checked again (`checkWitnessOf`) against the
   * pattern of the call (the insider's cell, or every one-unit cell, published) before it counts, so a stale or
   * foreign entry only costs the search it was meant to save.
   */
  readonly cache?: Map<string, Witness>;
  /**
   * The run's deadline (deadline.ts), checked before every component, insider, target and LP: past it the audit
   * throws TimeUp and proves nothing (the caller falls back or refuses, never publishes on a partial insider audit).
   */
  readonly deadline?: Deadline;
  /** With a deadline: stop there and return what was found (`complete: false`) instead of throwing (reports only). */
  readonly partial?: boolean;
}

const PHASE = 'the insider audit';

export interface InsiderAuditResult {
  readonly exposures: InsiderExposure[];
  /** Insiders audited, and LPs solved for them. */
  readonly insiders: number;
  readonly lpSolves: number;
  /** false: the deadline stopped a `partial` audit; `exposures` lists what was found until then. */
  readonly complete: boolean;
}

/** The insider audit of a pattern (see the header): every exposure of another unit's sensitive cell. */
export async function insiderExposures(input: InsiderAuditInput): Promise<InsiderAuditResult> {
  const inp = input.cache ? input : { ...input, cache: new Map<string, Witness>() };
  const { sys, suppressed, sens, comps } = inp;
  const view = Uint8Array.from(suppressed);
  const exposures: InsiderExposure[] = [];
  let insiders = 0;
  let lpSolves = 0;
  let complete = true;
  // The whole component's model with the insider's column fixed at its value (the same polytope as the pattern with
  // the insider's cell published): one warm model for every insider instead of a cold one each (measured on the 1k
  // benchmark table's clean-up: model builds and cold LP witnesses per insider took over half of its time).
  const whole = new AttackerLps(sys, suppressed);
  try {
    for (const comp of comps) {
      inp.deadline?.check(PHASE);
      const targets = comp.cells.filter((c) => sens.has(c));
      if (targets.length === 0 || !comp.cells.some((c) => sys.units[c] === 1)) continue;
      const { safe, blockers } = await safeFromAll(inp, comp, targets, view);
      for (const u of comp.cells) {
        if (sys.units[u] !== 1 || (inp.insiders && !inp.insiders.has(u))) continue;
        const same = sameUnitCells(sys, u);
        const above = containingCells(sys, u);
        // Targets proven for every insider but a few (`blockers`) are judged here only for those few.
        const others = targets.filter((v) => !same.has(v) && !safe.has(v) && (blockers.get(v)?.has(u) ?? true));
        if (others.length === 0) continue;
        inp.deadline?.check(PHASE);
        insiders++;
        view[u] = 0;
        const lps = new AttackerLps(sys, view);
        try {
          let subOf: Map<number, Component> | null = null;
          for (const v of others) {
            inp.deadline?.check(PHASE);
            const need = insiderMovement(sys, sens.get(v)!, u, above);
            const got = provenWithout(inp, view, v, u, need);
            if (carried(got, need)) continue;
            // The insider's LP, read as witnesses (its optimal points, cached for the clean-up's next trials).
            for (const dir of [1, -1] as const) {
              const key = dir > 0 ? 'up' : 'down';
              if (got[key] >= need[key] - need.tol) continue;
              const w = await insiderWitness(inp, whole, comp, u, view, v, dir, need[key]);
              if (!w) continue;
              got[key] = w.amount;
              inp.cache?.set(`${u}:${v}:${dir}`, w);
            }
            if (carried(got, need)) continue;
            inp.deadline?.check(PHASE);
            // A fixed column can leave the warm model numerically infeasible (seen on the 10k benchmark table, HiGHS
            // status 8): the sub-component's own model, with the insider's cell a constant, decides then.
            const { lo, hi } =
              (await fixedInterval(inp, whole, comp, u, v, view, need).catch((e: unknown) => {
                if (e instanceof TimeUp) throw e;
                return null;
              })) ?? (await insiderInterval(inp, lps, (subOf ??= splitWithout(sys, comp, view)).get(v)!, v));
            // The public requirement, capped at what the insider knows with nothing published (insider-prior.ts).
            const interval = { lo: lo.value, hi: hi.value };
            const req = await insiderRequirement(sys, sens.get(v)!, u, above, interval, inp.deadline);
            if (meets(req, interval)) continue;
            exposures.push({
              insider: u,
              exposed: v,
              min: lo.value,
              max: hi.value,
              exact: hi.value - lo.value <= req.tol,
              needUp: req.needUp,
              needDown: req.needDown,
              ...(hi.dual ? { dualUp: hi.dual } : {}),
              ...(lo.dual ? { dualDown: lo.dual } : {}),
            });
            if (inp.failFast) return { exposures, insiders, lpSolves, complete };
          }
        } finally {
          lpSolves += lps.lpSolves;
          lps.dispose();
          view[u] = 1;
        }
      }
    }
  } catch (e) {
    if (!(inp.partial && e instanceof TimeUp)) throw e;
    complete = false;
  } finally {
    lpSolves += whole.lpSolves;
    whole.dispose();
  }
  return { exposures, insiders, lpSolves, complete };
}

/**
 * A checked witness of v for insider u (v moved by `amount` in direction `dir`, u's cell still) by LP: on components
 * up to SUBCOMPONENT_LP_MAX_CELLS cells the optimal point of the component's warm model with u's column fixed at its
 * value, beyond it the ball LP of the witness search on the insider's pattern `view`. Null when none (or the model
 * fails numerically: the interval LPs decide then).
 */
async function insiderWitness(
  inp: InsiderAuditInput,
  whole: AttackerLps,
  comp: Component,
  u: number,
  view: Uint8Array,
  v: number,
  dir: 1 | -1,
  amount: number,
): Promise<Witness | null> {
  const { sys } = inp;
  inp.deadline?.check(PHASE);
  const highs = await whole.runtime();
  if (comp.cells.length > SUBCOMPONENT_LP_MAX_CELLS) return searchWitness(inp, view, v, dir, amount, highs);
  const m = limited(await whole.modelOf(comp), inp.deadline);
  const ku = m.col.get(u)!;
  m.model.changeColBounds(ku, sys.value[u]!, sys.value[u]!);
  try {
    const w = modelWitness(sys, highs, m, comp.cells, v, dir, amount);
    return w && checkWitnessOf(sys, view, w, v, dir) ? w : null;
  } finally {
    m.model.changeColBounds(ku, sys.lower[u]!, sys.upper[u]!);
  }
}

/**
 * v's interval for insider u over u's whole component, u's column fixed at its value (see `insiderExposures`). On
 * components over SUBCOMPONENT_LP_MAX_CELLS cells each optimal point that moves v by the required amount is kept in
 * the cache as u's witness of v (checked there, and again before every reuse): the next audits of the search and
 * the final audit then prove the pair without an LP while the pattern around it holds (measured on the 10k
 * benchmark table: 247 such interval LPs in a run, 50 distinct insider/target pairs, about 55 ms each).
 */
async function fixedInterval(
  inp: InsiderAuditInput,
  whole: AttackerLps,
  comp: Component,
  u: number,
  v: number,
  view: Uint8Array,
  need: Need,
): Promise<{ lo: { value: number; dual?: AttackDual }; hi: { value: number; dual?: AttackDual } }> {
  const { sys } = inp;
  const duals = inp.duals === true;
  const keep = inp.cache !== undefined && comp.cells.length > SUBCOMPONENT_LP_MAX_CELLS;
  const m = limited(await whole.modelOf(comp), inp.deadline);
  const ku = m.col.get(u)!;
  const k = m.col.get(v)!;
  m.model.changeColBounds(ku, sys.value[u]!, sys.value[u]!);
  try {
    const lo = whole.solve(m, k, 1, duals, keep);
    const hi = whole.solve(m, k, -1, duals, keep);
    if (keep) {
      keepPoint(inp, comp, u, v, -1, lo.x, view, need.down - need.tol);
      keepPoint(inp, comp, u, v, 1, hi.x, view, need.up - need.tol);
    }
    return { lo, hi };
  } finally {
    m.model.changeColBounds(ku, sys.lower[u]!, sys.upper[u]!);
  }
}

/** An optimal point of u's LP (columns in `comp.cells` order) as u's witness of v, cached when it moves v by `amount`. */
function keepPoint(
  inp: InsiderAuditInput,
  comp: Component,
  u: number,
  v: number,
  dir: 1 | -1,
  x: Float64Array | undefined,
  view: Uint8Array,
  amount: number,
): void {
  const { sys } = inp;
  if (!x || amount <= 0) return;
  const ids: number[] = [];
  const delta: number[] = [];
  comp.cells.forEach((c, i) => {
    const d = x[i]! - sys.value[c]!;
    if (c === v || Math.abs(d) > tolerance(sys.value[c]!)) {
      ids.push(c);
      delta.push(d);
    }
  });
  const moved = dir * delta[ids.indexOf(v)]!;
  if (moved < amount) return;
  const w = { ids: Int32Array.from(ids), delta: Float64Array.from(delta), amount: moved };
  if (checkWitnessOf(sys, view, w, v, dir)) inp.cache!.set(`${u}:${v}:${dir}`, w);
}

/**
 * The targets proven safe from every insider at once: a witness moving no one-unit cell of the component (but the
 * target itself) is a point of every other insider's polytope. Per direction a cached one still valid on this pattern,
 * else a balanced cube, else the optimal point of the LP over the pattern with every one-unit cell published (one
 * model per sub-component for all targets). `view` is the caller's copy of the pattern, restored on return.
 */
async function safeFromAll(
  inp: InsiderAuditInput,
  comp: Component,
  all: readonly number[],
  view: Uint8Array,
): Promise<{ safe: Set<number>; blockers: Map<number, Set<number>> }> {
  let targets = all;
  const { sys, sens, tables, cache } = inp;
  const safe = new Set<number>();
  const blockers = new Map<number, Set<number>>();
  // Witnesses that leave each insider still first (no LP): most targets of a cube-shaped pattern (the coarse rungs,
  // the heuristic's) end here, the others with a few insiders left for the per-insider audit.
  const rest: number[] = [];
  for (const v of targets) {
    inp.deadline?.check(PHASE);
    const need = requiredMovement(sys, sens.get(v)!);
    const got = { up: -1, down: -1 };
    const left = new Set<number>();
    for (const dir of [1, -1] as const) {
      const key = dir > 0 ? 'up' : 'down';
      if (need[key] <= need.tol) continue;
      const r = witnessCover(sys, tables, inp.proven?.get(v), v, dir, need[key], view);
      got[key] = r.amount;
      for (const u of r.blockers) left.add(u);
    }
    if (!carried(got, need)) rest.push(v);
    else if (left.size === 0) safe.add(v);
    else blockers.set(v, left);
  }
  if (rest.length === 0) return { safe, blockers };
  targets = rest;
  const ones = comp.cells.filter((c) => sys.units[c] === 1);
  for (const c of ones) view[c] = 0;
  const lps = new AttackerLps(sys, view);
  try {
    let shared: Map<number, Component> | null = null;
    for (const v of targets) {
      inp.deadline?.check(PHASE);
      // A one-unit target stays hidden itself (its own contributor is no attacker of it): its own split of the component.
      const lone = sys.units[v] === 1;
      if (lone) view[v] = 1;
      let subOf: Map<number, Component> | null = lone ? null : shared;
      const need = requiredMovement(sys, sens.get(v)!);
      const got = { up: -1, down: -1 };
      for (const dir of [1, -1] as const) {
        const key = dir > 0 ? 'up' : 'down';
        if (need[key] <= need.tol) continue;
        const w = cache?.get(`*:${v}:${dir}`);
        if (w && w.amount >= need[key] - need.tol && checkWitnessOf(sys, view, w, v, dir)) got[key] = w.amount;
        else if (tables) {
          const cube = findWitness(sys, tables, view, v, dir, need[key]);
          if (cube) {
            got[key] = cube.amount;
            cache?.set(`*:${v}:${dir}`, cube);
          }
        }
        if (got[key] >= need[key] - need.tol) continue;
        subOf ??= splitWithout(sys, comp, view);
        if (!lone) shared = subOf;
        const sub = subOf.get(v)!;
        if (sub.relations.length === 0) continue;
        const x = await lpWitness(inp, lps, sub, view, v, dir, need[key]);
        if (!x) continue;
        got[key] = x.amount;
        cache?.set(`*:${v}:${dir}`, x);
      }
      if (lone) view[v] = 0;
      if (carried(got, need)) safe.add(v);
    }
  } finally {
    lps.dispose();
    for (const c of ones) view[c] = 1;
  }
  return { safe, blockers };
}

/**
 * Sub-components up to this many cells get witnesses from the LP over all of them (a few ms); beyond, from the
 * witness search's LP over the BALL_CELLS suppressed cells nearest the target (witness.ts), since one cold LP over a
 * sub-component of thousands of cells costs about a second (measured on the 10k benchmark table's main component).
 */
const SUBCOMPONENT_LP_MAX_CELLS = 2000;

/** On a component over SUBCOMPONENT_LP_MAX_CELLS: the witness search (cubes, then witness.ts's ball LP) on the insider's pattern, checked. */
function searchWitness(
  inp: InsiderAuditInput,
  view: Uint8Array,
  v: number,
  dir: 1 | -1,
  amount: number,
  highs: Awaited<ReturnType<AttackerLps['runtime']>>,
): Witness | null {
  const { sys, tables } = inp;
  if (!tables) return null;
  const w = findWitness(sys, tables, view, v, dir, amount, false, highs);
  return w && w.amount >= amount - tolerance(Math.abs(sys.value[v]!) + amount) && checkWitnessOf(sys, view, w, v, dir)
    ? w
    : null;
}

/** A checked witness moving v by `amount` in direction `dir` on pattern `view`, by LP (see SUBCOMPONENT_LP_MAX_CELLS), or null. */
async function lpWitness(
  inp: InsiderAuditInput,
  lps: AttackerLps,
  sub: Component,
  view: Uint8Array,
  v: number,
  dir: 1 | -1,
  amount: number,
): Promise<Witness | null> {
  const { sys } = inp;
  inp.deadline?.check(PHASE);
  const highs = await lps.runtime();
  if (sub.cells.length > SUBCOMPONENT_LP_MAX_CELLS) return searchWitness(inp, view, v, dir, amount, highs);
  // Stopped by the time limit, the LP gives no witness; the interval LP after it then throws TimeUp.
  const w = modelWitness(sys, highs, limited(await lps.modelOf(sub), inp.deadline), sub.cells, v, dir, amount);
  return w && checkWitnessOf(sys, view, w, v, dir) ? w : null;
}

/**
 * The model with HiGHS's time_limit at the deadline's remaining time, so that one LP over a large component cannot
 * run far past the limit (AttackerLps.solve throws TimeUp at that status).
 */
function limited(m: AttackerModel, deadline: Deadline | undefined): AttackerModel {
  if (deadline && deadline.at !== Infinity) m.model.options.set({ time_limit: Math.max(0.01, deadline.remaining()) });
  return m;
}

/** v's interval over its sub-component (a priori bounds when no relation holds it any more). */
async function insiderInterval(
  inp: InsiderAuditInput,
  lps: AttackerLps,
  sub: Component,
  v: number,
): Promise<{ lo: { value: number; dual?: AttackDual }; hi: { value: number; dual?: AttackDual } }> {
  const { sys } = inp;
  const duals = inp.duals === true;
  if (sub.relations.length === 0) return { lo: { value: sys.lower[v]! }, hi: { value: sys.upper[v]! } };
  const m = limited(await lps.modelOf(sub), inp.deadline);
  const k = m.col.get(v)!;
  return { lo: lps.solve(m, k, 1, duals), hi: lps.solve(m, k, -1, duals) };
}

/**
 * Whether witnesses prove v protected for insider u without an LP: per direction, a witness the main audit checked
 * that leaves u still, else a balanced cube of the insider's pattern `view` (u published there, so no cube moves it).
 * A witness moving v by its required amount with u at its value is a point of the insider's polytope.
 */
function provenWithout(
  inp: InsiderAuditInput,
  view: Uint8Array,
  v: number,
  u: number,
  need: Need,
): { up: number; down: number } {
  const { sys, tables, cache } = inp;
  const kept = inp.proven?.get(v);
  const still = (w: Witness | null | undefined, amount: number): boolean => {
    if (!w || w.amount < amount - need.tol) return false;
    const i = w.ids.indexOf(u);
    return i < 0 || Math.abs(w.delta[i]!) <= tolerance(sys.value[u]!);
  };
  // An earlier trial's insider witness, if it is still an alternative table of this pattern (u published).
  const cached = (dir: 1 | -1, amount: number): number => {
    const w = cache?.get(`${u}:${v}:${dir}`);
    return w && w.amount >= amount - need.tol && checkWitnessOf(sys, view, w, v, dir) ? w.amount : -1;
  };
  let up = still(kept?.up, need.up) ? kept!.up!.amount : cached(1, need.up);
  let down = still(kept?.down, need.down) ? kept!.down!.amount : cached(-1, need.down);
  if (tables) {
    if (up < need.up - need.tol) up = findWitness(sys, tables, view, v, 1, need.up)?.amount ?? -1;
    if (down < need.down - need.tol) down = findWitness(sys, tables, view, v, -1, need.down)?.amount ?? -1;
  }
  return { up, down };
}
