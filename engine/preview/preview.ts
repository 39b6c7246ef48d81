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
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import { regimeOf, startRun } from '../regime.ts';
import { selectionTables } from '../policy/open-domain.ts';
import { restrictTable } from '../dp/partition.ts';
import type { AggregateStats, ExactTruncation, Source } from '../source/index.ts';
import type { ExactTable, Plan, ProtectedTable, ProtectionPlan, RandomSource } from '../types.ts';
import type { RegimeName } from '../release/manifest.ts';
import {
  PREVIEWS,
  type BudgetPreview,
  type RegimePreview,
  type ReleaseFigures,
  type SdcPreview,
  type TableFigures,
} from './by-regime.ts';
import type { CombinationCheck, PublishedRelease } from './combination.ts';
import { lintPlan, type LedgerState, type LintFinding } from './lint.ts';
import { riskSignals, suppressedShare, SPARSITY_THRESHOLD, type RiskSignals } from './metrics.ts';

export type { BudgetPreview, DpTablePreview, SdcTablePreview } from './by-regime.ts';

export const PREVIEW_VERSION = 1;

export interface TablePreview extends TableFigures {
  readonly id: string;
  readonly title: string;
  readonly measure: ExactTable['plan']['measure']['kind'];
  readonly cells: number;
  readonly suppressed: number;
  readonly shareCellsSuppressed: number;
  readonly risk: RiskSignals;
}

export interface Preview {
  readonly previewVersion: number;
  /** Marks the document as secure-zone material. */
  readonly secure: true;
  readonly policy: { readonly id: string; readonly version: string; readonly sha256: string; readonly file: string };
  readonly dataset: string;
  readonly regime: RegimeName;
  readonly randomness: { readonly source: RandomSource['kind']; readonly seed: string | null };
  readonly rows: { readonly read: number; readonly dropped: number; readonly units: number };
  readonly tables: readonly TablePreview[];
  readonly sdc: SdcPreview | null;
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
  /** dp with open columns: their partition selection queries (engine/policy/open-domain.ts), never shown. */
  readonly selection?: readonly ExactTable[];
  readonly stats: AggregateStats;
  readonly rng: RandomSource;
  /** Exact inputs of a dp truncation report (noised by the protection like any release; never shown). */
  readonly truncation?: ExactTruncation | undefined;
}

export async function aggregateExact(
  plan: Plan,
  opts: { seed?: string | undefined; source?: Source } = {},
): Promise<ExactData> {
  // The front every run shares (engine/regime.ts): the same draws, in the same order, as runRelease.
  const { rng, source, keys } = startRun(plan, opts);
  const selection = selectionTables(plan);
  const aggPlan = selection.length > 0 ? { ...plan, tables: [...plan.tables, ...selection] } : plan;
  const agg = await source.aggregate(aggPlan, keys);
  const n = plan.tables.length;
  return {
    tables: agg.tables.slice(0, n),
    selection: agg.tables.slice(n),
    stats: agg.stats,
    rng,
    truncation: agg.truncation,
  };
}

export async function previewPolicy(plan: Plan, opts: PreviewOptions = {}): Promise<Preview> {
  const data = await aggregateExact(plan, opts);
  return previewFromExact(plan, data, opts);
}

export async function previewFromExact(plan: Plan, data: ExactData, opts: PreviewOptions = {}): Promise<Preview> {
  const p = plan.protection;
  const view = PREVIEWS[p.regime] as RegimePreview<ProtectionPlan, unknown> | undefined;
  if (view === undefined) {
    throw new StatguardError(
      'USAGE',
      `preview supports the ${Object.keys(PREVIEWS).join(' and ')} regimes; policy ${plan.policyId} uses ${p.regime}`,
      { path: '/protection/regime' },
    );
  }
  const sparsity = opts.sparsityThreshold ?? SPARSITY_THRESHOLD;
  const res = await regimeOf(plan).protect(data.tables, plan, {
    rng: data.rng,
    published: [],
    truncation: data.truncation,
    ...(data.selection ? { selection: data.selection } : {}),
  });
  const prot: readonly ProtectedTable[] = res.tables;
  // Open columns: the figures compare the categories published only (candidates not selected are never shown).
  const exact = data.tables.map((e, i) => restrictTable(e, releasedCategories(prot[i]!)));
  const figures = await view.figures(plan, res.report, {
    exact,
    prot,
    ledger: opts.ledger,
    published: opts.published,
  });
  const tables: TablePreview[] = exact.map((e, i) => {
    const t = prot[i]!;
    const s = suppressedShare(t);
    return {
      id: e.plan.id,
      title: e.plan.title,
      measure: e.plan.measure.kind,
      cells: t.cells.length,
      suppressed: s.suppressed,
      shareCellsSuppressed: s.share,
      risk: riskSignals(e, t, sparsity),
      sdc: null,
      dp: null,
      ...figures.tables[i],
    };
  });
  const none: ReleaseFigures = { sdc: null, budget: null, combination: null };
  const release = { ...none, ...figures.release };

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
    regime: p.regime,
    randomness: { source: data.rng.kind, seed: data.rng.seed },
    rows: { read: data.stats.rowsRead, dropped: data.stats.rowsDropped, units: data.stats.units },
    tables,
    sdc: release.sdc,
    budget: release.budget,
    sparsityThreshold: sparsity,
    combination: release.combination,
    lint: lintPlan(plan, { exact, stats: data.stats, ledger: opts.ledger ?? null }),
  };
}

/** The categories a protected table publishes on each of its open dimensions. */
function releasedCategories(t: ProtectedTable): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const d of t.plan.dimensions)
    if (d.open === true) out.set(d.name, new Set(d.nodes.slice(0, d.leafCount).map((n) => n.code)));
  return out;
}
