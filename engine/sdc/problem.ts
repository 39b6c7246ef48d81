/**
 * The secondary-suppression problem: its input, its result, and the cost of suppressing a cell.
 *
 * Guarantee: `cellCosts` gives every cell a cost > 0: exactly 1 under 'unity'; units or |value| plus a tie-breaker of
 * 1e-3 of the mean cost under 'frequency' and 'value'. A `SecondaryResult`'s pattern has passed the audit it carries.
 */
import type { ExactTable, SdcPlan } from '../types.ts';
import type { AuditResult } from './audit.ts';
import type { CellSystem } from './relations.ts';
import type { SensitiveCell } from './sensitive.ts';
import type { Witness, Witnesses } from './witness-check.ts';

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
  /** Protect against insiders (the audit's insider audit, insiders.ts; default false). */
  readonly insiders?: boolean;
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
  /** Optimal method stopped without proof (time limit, solver failure): the reason, lower bound, incumbent, gap. */
  readonly optimalStop?: OptimalStop;
  /** The search ran out of time: the coarse pattern published instead, with the officer's figures. */
  readonly coarse?: CoarseFallback;
}

/** Why an optimal run ended without proving optimality, and what it proved (reported per group). */
export interface OptimalStop {
  readonly reason: string;
  /** Proven lower bound on the optimal pattern's cost (primaries included). */
  readonly lowerBound: number;
  /** Cost of the pattern returned (the heuristic's, audited): an upper bound on the optimum. */
  readonly incumbentCost: number;
  /** (incumbent - lower bound) / incumbent, 0..1. */
  readonly gap: number;
}

/**
 * A coarse pattern (secondary.ts) used because the search could not finish within the time limit: which cells it
 * publishes, and the figures an officer needs to decide how to coarsen the table.
 */
export interface CoarseFallback {
  readonly reason: string;
  /** Publishes (outside the primaries) the cells with at most this many dimensions below their total (-1: none). */
  readonly publishedMarginOrder: number;
  readonly description: string;
  /** Share of the group's cells that are sensitive. */
  readonly shareSensitive: number;
  /** Suggested groupings (dimensions to drop or categories to merge), with their figures. */
  readonly suggestions: readonly string[];
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
  /** Heuristic runs: repair rounds after the clean-up (its local checks missed a far effect the audit found). */
  readonly cleanupRepairs?: number;
  /** Witnesses of the final pattern per sensitive cell (heuristic runs), for later audits to check instead of search. */
  readonly witnesses?: ReadonlyMap<number, Witnesses>;
  /** Optimal runs that did not prove optimality: why, the proven lower bound, the incumbent's cost and the gap. */
  readonly optimalStop?: OptimalStop;
  /** Set when the search ran out of time and a coarse pattern was proven instead. */
  readonly coarse?: CoarseFallback;
  /**
   * Insider witnesses the search found (insiders.ts cache, per `insider:cell:direction`), in the release's cell ids
   * when given by secondarySuppression: protectSdc's final audit checks each again before it counts.
   */
  readonly insiderWitnesses?: Map<string, Witness>;
}

/**
 * Empty cells (no contributor): never chosen as secondary suppressions, as in tau-Argus and GaussSuppression
 * (`secondaryZeros = FALSE`, its default). The rule: an empty cell that is not itself a primary (`zeroCells:
 * 'suppress'` makes it one) is published as 0. A published zero says only that no unit has that combination (a
 * structural or sampling zero), nothing about any unit's value in another cell, so publishing it costs no protection;
 * hiding it protects little (with an a priori lower bound of 0 it can move up only, so no balanced cube through it
 * carries a movement in both directions) and adds a variable to every attacker LP. On a sparse table most interior
 * cells are empty: excluding them keeps the search on the non-empty cells (measured in engine/sdc/README.md). The audit is
 * unchanged (a published empty cell is a constant like any other). The heuristic's last-resort repair (`widen`) may still
 * take one, at a prohibitive cost, when nothing else is left.
 */
export function isEmptyCell(sys: CellSystem, c: number): boolean {
  return sys.units[c] === 0 && sys.value[c] === 0;
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
