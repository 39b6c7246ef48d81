/**
 * Preview: run a policy on its microdata and report what the release would
 * look like, without writing or publishing anything and without spending
 * budget (nothing here touches a store or a ledger; the ledger state is an
 * input, read by the caller).
 *
 * Reviewer-only (secure zone): the report holds figures derived from exact
 * values (audit intervals, realised error, cells of one or two units). The
 * preview's protected tables are never returned, so a preview cannot be used as
 * a back door to publish or to redraw noise for a release.
 *
 * A seeded preview uses its randomness exactly as `runRelease` does (bounding
 * key first, then noise), so it shows the very cells a release with the same
 * seed would publish.
 */
import { protectDp, zcdpToApproxDp } from '../dp/index.ts';
import type { DpAccounting } from '../dp/index.ts';
import { drawKey, randomSourceFor } from '../random.ts';
import { markedCells, protectSdc } from '../sdc/index.ts';
import type { PrimaryRule, SensitiveCellReport } from '../sdc/index.ts';
import { csvSource } from '../source/index.ts';
import { StatguardError } from '../errors.ts';
import type { AggregateStats, Source } from '../source/index.ts';
import path from 'node:path';
import type { ExactTable, Plan, ProtectedTable, RandomSource } from '../types.ts';
import { combinationCheck, type CombinationCheck, type PublishedRelease } from './combination.ts';
import { lintPlan, planCost, type LedgerState, type LintFinding } from './lint.ts';
import {
  realisedError,
  riskSignals,
  suppressedShare,
  SPARSITY_THRESHOLD,
  type RealisedError,
  type RiskSignals,
} from './metrics.ts';

export const PREVIEW_VERSION = 1;

export interface SdcTablePreview {
  readonly primary: Readonly<Record<PrimaryRule, number>>;
  readonly primaryTotal: number;
  readonly secondary: number;
  readonly shareValueSuppressed: number;
  /** Audit interval of every sensitive cell against its protection level (exact values: reviewer-only). */
  readonly sensitive: readonly SensitiveCellReport[];
  /** Smallest audit margin over the table's sensitive cells, or null when it has none. */
  readonly smallestMargin: number | null;
}

export interface DpTablePreview {
  readonly epsilon: number | null;
  readonly rho: number | null;
  /** (epsilon, delta) implied by the table's rho at the plan's delta (zCDP); Laplace: the table's epsilon, delta 0. */
  readonly approxEpsilon: number;
  readonly delta: number;
  readonly noiseScale: number;
  readonly noiseSd: number;
  /** Expected 95% half-width of a published cell: the table's noise (count, sum) or, for means, the mean over published cells. */
  readonly halfWidth95: number;
  /** 95% half-width of the table's main query (the sum for mean tables), published unit. */
  readonly queryHalfWidth95: number;
  /** Mean over published cells of their stated 95% half-width. */
  readonly meanCellHalfWidth95: number;
  readonly error: RealisedError;
  /** Cells published as null because their NOISY value fell below the noisy threshold (officer marks excluded). */
  readonly suppressedByThreshold: number;
  readonly shareSuppressedByThreshold: number;
}

export interface TablePreview {
  readonly id: string;
  readonly title: string;
  readonly measure: ExactTable['plan']['measure']['kind'];
  readonly cells: number;
  readonly suppressed: number;
  readonly shareCellsSuppressed: number;
  readonly sdc: SdcTablePreview | null;
  readonly dp: DpTablePreview | null;
  readonly risk: RiskSignals;
}

export interface BudgetPreview {
  readonly mechanism: DpAccounting['mechanism'];
  readonly total: DpAccounting['total'];
  /** What approving the release would charge the ledger. */
  readonly cost: { readonly rho: number; readonly epsilon: number | null };
  /** 'unknown' when no store was available. */
  readonly ledger:
    | 'unknown'
    | (LedgerState & { readonly remainingRho: number; readonly remainingEpsilon: number; readonly fits: boolean });
}

export interface Preview {
  readonly previewVersion: number;
  /** Marks the document as secure-zone material. */
  readonly secure: true;
  readonly policy: { readonly id: string; readonly version: string; readonly sha256: string; readonly file: string };
  readonly dataset: string;
  readonly regime: 'sdc' | 'dp';
  readonly randomness: { readonly source: RandomSource['kind']; readonly seed: string | null };
  readonly rows: { readonly read: number; readonly dropped: number; readonly units: number };
  readonly tables: readonly TablePreview[];
  readonly sdc: {
    readonly method: string;
    readonly optimalFinished: boolean | null;
    readonly auditPasses: boolean;
    readonly smallestMargin: number | null;
    readonly linkGroups: number;
  } | null;
  readonly budget: BudgetPreview | null;
  readonly sparsityThreshold: number;
  /** sdc only; null for dp (dp releases compose through the ledger) or when no published release was given. */
  readonly combination: CombinationCheck | null;
  readonly lint: readonly LintFinding[];
}

export interface PreviewOptions {
  readonly seed?: string | undefined;
  readonly source?: Source;
  /** Remaining budget of the dataset; null/absent: unknown. */
  readonly ledger?: LedgerState | null;
  /** Releases already published from the same dataset (for the combination check). */
  readonly published?: readonly PublishedRelease[];
  readonly sparsityThreshold?: number;
}

/** Exact tables of a plan plus the randomness the release would use next (noise). */
export interface ExactData {
  readonly tables: readonly ExactTable[];
  readonly stats: AggregateStats;
  readonly rng: RandomSource;
}

