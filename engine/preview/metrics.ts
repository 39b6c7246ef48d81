/**
 * Pure figures of a preview, computed from one exact table and its protected
 * counterpart. Reviewer-only: every figure here is derived from exact values.
 */
import type { ExactCell, ExactTable, ProtectedTable } from '../types.ts';
import { cellCoords } from '../types.ts';

/**
 * Sparsity check: a table fails when more than this share of its published, non-empty interior cells (leaf in every
 * dimension, at least one unit) rests on one or two units. 0.2 follows the usual reading of tau-Argus / SDC
 * handbook advice that a table where one interior cell in five is a singleton or pair is too detailed for its data.
 */
export const SPARSITY_THRESHOLD = 0.2;

/** Relative error thresholds reported for dp tables. */
export const REL_ERROR_LEVELS = [0.1, 0.5] as const;

/** Exact value of a cell in the table's natural unit (count: units; sum: sum / 10^decimals; mean: sum / units, null when empty; quantile: null, not compared). */
export function exactValue(t: ExactTable, c: ExactCell): number | null {
  const m = t.plan.measure;
  if (m.kind === 'count') return c.units;
  if (m.kind === 'quantile') return null; // the cell's slot counts do not give an exact quantile: not compared
  const scale = 10 ** m.decimals;
  if (m.kind === 'sum') return c.sum / scale;
  return c.units > 0 ? c.sum / c.units / scale : null;
}

export interface RealisedError {
  /** Published cells compared (value not null and an exact value exists). */
  readonly cells: number;
  readonly meanAbsError: number;
  readonly maxAbsError: number;
  /**
   * Share of compared cells whose relative error |noisy - exact| / |exact| exceeds 10% / 50%. A cell whose exact value
   * is 0 counts as above both levels when its noisy value is not 0 (its relative error is unbounded).
   */
  readonly shareRelAbove10: number;
  readonly shareRelAbove50: number;
}

/** Realised error of the published cells of a (noisy) table against the exact values. */
export function realisedError(exact: ExactTable, prot: ProtectedTable): RealisedError {
  let n = 0;
  let sum = 0;
  let max = 0;
  let above10 = 0;
  let above50 = 0;
  prot.cells.forEach((pc, i) => {
    if (pc.value === null) return;
    const x = exactValue(exact, exact.cells[i]!);
    if (x === null) return;
    const err = Math.abs(pc.value - x);
    n++;
    sum += err;
    if (err > max) max = err;
    const rel = x === 0 ? (err === 0 ? 0 : Infinity) : err / Math.abs(x);
    if (rel > REL_ERROR_LEVELS[0]) above10++;
    if (rel > REL_ERROR_LEVELS[1]) above50++;
  });
  return {
    cells: n,
    meanAbsError: n > 0 ? sum / n : 0,
    maxAbsError: max,
    shareRelAbove10: n > 0 ? above10 / n : 0,
    shareRelAbove50: n > 0 ? above50 / n : 0,
  };
}

export interface RiskSignals {
  /** Published cells (value not null) resting on exactly one or two units. */
  readonly publishedOneOrTwo: number;
  /** Published interior cells (leaf in every dimension) with at least one unit. */
  readonly interiorPublished: number;
  /** Of those, the ones with one or two units. */
  readonly interiorOneOrTwo: number;
  /** interiorOneOrTwo / interiorPublished (0 when there is none). */
  readonly sparsityShare: number;
  /** sparsityShare > SPARSITY_THRESHOLD. */
  readonly sparse: boolean;
}

export function riskSignals(exact: ExactTable, prot: ProtectedTable, threshold = SPARSITY_THRESHOLD): RiskSignals {
  const dims = exact.plan.dimensions;
  let pub12 = 0;
  let interior = 0;
  let interior12 = 0;
  prot.cells.forEach((pc, i) => {
    if (pc.value === null) return;
    const u = exact.cells[i]!.units;
    const small = u === 1 || u === 2;
    if (small) pub12++;
    if (u === 0) return;
    if (!cellCoords(dims, i).every((n, d) => dims[d]!.nodes[n]!.leaf)) return;
    interior++;
    if (small) interior12++;
  });
  const share = interior > 0 ? interior12 / interior : 0;
  return {
    publishedOneOrTwo: pub12,
    interiorPublished: interior,
    interiorOneOrTwo: interior12,
    sparsityShare: share,
    sparse: share > threshold,
  };
}

/** Share of a table's cells whose value is null. */
export function suppressedShare(prot: ProtectedTable): { suppressed: number; share: number } {
  const s = prot.cells.reduce((n, c) => n + (c.value === null ? 1 : 0), 0);
  return { suppressed: s, share: prot.cells.length > 0 ? s / prot.cells.length : 0 };
}
