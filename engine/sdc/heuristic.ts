import { StatguardError } from '../errors.ts';
import { attackerModel } from './attacker-lp.ts';
import { EXACT_AUDIT_MAX_CELLS, auditPattern } from './audit.ts';
import type { AuditOptions, AuditResult } from './audit.ts';
import { components } from './components.ts';
import { cheapestWitness, regionSizes } from './cheapest-witness.ts';
import { bestCube } from './cubes.ts';
import type { Cube } from './cubes.ts';
import type { CellSystem } from './relations.ts';
import { highsRuntime } from './highs.ts';
import type { HighsRuntime } from './highs.ts';
import type { SecondaryInput, SecondaryResult } from './secondary.ts';
import { mergeSensitive, requiredMovement } from './sensitive.ts';
import type { SensitiveCell } from './sensitive.ts';
import { findWitness, findWitnesses, hintedWitnesses, modelWitness } from './witness.ts';
import { checkWitness, checkWitnessOf, witnessed } from './witness-check.ts';
import type { Witness, Witnesses } from './witness-check.ts';

/** Cost of a neverSuppress cell: used only when no other cube exists (reported as a violation). */
const HUGE = 1e12;
/** Score offset of a cube that cannot carry the whole protection (any carrying cube wins). */
const SHORT = 1e30;

export interface HeuristicOptions {
  /** Time budget of the clean-up pass in seconds (default 60; 0 skips it). */
  readonly cleanupSeconds?: number;
  /**
   * Cells to start from besides the primaries (e.g. an unfinished optimal run's last master pattern): the cube phase
   * reuses them at no cost and the clean-up publishes those the pattern does not need. Fixed cells are ignored.
   */
  readonly start?: Uint8Array;
  /** Called once when the search ends and the clean-up starts (the benchmark times the phases apart). */
  readonly onCleanup?: () => void;
}

/**
 * Hypercube heuristic (after tau-Argus's GHMITER, on balanced cubes, see witness.ts), then a clean-up pass.
 *
 * 1. Cube phase, no LP: for each sensitive cell without witnesses in the current pattern, suppress the cheapest
 *    balanced cube around it over every table holding it that carries its protection in both directions (already
 *    suppressed cells cost 0, so cubes reuse the pattern; fixed cells are never used, neverSuppress cells only at a
 *    prohibitive cost). Each such cube is a witness once suppressed, so the cell is protected. Then the singleton
 *    rule on the relations: a relation whose only two suppressed cells are a one-unit cell and a sensitive cell gets
 *    a cube around a third cell. Cells that no sum of up to MAX_CUBES_PER_CELL cubes protects (a large protection
 *    among small neighbours) get the cheapest witness by LP instead (`coverByLp`, witness.ts `cheapestWitness`).
 *    Every witness found is kept (`hints`) for the audits and the clean-up, which check it again.
 * 2. Audit (witnesses first, LP for the rest). Cells that still fail (protection a single cube cannot carry, linked
 *    cells whose cubes do not verify) get, round after round, the cheapest cube that adds a cell, else the cheapest
 *    published cell of each relation around them; the pattern only grows, so this ends (at worst with every related
 *    cell suppressed: AUDIT_FAILED when even that fails).
 * 3. `cleanupPattern` publishes the secondary cells the pattern does not need.
 * Guarantee: only a pattern that passed the full audit is returned. The pattern is audited again after the clean-up;
 * should a removal have had an effect the clean-up's local checks miss (a suppressed cell pinned by the equalities
 * together, far from the removed cell), the failure is repaired like any other, and the pattern from before the
 * clean-up is kept if the repair cannot finish or ends larger.
 */
