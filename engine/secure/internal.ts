/**
 * The exact figures of a release run (rows read, dropped, trimmed, units, input location and size), kept in the
 * secure zone: `<secure>/internal/<dataset id>/<manifest sha256>.json`, owner-only.
 *
 * Guarantee: these figures are written here and nowhere else (never into a release directory, so `publish` can
 * neither read nor upload them); the file appears whole or not at all (temporary file, then rename), mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { StatguardError } from '../errors.ts';
import type { ReleaseInternal } from '../release/manifest.ts';
import { securePath } from './state.ts';

const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Write the internal record of a release; returns its path. */
export async function writeInternalRecord(
  datasetId: string,
  manifestSha256: string,
  record: ReleaseInternal & { readonly policy: string; readonly createdAt: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (!SAFE.test(datasetId))
    throw new StatguardError(
      'SECURE_STATE',
      `dataset id ${JSON.stringify(datasetId)} cannot name a secure-zone folder`,
    );
  if (!/^[0-9a-f]{64}$/.test(manifestSha256)) throw new Error('internal record: expected a manifest SHA-256');
  const file = securePath(`internal/${datasetId}/${manifestSha256}.json`, env);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify({ manifestSha256, dataset: datasetId, ...record }, null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new StatguardError('OUTPUT_FAILED', `cannot write the internal record: ${(e as Error).message}`, { file });
  }
  return file;
}