export async function aggregateExact(
  plan: Plan,
  opts: { seed?: string | undefined; source?: Source } = {},
): Promise<ExactData> {
  const rng = randomSourceFor(opts.seed);
  // Same order of draws as runRelease: the bounding key first.
  const boundingKey = drawKey(rng);
  const agg = await (opts.source ?? csvSource()).aggregate(plan, { boundingKey });
  return { tables: agg.tables, stats: agg.stats, rng };
}

export async function previewPolicy(plan: Plan, opts: PreviewOptions = {}): Promise<Preview> {
  const data = await aggregateExact(plan, opts);
  return previewFromExact(plan, data, opts);
}

export async function previewFromExact(plan: Plan, data: ExactData, opts: PreviewOptions = {}): Promise<Preview> {
  const p = plan.protection;
  if (p.regime !== 'sdc' && p.regime !== 'dp') {
    throw new StatguardError(
      'USAGE',
      `preview supports the sdc and dp regimes; policy ${plan.policyId} uses ${(p as { regime: string }).regime}`,
      { path: '/protection/regime' },
    );
  }
  const exact = data.tables;
  const sparsity = opts.sparsityThreshold ?? SPARSITY_THRESHOLD;
  let prot: ProtectedTable[];
  let tables: TablePreview[];
  let sdc: Preview['sdc'] = null;
  let budget: BudgetPreview | null = null;
  let combination: CombinationCheck | null = null;

  const base = (e: ExactTable, t: ProtectedTable): Omit<TablePreview, 'sdc' | 'dp'> => {
    const s = suppressedShare(t);
    return {
      id: e.plan.id,
      title: e.plan.title,
      measure: e.plan.measure.kind,
      cells: t.cells.length,
      suppressed: s.suppressed,
      shareCellsSuppressed: s.share,
      risk: riskSignals(e, t, sparsity),
    };
  };

  if (p.regime === 'sdc') {
    const res = await protectSdc(exact, p);
    prot = res.tables;
    const r = res.report;
    sdc = {
      method: r.method,
      optimalFinished: r.optimalFinished,
      auditPasses: r.auditPasses,
      smallestMargin: finite(r.narrowestMargin),
      linkGroups: r.linkGroups,
    };
    tables = exact.map((e, i) => {
      const tr = r.tables.find((x) => x.tableId === e.plan.id)!;
      return {
        ...base(e, prot[i]!),
        sdc: {
          primary: tr.primary,
          primaryTotal: tr.primaryTotal,
          secondary: tr.secondary,
          shareValueSuppressed: tr.shareValueSuppressed,
          sensitive: tr.sensitive,
          smallestMargin: finite(tr.narrowestMargin),
        },
        dp: null,
      };
    });
    if (opts.published && opts.published.length > 0)
      combination = await combinationCheck(exact, prot, p, opts.published);
  } else {
    const res = protectDp(exact, p, plan.dataset.unit, data.rng);
    prot = res.tables;
    const acc = res.accounting;
    tables = exact.map((e, i) => {
      const a = acc.tables.find((x) => x.table === e.plan.id)!;
      const t = prot[i]!;
      const q = a.queries[0]!;
      const always = markedCells(e.plan, e.plan.alwaysSuppress, 'alwaysSuppress');
      let byThreshold = 0;
      let hw = 0;
      let hwN = 0;
      t.cells.forEach((c, k) => {
        if (c.value === null && !always.has(k)) byThreshold++;
        if (c.accuracy) {
          hw += c.accuracy.halfWidth95;
          hwN++;
        }
      });
      const approxEpsilon = a.rho !== null ? zcdpToApproxDp(a.rho, p.delta) : a.epsilon!;
      return {
        ...base(e, t),
        sdc: null,
        dp: {
          epsilon: a.epsilon,
          rho: a.rho,
          approxEpsilon,
          delta: a.rho !== null ? p.delta : 0,
          noiseScale: a.noiseScale,
          noiseSd: q.noiseSd,
          halfWidth95: e.plan.measure.kind === 'mean' ? (hwN > 0 ? hw / hwN : 0) : q.halfWidth95,
          queryHalfWidth95: q.halfWidth95,
          meanCellHalfWidth95: hwN > 0 ? hw / hwN : 0,
          error: realisedError(e, t),
          suppressedByThreshold: byThreshold,
          shareSuppressedByThreshold: t.cells.length > 0 ? byThreshold / t.cells.length : 0,
        },
      };
    });
    const cost = planCost(plan)!;
    const l = opts.ledger;
    budget = {
      mechanism: acc.mechanism,
      total: acc.total,
      cost,
      ledger: l
        ? {
            ...l,
            remainingRho: l.totalRho - l.spentRho,
            remainingEpsilon: l.totalEpsilon - l.spentEpsilon,
            fits:
              cost.rho <= l.totalRho - l.spentRho + 1e-9 &&
              (cost.epsilon === null || cost.epsilon <= l.totalEpsilon - l.spentEpsilon + 1e-9),
          }
        : 'unknown',
    };
  }

  return {
    previewVersion: PREVIEW_VERSION,
    secure: true,
    policy: {
      id: plan.policyId,
      version: plan.policyVersion,
      sha256: plan.policySha256,
      file: path.basename(plan.policyPath),
    },
    dataset: plan.dataset.id,
    regime: p.regime as 'sdc' | 'dp',
    randomness: { source: data.rng.kind, seed: data.rng.seed },
    rows: { read: data.stats.rowsRead, dropped: data.stats.rowsDropped, units: data.stats.units },
    tables,
    sdc,
    budget,
    sparsityThreshold: sparsity,
    combination,
    lint: lintPlan(plan, { exact, stats: data.stats, ledger: opts.ledger ?? null }),
  };
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