export async function heuristicSuppression(
  input: SecondaryInput,
  opts: HeuristicOptions = {},
): Promise<SecondaryResult> {
  const { sys, sensitive } = input;
  const sup = Uint8Array.from(input.primary);
  const fixed = input.fixed;
  if (opts.start) for (let c = 0; c < sys.cellCount; c++) if (opts.start[c] && !fixed?.[c]) sup[c] = 1;
  const costOf = (c: number): number => (sup[c] ? 0 : fixed?.[c] ? Infinity : input.never[c] ? HUGE : input.cost[c]!);
  // Witnesses per sensitive cell, kept by the cube phase and the clean-up; every audit checks them again.
  const hints = new Map<number, Witnesses>();
  const auditOpts: AuditOptions = {
    singletons: input.singletons !== false,
    tables: input.tables,
    intervals: 'certified',
    witnesses: hints,
  };
  let iterations = 0;
  // From a start pattern, only the sensitive cells it leaves unprotected get cubes (it may be safe already).
  let toCover = input.sensitive;
  if (opts.start) {
    const first = await auditPattern(sys, sup, sensitive, auditOpts);
    const failing = new Set(first.cells.filter((c) => !c.passes).map((c) => c.id));
    toCover = input.sensitive.filter((x) => failing.has(x.id));
  }
  coverWithCubes({ ...input, sensitive: toCover }, sup, costOf, await highsRuntime(), hints);
  const count = (): number => sup.reduce((n, v) => n + v, 0);
  // The audited pattern before the clean-up, kept to fall back on.
  let cleaned: { before: Uint8Array; hints: Map<number, Witnesses>; audit: AuditResult; finished: boolean } | null =
    null;
  let repairs = 0;
  const done = (audit: AuditResult): SecondaryResult => {
    let violations = 0;
    for (let c = 0; c < sys.cellCount; c++) if (sup[c] && input.never[c] && !input.primary[c]) violations++;
    const removed = cleaned ? cleaned.before.reduce((n, v) => n + v, 0) - count() : 0;
    return {
      suppressed: sup,
      method: 'heuristic',
      optimalFinished: null,
      audit,
      iterations,
      neverSuppressViolations: violations,
      cleanupFinished: cleaned?.finished ?? false,
      cleanupRemoved: removed,
      cleanupRepairs: repairs,
      witnesses: hints,
    };
  };
  const revert = (): SecondaryResult => {
    // Keep the audited pattern from before the clean-up.
    sup.set(cleaned!.before);
    hints.clear();
    for (const [id, w] of cleaned!.hints) hints.set(id, w);
    return done(cleaned!.audit);
  };
  for (;;) {
    iterations++;
    const audit = await auditPattern(sys, sup, sensitive, auditOpts);
    if (audit.passes) {
      if (cleaned === null) {
        cleaned = { before: Uint8Array.from(sup), hints: new Map(hints), audit, finished: false };
        opts.onCleanup?.();
        const clean = await cleanupPattern(input, sup, opts.cleanupSeconds ?? 60, hints);
        cleaned.finished = clean.finished;
        // Audited again: the clean-up judges each removal locally, and a removal can pin a suppressed cell far from
        // it (the equalities together), exposing a singleton there. Such a failure is repaired like any other below.
        if (clean.removed > 0) continue;
      }
      // Repairs after the clean-up may, in principle, cost more than the clean-up saved: then the earlier pattern wins.
      const costOfPattern = (a: Uint8Array): number => a.reduce((k, v, c) => k + (v ? input.cost[c]! : 0), 0);
      return costOfPattern(cleaned.before) < costOfPattern(sup) ? revert() : done(audit);
    }
    const before = count();
    if (cleaned) repairs++;
    const touched = new Set<number>();
    for (const f of audit.cells) {
      if (f.passes || touched.has(f.id)) continue;
      const s = input.sensitive.find((x) => x.id === f.id)!;
      // Aim the cube at the movement the audit found missing (the whole requirement when the cell is pinned).
      const need = requiredMovement(sys, s);
      const missing = { up: Math.max(0, f.needUp - f.max), down: Math.max(0, f.min - f.needDown), tol: need.tol };
      const short = missing.up > need.tol || missing.down > need.tol ? missing : need;
      // Wider candidate sets before falling back to single cells (which on a large component add many cells).
      const cube = cheapestCube(input, s.id, short, costOf, true) ?? cheapestCube(input, s.id, short, costOf, true, 24);
      let added = 0;
      for (const c of cube?.ids ?? []) {
        touched.add(c);
        if (!sup[c]) {
          sup[c] = 1;
          added++;
        }
      }
      if (added === 0) widen(input, sup, f.id, costOf);
    }
    for (const ex of audit.singletons) protectThirdCell(input, sup, ex.relation, costOf);
    if (count() === before) {
      if (cleaned) return revert();
      const linked = fixed?.some((f) => f === 1)
        ? '; cells published in a release given with --against cannot be suppressed, and the pattern needs them'
        : '';
      throw new StatguardError(
        'AUDIT_FAILED',
        `secondary suppression could not find a pattern that passes the audit (every related cell is already suppressed${linked})`,
      );
    }
  }
}

