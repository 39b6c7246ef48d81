/**
 * The protection regimes as one table, and the front every run shares.
 *
 * A regime is what turns exact tables into protected ones and says so in the manifest: `protect` (tables, plan, run
 * context), `describe` (the guarantee in one sentence and in figures, the method notes, per-table accounting; written
 * in the regime's own describe.ts) and `cost` (what the ledger charges, from the plan alone). The pipeline, the
 * preview and the sweep dispatch through `REGIMES`; a new regime is its folder plus one entry here (plus its part of
 * the policy schema). `draws` says whether a run draws randomness that protects its output (dp noise, ckm
 * perturbation): a real (crypto) release of such a regime is logged in the dataset's draw log (engine/secure) before
 * it draws. Optional parts: `secrets` (keys the source needs: drawn from the run's randomness after the bounding key,
 * or kept in the secure zone), `against` (linking releases already published), `statedCost` (the charge a published
 * manifest states).
 *
 * `startRun` is the front of every run (release, preview, sweep, lint): the random source, then the bounding key,
 * then the regime's secrets, in that order (seeded runs stay byte-identical), and the source `sourceFor(plan)`.
 */
import type { AggregateContext, ExactTruncation, Source } from './source/index.ts';
import { sourceFor } from './source/index.ts';
import type { ExactTable, Plan, ProtectedTable, ProtectionPlan, RandomSource } from './types.ts';
import type { Manifest, RegimeName, RegimeStatement } from './release/manifest.ts';
import { drawKey, randomSourceFor } from './random.ts';
import { highsRuntime } from './sdc/highs.ts';
import { budgetCost, describeDp, NO_COST, protectDp, type DpAccounting, type ReleaseCost } from './dp/index.ts';
import {
  datasetBoundingKey,
  describeCkm,
  protectCkm,
  recordKeySecret,
  recordKeySource,
  type CkmReport,
} from './ckm/index.ts';
import {
  linkPublished,
  protectSdc,
  publishedSpecs,
  readPublishedReleases,
  type PublishedRelease,
  type PublishedTableLink,
  type PublishedTableSpec,
  type SdcReport,
} from './sdc/index.ts';
import { describeSdc } from './sdc/describe.ts';

export type { PublishedRelease };

/** A plan whose protection is of one regime. */
export type PlanOf<P extends ProtectionPlan> = Plan & { readonly protection: P };

export interface ProtectContext {
  /** The run's randomness (noise); the bounding key and secrets were drawn from it before. */
  readonly rng: RandomSource;
  /** Tables of releases already published (store or `release --against`), linked into the protection; or empty. */
  readonly published: readonly PublishedTableLink[];
  /** The exact inputs of a dp truncation report (secure zone; only the dp regime reads them, adding noise). */
  readonly truncation?: ExactTruncation | undefined;
  /** dp with open columns: their partition selection queries (engine/policy/open-domain.ts), aggregated with the tables. */
  readonly selection?: readonly ExactTable[];
}

export interface Regime<P extends ProtectionPlan, Report> {
  /**
   * Secrets the source needs: drawn from the run's randomness after the bounding key (`draw` gives 32 bytes), or
   * read from the secure zone (`rng` tells a real run from a seeded one). A `boundingKey` given here replaces the
   * run's own (which is still drawn first, so seeded runs draw the same sequence).
   */
  readonly secrets?: (
    plan: PlanOf<P>,
    draw: () => Uint8Array,
    rng: RandomSource,
  ) => Partial<Pick<AggregateContext, 'recordKeySecret' | 'boundingKey'>>;
  /** Whether a run draws randomness that protects its output (logged in the draw log when real). */
  readonly draws: boolean;
  /**
   * Linking of releases already published from the dataset (read from the store by `release`, or directories given
   * with `--against`); absent: the regime refuses them.
   */
  readonly against?: {
    read(dirs: readonly string[], plan: Plan): Promise<PublishedRelease[]>;
    specs(releases: readonly PublishedRelease[], plan: Plan): PublishedTableSpec[];
    link(specs: readonly PublishedTableSpec[], exact: readonly ExactTable[]): PublishedTableLink[];
  };
  protect(
    tables: readonly ExactTable[],
    plan: PlanOf<P>,
    ctx: ProtectContext,
  ): Promise<{ readonly tables: ProtectedTable[]; readonly report: Report }>;
  describe(plan: PlanOf<P>, report: Report, ctx: ProtectContext): RegimeStatement;
  /** What publishing the release charges the ledger, from the plan alone; null when the regime spends no budget. */
  cost(plan: PlanOf<P>): ReleaseCost | null;
  /** The charge a published manifest's `budget` states (same rule as `cost`); absent: nothing is charged. */
  readonly statedCost?: (budget: Readonly<Record<string, unknown>>) => ReleaseCost;
}

