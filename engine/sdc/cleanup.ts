/**
 * The heuristic's clean-up pass: publishes the secondary cells a passing pattern does not need.
 *
 * Guarantee: the pattern passes the audit before (precondition) and after every kept removal: each affected sensitive
 * cell keeps witnesses re-searched on the trial pattern, or passes the exact LP over its component (refused beyond
 * EXACT_AUDIT_MAX_CELLS cells), and the singleton rule holds around the removed cells (with `insiders`, the insider
 * audit of the components around them, see insiders.ts). Removals leaving a primary, or
 * any cell of an inequality relation, alone in a relation are refused.
 */
import { attackerModel } from './attacker-lp.ts';
import { EXACT_AUDIT_MAX_CELLS, auditPattern } from './audit.ts';
import { components } from './components.ts';
import { Deadline, TimeUp } from './deadline.ts';
import { highsRuntime } from './highs.ts';
import { insiderExposedNear } from './insider-near.ts';
import type { HighsRuntime } from './highs.ts';
import type { SecondaryInput } from './problem.ts';
import type { CellSystem } from './relations.ts';
import { mergeSensitive, requiredMovement } from './sensitive.ts';
import type { SensitiveCell } from './sensitive.ts';
import { findWitnesses, hintedWitnesses, modelWitness } from './witness.ts';
import { checkWitness, witnessed } from './witness-check.ts';
import type { Witness, Witnesses } from './witness-check.ts';

/** Components up to this many cells get LP witnesses at the start of the clean-up (see cleanupPattern). */
const COMPONENT_WITNESS_MAX_CELLS = 20000;

/**
 * Clean-up pass: try to publish the secondary cells of a passing pattern one at a time, most expensive first
 * (ties: cells the fewest current witnesses use first), keeping a removal only when every sensitive cell stays
 * protected; repeated until a pass removes nothing or the time budget ends. Mutates `sup`.
 *
 * Each sensitive cell keeps its current witnesses (witness-check.ts); publishing cell c can only invalidate the
 * witnesses that use c (a witness not touching c stays a valid alternative table), so only their owners are searched
 * again.
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
  insiderCache: Map<string, Witness> = new Map(),
): Promise<{ removed: number; finished: boolean }> {
  const { sys, sensitive, tables } = input;
  const deadline = Date.now() + seconds * 1000;
  const highs = await highsRuntime();
  const isSecondary = (c: number): boolean => sup[c] === 1 && !input.primary[c] && !input.fixed?.[c];
  const sensOf = mergeSensitive(sensitive);
  const needOf = new Map([...sensOf].map(([id, s]) => [id, requiredMovement(sys, s)]));
  const book = new WitnessBook(sys.cellCount, sensOf);
  const search = (id: number, lp: HighsRuntime | null): Witnesses | null => {
    const need = needOf.get(id)!;
    const w = findWitnesses(sys, tables, sup, id, need.up, need.down, lp);
    return witnessed(w, need) ? w : null;
  };
  for (const id of sensOf.keys()) {
    // Out of time before any removal: the pattern is untouched (still passing), the hints too.
    if (Date.now() > deadline) return { removed: 0, finished: false };
    const need = needOf.get(id)!;
    const w = hintedWitnesses(sys, tables, sup, id, need, hints.get(id), highs);
    book.attach(id, witnessed(w, need) ? w : null);
  }
  if (book.lpJudged.size > 0) componentWitnesses(sys, sup, book, needOf, highs, deadline);

  let removed = 0;
  const run: CleanupRun = {
    input,
    sup,
    book,
    sensOf,
    search,
    highs,
    comps: new ComponentCache(sys, sup),
    insiderCache,
    deadline: new Deadline(deadline),
  };
  for (let changed = true; changed;) {
    changed = false;
    const order: number[] = [];
    for (let c = 0; c < sys.cellCount; c++) if (isSecondary(c)) order.push(c);
    // Most expensive first; among equals, cells fewest witnesses use first (few cells to judge again, so cheap
    // trials, and measured on the benchmark tables: 127 instead of 154 secondaries at 1k, more removals per second).
    order.sort(
      (a, b) => input.cost[b]! - input.cost[a]! || (book.users[a]?.size ?? 0) - (book.users[b]?.size ?? 0) || a - b,
    );
    for (const c of order) {
      if (!isSecondary(c)) continue;
      if (seconds <= 0 || Date.now() > deadline) {
        book.publish(hints);
        return { removed, finished: false };
      }
      const drop = removalSet(input, sup, c);
      if (!drop) continue;
      if (await tryRemoval(run, c, drop)) {
        removed += drop.length;
        changed = true;
      }
    }
  }
  book.publish(hints);
  return { removed, finished: true };
}

/** The witnesses of a witness (up and down) that exist. */
function cubesOf(w: Witnesses | null): Witness[] {
  return w ? [w.up, w.down].filter((x): x is Witness => x !== null) : [];
}