/**
 * The cheapest balanced cube around `id` over every table holding it that adds a cell (`mustAdd`) or not. `short`:
 * the movement still missing per direction (0: none). Cubes carrying every missing movement win, by cost; otherwise
 * the lowest cost per share of the missing movement carried (the smallest share over the missing directions).
 */
function cheapestCube(
  input: SecondaryInput,
  id: number,
  short: { up: number; down: number; tol: number },
  costOf: (c: number) => number,
  mustAdd: boolean,
  perDimension?: number,
): Cube | null {
  const { sys, tables } = input;
  let best: Cube | null = null;
  let bestScore = Infinity;
  for (const o of sys.owners[id]!) {
    let score = Infinity;
    const cube = bestCube(sys, tables, o.table, o.index, {
      costOf,
      ...(perDimension ? { perDimension } : {}),
      score: (c) => {
        if (mustAdd && c.cost <= 0) return null;
        let share = c.capUp > short.tol || c.capDown > short.tol ? 1 : 0;
        if (short.up > short.tol) share = Math.min(share, c.capUp / short.up);
        if (short.down > short.tol) share = Math.min(share, c.capDown / short.down);
        if (share <= 0 || (share < 1 && c.cost <= 0)) return null;
        const s = share >= 1 - 1e-12 ? c.cost : SHORT + c.cost / share;
        score = Math.min(score, s);
        return s;
      },
    });
    if (cube && score < bestScore) {
      best = cube;
      bestScore = score;
    }
  }
  return best;
}

/** Components up to this many cells get LP witnesses at the start of the clean-up (see cleanupPattern). */
const COMPONENT_WITNESS_MAX_CELLS = 20000;

/** Cubes one sensitive cell may take in one cube phase (a large protection may need a sum of cubes). */
const MAX_CUBES_PER_CELL = 24;

/** Cube phase (see heuristicSuppression): returns the number of cells added. */
function coverWithCubes(
  input: SecondaryInput,
  sup: Uint8Array,
  costOf: (c: number) => number,
  highs: HighsRuntime | null = null,
  hints: Map<number, Witnesses> = new Map(),
): { added: number; short: SensitiveCell[] } {
  const { sys } = input;
  let added = 0;
  // Pass 1 with cubes alone (fast); pass 2 (below) for the cells still short.
  let short: SensitiveCell[] = [];
  for (const s of input.sensitive) added += coverCell(input, sup, s, costOf, null, short, hints);
  if (highs) {
    // Pass 2: the cheapest witness by LP over a region around each cell still short (one LP per missing direction),
    // then, should the region hold none, cubes with the local LP judging.
    const next: SensitiveCell[] = [];
    for (const s of short) {
      const got = coverByLp(input, sup, s, costOf, highs, hints);
      if (got >= 0) added += got;
      else added += coverCell(input, sup, s, costOf, highs, next, hints);
    }
    short = next;
  }
  if (input.singletons === false) return { added, short };
  const sens = new Set(input.sensitive.map((s) => s.id));
  for (let ri = 0; ri < sys.relations.length; ri++) {
    const cells = sys.relations[ri]!.cells;
    if (cells.length === 2) continue; // an aggregate with a single child: same contributors (see audit.ts)
    let n = 0;
    let one = false;
    let sensitive = 0;
    for (const c of cells) {
      if (!sup[c]) continue;
      n++;
      if (sys.units[c] === 1) one = true;
      if (sens.has(c)) sensitive++;
    }
    if (n === 2 && one && sensitive > 0) added += protectThirdCell(input, sup, ri, costOf);
  }
  return { added, short };
}

/**
 * Add cubes around sensitive cell `s` until witnesses (cubes, or the local LP when `highs` is given) carry its
 * movement, at most MAX_CUBES_PER_CELL; cells still short are listed in `stillShort`. Returns the cells added.
 */
