/**
 * What moves a dp table's cells besides the noise: the bias sources a statistics office states next to the accuracy
 * (issue 18, item 3). The stated half-widths cover the noise only; these notes say, per table, which other steps can
 * move a published value, in which direction, and by how much where a bound follows from the plan.
 *
 * Guarantee: every note is derived from the plan and the accounting (public), never from the data: they say what CAN
 * happen, not how often it did (an exact count of trimmed rows or clamped values would be a statistic outside the
 * budget). How often it did is stated only where the policy asks for a truncation report (truncation.ts): a noisy
 * count paid from the budget, with its half-width (`estimate`).
 */
import type { DpPlan, Plan, TablePlan } from '../types.ts';
import type { DpTableAccounting } from './protect.ts';
import { aboutCount, type TruncationAccounting } from './truncation.ts';

export type BiasSource = 'bounding' | 'clamping' | 'granularity' | 'non-negativity' | 'mean-range';

export interface BiasNote {
  readonly source: BiasSource;
  /** Which way the published value can move: 'down', 'up' or 'toward-bounds'. */
  readonly direction: 'down' | 'up' | 'toward-bounds';
  /** Largest bias per cell this step can cause, in the published unit, when the plan bounds it; else null. */
  readonly bound: number | null;
  readonly note: string;
  /**
   * Where the policy asks for a truncation report (truncation.ts): the noisy count of what this step changed in the
   * whole release (rows dropped, or values of this table's measure clamped) and its 95% half-width; never exact.
   */
  readonly estimate?: { readonly count: number; readonly halfWidth95: number };
}

/** The bias notes of one dp table. */
export function biasNotes(
  plan: Plan & { readonly protection: DpPlan },
  t: TablePlan,
  a: DpTableAccounting,
  report: TruncationAccounting | null = null,
): BiasNote[] {
  const out: BiasNote[] = [];
  const u = plan.dataset.unit;
  const m = t.measure;
  if (u.column !== null) {
    const dropped = report?.counts.find((c) => c.quantity === 'rows-dropped');
    out.push({
      source: 'bounding',
      direction: 'down',
      bound: null,
      note:
        `Contribution bounding keeps at most ${u.maxRowsPerUnit} row(s) per ${u.kind}: where a ${u.kind} has more, its other rows are left out, so ${m.kind === 'count' ? `a ${u.kind} whose kept rows miss a cell is not counted there` : 'sums and means over the rows left out are lower'}.` +
        (dropped
          ? ` Rows left out in the whole release (differentially private truncation report, each ${u.kind}'s counted up to ${report!.maxDroppedPerUnit}): ${aboutCount(dropped)}.`
          : ''),
      ...(dropped ? { estimate: { count: dropped.value, halfWidth95: dropped.halfWidth95 } } : {}),
    });
  }
  if (m.kind !== 'count') {
    const div = 10 ** m.decimals;
    const clamped = report?.counts.find((c) => c.quantity === 'values-clamped' && c.tables?.includes(t.id));
    out.push({
      source: 'clamping',
      direction: 'toward-bounds',
      bound: null,
      note:
        `Values of ${m.column} outside [${m.lower / div}, ${m.upper / div}] are clamped to those bounds before ${m.kind === 'quantile' ? 'the quantile is taken (a quantile outside them is published at the nearest bound)' : 'they are summed'}.` +
        (clamped
          ? ` Kept values clamped so in the whole release (differentially private truncation report): ${aboutCount(clamped)}.`
          : ''),
      ...(clamped ? { estimate: { count: clamped.value, halfWidth95: clamped.halfWidth95 } } : {}),
    });
    const sum = a.queries.find((q) => q.quantity === 'sum');
    if (sum && sum.granularity > 1 / div) {
      out.push({
        source: 'granularity',
        direction: 'down',
        bound: sum.granularity,
        note: `Sums are rounded down to multiples of ${sum.granularity} before noise is added: each is lower by less than ${sum.granularity}.`,
      });
    }
  }
  if (m.kind === 'count' || (m.kind !== 'quantile' && m.lower >= 0)) {
    // At a true value of 0, E[max(0, N)]: b/2 for Laplace noise of scale b, sd/sqrt(2 pi) for Gaussian noise.
    const main = a.queries[0]!;
    const laplace = plan.protection.mechanism === 'discrete-laplace';
    const atZero = laplace ? main.noiseScale / 2 : main.noiseSd / Math.sqrt(2 * Math.PI);
    out.push({
      source: 'non-negativity',
      direction: 'up',
      bound: Number(atZero.toPrecision(4)),
      note: `Noisy ${m.kind === 'count' ? 'counts' : 'sums'} below 0 are published as 0: cells near 0 are biased upward, by at most about ${Number(atZero.toPrecision(4))} at a true 0, less as the true value grows.`,
    });
  }
  if (m.kind === 'mean') {
    out.push({
      source: 'mean-range',
      direction: 'toward-bounds',
      bound: null,
      note: 'A mean is divided by at least 1 and kept within the range a mean can take: small cells are pulled toward that range.',
    });
  }
  return out;
}
