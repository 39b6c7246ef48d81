/**
 * What the store verifies before it stores a release (called by `storeDraft` inside its transaction, before any
 * insert): the signature, the registered dataset, its regime, its demo flag, and the input fingerprint.
 *
 * Guarantees (each refused with its own problem code, nothing stored):
 * - the signature verifies with a registered, unrevoked key (SIGNING_KEY_UNKNOWN, SIGNING_KEY_REVOKED,
 *   SIGNATURE_INVALID); the payload it is checked against is recomputed from the files (release-dir.ts);
 * - the dataset the signed policy names is registered (DATASET_NOT_REGISTERED) and the release's regime is its
 *   registered regime (REGIME_CONFLICT): exact sdc tables never sit beside a dp release of the same data;
 * - a seeded release (reproducible noise, no guarantee) is accepted only by a dataset registered as demo
 *   (RELEASE_SEEDED); the policy's own `release.demo` flag does not decide;
 * - the input fingerprint is bound to the first dataset that released it or served it on demand (`bindInput`, shared
 *   with api/ondemand/binding.ts); another dataset releasing the same input is refused (INPUT_OTHER_DATASET), so a
 *   renamed dataset.id does not get a fresh budget.
 */
import type { Kysely, Transaction } from 'kysely';
import { verifyReleaseSignature } from '../../engine/release/index.ts';
import { ApiError } from '../errors.ts';
import type { Actor } from './audit.ts';
import type { LoadedRelease } from './release-dir.ts';
import type { Database } from './schema.ts';

export interface CheckedDataset {
  readonly id: string;
  readonly demo: boolean;
}

/** The signature of `rel` verifies with a registered, unrevoked key; returns the key id. */
export async function verifySigned(tx: Transaction<Database>, rel: LoadedRelease): Promise<string> {
  const keyId = rel.signature.keyId;
  const key = await tx
    .selectFrom('signing_keys')
    .select(['public_key', 'revoked_at'])
    .where('id', '=', keyId)
    .executeTakeFirst();
  if (!key)
    throw new ApiError(
      'SIGNING_KEY_UNKNOWN',
      `signature.json: signed by key ${keyId}, which is not registered in this store`,
      { where: 'signature.json/keyId', key: keyId },
    );
  if (key.revoked_at !== null)
    throw new ApiError('SIGNING_KEY_REVOKED', `signature.json: signed by key ${keyId}, which was revoked`, {
      where: 'signature.json/keyId',
      key: keyId,
    });
  if (!verifyReleaseSignature(rel.signature, key.public_key))
    throw new ApiError(
      'SIGNATURE_INVALID',
      `signature.json: the signature of key ${keyId} does not match the release's files (changed after signing)`,
      { where: 'signature.json/signature', key: keyId },
    );
  return keyId;
}

/** The registered dataset of `rel` (its regime, demo flag and input fingerprint checked); binds the fingerprint. */
export async function checkDataset(
  tx: Transaction<Database>,
  rel: LoadedRelease,
  actor: Actor,
): Promise<CheckedDataset> {
  const { datasetId, regime } = rel.signed;
  const m = rel.manifest;
  const ds = await tx
    .selectFrom('datasets')
    .select(['id', 'regime', 'demo'])
    .where('id', '=', datasetId)
    .executeTakeFirst();
  if (!ds || ds.regime === null)
    throw new ApiError(
      'DATASET_NOT_REGISTERED',
      `policy ${rel.signed.policyId} names dataset ${JSON.stringify(datasetId)}, which is not registered; an officer registers it first (statguard datasets create)`,
      { dataset: datasetId },
    );
  if (ds.regime !== regime)
    throw new ApiError(
      'REGIME_CONFLICT',
      `release of policy ${rel.signed.policyId} uses regime ${regime}; dataset ${datasetId} is registered for ${ds.regime}`,
      { dataset: datasetId },
    );
  if (m.randomness.source === 'seeded' && !ds.demo)
    throw new ApiError(
      'RELEASE_SEEDED',
      `release of policy ${rel.signed.policyId} used seeded randomness (reproducible, not private); dataset ${datasetId} is not registered as a demo`,
      { dataset: datasetId },
    );
  const input = m.input.sha256;
  const boundTo = await bindInput(tx, input, datasetId, actor.caller);
  if (boundTo !== datasetId)
    throw new ApiError(
      'INPUT_OTHER_DATASET',
      `the input of this release (SHA-256 ${input}) is already bound to dataset ${boundTo}; release it under that dataset`,
      { dataset: datasetId, boundTo },
    );
  return { id: ds.id, demo: ds.demo };
}

/**
 * Bind an input fingerprint to `datasetId` unless it is bound already; returns the dataset it is bound to (the first
 * one that released it, or served it on demand: api/ondemand/binding.ts). Race-safe without a lock: the fingerprint is
 * the table's primary key, so of two concurrent first bindings one inserts and the other's ON CONFLICT DO NOTHING
 * waits for it, then reads the row that won (a statement of its own, so it sees the committed row).
 */
export async function bindInput(
  db: Kysely<Database> | Transaction<Database>,
  input: string,
  datasetId: string,
  by: string,
): Promise<string> {
  await db
    .insertInto('dataset_inputs')
    .values({ input_sha256: input, dataset_id: datasetId, created_by: by })
    .onConflict((oc) => oc.column('input_sha256').doNothing())
    .execute();
  const bound = await db
    .selectFrom('dataset_inputs')
    .select('dataset_id')
    .where('input_sha256', '=', input)
    .executeTakeFirstOrThrow();
  return bound.dataset_id;
}
