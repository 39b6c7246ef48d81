/**
 * The release pipeline: Plan -> source aggregate (exact tables) -> protect
 * (the plan's regime, engine/regime.ts) -> Release (manifest + protected tables + reviewer report).
 *
 * Guarantees held here:
 * - randomness is node:crypto unless a seed is given; a seeded run is marked
 *   `randomness.source: "seeded"` in the manifest;
 * - only protected tables leave this function (ExactTable never reaches a sink);
 * - every real (crypto) run of a regime that draws (dp noise, ckm perturbation) is appended to the dataset's draw
 *   log in the secure zone, durably, after the exact tables are aggregated and BEFORE any noise is drawn: a run that
 *   fails or is killed afterwards is still charged, and the manifest states the dataset's cumulative spend so far.
 *   Seeded runs are tests or demos and are not logged (their manifests say `spend: null`);
 * - the reviewer report (SDC audit intervals, DP realised error) and the exact
 *   figures of the run (`internal`: rows read, dropped, trimmed, units) are
 *   returned separately and are never part of the release files;
 * - seeded means demo: a seeded run states no privacy guarantee. Its guarantee
 *   statement is SEEDED_STATEMENT ("reproducible demo noise; not private"), its
 *   figures stay only as method notes (the seed is public, so the noise, the
 *   bounding key and the record keys can be recomputed from the files).
 */
import type { ExactTable, Plan, ProtectedTable } from './types.ts';
import { StatguardError } from './errors.ts';
import type { AggregateContext, AggregateResult, Source } from './source/index.ts';
import {
  buildInternal,
  buildManifest,
  type LinkedRelease,
  type RegimeStatement,
  type ReleaseInternal,
} from './release/manifest.ts';
import type { ReleaseContent } from './release/write.ts';
import {
  planCost,
  regimeOf,
  startRun,
  type ProtectContext,
  type PublishedRelease,
  type RegimeReports,
} from './regime.ts';
import { appendDraw, type DrawSpend } from './secure/index.ts';
import { NO_COST } from './dp/index.ts';
import { selectionTables } from './policy/open-domain.ts';

export interface RunOptions {
  /** Seed for reproducible test/demo runs (seedrandom). Absent: node:crypto. */
  readonly seed?: string | undefined;
  readonly source?: Source;
  readonly onProgress?: AggregateContext['onProgress'];
  readonly maxBufferedUnits?: number;
  /** Clock, for tests. */
  readonly now?: () => Date;
  /**
   * Release directories already published from the same dataset (`statguard release --against`): their tables join
   * the sdc audit, so the new suppression pattern also protects against combination with them (sdc regime only).
   */
  readonly against?: readonly string[];
  /**
   * Releases of the dataset that are or were published, as the store holds them (`statguard release` reads them):
   * linked like `against`. The manifest lists every linked release (`audit.linked`), which the store checks.
   */
  readonly published?: readonly PublishedRelease[];
}

export interface ReleaseRun {
  readonly content: ReleaseContent;
  /** Secure-zone only: the regime's report (SDC audit, DP accounting, ckm changes); never written into the release directory. */
  readonly reviewer: Partial<RegimeReports>;
  /** Secure-zone only: the exact figures of the run (engine/secure/internal.ts keeps them); never in the directory. */
  readonly internal: ReleaseInternal;
}

/** The guarantee statement of every seeded release: it claims nothing. */
export const SEEDED_STATEMENT = 'reproducible demo noise; not private';

/** What a seeded run states: no guarantee; the regime's statement survives only as a method note. */
export function seededStatement(said: RegimeStatement, seed: string | null): RegimeStatement {
  return {
    ...said,
    guarantee: {
      regime: said.guarantee.regime,
      statement: SEEDED_STATEMENT,
      claimed: false,
    } as RegimeStatement['guarantee'],
    methods: [
      `Seeded run (seed ${JSON.stringify(seed)}): the randomness is reproducible from this manifest, so no privacy guarantee holds. Mechanism as configured, not a guarantee: ${said.guarantee.statement}`,
      ...said.methods,
    ],
  };
}

