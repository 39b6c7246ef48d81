/**
 * The release pipeline: Plan -> source aggregate (exact tables) -> protect
 * (sdc | dp) -> Release (manifest + protected tables + reviewer report).
 *
 * Guarantees held here:
 * - randomness is node:crypto unless a seed is given; a seeded run is marked
 *   `randomness.source: "seeded"` in the manifest;
 * - only protected tables leave this function (ExactTable never reaches a sink);
 * - the reviewer report (SDC audit intervals, DP realised error) is returned
 *   separately and is never part of the release files.
 */
import path from 'node:path';
import type { ExactTable, Plan, ProtectedTable } from './types.ts';
import { protectDp, type DpAccounting } from './dp/index.ts';
import { drawKey, randomSourceFor } from './random.ts';
import {
  linkPublished,
  protectSdc,
  readPublishedReleases,
  type PublishedTableLink,
  type SdcReport,
} from './sdc/index.ts';
import { StatguardError } from './errors.ts';
import { protectCkm, type CkmReport } from './ckm/index.ts';
import { sourceFor, type AggregateResult, type AggregateContext, type Source } from './source/index.ts';
import type { Guarantee, Manifest, ManifestTableEntry } from './release/manifest.ts';
import { MANIFEST_VERSION } from './release/manifest.ts';
import type { ReleaseContent } from './release/write.ts';
import { ENGINE_VERSION } from './version.ts';

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
}

export interface ReleaseRun {
  readonly content: ReleaseContent;
  /** Secure-zone only: SDC audit report or DP accounting; never written into the release directory. */
  readonly reviewer: { readonly sdc?: SdcReport; readonly dp?: DpAccounting; readonly ckm?: CkmReport };
}