function coverCell(
  input: SecondaryInput,
  sup: Uint8Array,
  s: SensitiveCell,
  costOf: (c: number) => number,
  highs: HighsRuntime | null,
  stillShort: SensitiveCell[],
  hints: Map<number, Witnesses>,
): number {
  const { sys, tables } = input;
  const need = requiredMovement(sys, s);
  let added = 0;
  for (let k = 0; k <= MAX_CUBES_PER_CELL; k++) {
    const up = findWitness(sys, tables, sup, s.id, 1, need.up, true, highs);
    const down = findWitness(sys, tables, sup, s.id, -1, need.down, true, highs);
    const short = {
      up: need.up > need.tol ? Math.max(0, need.up - (up?.amount ?? 0)) : 0,
      down: need.down > need.tol ? Math.max(0, need.down - (down?.amount ?? 0)) : 0,
      tol: need.tol,
    };
    if (short.up <= need.tol && short.down <= need.tol && (up || down)) {
      hints.set(s.id, { up, down });
      return added;
    }
    const cube = k < MAX_CUBES_PER_CELL ? cheapestCube(input, s.id, short, costOf, true) : null;
    if (!cube) break;
    for (const c of cube.ids)
      if (!sup[c]) {
        sup[c] = 1;
        added++;
      }
  }
  stillShort.push(s);
  return added;
}

/**
 * Cover sensitive cell `s` with the cheapest witness per direction (`cheapestWitness`: an LP over a region around it),
 * suppressing the published cells the witness moves. A direction a cube of suppressed cells already carries needs no
 * LP. Returns the cells added, or -1 (nothing changed) when the region holds no witness for some direction.
 */
function coverByLp(
  input: SecondaryInput,
  sup: Uint8Array,
  s: SensitiveCell,
  costOf: (c: number) => number,
  highs: HighsRuntime,
  hints: Map<number, Witnesses>,
): number {
  const { sys, tables } = input;
  const need = requiredMovement(sys, s);
  const found: { up: Witness | null; down: Witness | null } = { up: null, down: null };
  const plans: { dir: 1 | -1; add: readonly number[]; w: Witness }[] = [];
  for (const dir of [1, -1] as const) {
    const amount = dir > 0 ? need.up : need.down;
    // A direction needing no movement is still shown to move when the other needs none either.
    const target = amount > need.tol ? amount : 0;
    if (target === 0 && (dir > 0 ? need.down : need.up) > need.tol) continue;
    const cube = findWitness(sys, tables, sup, s.id, dir, target);
    if (cube) {
      found[dir > 0 ? 'up' : 'down'] = cube;
      continue;
    }
    if (target === 0) continue;
    // A larger region when the first holds no witness (a large protection among small neighbours), at last the
    // whole table (seconds at 100,000 cells; rare).
    let lp = null;
    for (const cells of regionSizes(sys, tables, s.id)) {
      lp = cheapestWitness(sys, tables, sup, s.id, dir, target, costOf, highs, cells);
      if (lp) break;
    }
    if (!lp) return -1;
    plans.push({ dir, add: lp.added, w: lp.witness });
  }
  let added = 0;
  for (const p of plans)
    for (const c of p.add)
      if (!sup[c]) {
        sup[c] = 1;
        added++;
      }
  for (const p of plans) {
    if (!checkWitnessOf(sys, sup, p.w, s.id, p.dir))
      return added > 0 ? added + coverCell(input, sup, s, costOf, highs, [], hints) : -1;
    found[p.dir > 0 ? 'up' : 'down'] = p.w;
  }
  if (!found.up && !found.down) return added > 0 ? added + coverCell(input, sup, s, costOf, highs, [], hints) : -1;
  hints.set(s.id, found);
  return added;
}

/** Singleton rule: suppress the cheapest cube around a published cell of relation `ri` (a third moving cell). */
function protectThirdCell(input: SecondaryInput, sup: Uint8Array, ri: number, costOf: (c: number) => number): number {
  const { sys } = input;
  let best: Cube | null = null;
  for (const m of sys.relations[ri]!.cells) {
    if (sup[m] || input.fixed?.[m]) continue;
    const cube = cheapestCube(input, m, { up: 0, down: 0, tol: 0 }, costOf, true);
    if (cube && (!best || cube.cost < best.cost)) best = cube;
  }
  let added = 0;
  if (best) {
    for (const c of best.ids)
      if (!sup[c]) {
        sup[c] = 1;
        added++;
      }
  } else added = widen(input, sup, sys.relations[ri]!.cells[0]!, costOf);
  return added;
}