/** Witness bookkeeping: per sensitive cell its witnesses (null: judged by LP); per cell the sensitive cells using it. */
class WitnessBook {
  readonly wit = new Map<number, Witnesses | null>();
  readonly users: (Set<number> | undefined)[];
  readonly lpJudged = new Set<number>();

  constructor(
    cellCount: number,
    private readonly sensOf: Map<number, SensitiveCell>,
  ) {
    this.users = new Array(cellCount);
  }

  attach(id: number, w: Witnesses | null): void {
    this.wit.set(id, w);
    if (w) this.lpJudged.delete(id);
    else this.lpJudged.add(id);
    for (const cube of cubesOf(w)) for (const c of cube.ids) (this.users[c] ??= new Set()).add(id);
  }

  detach(id: number): void {
    for (const cube of cubesOf(this.wit.get(id) ?? null)) for (const c of cube.ids) this.users[c]?.delete(id);
    this.wit.delete(id);
  }

  /** Whether suppressed cell `c` is known to move: sensitive (those pass), or moved by some witness. */
  moves(c: number): boolean {
    return this.sensOf.has(c) || (this.users[c]?.size ?? 0) > 0;
  }

  /** The hints become the witnesses of the current pattern (none for LP-judged cells). */
  publish(hints: Map<number, Witnesses>): void {
    hints.clear();
    for (const [id, w] of this.wit) if (w) hints.set(id, w);
  }
}

/**
 * Cells no local witness protects: the attacker LP over their whole component (one warm model per component) gives
 * one, its optimal point, checked before it counts. Without it every removal in a large component would be refused.
 */
function componentWitnesses(
  sys: CellSystem,
  sup: Uint8Array,
  book: WitnessBook,
  needOf: Map<number, { up: number; down: number; tol: number }>,
  highs: HighsRuntime,
  deadline: number,
): void {
  const byComp = new Map<number, number[]>();
  const ci = componentIndex(sys, sup);
  for (const id of book.lpJudged) {
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
          book.detach(id);
          book.attach(id, w);
        }
      }
    } finally {
      m.model.dispose();
    }
  }
}

/** The component index of the current pattern, computed lazily (a pass over every relation) and cleared on change. */
class ComponentCache {
  private index: ReturnType<typeof componentIndex> | null = null;

  constructor(
    private readonly sys: CellSystem,
    private readonly sup: Uint8Array,
  ) {}

  get(): ReturnType<typeof componentIndex> {
    return (this.index ??= componentIndex(this.sys, this.sup));
  }

  get cached(): boolean {
    return this.index !== null;
  }

  clear(): void {
    this.index = null;
  }
}