export async function runRelease(plan: Plan, opts: RunOptions = {}): Promise<ReleaseRun> {
  const started = Date.now();
  const now = opts.now ?? (() => new Date());
  const rng = randomSourceFor(opts.seed);
  const source = opts.source ?? sourceFor(plan);
  // The bounding key is secret per run (from the run's randomness): which rows of a unit are kept
  // does not depend on row order and cannot be steered by whoever writes the file.
  const boundingKey = drawKey(rng);
  const against = opts.against ?? [];
  if (against.length > 0 && plan.protection.regime !== 'sdc') {
    throw new StatguardError(
      'USAGE',
      `--against links releases for the audit of a suppression (sdc) release; this policy's regime is ${plan.protection.regime}`,
    );
  }
  // Tables already published (--against) are aggregated again with the new ones, as shadow tables never published.
  const publishedSpecs = against.length > 0 ? await readPublishedReleases(against, plan) : [];
  const aggPlan: Plan =
    publishedSpecs.length > 0 ? { ...plan, tables: [...plan.tables, ...publishedSpecs.map((s) => s.plan)] } : plan;
  // ckm without a record-key column: per-unit record keys keyed by a secret of this run (drawn after the bounding key).
  const recordKeySecret =
    plan.protection.regime === 'ckm' && plan.protection.recordKey === null ? drawKey(rng) : undefined;
  const aggAll: AggregateResult = await source.aggregate(aggPlan, {
    ...(recordKeySecret ? { recordKeySecret } : {}),
    boundingKey,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.maxBufferedUnits !== undefined ? { maxBufferedUnits: opts.maxBufferedUnits } : {}),
  });
  const agg: AggregateResult = { ...aggAll, tables: aggAll.tables.slice(0, plan.tables.length) };
  const links: PublishedTableLink[] = linkPublished(publishedSpecs, aggAll.tables.slice(plan.tables.length));
  opts.onProgress?.({
    stage: 'protect',
    rows: agg.stats.rowsRead,
    bytes: agg.stats.input.bytes,
    totalBytes: agg.stats.input.bytes,
  });

  let protectedTables: ProtectedTable[];
  let guarantee: Guarantee;
  let budget: Record<string, unknown> | null = null;
  let perTable: (Record<string, unknown> | null)[];
  const methods: string[] = [];
  const reviewer: { sdc?: SdcReport; dp?: DpAccounting; ckm?: CkmReport } = {};
  const p = plan.protection;
  const unitText = describeUnit(plan);

  if (p.regime === 'dp') {
    const res = protectDp(agg.tables, p, plan.dataset.unit, rng);
    protectedTables = res.tables;
    reviewer.dp = res.accounting;
    const acc = res.accounting;
    guarantee = dpGuarantee(acc, unitText);
    budget = { ...acc.total };
    perTable = plan.tables.map((t) => {
      const a = acc.tables.find((x) => x.table === t.id);
      return a ? { ...a } : null;
    });
    methods.push(
      `Contribution bounding: at most ${plan.dataset.unit.maxRowsPerUnit} row(s) per ${plan.dataset.unit.kind}, chosen by a keyed hash independent of row order; measure values clamped to the declared bounds.`,
      `Noise: ${p.mechanism === 'discrete-laplace' ? 'discrete Laplace' : 'discrete Gaussian'} mechanism sampled exactly in integer arithmetic (Canonne, Kamath, Steinke 2020), added independently to every published cell including totals.`,
      'Post-processing only: non-negativity, rounding' +
        (p.noisyThreshold !== null ? `, suppression of cells whose noisy value is below ${p.noisyThreshold}` : '') +
        '.',
      'Category domains are taken from the policy (public knowledge), never from the data.',
    );
  } else if (p.regime === 'ckm') {
    const res = protectCkm(agg.tables, p);
    protectedTables = res.tables;
    reviewer.ckm = res.report;
    perTable = plan.tables.map(() => ({ method: 'cell key perturbation', maxDeviation: res.report.maxDeviation }));
    const pt = p.ptable;
    guarantee = {
      regime: 'ckm',
      statement: `Cell key perturbation: every published cell was perturbed by at most ${res.report.maxDeviation} (counts) using a perturbation table and a cell key computed from the contributing units' record keys, so the same cell always receives the same perturbation in every table of the release; ${pt ? `counts 1 to ${pt.js} are never published` : 'small counts are perturbed as the perturbation table says'}. Tables are not additive after perturbation.`,
      unit: plan.dataset.unit.kind,
      ptableSha256: res.report.ptableSha256,
      ...(pt ? { maxDeviation: pt.D, variance: pt.V, js: pt.js } : {}),
    };
    methods.push(
      `Cell key method (ABS TableBuilder; 2021 UK and German censuses): each ${plan.dataset.unit.kind} has a record key ${p.recordKey ? `(column ${p.recordKey.column})` : 'drawn by the engine (keyed hash of its id)'}; a cell key is the fractional part of the sum of its contributors' keys.`,
      pt
        ? `Perturbation table generated by maximum entropy with maximum deviation D = ${pt.D}, variance V = ${pt.V}, js = ${pt.js}${pt.pstay !== null ? `, pstay = ${pt.pstay}` : ''} (tau-Argus ptable layout; SHA-256 ${res.report.ptableSha256}).`
        : `Perturbation table read from a file (SHA-256 ${res.report.ptableSha256}).`,
      `Counts: published = count + v(count, cell key). Sums: published = sum + (v / D) x ${p.magnitudePercent}% of the cell's largest contribution.`,
      ...(p.roundingBase !== null
        ? [
            `Random rounding of every perturbed value to a multiple of ${p.roundingBase}, the coin derived from the cell key.`,
          ]
        : []),
    );
  } else {
    const res = await protectSdc(agg.tables, p, { published: links });
    protectedTables = res.tables;
    reviewer.sdc = res.report;
    guarantee = sdcGuarantee(plan, unitText);
    perTable = plan.tables.map(() => null);
    methods.push(
      ...describeSdcRules(plan),
      `Secondary suppression: ${p.secondary.method} method, cost ${p.secondary.cost}; every suppression pattern was audited by linear programming over all tables of the release together (attacker intervals checked against each sensitive cell's protection level).`,
      ...(links.length > 0
        ? [
            `Linked with ${links.length} table(s) already published from dataset ${plan.dataset.id} (${[...new Set(links.map((l) => l.release))].map((r) => path.basename(path.resolve(r))).join(', ')}): their published cells were constants and their suppressed cells unknowns of the same audit, so no cell suppressed here or there can be recovered by combining the releases.`,
          ]
        : []),
    );
  }

  const tableEntries: Omit<ManifestTableEntry, 'files'>[] = protectedTables.map((t, i) => {
    const tp = t.plan;
    const m = tp.measure;
    return {
      id: tp.id,
      title: tp.title,
      description: tp.description,
      measure:
        m.kind === 'count'
          ? { kind: 'count' }
          : {
              kind: m.kind,
              column: m.column,
              bounds: [m.lower / 10 ** m.decimals, m.upper / 10 ** m.decimals] as const,
            },
      dimensions: tp.dimensions.map((d) => ({
        name: d.name,
        label: d.label,
        categories: d.leafCount,
        levels: d.nodes.length,
      })),
      cells: t.cells.length,
      suppressed: t.cells.reduce((n, c) => n + (c.value === null ? 1 : 0), 0),
      privacy: perTable[i] ?? null,
    };
  });

  const manifest: ReleaseContent['manifest'] = {
    manifestVersion: MANIFEST_VERSION,
    engine: { name: 'statguard', version: ENGINE_VERSION },
    createdAt: now().toISOString(),
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
    randomness: { source: rng.kind, seed: rng.seed },
    regime: p.regime,
    guarantee,
    budget,
    methods,
    tables: tableEntries,
    internal: {
      input: {
        kind: agg.stats.input.kind,
        file: agg.stats.input.file,
        bytes: agg.stats.input.bytes,
        sha256: agg.stats.input.sha256,
      },
      rows: {
        read: agg.stats.rowsRead,
        dropped: agg.stats.rowsDropped,
        dropReasons: { ...agg.stats.dropReasons },
        afterBounding: agg.stats.rowsAfterBounding,
        removedByBounding: agg.stats.rowsRemovedByBounding,
        units: agg.stats.units,
        valuesClamped: agg.stats.valuesClamped,
      },
      durationMs: Date.now() - started,
    },
  };
  return { content: { manifest, tables: protectedTables }, reviewer };
}

