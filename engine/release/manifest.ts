/**
 * The release manifest: what was done, from what, with which guarantee.
 *
 * Guarantee: the manifest holds no exact figure of the data. The exact processing counts (rows read, dropped,
 * trimmed, units), the input's location and size and the run's duration are a separate `ReleaseInternal` record that
 * the secure zone keeps (`engine/secure/internal.ts`, `<secure>/internal/<dataset>/<manifest sha256>.json`), never
 * written into the release directory: under differential privacy the exact dataset size is itself a statistic of the
 * data. The manifest keeps only the input's fingerprint (`input.sha256`, a digest, not a figure), which the store
 * binds to the dataset.
 *
 * `buildManifest` assembles it: run facts from the plan and the aggregation,
 * and what the regime states (`RegimeStatement`, written by the regime's own
 * describe.ts). Field order is fixed here (it is the order of the JSON file).
 *
 * `spend` is the dataset's cumulative spend from its draw log in the secure zone (engine/secure/draw-log.ts): every
 * real dp or ckm draw of the dataset so far, this run's included, published or not. The store charges at least that
 * much to the dataset's ledger when the release is approved, so noise cannot be drawn until it pleases.
 */
import path from 'node:path';
import type { AggregateStats } from '../source/index.ts';
import type { DrawSpend } from '../secure/draw-log.ts';
import type { Plan, ProtectedTable, ProtectionPlan, RandomSource, ReleaseMeta } from '../types.ts';
import { ENGINE_VERSION } from '../version.ts';

export const MANIFEST_VERSION = 2;

