import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { StatguardError } from '../errors.ts';
import type { CkmPlan, ExactTable, ProtectedCell, ProtectedTable } from '../types.ts';
import { formatPtable, generatePtable, lookupPerturbation, parsePtable } from './ptable.ts';
import type { Ptable } from './ptable.ts';

export interface CkmReport {
  readonly secure: true;
  /** SHA-256 of the ptable text used (generated tables: of `formatPtable`), recorded so a rerun can be checked. */
  readonly ptableSha256: string;
  readonly ptableRows: number;
  readonly maxDeviation: number;
  /** Per table: cells, cells whose published value differs from the exact one (reviewer only). */
  readonly tables: readonly {
    readonly tableId: string;
    readonly cells: number;
    readonly changed: number;
    readonly meanAbsDeviation: number;
  }[];
}

/** The ptable of a ckm plan: read from its file, or generated from its parameters (deterministic). */
export function ptableFor(plan: CkmPlan): { ptable: Ptable; text: string } {
  if (plan.ptableFile !== null) {
    let text: string;
    try {
      text = readFileSync(plan.ptableFile, 'utf8');
    } catch (e) {
      throw new StatguardError('SOURCE_UNREADABLE', `cannot read the ptable file: ${(e as Error).message}`, {
        file: plan.ptableFile,
      });
    }
    return { ptable: parsePtable(text, plan.ptableFile), text };
  }
  if (plan.ptable === null)
    throw new StatguardError('POLICY_INVALID', 'ckm needs ptable parameters or a ptable file', {
      path: '/protection/ptable',
    });
  const pt = generatePtable({
    D: plan.ptable.D,
    V: plan.ptable.V,
    js: plan.ptable.js,
    ...(plan.ptable.pstay !== null ? { pstay: plan.ptable.pstay } : {}),
  });
  return { ptable: pt, text: formatPtable(pt) };
}

/** A second uniform in [0, 1) derived from the cell key (for rounding), independent enough of the lookup's use of it. */
function secondUniform(ck: number): number {
  const x = ck * 4096;
  return x - Math.floor(x);
}

/**
 * Protect tables by the cell key method.
 *
 * Counts: published = n + v(n, ck), v from the ptable row of n (rows above imax use the last row). Guarantees (from
 * the ptable): |v| <= D, a published count is never in 1..js (small counts are perturbed away), 0 stays 0 (row 0 is
 * the identity: empty cells are public anyway, their structure is declared); E[v] = 0 over the cell key.
 * Magnitudes (sum tables): published = X + (v / D) * (magnitudePercent/100) * x1, v looked up in the row of the cell's
 * unit count (ABS method: deviation proportional to the largest contribution, so the top contributor cannot be
 * recovered exactly from X). Mean tables are refused (perturb their sum and count tables instead).
 * Consistency: the perturbation of a cell depends only on (its count, its cell key), and the cell key only on which
 * units contribute, so a cell shared by several tables (a margin of one is a cell of another) gets the same value in
 * every table and every rerun with the same record keys and ptable. Tables are not additive after perturbation.
 * Optional random rounding to `roundingBase`: down or up to a multiple with probability by distance, the coin being
 * a second uniform derived from the cell key (again the same for the same cell).
 * Every cell is published (value never null), CONF_STATUS F, OBS_STATUS E (estimated; all cells went through the
 * method, so the status does not tell which ones changed).
 */
export function protectCkm(
  tables: readonly ExactTable[],
  plan: CkmPlan,
): { tables: ProtectedTable[]; report: CkmReport } {
  const { ptable, text } = ptableFor(plan);
  const D = Math.max(...ptable.rows.flat().map((e) => Math.abs(e.v)));
  const V = plan.ptable?.V ?? null;
  const reports: { tableId: string; cells: number; changed: number; meanAbsDeviation: number }[] = [];
  const out = tables.map((t): ProtectedTable => {
    const m = t.plan.measure;
    if (m.kind === 'mean' || m.kind === 'quantile')
      throw new StatguardError(
        'POLICY_INVALID',
        `table ${JSON.stringify(t.plan.id)}: the cell key method perturbs counts and sums; publish a mean as a sum and a count table (quantiles need the dp regime)`,
        { path: `/tables/${t.plan.id}/measure` },
      );
    if (m.weight !== undefined)
      throw new StatguardError(
        'POLICY_INVALID',
        `table ${JSON.stringify(t.plan.id)}: the cell key method is applied to unweighted counts and sums here (weighted ckm is not implemented)`,
        { path: '/dataset/weight' },
      );
    const scale = m.kind === 'count' ? 1 : 10 ** m.decimals;
    let changed = 0;
    let dev = 0;
    const cells = t.cells.map((c): ProtectedCell => {
      const ck = c.cellKey;
      if (ck === undefined)
        throw new StatguardError(
          'USAGE',
          `table ${JSON.stringify(t.plan.id)} has no cell keys: aggregate it under a ckm plan`,
        );
      const v = lookupPerturbation(ptable, c.units, ck);
      let x: number;
      if (m.kind === 'count') x = c.units + v;
      else x = c.sum / scale + ((v / D) * (plan.magnitudePercent / 100) * (c.top[0] ?? 0)) / scale;
      if (plan.roundingBase !== null && x !== 0) {
        const b = plan.roundingBase;
        const lo = Math.floor(x / b) * b;
        x = secondUniform(ck) < (x - lo) / b ? lo + b : lo;
      }
      if (m.kind !== 'count') x = Math.round(x * scale) / scale;
      const exact = m.kind === 'count' ? c.units : c.sum / scale;
      if (x !== exact) changed++;
      dev += Math.abs(x - exact);
      const accuracy =
        m.kind === 'count'
          ? { noiseSd: V !== null ? Math.sqrt(V) : D / 2, scale: D, halfWidth95: D + (plan.roundingBase ?? 0) }
          : null;
      return Object.freeze({ value: x, conf: 'F', obs: 'E', accuracy });
    });
    reports.push({
      tableId: t.plan.id,
      cells: cells.length,
      changed,
      meanAbsDeviation: cells.length > 0 ? dev / cells.length : 0,
    });
    return Object.freeze({ kind: 'protected', plan: t.plan, cells: Object.freeze(cells) });
  });
  return {
    tables: out,
    report: {
      secure: true,
      ptableSha256: createHash('sha256').update(text).digest('hex'),
      ptableRows: ptable.rows.length,
      maxDeviation: D,
      tables: reports,
    },
  };
}