function describeUnit(plan: Plan): string {
  const u = plan.dataset.unit;
  return u.column === null
    ? `datasets that differ by one ${u.kind} (one row; each row is its own unit)`
    : `datasets that differ by all rows of one ${u.kind} (identified by column ${u.column}; at most ${u.maxRowsPerUnit} row(s) per ${u.kind} used)`;
}

function dpGuarantee(acc: DpAccounting, neighbouring: string): Guarantee {
  const t = acc.total as Record<string, unknown>;
  if (acc.mechanism === 'discrete-laplace') {
    return {
      regime: 'dp',
      statement: `Pure epsilon-differential privacy with epsilon = ${fmt(t.epsilon)} for the whole release, neighbouring = ${neighbouring}.`,
      definition: 'pure-dp',
      neighbouring,
      ...t,
    };
  }
  return {
    regime: 'dp',
    statement: `rho-zero-concentrated differential privacy with rho = ${fmt(t.rho)} for the whole release (implies (epsilon = ${fmt(t.epsilon)}, delta = ${fmt(t.delta)})-differential privacy), neighbouring = ${neighbouring}.`,
    definition: 'zcdp',
    neighbouring,
    ...t,
  };
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v);
}

function describeSdcRules(plan: Plan): string[] {
  const p = plan.protection;
  if (p.regime !== 'sdc') return [];
  const out: string[] = [];
  if (p.minFrequency !== null)
    out.push(`Minimum frequency rule: a cell with 0 < units < ${p.minFrequency} is suppressed.`);
  for (const d of p.dominance)
    out.push(
      `(${d.n},${d.k}) dominance rule: a cell whose ${d.n} largest unit contributions exceed ${d.k}% of its total is suppressed.`,
    );
  if (p.pPercent !== null)
    out.push(
      `p% rule with p = ${p.pPercent}: a cell is suppressed when the second largest contributor could estimate the largest within ${p.pPercent}%.`,
    );
  if (p.pq !== null) out.push(`(p,q) rule with p = ${p.pq.p}, q = ${p.pq.q}.`);
  out.push(p.zeroCells === 'suppress' ? 'Empty cells are suppressed.' : 'Empty cells are published as 0.');
  return out;
}

function sdcGuarantee(plan: Plan, unitText: string): Guarantee {
  void unitText;
  return {
    regime: 'sdc',
    statement:
      'Statistical disclosure control: cells failing the primary rules are suppressed, and secondary suppressions ensure no suppressed cell can be recovered exactly or within its protection interval from the published cells of this release (linear attacker audit over all tables).',
    unit: plan.dataset.unit.kind,
  };
}

export type { ExactTable };