function cheapestPublished(cells: Iterable<number>, sup: Uint8Array, costOf: (c: number) => number): number {
  let best = -1;
  let bestCost = Infinity;
  for (const c of cells) {
    if (sup[c]) continue;
    const k = costOf(c);
    if (k < bestCost) {
      bestCost = k;
      best = c;
    }
  }
  return best;
}

/**
 * Add the cheapest published cell of every relation containing `id`; if none is left, of every relation touching the
 * component of `id`. Returns the number added (0 only when every related cell is suppressed or fixed).
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

/* ------------------------------------------------------------------ */
/* Clean-up                                                             */
/* ------------------------------------------------------------------ */

/**
 * Clean-up pass: try to publish the secondary cells of a passing pattern one at a time, most expensive first
 * (ties: cells the fewest current witnesses use first), keeping a removal only when every sensitive cell stays
 * protected; repeated until a pass removes nothing or the time budget ends. Mutates `sup`.
 *
 * Each sensitive cell keeps its current witnesses (witness.ts); publishing cell c can only invalidate the witnesses
 * that use c (a witness not touching c stays a valid alternative table), so only their owners are searched again.
 * Cells no witness covers are judged by LP over c's component (its sensitive cells are the only ones whose LP can
 * change: other components are untouched) when that component has at most EXACT_AUDIT_MAX_CELLS cells; on a larger
 * one such a removal is refused (an LP there costs seconds).
 * Singleton rule: every relation around the removed cells is checked, counting as hidden only cells known to move
 * (sensitive cells, which pass, and cells some witness moves): a cell no witness moves might be determined, so
 * counting it out can only refuse more removals.
 * A secondary cell left alone in an additive relation is determined (publishing it tells the attacker nothing new),
 * so it is removed with c; a removal that would leave a suppressed cell alone in a non-additive relation, or a
 * primary alone in any relation, is refused (the optimal method's start constraints exclude such patterns too, so
 * the heuristic searches within the optimal method's space and never undercuts its optimum).
 * Guarantee: `sup` passes the audit before (precondition) and after every kept removal; the caller audits the final
 * pattern again in full.
 */
