/**
 * Record keys of the cell key method, and where their secret comes from.
 *
 * A unit's record key is the first 4 bytes of HMAC-SHA256(secret, unit id) as an integer in [0, 2^32) (the cell key
 * divides by 2^32): uniform and independent across units for a secret unknown to the attacker, and the same unit has
 * the same key in every table. The secret (when the policy has no record-key column) is the dataset's own, kept in
 * the secure zone (`record-keys/<dataset id>.key`, 32 bytes from node:crypto, created once, owner-only): so the same
 * unit has the same key in every release, version and correction of the dataset, a cell's perturbation never changes,
 * and re-releasing cannot be averaged out. Seeded test and demo runs derive it from their seed instead (reproducible;
 * their manifests say `recordKeys: "seeded"`).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readOrCreateSecret } from '../secure/state.ts';
import type { CkmPlan, Plan, RandomSource } from '../types.ts';

export function recordKeyOf(secret: Uint8Array, unitId: string): number {
  return createHmac('sha256', secret).update(unitId, 'utf8').digest().readUInt32BE(0);
}

/** Where a ckm run's record keys come from (stated in the manifest's guarantee). */
export type RecordKeySource = 'column' | 'secure-zone' | 'seeded';

export function recordKeySource(plan: Plan & { readonly protection: CkmPlan }, rng: RandomSource): RecordKeySource {
  if (plan.protection.recordKey !== null) return 'column';
  return rng.kind === 'crypto' ? 'secure-zone' : 'seeded';
}

/**
 * The record-key secret of a run without a record-key column: the dataset's secret in the secure zone (real runs), or
 * the run's next 32 bytes (`draw`, seeded runs).
 */
export function recordKeySecret(plan: Plan, draw: () => Uint8Array, rng: RandomSource): Uint8Array {
  return rng.kind === 'crypto' ? datasetSecret(plan) : draw();
}

/** The dataset's own secret in the secure zone (32 bytes from node:crypto, created once, owner-only). */
function datasetSecret(plan: Plan): Uint8Array {
  return readOrCreateSecret(`record-keys/${plan.dataset.id}.key`, () => new Uint8Array(randomBytes(32)));
}

/**
 * The bounding key of a real ckm or sdc run: derived from the dataset's secret in the secure zone (HMAC with a fixed
 * label, so it is independent of every record key), so the rows kept of a unit with more rows than `maxRowsPerUnit`
 * are the same in every release of the dataset.
 */
export function datasetBoundingKey(plan: Plan): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', datasetSecret(plan)).update('statguard ckm bounding key', 'utf8').digest(),
  );
}
