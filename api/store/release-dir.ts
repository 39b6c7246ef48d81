/**
 * The store's side of reading a release directory: the engine's strict reader (`engine/release/read.ts`) checks the
 * files; this module requires a signed release, plans its signed policy.json, reports every problem as an ApiError
 * and gives each table's dimensions the shape of the stored rows.
 *
 * Guarantee: a LoadedRelease is a VerifiedRelease (consistent with its manifest; no suppressed value among its cells)
 * that carries a signature over exactly its files (checked against a registered key by `storeDraft`, before anything
 * is stored) and whose `signed` facts (policy, dataset, regime, cost) come from planning its signed policy.json: a
 * manifest whose policy id, dataset, regime or stated budget disagrees with that plan is refused (RELEASE_MISMATCH),
 * so the cost charged is the plan's, never a figure the manifest states.
 */
import { planPolicyBytes } from '../../engine/policy/index.ts';
import { planCost, releaseCost } from '../../engine/regime.ts';
import {
  parseRelease as readRelease,
  readReleaseDir,
  ReleaseInvalid,
  type ReleaseSignature,
  type VerifiedRelease,
  type VerifiedTable,
} from '../../engine/release/index.ts';
import type { Manifest } from '../../engine/release/manifest.ts';
import { StatguardError } from '../../engine/errors.ts';
import { NO_COST, type ReleaseCost } from '../../engine/dp/index.ts';
import type { DimensionPlan, Plan } from '../../engine/types.ts';
import { ApiError } from '../errors.ts';
import type { StoredCells, StoredDimension } from './schema.ts';

export interface LoadedTable extends Omit<VerifiedTable, 'dimensions' | 'cells'> {
  readonly dimensions: StoredDimension[];
  readonly cells: StoredCells;
}

/** What the store takes from the signed policy, never from the manifest's own fields. */
export interface SignedFacts {
  readonly policyId: string;
  readonly datasetId: string;
  readonly regime: Manifest['regime'];
  /** The ledger charge of the plan (`planCost`, engine/regime.ts). */
  readonly cost: ReleaseCost;
}

export interface LoadedRelease {
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly tables: readonly LoadedTable[];
  readonly signature: ReleaseSignature;
  readonly signed: SignedFacts;
}

/**
 * The stored row shape of a dimension: nodes in node order with their parent, and, for a multilingual release, the
 * labels in every language from the signed policy's plan (`translated`: matched by code, and only where the plan's
 * default-language label is the one the release files carry).
 */
function storedDimension(d: DimensionPlan, translated: DimensionPlan | undefined, lang: string): StoredDimension {
  const byCode = new Map((translated?.nodes ?? []).map((n) => [n.code, n]));
  // Translations are kept only where the plan's default-language label is the one the release files carry.
  const same = (x: { labels?: Readonly<Record<string, string>> } | undefined, label: string): boolean =>
    x?.labels !== undefined && x.labels[lang] === label;
  return {
    name: d.name,
    label: d.label,
    ...(same(translated, d.label) ? { labels: { ...translated!.labels } } : {}),
    nodes: d.nodes.map((n) => {
      const t = byCode.get(n.code);
      return {
        code: n.code,
        label: n.label,
        parent: n.parent,
        ...(same(t, n.label) ? { labels: { ...t!.labels } } : {}),
      };
    }),
  };
}

const mismatch = (what: string, manifest: unknown, policy: unknown): ApiError =>
  new ApiError(
    'RELEASE_MISMATCH',
    `manifest.json states ${what} ${JSON.stringify(manifest)}; its signed policy.json plans ${JSON.stringify(policy)}`,
    { where: `manifest.json/${what}` },
  );

/** Plan the signed policy and check the manifest against it; the plan comes back too (its label translations). */
function signedFacts(m: Manifest, policy: Buffer): { facts: SignedFacts; plan: Plan } {
  let plan;
  try {
    plan = planPolicyBytes(policy, 'policy.json');
  } catch (e) {
    if (e instanceof StatguardError)
      throw new ApiError('RELEASE_INVALID', `policy.json: ${e.message}`, { where: 'policy.json' });
    throw e;
  }
  if (plan.policyId !== m.policy.id) throw mismatch('policy/id', m.policy.id, plan.policyId);
  if (plan.dataset.id !== m.dataset.id) throw mismatch('dataset/id', m.dataset.id, plan.dataset.id);
  if (plan.protection.regime !== m.regime) throw mismatch('regime', m.regime, plan.protection.regime);
  const cost = planCost(plan) ?? NO_COST;
  let stated: ReleaseCost;
  try {
    stated = releaseCost(m);
  } catch {
    throw mismatch('budget', m.budget, cost);
  }
  const same = (a: number | null, b: number | null): boolean =>
    a === null || b === null ? a === b : Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a), Math.abs(b));
  if (!same(stated.rho, cost.rho) || !same(stated.epsilon, cost.epsilon)) throw mismatch('budget', m.budget, cost);
  return { facts: { policyId: plan.policyId, datasetId: plan.dataset.id, regime: plan.protection.regime, cost }, plan };
}

function loaded(rel: VerifiedRelease): LoadedRelease {
  if (rel.signed === null)
    throw new ApiError(
      'RELEASE_UNSIGNED',
      'signature.json: missing: the release is not signed (run `statguard release` in the secure zone)',
      { where: 'signature.json' },
    );
  const { facts, plan } = signedFacts(rel.manifest, rel.signed.policy);
  const lang = plan.release.languages?.[0] ?? '';
  const planned = (table: string, dim: string) =>
    plan.tables.find((t) => t.id === table)?.dimensions.find((d) => d.name === dim);
  return {
    manifest: rel.manifest,
    manifestSha256: rel.manifestSha256,
    tables: rel.tables.map((t) => ({
      ...t,
      dimensions: t.dimensions.map((d) => storedDimension(d, planned(t.id, d.name), lang)),
    })),
    signature: rel.signed.signature,
    signed: facts,
  };
}

function apiError(e: unknown): unknown {
  if (!(e instanceof ReleaseInvalid)) return e;
  const code =
    e.reason === 'unsigned' ? 'RELEASE_UNSIGNED' : e.reason === 'signature' ? 'SIGNATURE_INVALID' : 'RELEASE_INVALID';
  return new ApiError(code, e.message, { where: e.where });
}

/**
 * Check a release given as file name -> content (a directory read into memory, or an upload). Every problem is an
 * ApiError (RELEASE_INVALID, RELEASE_UNSIGNED, SIGNATURE_INVALID, RELEASE_MISMATCH).
 */
export function parseRelease(files: ReadonlyMap<string, string | Buffer>): LoadedRelease {
  try {
    return loaded(readRelease(files));
  } catch (e) {
    throw apiError(e);
  }
}

/** Read a release directory (only the files the manifest names, its signature and policy) and check it. */
export async function loadReleaseDir(dir: string): Promise<LoadedRelease> {
  try {
    return loaded(await readReleaseDir(dir));
  } catch (e) {
    throw apiError(e);
  }
}