export async function cleanupPattern(
  input: SecondaryInput,
  sup: Uint8Array,
  seconds: number,
  hints: Map<number, Witnesses> = new Map(),
): Promise<{ removed: number; finished: boolean }> {
  const { sys, sensitive, tables } = input;
  const deadline = Date.now() + seconds * 1000;
  const highs = await highsRuntime();
  const isSecondary = (c: number): boolean => sup[c] === 1 && !input.primary[c] && !input.fixed?.[c];
  const sensOf = mergeSensitive(sensitive);
  const needOf = new Map([...sensOf].map(([id, s]) => [id, requiredMovement(sys, s)]));

  // Witness bookkeeping: per sensitive cell its witnesses (null: judged by LP); per cell the sensitive cells using it.
  const wit = new Map<number, Witnesses | null>();
  const users: (Set<number> | undefined)[] = new Array(sys.cellCount);
  const cubesOf = (w: Witnesses | null): Witness[] => (w ? [w.up, w.down].filter((x): x is Witness => x !== null) : []);
  const lpJudged = new Set<number>();
  const attach = (id: number, w: Witnesses | null): void => {
    wit.set(id, w);
    if (w) lpJudged.delete(id);
    else lpJudged.add(id);
    for (const cube of cubesOf(w)) for (const c of cube.ids) (users[c] ??= new Set()).add(id);
  };
  const detach = (id: number): void => {
    for (const cube of cubesOf(wit.get(id) ?? null)) for (const c of cube.ids) users[c]?.delete(id);
    wit.delete(id);
  };
  const search = (id: number, lp: HighsRuntime | null = highs): Witnesses | null => {
    const need = needOf.get(id)!;
    const w = findWitnesses(sys, tables, sup, id, need.up, need.down, lp);
    return witnessed(w, need) ? w : null;
  };
  for (const id of sensOf.keys()) {
    const need = needOf.get(id)!;
    const w = hintedWitnesses(sys, tables, sup, id, need, hints.get(id), highs);
    attach(id, witnessed(w, need) ? w : null);
  }
  // On return the hints are the witnesses of the final pattern (none for LP-judged cells).
  const publish = (): void => {
    hints.clear();
    for (const [id, w] of wit) if (w) hints.set(id, w);
  };
  // Cells no local witness protects: the attacker LP over their whole component (one warm model per component) gives
  // one, its optimal point. Without it every removal in a large component would have to be refused.
  if (lpJudged.size > 0) {
    const byComp = new Map<number, number[]>();
    const ci = componentIndex(sys, sup);
    for (const id of lpJudged) {
      const k = ci.of[id]!;
      if (k >= 0) byComp.set(k, [...(byComp.get(k) ?? []), id]);
    }
    const comps = components(sys, sup);
    for (const [k, ids] of byComp) {
      if (Date.now() > deadline) break;
      const comp = comps[k]!;
      // A cold solve over a very large component takes longer than the whole clean-up budget: its cells stay LP-judged.
      if (comp.cells.length > COMPONENT_WITNESS_MAX_CELLS) continue;
      const m = attackerModel(highs, sys, comp, sup);
      try {
        for (const id of ids) {
          if (Date.now() > deadline) break;
          const need = needOf.get(id)!;
          const w: Witnesses = {
            up: need.up > need.tol ? modelWitness(sys, highs, m, comp.cells, id, 1, need.up) : null,
            down: need.down > need.tol ? modelWitness(sys, highs, m, comp.cells, id, -1, need.down) : null,
          };
          const carries = (x: Witness | null, n: number): boolean =>
            n <= need.tol || (x !== null && x.amount >= n - need.tol && checkWitness(sys, sup, x));
          if (carries(w.up, need.up) && carries(w.down, need.down) && witnessed(w, need)) {
            detach(id);
            attach(id, w);
          }
        }
      } finally {
        m.model.dispose();
      }
    }
  }
  const moves = (c: number): boolean => sensOf.has(c) || (users[c]?.size ?? 0) > 0;

  let removed = 0;
  // Components are needed only around LP-judged cells; recomputed lazily (a pass over every relation).
  let compsCache: ReturnType<typeof componentIndex> | null = null;
  const comps = (): ReturnType<typeof componentIndex> => (compsCache ??= componentIndex(sys, sup));
  for (let changed = true; changed;) {
    changed = false;
    const order: number[] = [];
    for (let c = 0; c < sys.cellCount; c++) if (isSecondary(c)) order.push(c);
    // Most expensive first; among equals, cells fewest witnesses use first (few cells to judge again, so cheap
    // trials, and measured on the benchmark tables: 127 instead of 154 secondaries at 1k, more removals per second).
    order.sort((a, b) => input.cost[b]! - input.cost[a]! || (users[a]?.size ?? 0) - (users[b]?.size ?? 0) || a - b);
    for (const c of order) {
      if (!isSecondary(c)) continue;
      if (seconds <= 0 || Date.now() > deadline) {
        publish();
        return { removed, finished: false };
      }
      const drop = removalSet(input, sup, c);
      if (!drop) continue;
      // Sensitive cells to judge again: users of the dropped cells, and the LP-judged ones of c's component.
      const affected = new Set<number>();
      for (const d of drop) for (const id of users[d] ?? []) affected.add(id);
      let compSize = 0;
      if (lpJudged.size > 0) {
        const comp = comps().of[c]!;
        compSize = comps().size[comp]!;
        for (const id of lpJudged) if (comps().of[id] === comp) affected.add(id);
      }
      // An index computed below sees the trial pattern: it must not outlive a refused trial.
      const indexedBefore = compsCache !== null;
      for (const d of drop) sup[d] = 0;
      const found = new Map<number, Witnesses | null>();
      const lpTargets: SensitiveCell[] = [];
      let ok = true;
      // Cubes first for every affected cell (cheap), then local LPs for the rest, stopping at the first cell left
      // without a witness when its component is too large for the exact LP (most refused removals end there).
      const pending: number[] = [];
      for (const id of affected) {
        const w = search(id, null);
        if (w) found.set(id, w);
        else pending.push(id);
      }
      for (const id of pending) {
        const w = search(id);
        found.set(id, w);
        if (w) continue;
        lpTargets.push(sensOf.get(id)!);
        // The component of a cell still suppressed (c itself may be published in a freshly computed index).
        const k = comps().of[id]!;
        compSize = Math.max(compSize, k >= 0 ? comps().size[k]! : Infinity);
        if (compSize > EXACT_AUDIT_MAX_CELLS) {
          ok = false;
          break;
        }
      }
      if (ok && lpTargets.length > 0) {
        const targets = nearestFirst(sys, lpTargets, drop, sup);
        ok = (await auditPattern(sys, sup, targets, { singletons: false, failFast: true, tables, intervals: 'exact' }))
          .passes;
      }
      if (ok && input.singletons !== false) {
        // Tentatively apply the new witnesses to judge which cells still move.
        const old = new Map<number, Witnesses | null>();
        for (const [id, w] of found) {
          old.set(id, wit.get(id) ?? null);
          detach(id);
          attach(id, w);
        }
        // Cells no witness moves any more may now be determined (by the equalities together, far from the removed
        // cells): their relations are checked too, counting them out.
        const still: number[] = [];
        for (const w of old.values())
          for (const x of cubesOf(w)) for (const c of x.ids) if (sup[c] && !moves(c)) still.push(c);
        ok = !singletonExposed(sys, sup, [...drop, ...still], moves, sensOf);
        if (!ok)
          for (const [id, w] of old) {
            detach(id);
            attach(id, w);
          }
      } else if (ok)
        for (const [id, w] of found) {
          detach(id);
          attach(id, w);
        }
      if (ok) {
        removed += drop.length;
        changed = true;
        compsCache = null;
      } else {
        for (const d of drop) sup[d] = 1;
        if (!indexedBefore) compsCache = null;
      }
    }
  }
  publish();
  return { removed, finished: true };
}

