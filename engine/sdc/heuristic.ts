/**
 * The heuristic method (after tau-Argus's GHMITER, on balanced cubes): cube phase, audit and repair rounds, clean-up.
 *
 * Guarantee: only a pattern that passed the full audit is returned (AUDIT_FAILED when no cell is left to add); the
 * pattern is audited again after the clean-up, and the pattern from before the clean-up is kept when a repair cannot
 * finish or ends costlier.
 */
import { StatguardError } from '../errors.ts';
import { auditPattern } from './audit.ts';
import type { AuditOptions, AuditResult } from './audit.ts';
import { cleanupPattern } from './cleanup.ts';
import { cheapestCube, coverWithCubes, protectFromInsiders, protectThirdCell, widen } from './cover.ts';
import { Deadline, TimeUp } from './deadline.ts';
import { highsRuntime } from './highs.ts';
import { isEmptyCell } from './problem.ts';
import type { SecondaryInput, SecondaryResult } from './problem.ts';
import { cellName } from './relations.ts';
import { requiredMovement } from './sensitive.ts';
import type { Witness, Witnesses } from './witness-check.ts';

/** Cost of a neverSuppress cell: used only when no other cube exists (reported as a violation). */
const HUGE = 1e12;

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
  /**
   * End of the search (cube phase, audits and repairs until a first passing pattern): past it the search throws
   * TimeUp (deadline.ts) and the caller falls back (secondary.ts: the coarse pattern).
   */
  readonly deadline?: Deadline;
  /**
   * End of the clean-up and of the audit after it (the clean-up stops at 70% of the time left to it, leaving the
   * rest to that audit); when that audit or its repairs run out of time, the audited pattern from before the
   * clean-up is returned. Default: the search deadline.
   */
  readonly cleanupDeadline?: Deadline;
}

/**
 * Hypercube heuristic (after tau-Argus's GHMITER, on balanced cubes, see cubes.ts), then a clean-up pass.
 *
 * 1. Cube phase, no LP: for each sensitive cell without witnesses in the current pattern, suppress the cheapest
 *    balanced cube around it over every table holding it that carries its protection in both directions (already
 *    suppressed cells cost 0, so cubes reuse the pattern; fixed cells are never used, neverSuppress cells only at a
 *    prohibitive cost). Each such cube is a witness once suppressed, so the cell is protected. Then the singleton
 *    rule on the relations: a relation whose only two suppressed cells are a one-unit cell and a sensitive cell gets
 *    a cube around a third cell. Cells that no sum of up to MAX_CUBES_PER_CELL cubes protects (a large protection
 *    among small neighbours) get the cheapest witness by LP instead (`coverByLp`, cheapest-witness.ts).
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
  let deadline = opts.deadline ?? Deadline.never;
  const cleanupDeadline = opts.cleanupDeadline ?? deadline;
  const sup = Uint8Array.from(input.primary);
  const fixed = input.fixed;
  if (opts.start) for (let c = 0; c < sys.cellCount; c++) if (opts.start[c] && !fixed?.[c]) sup[c] = 1;
  // Empty cells are no secondary candidates (problem.ts, `isEmptyCell`): the cube phase, the cheapest-witness LPs and
  // the repairs' cubes never use them. Only the last resorts may, at HUGE cost: `widen` (a cell every cube fails) and
  // the singleton rule's third cell when no cube of non-empty cells exists around any cell of the relation.
  const empty = Uint8Array.from({ length: sys.cellCount }, (_, c) => (isEmptyCell(sys, c) ? 1 : 0));
  const costOf = (c: number): number =>
    sup[c] ? 0 : fixed?.[c] || empty[c] ? Infinity : input.never[c] ? HUGE : input.cost[c]!;
  const lastResort = (c: number): number =>
    sup[c] ? 0 : fixed?.[c] ? Infinity : input.never[c] || empty[c] ? HUGE : input.cost[c]!;
  // Witnesses per sensitive cell, kept by the cube phase and the clean-up; every audit checks them again.
  const hints = new Map<number, Witnesses>();
  // Insider witnesses kept across the search's audits and the clean-up (each checked again before it counts).
  const insiderCache = new Map<string, Witness>();
  let auditOpts: AuditOptions = {
    singletons: input.singletons !== false,
    ...(input.insiders === true ? { insiders: true, insiderCache } : {}),
    tables: input.tables,
    intervals: 'certified',
    witnesses: hints,
    deadline,
  };
  let iterations = 0;
  // From a start pattern, only the sensitive cells it leaves unprotected get cubes (it may be safe already).
  let toCover = input.sensitive;
  if (opts.start) {
    const first = await auditPattern(sys, sup, sensitive, auditOpts);
    const failing = new Set(first.cells.filter((c) => !c.passes).map((c) => c.id));
    toCover = input.sensitive.filter((x) => failing.has(x.id));
  }
  coverWithCubes({ ...input, sensitive: toCover }, sup, costOf, await highsRuntime(), hints, deadline, lastResort);
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
      ...(input.insiders === true ? { insiderWitnesses: insiderCache } : {}),
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
    if (deadline.expired()) {
      if (cleaned) return revert();
      throw new TimeUp('the heuristic search');
    }
    let audit: AuditResult;
    try {
      audit = await auditPattern(sys, sup, sensitive, auditOpts);
    } catch (e) {
      // After the clean-up, out of time: the audited pattern from before it stands.
      if (e instanceof TimeUp && cleaned) return revert();
      throw e;
    }
    if (audit.passes) {
      if (cleaned === null) {
        cleaned = { before: Uint8Array.from(sup), hints: new Map(hints), audit, finished: false };
        opts.onCleanup?.();
        const seconds = Math.min(opts.cleanupSeconds ?? 60, cleanupDeadline.remaining() * 0.7);
        // From here on the audits and repairs run on the clean-up's deadline.
        auditOpts = { ...auditOpts, deadline: cleanupDeadline };
        deadline = cleanupDeadline;
        const clean = await cleanupPattern(input, sup, seconds, hints, insiderCache);
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
      if (added === 0) widen(input, sup, f.id, lastResort);
    }
    for (const ex of audit.singletons) protectThirdCell(input, sup, ex.relation, lastResort);
    protectFromInsiders(input, sup, audit, costOf, lastResort);
    if (count() === before) {
      if (cleaned) return revert();
      const linked = fixed?.some((f) => f === 1)
        ? '; cells published in a release given with --against cannot be suppressed, and the pattern needs them'
        : '';
      const failing = audit.cells.filter((f) => !f.passes).map((f) => cellName(sys, input.tables, f.id));
      const exposed = [...audit.singletons, ...audit.insiders].map((x) => cellName(sys, input.tables, x.exposed));
      const named = [
        ...(failing.length > 0 ? [`not protected: ${failing.slice(0, 8).join('; ')}`] : []),
        ...(exposed.length > 0 ? [`computable by a single contributor: ${exposed.slice(0, 8).join('; ')}`] : []),
      ];
      throw new StatguardError(
        'AUDIT_FAILED',
        `secondary suppression could not find a pattern that passes the audit (every related cell is already suppressed${linked})${named.length > 0 ? `: ${named.join('; ')}` : ''}`,
      );
    }
  }
}
