import { createHmac } from 'node:crypto';

/**
 * Record key of a unit drawn by the engine: the first 4 bytes of HMAC-SHA256(secret, unit id) as an integer in
 * [0, 2^32) (the cell key divides by 2^32). Guarantee: uniform and independent across units for a secret unknown to
 * the attacker (32 random bytes from the run's RandomSource), and the same unit has the same key in every table of
 * the run, so a cell's key depends only on its contributors. Keys stable across releases need a record-key column.
 */
export function recordKeyOf(secret: Uint8Array, unitId: string): number {
  return createHmac('sha256', secret).update(unitId, 'utf8').digest().readUInt32BE(0);
}