/** What one clean-up pass works with. */
interface CleanupRun {
  readonly input: SecondaryInput;
  readonly sup: Uint8Array;
  readonly book: WitnessBook;
  readonly sensOf: Map<number, SensitiveCell>;
  /** Witnesses of sensitive cell `id` in the current pattern (cubes only when `lp` is null), or null. */
  readonly search: (id: number, lp: HighsRuntime | null) => Witnesses | null;
  readonly highs: HighsRuntime;
  /** Components are needed only around LP-judged cells. */
  readonly comps: ComponentCache;
  /** Insider witnesses found by LP in earlier trials (insiders.ts), checked again before each use. */
  readonly insiderCache: Map<string, Witness>;
  /** The clean-up's end: an insider check it stops refuses the removal (the loop then ends at its time check). */
  readonly deadline: Deadline;
}

/**
 * Publish the cells `drop` (secondary cell `c` and the cells it takes along) when every sensitive cell stays
 * protected: the witnesses are updated and true returned; otherwise the pattern is restored and false returned.
 */
async function tryRemoval(run: CleanupRun, c: number, drop: readonly number[]): Promise<boolean> {
  const { sup, book, comps } = run;
  // Sensitive cells to judge again: users of the dropped cells, and the LP-judged ones of c's component.
  const affected = new Set<number>();
  for (const d of drop) for (const id of book.users[d] ?? []) affected.add(id);
  let compSize = 0;
  if (book.lpJudged.size > 0) {
    const comp = comps.get().of[c]!;
    compSize = comps.get().size[comp]!;
    for (const id of book.lpJudged) if (comps.get().of[id] === comp) affected.add(id);
  }
  // An index computed below sees the trial pattern: it must not outlive a refused trial.
  const indexedBefore = comps.cached;
  for (const d of drop) sup[d] = 0;
  const ok = await removalKeepsProtection(run, drop, affected, compSize);
  if (ok) comps.clear();
  else {
    for (const d of drop) sup[d] = 1;
    if (!indexedBefore) comps.clear();
  }
  return ok;
}

/**
 * Judge the trial pattern (cells `drop` just published): the `affected` sensitive cells get new witnesses (cubes
 * first for all, then local LPs), else the exact LP audit when their components are small enough; then the singleton
 * rule around the published cells. Kept witnesses are applied when the trial passes.
 */
async function removalKeepsProtection(
  run: CleanupRun,
  drop: readonly number[],
  affected: Set<number>,
  compSizeOfC: number,
): Promise<boolean> {
  const { input, sup, book, comps, sensOf, search } = run;
  const { sys, tables } = input;
  let compSize = compSizeOfC;
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
    const w = search(id, run.highs);
    found.set(id, w);
    if (w) continue;
    lpTargets.push(sensOf.get(id)!);
    // The component of a cell still suppressed (c itself may be published in a freshly computed index).
    const k = comps.get().of[id]!;
    compSize = Math.max(compSize, k >= 0 ? comps.get().size[k]! : Infinity);
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
  if (!ok) return false;
  // Tentatively apply the new witnesses (to judge which cells still move, and for the insider audit).
  const old = new Map<number, Witnesses | null>();
  for (const [id, w] of found) {
    old.set(id, book.wit.get(id) ?? null);
    book.detach(id);
    book.attach(id, w);
  }
  if (input.singletons !== false) {
    // Cells no witness moves any more may now be determined (by the equalities together, far from the removed
    // cells): their relations are checked too, counting them out.
    const still: number[] = [];
    const moves = (c: number): boolean => book.moves(c);
    for (const w of old.values())
      for (const x of cubesOf(w)) for (const c of x.ids) if (sup[c] && !moves(c)) still.push(c);
    ok = !singletonExposed(sys, sup, [...drop, ...still], moves, sensOf);
  }
  // Insiders of the components around the removed cells (the only ones a removal changes), with the witnesses kept.
  if (ok && input.insiders === true)
    ok = await insiderExposedNear(
      { sys, suppressed: sup, sens: sensOf, tables, proven: book.wit, cache: run.insiderCache, deadline: run.deadline },
      drop,
    ).then(
      (exposed) => !exposed,
      (e: unknown) => {
        if (e instanceof TimeUp) return false;
        throw e;
      },
    );
  if (!ok)
    for (const [id, w] of old) {
      book.detach(id);
      book.attach(id, w);
    }
  return ok;
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
