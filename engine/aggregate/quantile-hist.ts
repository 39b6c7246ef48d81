/**
 * Per-cell distribution of a quantile table (engine/dp/quantile.ts): for each cell, how many bounded rows fall in
 * each slot of the declared candidates (slot 2j: the value equals candidate j; slot 2j + 1: strictly between
 * candidates j and j + 1). Values arrive clamped to [lower, upper], so every row lands in one slot. Exact integer
 * counts; each row counts (a unit's m rows count m times, as the utility's sensitivity assumes).
 */
import type { TablePlan } from '../types.ts';
import { quantileCandidates, quantileSlot } from '../dp/quantile.ts';

export class QuantileHist {
  readonly slots: number;
  readonly counts: Int32Array;
  private readonly cands: number[];

  constructor(plan: TablePlan, nCells: number) {
    const meas = plan.measure;
    if (meas.kind !== 'quantile') throw new Error('QuantileHist needs a quantile table');
    this.cands = quantileCandidates(meas);
    this.slots = 2 * this.cands.length - 1;
    this.counts = new Int32Array(nCells * this.slots);
  }

  /** One row with clamped value v, counted in cells arr[s..e). */
  add(arr: Int32Array, s: number, e: number, v: number): void {
    const slot = quantileSlot(this.cands, v);
    for (let i = s; i < e; i++) this.counts[arr[i]! * this.slots + slot]!++;
  }

  result(): { slots: number; counts: Int32Array } {
    return { slots: this.slots, counts: this.counts };
  }
}

/** The histogram of a table, or null when it is not a quantile table. */
export function quantileHistFor(plan: TablePlan, nCells: number): QuantileHist | null {
  return plan.measure.kind === 'quantile' ? new QuantileHist(plan, nCells) : null;
}