export async function runRelease(plan: Plan, opts: RunOptions = {}): Promise<ReleaseRun> {
  const started = Date.now();
  const now = opts.now ?? (() => new Date());
  if (plan.tables.length === 0)
    throw new StatguardError(
      'USAGE',
      `policy ${plan.policyId} publishes no tables${plan.onDemand ? ': it offers tables on demand only (POST /v1/datasets/{id}/tables)' : ''}`,
      { path: '/tables' },
    );
  const regime = regimeOf(plan);
  const { rng, source, keys } = startRun(plan, opts);
  const against = opts.against ?? [];
  if ((against.length > 0 || (opts.published ?? []).length > 0) && regime.against === undefined) {
    throw new StatguardError(
      'USAGE',
      `--against links releases for the audit of a suppression (sdc) release; this policy's regime is ${plan.protection.regime}`,
    );
  }
  // Tables already published (store, --against) are aggregated again with the new ones, as shadow tables.
  const releases = [
    ...(against.length > 0 ? await regime.against!.read(against, plan) : []),
    ...(opts.published ?? []),
  ];
  const publishedSpecs = regime.against?.specs(releases, plan) ?? [];
  // Open columns (dp): one selection query each, aggregated with the tables, after them (never published).
  const selection = selectionTables(plan);
  const aggPlan: Plan =
    publishedSpecs.length > 0 || selection.length > 0
      ? { ...plan, tables: [...plan.tables, ...publishedSpecs.map((s) => s.plan), ...selection] }
      : plan;
  const aggAll: AggregateResult = await source.aggregate(aggPlan, {
    ...keys,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.maxBufferedUnits !== undefined ? { maxBufferedUnits: opts.maxBufferedUnits } : {}),
  });
  const agg: AggregateResult = { ...aggAll, tables: aggAll.tables.slice(0, plan.tables.length) };
  const nShadow = plan.tables.length + publishedSpecs.length;
  const ctx: ProtectContext = {
    rng,
    published: regime.against?.link(publishedSpecs, aggAll.tables.slice(plan.tables.length, nShadow)) ?? [],
    truncation: aggAll.truncation,
    selection: aggAll.tables.slice(nShadow),
  };
  const linked = regime.against ? linkedReleases(releases, ctx.published) : null;
  opts.onProgress?.({
    stage: 'protect',
    rows: agg.stats.rowsRead,
    bytes: agg.stats.input.bytes,
    totalBytes: agg.stats.input.bytes,
  });

  // The charge precedes the draw (a crash after drawing still leaves it).
  const spend = logDraw(plan, rng);
  const res = await regime.protect(agg.tables, plan, ctx);
  const protectedTables: ProtectedTable[] = res.tables;
  const described = regime.describe(plan, res.report, ctx);
  const said = rng.kind === 'seeded' ? seededStatement(described, rng.seed) : described;
  const manifest = buildManifest(plan, protectedTables, said, {
    rng,
    stats: agg.stats,
    createdAt: now(),
    started,
    spend,
    linked,
  });
  const reviewer = { [plan.protection.regime]: res.report } as Partial<RegimeReports>;
  return { content: { manifest, tables: protectedTables }, reviewer, internal: buildInternal(agg.stats, started) };
}

/** Every release the run was linked with, once per manifest, and whether its cells changed since (a correction). */
function linkedReleases(releases: readonly PublishedRelease[], links: ProtectContext['published']): LinkedRelease[] {
  const out = new Map<string, LinkedRelease>();
  for (const r of releases) {
    if (out.has(r.manifestSha256)) continue;
    const corrected = links.some((l) => l.release === r.ref && l.changed.some((d) => d !== null));
    out.set(r.manifestSha256, { release: r.ref, manifestSha256: r.manifestSha256, corrected });
  }
  return [...out.values()];
}

/** Log a real draw of the plan's regime in the dataset's draw log; null when the run draws nothing real. */
function logDraw(plan: Plan, rng: ProtectContext['rng']): DrawSpend | null {
  if (rng.kind !== 'crypto' || !regimeOf(plan).draws) return null;
  const cost = planCost(plan) ?? NO_COST;
  return appendDraw(plan.dataset.id, {
    policy: { id: plan.policyId, sha256: plan.policySha256 },
    regime: plan.protection.regime,
    cost: { rho: cost.rho, epsilon: cost.epsilon },
  });
}

export type { ExactTable };