/** A file of a release named by the manifest, with its size and SHA-256. */
export interface ManifestFile {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

export interface ManifestTableEntry {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly measure: {
    readonly kind: string;
    readonly column?: string;
    readonly bounds?: readonly [number, number];
    /** Means: over units or rows. */
    readonly per?: 'unit' | 'row';
    /** Quantiles (dp): which quantile, and the number of candidate bins. */
    readonly quantile?: number;
    readonly bins?: number;
    /** Unit of measure, only when the policy declares one (default language; `unitLabels`: every language). */
    readonly unit?: string;
    readonly unitLabels?: Readonly<Record<string, string>>;
  };
  readonly dimensions: readonly {
    readonly name: string;
    readonly label: string;
    readonly categories: number;
    readonly levels: number;
  }[];
  readonly cells: number;
  readonly suppressed: number;
  readonly files: Readonly<Record<'csv' | 'jsonstat', ManifestFile>> & {
    /** A consistent dp table's unbiased noisy measurements (engine/dp/consistency.ts). */
    readonly noisy?: ManifestFile;
  };
  /** The regime's per-table entry (dp: share of the budget, sensitivity, noise scale; ckm: maximum deviation; sdc: null). */
  readonly privacy: Readonly<Record<string, unknown>> | null;
}

/** A protection regime's name (`protection.regime` of the policy). */
export type RegimeName = ProtectionPlan['regime'];

/**
 * The guarantee of one regime: its one sentence, then its figures (typed in the regime's describe.ts; a manifest
 * read back from disk is only checked for its statement).
 */
export interface GuaranteeOf<R extends RegimeName> {
  readonly regime: R;
  /** One sentence a researcher can read. */
  readonly statement: string;
  readonly [key: string]: unknown;
}

/** The guarantee of a release, discriminated by its regime. */
export type Guarantee = { [R in RegimeName]: GuaranteeOf<R> }[RegimeName];

/** What a regime states in the manifest (engine/<regime>/describe.ts). */
export interface RegimeStatement {
  readonly guarantee: Guarantee;
  /** Budget spent (regimes that spend one), or null. */
  readonly budget: Readonly<Record<string, unknown>> | null;
  readonly methods: readonly string[];
  /** Per table of the plan, in plan order: its `privacy` entry. */
  readonly privacy: readonly (Readonly<Record<string, unknown>> | null)[];
  /** dp: the truncation report (noisy counts of rows dropped and values clamped), where the policy asks for one. */
  readonly truncation?: Readonly<Record<string, unknown>>;
}

export interface Manifest {
  readonly manifestVersion: number;
  readonly engine: { readonly name: 'statguard'; readonly version: string };
  readonly createdAt: string;
  readonly policy: { readonly id: string; readonly version: string; readonly sha256: string; readonly file: string };
  readonly dataset: {
    readonly id: string;
    readonly unit: { readonly kind: string; readonly maxRowsPerUnit: number; readonly column: string | null };
  };
  readonly release: ReleaseMeta;
  /** 'crypto' for real releases; 'seeded' marks a test or demo release (states no guarantee; the store accepts it only on a dataset registered as demo). */
  readonly randomness: { readonly source: 'crypto' | 'seeded'; readonly seed: string | null };
  readonly regime: RegimeName;
  readonly guarantee: Guarantee;
  /** Budget spent (regimes that spend one: dp), in total; null otherwise. */
  readonly budget: Readonly<Record<string, unknown>> | null;
  /**
   * The dataset's cumulative spend in the secure zone's draw log, this run's draw included (real dp and ckm runs);
   * null for runs that log no draw (sdc, seeded test and demo runs).
   */
  readonly spend: DrawSpend | null;
  readonly methods: readonly string[];
  /**
   * dp, where the policy asks (`protection.truncationReport`): differentially private counts of the rows bounding
   * dropped and the values clamping moved, with their budget, sensitivity and 95% half-width (engine/dp/truncation.ts).
   */
  readonly truncation?: Readonly<Record<string, unknown>>;
  readonly tables: readonly ManifestTableEntry[];
  /** The input's fingerprint (SHA-256 of the microdata read): a digest, bound by the store to one dataset. */
  readonly input: { readonly sha256: string };
  /**
   * Cross-release disclosure control (sdc releases): every release of the dataset this one was audited together
   * with, by manifest digest. The store refuses to publish an sdc release while a release of its dataset that is or
   * was published is missing here. Absent in other regimes and in manifests written before it existed.
   */
  readonly audit?: { readonly linked: readonly LinkedRelease[] };
}

/** A release an sdc release was audited together with: its store id or directory, manifest digest, and whether the
 * microdata had changed since (a correction, audited through the differences). */
export interface LinkedRelease {
  readonly release: string;
  readonly manifestSha256: string;
  readonly corrected: boolean;
}

/** The exact figures of a run: secure zone only, never in a release directory (engine/secure/internal.ts). */
export interface ReleaseInternal {
  readonly input: { readonly kind: string; readonly file: string; readonly bytes: number; readonly sha256: string };
  readonly rows: {
    readonly read: number;
    readonly dropped: number;
    readonly dropReasons: Readonly<Record<string, number>>;
    readonly afterBounding: number;
    readonly removedByBounding: number;
    readonly units: number;
    readonly valuesClamped: number;
  };
  readonly durationMs: number;
}

/**
 * The part of a manifest that may be shown outside the secure zone: all of it (the exact figures are no longer part
 * of a manifest); a stored manifest of an older version loses its `internal` part here.
 */
export function publicManifest(m: Manifest): Manifest {
  const { internal: _internal, ...rest } = m as Manifest & { internal?: unknown };
  return rest;
}

/** What a run contributes to its manifest besides the regime's statement. */
export interface ManifestRun {
  readonly rng: RandomSource;
  readonly stats: AggregateStats;
  readonly createdAt: Date;
  /** Start of the run (Date.now()), for the internal record's `durationMs`. */
  readonly started: number;
  /** The dataset's cumulative spend after this run's draw (null: no draw logged). */
  readonly spend: DrawSpend | null;
  /** Releases the run was audited together with (sdc); null: the regime links none (no `audit` part). */
  readonly linked: readonly LinkedRelease[] | null;
}

/** The manifest of a release (its `files` entries are added by the writer). */
export function buildManifest(
  plan: Plan,
  tables: readonly ProtectedTable[],
  said: RegimeStatement,
  run: ManifestRun,
): Omit<Manifest, 'tables'> & { readonly tables: readonly Omit<ManifestTableEntry, 'files'>[] } {
  const stats = run.stats;
  return {
    manifestVersion: MANIFEST_VERSION,
    engine: { name: 'statguard', version: ENGINE_VERSION },
    createdAt: run.createdAt.toISOString(),
    policy: {
      id: plan.policyId,
      version: plan.policyVersion,
      sha256: plan.policySha256,
      file: path.basename(plan.policyPath),
    },
    dataset: {
      id: plan.dataset.id,
      unit: {
        kind: plan.dataset.unit.kind,
        maxRowsPerUnit: plan.dataset.unit.maxRowsPerUnit,
        column: plan.dataset.unit.column,
      },
    },
    release: { ...plan.release },
    randomness: { source: run.rng.kind, seed: run.rng.seed },
    regime: plan.protection.regime,
    guarantee: said.guarantee,
    budget: said.budget,
    spend: run.spend,
    methods: said.methods,
    ...(said.truncation ? { truncation: said.truncation } : {}),
    tables: tables.map((t, i) => tableEntry(t, said.privacy[i] ?? null)),
    input: { sha256: stats.input.sha256 },
    ...(run.linked ? { audit: { linked: run.linked } } : {}),
  };
}

/** The exact figures of a run, for the secure zone's internal record (never part of the release directory). */
export function buildInternal(stats: AggregateStats, started: number): ReleaseInternal {
  return {
    input: { kind: stats.input.kind, file: stats.input.file, bytes: stats.input.bytes, sha256: stats.input.sha256 },
    rows: {
      read: stats.rowsRead,
      dropped: stats.rowsDropped,
      dropReasons: { ...stats.dropReasons },
      afterBounding: stats.rowsAfterBounding,
      removedByBounding: stats.rowsRemovedByBounding,
      units: stats.units,
      valuesClamped: stats.valuesClamped,
    },
    durationMs: Date.now() - started,
  };
}

function tableEntry(
  t: ProtectedTable,
  privacy: Readonly<Record<string, unknown>> | null,
): Omit<ManifestTableEntry, 'files'> {
  const tp = t.plan;
  const m = tp.measure;
  return {
    id: tp.id,
    title: tp.title,
    description: tp.description,
    measure: {
      ...(m.kind === 'count'
        ? { kind: 'count' }
        : {
            kind: m.kind,
            column: m.column,
            bounds: [m.lower / 10 ** m.decimals, m.upper / 10 ** m.decimals] as const,
            ...(m.kind === 'mean' ? { per: m.per ?? 'unit' } : {}),
            ...(m.kind === 'quantile' ? { quantile: m.a / 10000, bins: m.bins } : {}),
          }),
      // Only when declared, so that other policies' manifests keep their bytes.
      ...(m.unit !== undefined ? { unit: m.unit } : {}),
      ...(m.unitLabels !== undefined ? { unitLabels: m.unitLabels } : {}),
    },
    dimensions: tp.dimensions.map((d) => ({
      name: d.name,
      label: d.label,
      categories: d.leafCount,
      levels: d.nodes.length,
    })),
    cells: t.cells.length,
    suppressed: t.cells.reduce((n, c) => n + (c.value === null ? 1 : 0), 0),
    privacy,
  };
}