const sdc: Regime<PlanFor<'sdc'>, SdcReport> = {
  draws: false,
  // The dataset's bounding key in a real run: the rows kept of a unit with more than maxRowsPerUnit are the same in
  // every release, so a published cell recomputed from unchanged microdata is equal (linking, engine/sdc/published.ts)
  // and a difference means a correction, never a different draw.
  secrets: (plan, _draw, rng) => (rng.kind === 'crypto' ? { boundingKey: datasetBoundingKey(plan) } : {}),
  against: { read: readPublishedReleases, specs: publishedSpecs, link: linkPublished },
  protect: (tables, plan, ctx) => protectSdc(tables, plan.protection, { published: ctx.published }),
  describe: (plan, report, ctx) => describeSdc(plan, ctx.published, report),
  cost: () => null,
};

const dp: Regime<PlanFor<'dp'>, DpAccounting> = {
  draws: true,
  protect: async (tables, plan, ctx) => {
    // HiGHS (the rounding LP of consistent tables) loads asynchronously; protectDp itself stays synchronous.
    const highs = plan.protection.consistency === 'hierarchical' ? await highsRuntime() : undefined;
    const res = protectDp(tables, plan.protection, plan.dataset.unit, ctx.rng, {
      highs,
      truncation: ctx.truncation,
      ...(ctx.selection ? { selection: ctx.selection } : {}),
    });
    return { tables: res.tables, report: res.accounting };
  },
  describe: (plan, accounting) => describeDp(plan, accounting),
  cost: (plan) => budgetCost(plan.protection),
  statedCost: budgetCost,
};

const ckm: Regime<PlanFor<'ckm'>, CkmReport> = {
  draws: true,
  // Without a record-key column, per-unit record keys are keyed by the dataset's own secret in the secure zone (the
  // same cell gets the same perturbation in every release, version and correction), or, in a seeded test or demo run,
  // by a secret drawn from the seed (reproducible).
  // The bounding key too is the dataset's in a real run: which rows of a unit are kept (maxRowsPerUnit) is then the
  // same in every release, so a cell's contributors, its cell key and its perturbation never change between runs.
  secrets: (plan, draw, rng) => ({
    ...(plan.protection.recordKey === null ? { recordKeySecret: recordKeySecret(plan, draw, rng) } : {}),
    ...(rng.kind === 'crypto' ? { boundingKey: datasetBoundingKey(plan) } : {}),
  }),
  protect: async (tables, plan) => protectCkm(tables, plan.protection),
  describe: (plan, report, ctx) => describeCkm(plan, report, recordKeySource(plan, ctx.rng)),
  cost: () => null,
};

type PlanFor<R extends RegimeName> = Extract<ProtectionPlan, { readonly regime: R }>;

/** Every protection regime, by the name a policy gives in `protection.regime`. */
export const REGIMES = { sdc, dp, ckm } as const satisfies { readonly [R in RegimeName]: Regime<PlanFor<R>, unknown> };

/** The reviewer report of each regime (secure zone only). */
export type RegimeReports = {
  readonly [R in RegimeName]: Awaited<ReturnType<(typeof REGIMES)[R]['protect']>>['report'];
};

/** The regime of a plan. */
export function regimeOf(plan: Plan): Regime<ProtectionPlan, unknown> {
  return REGIMES[plan.protection.regime] as Regime<ProtectionPlan, unknown>;
}

/** What publishing a plan's release charges the ledger; null when its regime spends no budget. */
export function planCost(plan: Plan): ReleaseCost | null {
  return regimeOf(plan).cost(plan);
}

/** What the ledger charges for a release, from its manifest: the budget it states (regimes that spend one). */
export function releaseCost(m: Pick<Manifest, 'regime' | 'budget'>): ReleaseCost {
  const regime = REGIMES[m.regime] as Regime<ProtectionPlan, unknown> | undefined;
  return regime?.statedCost && m.budget ? regime.statedCost(m.budget) : NO_COST;
}

/** The front of a run: its randomness, its secret keys and its source. */
export interface RunStart {
  readonly rng: RandomSource;
  readonly source: Source;
  readonly keys: Pick<AggregateContext, 'boundingKey' | 'recordKeySecret'>;
}

export function startRun(plan: Plan, opts: { readonly seed?: string | undefined; readonly source?: Source }): RunStart {
  const rng = randomSourceFor(opts.seed);
  const source = opts.source ?? sourceFor(plan);
  // The bounding key is secret per run (from the run's randomness): which rows of a unit are kept
  // does not depend on row order and cannot be steered by whoever writes the file.
  const boundingKey = drawKey(rng);
  const secrets = regimeOf(plan).secrets?.(plan, () => drawKey(rng), rng) ?? {};
  return { rng, source, keys: { boundingKey, ...secrets } };
}