/** Whether a relation around the published cells `drop` now has exactly two moving suppressed cells, one a one-unit cell and the other sensitive. */
function singletonExposed(
  sys: CellSystem,
  sup: Uint8Array,
  drop: readonly number[],
  moves: (c: number) => boolean,
  sens: Map<number, SensitiveCell>,
): boolean {
  const seen = new Set<number>();
  for (const d of drop)
    for (const ri of sys.cellRelations[d]!) {
      if (seen.has(ri)) continue;
      seen.add(ri);
      if (sys.relations[ri]!.cells.length === 2) continue; // an aggregate with a single child: same contributors (see audit.ts)
      const hidden: number[] = [];
      for (const c of sys.relations[ri]!.cells) if (sup[c] && moves(c)) hidden.push(c);
      if (hidden.length !== 2) continue;
      const [u, v] = hidden as [number, number];
      if ((sys.units[u] === 1 && sens.has(v)) || (sys.units[v] === 1 && sens.has(u))) return true;
    }
  return false;
}

/**
 * The sensitive cells ordered by distance (relations hops through suppressed cells) from the published cells `drop`:
 * the cells a removal most likely exposes are audited first, so a failing trial stops early (failFast).
 */
function nearestFirst(
  sys: CellSystem,
  targets: SensitiveCell[],
  drop: readonly number[],
  sup: Uint8Array,
): SensitiveCell[] {
  const dist = new Map<number, number>();
  let frontier = [...drop];
  for (const d of drop) dist.set(d, 0);
  for (let k = 1; frontier.length > 0 && dist.size < sys.cellCount; k++) {
    const next: number[] = [];
    for (const c of frontier)
      for (const r of sys.cellRelations[c]!)
        for (const m of sys.relations[r]!.cells) {
          if (!sup[m] || dist.has(m)) continue;
          dist.set(m, k);
          next.push(m);
        }
    frontier = next;
  }
  return targets
    .map((x) => ({ x, d: dist.get(x.id) ?? Infinity }))
    .sort((a, b) => a.d - b.d)
    .map((e) => e.x);
}

/** Component id per suppressed cell (-1 for published cells) and the number of cells per component. */
function componentIndex(sys: CellSystem, sup: Uint8Array): { of: Int32Array; size: number[] } {
  const of = new Int32Array(sys.cellCount).fill(-1);
  const size: number[] = [];
  components(sys, sup).forEach((comp, k) => {
    size.push(comp.cells.length);
    for (const c of comp.cells) of[c] = k;
  });
  return { of, size };
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
    for (const m of r.cells)
      if (sup[m] && !gone.has(m)) {
        count++;
        lone = m;
      }
    if (count !== 1) continue;
    if (!r.additive || input.primary[lone] || input.fixed?.[lone]) return null;
    gone.add(lone);
    out.push(lone);
    queue.push(...sys.cellRelations[lone]!);
  }
  return out;
}
