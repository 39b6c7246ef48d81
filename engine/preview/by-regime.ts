/**
 * What the preview shows of each regime it supports: per-table figures and release-wide figures, computed from the
 * regime's protected tables and reviewer report (secure zone: figures derive from exact values). A regime without an
 * entry in `PREVIEWS` is refused by the preview with a USAGE error.
 */
import { zcdpToApproxDp, fitsBudget, type DpAccounting, type LedgerState, type ReleaseCost } from '../dp/index.ts';
import type { TruncationAccounting } from '../dp/truncation.ts';
import { markedCells, type PrimaryRule, type SdcReport, type SensitiveCellReport } from '../sdc/index.ts';
import type { ExactTable, ProtectedTable, ProtectionPlan } from '../types.ts';
import type { RegimeName } from '../release/manifest.ts';
import { planCost, type PlanOf } from '../regime.ts';
import { combinationCheck, type CombinationCheck, type PublishedRelease } from './combination.ts';
import { realisedError, type RealisedError } from './metrics.ts';

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

export interface SdcPreview {
  readonly method: string;
  readonly optimalFinished: boolean | null;
  readonly auditPasses: boolean;
  readonly smallestMargin: number | null;
  readonly linkGroups: number;
  /**
   * The search ran out of time: the coarse pattern used and the figures to decide how to coarsen (share of cells
   * sensitive, suggested groupings); null when every group's search finished.
   */
  readonly coarse: {
    readonly description: string;
    readonly shareSensitive: number;
    readonly suggestions: readonly string[];
    readonly reason: string;
  } | null;
  /** Optimal runs stopped without proof: per group the reason, proven lower bound, incumbent cost and gap. */
  readonly optimalStops: readonly {
    readonly tables: readonly string[];
    readonly reason: string;
    readonly lowerBound: number;
    readonly incumbentCost: number;
    readonly gap: number;
  }[];
  /** The insider model, and how many other units' cells an insider could still compute or narrow (0 under 'singletons'). */
  readonly insiders: { readonly model: string; readonly exposed: number };
}

export interface BudgetPreview {
  readonly mechanism: DpAccounting['mechanism'];
  readonly total: DpAccounting['total'];
  /** What approving the release would charge the ledger. */
  readonly cost: ReleaseCost;
  /** The truncation report as the release would publish it (noisy counts; its share is part of the cost), or null. */
  readonly truncation: TruncationAccounting | null;
  /** 'unknown' when no store was available. */
  readonly ledger:
    | 'unknown'
    | (LedgerState & { readonly remainingRho: number; readonly remainingEpsilon: number; readonly fits: boolean });
}

/** A table's regime figures (the regime's own key is set, the others stay null). */
export interface TableFigures {
  readonly sdc: SdcTablePreview | null;
  readonly dp: DpTablePreview | null;
}

/** Release-wide regime figures. */
export interface ReleaseFigures {
  readonly sdc: SdcPreview | null;
  readonly budget: BudgetPreview | null;
  /** sdc only; null for dp (dp releases compose through the ledger) or when no published release was given. */
  readonly combination: CombinationCheck | null;
}

export interface FigureInput {
  readonly exact: readonly ExactTable[];
  readonly prot: readonly ProtectedTable[];
  /** Remaining budget of the dataset; null/absent: unknown. */
  readonly ledger?: LedgerState | null | undefined;
  /** Releases already published from the same dataset (for the combination check). */
  readonly published?: readonly PublishedRelease[] | undefined;
}

export interface RegimePreview<P extends ProtectionPlan, Report> {
  figures(
    plan: PlanOf<P>,
    report: Report,
    input: FigureInput,
  ): Promise<{ readonly tables: readonly Partial<TableFigures>[]; readonly release: Partial<ReleaseFigures> }>;
}

const sdc: RegimePreview<Extract<ProtectionPlan, { regime: 'sdc' }>, SdcReport> = {
  async figures(plan, r, { exact, prot, published }) {
    const tables = exact.map((e) => {
      const tr = r.tables.find((x) => x.tableId === e.plan.id)!;
      return {
        sdc: {
          primary: tr.primary,
          primaryTotal: tr.primaryTotal,
          secondary: tr.secondary,
          shareValueSuppressed: tr.shareValueSuppressed,
          sensitive: tr.sensitive,
          smallestMargin: finite(tr.narrowestMargin),
        },
      };
    });
    const release: Partial<ReleaseFigures> = {
      sdc: {
        method: r.method,
        optimalFinished: r.optimalFinished,
        auditPasses: r.auditPasses,
        smallestMargin: finite(r.narrowestMargin),
        linkGroups: r.linkGroups,
        coarse: r.coarse
          ? {
              description: r.coarse.description,
              shareSensitive: r.coarse.shareSensitive,
              suggestions: r.coarse.suggestions,
              reason: r.coarse.reason,
            }
          : null,
        optimalStops: (r.groups ?? []).flatMap((g) => (g.optimalStop ? [{ tables: g.tables, ...g.optimalStop }] : [])),
        insiders: { model: r.insiders.model, exposed: new Set(r.insiders.exposures.map((x) => x.exposed)).size },
      },
    };
    if (published && published.length > 0)
      return {
        tables,
        release: { ...release, combination: await combinationCheck(exact, prot, plan.protection, published) },
      };
    return { tables, release };
  },
};

const dp: RegimePreview<Extract<ProtectionPlan, { regime: 'dp' }>, DpAccounting> = {
  async figures(plan, acc, { exact, prot, ledger }) {
    const p = plan.protection;
    const tables = exact.map((e, i) => ({ dp: dpTable(e, prot[i]!, acc, p.delta) }));
    const cost = planCost(plan)!;
    const l = ledger;
    const budget: BudgetPreview = {
      mechanism: acc.mechanism,
      total: acc.total,
      cost,
      truncation: acc.truncation,
      ledger: l
        ? {
            ...l,
            remainingRho: l.totalRho - l.spentRho,
            remainingEpsilon: l.totalEpsilon - l.spentEpsilon,
            fits: fitsBudget(l, cost),
          }
        : 'unknown',
    };
    return { tables, release: { budget } };
  },
};

function dpTable(e: ExactTable, t: ProtectedTable, acc: DpAccounting, delta: number): DpTablePreview {
  const a = acc.tables.find((x) => x.table === e.plan.id)!;
  // Quantile tables have no noise query: their noise figures are 0 (their accuracy is the manifest's rank bound).
  const q = a.queries[0] ?? { noiseSd: 0, halfWidth95: 0 };
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
  const approxEpsilon = a.rho !== null ? zcdpToApproxDp(a.rho, delta) : a.epsilon!;
  return {
    epsilon: a.epsilon,
    rho: a.rho,
    approxEpsilon,
    delta: a.rho !== null ? delta : 0,
    noiseScale: a.noiseScale,
    noiseSd: q.noiseSd,
    halfWidth95: e.plan.measure.kind === 'mean' ? (hwN > 0 ? hw / hwN : 0) : q.halfWidth95,
    queryHalfWidth95: q.halfWidth95,
    meanCellHalfWidth95: hwN > 0 ? hw / hwN : 0,
    error: realisedError(e, t),
    suppressedByThreshold: byThreshold,
    shareSuppressedByThreshold: t.cells.length > 0 ? byThreshold / t.cells.length : 0,
  };
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** The regimes the preview supports, with their figures. */
export const PREVIEWS: { readonly [R in RegimeName]?: RegimePreview<Extract<ProtectionPlan, { regime: R }>, unknown> } =
  { sdc, dp };
