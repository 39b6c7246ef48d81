/**
 * The officer credential of an embedded store: the way into the admin routes for a new user, and the key the
 * store commands (`statguard publish|approve|withdraw|keys|contracts|datasets`) use to go through the serving
 * process while it holds the store.
 *
 * Guarantees:
 * - A server on an embedded store makes sure, before it listens, that `<data folder>.officer.key` holds an active
 *   officer key of that store: on first start (or when the file's key was revoked or belongs to another store) it
 *   creates one with createKey (audited: key.create by the starting user) and writes it to the file.
 * - The file is written whole (temporary file renamed into place) with owner-only permissions (0600); a file
 *   readable or writable by group or others is refused (by the server and by the commands), never used.
 * - Only the key's SHA-256 is in the store; the secret exists in this file alone.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { ApiError } from '../errors.ts';
import type { Actor } from './audit.ts';
import type { Store } from './db.ts';
import { authenticate, createKey } from './keys.ts';

export const credentialFile = (location: string): string => `${location}.officer.key`;

/** The key in a credential file; throws a message naming the file and what is wrong. */
export async function readCredential(file: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (e) {
    throw new Error(`the officer credential ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  if ((mode & 0o077) !== 0)
    throw new Error(
      `the officer credential ${file} is readable or writable by others (mode ${(mode & 0o777).toString(8)}); it is not used (chmod 600 it, or remove it and restart the server for a new one)`,
    );
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`the officer credential ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  const key = text.trim();
  if (!/^sg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/.test(key))
    throw new Error(`the officer credential ${file} does not hold an API key`);
  return key;
}

export interface Credential {
  readonly file: string;
  /** Set when this start created the key (first start, or the previous one was no longer valid). */
  readonly created: string | null;
}

/** Make sure the credential file of an embedded store holds an active officer key of it (see the header). */
export async function ensureOfficerCredential(store: Store, actor: Actor): Promise<Credential | null> {
  if (store.kind !== 'pglite' || store.location === 'memory') return null;
  const file = credentialFile(store.location);
  let present = true;
  try {
    await stat(file);
  } catch {
    present = false;
  }
  if (present) {
    const key = await readCredential(file); // a file open to others is refused, not silently replaced
    try {
      const who = await authenticate(store.db, `Bearer ${key}`);
      if (who.role === 'officer') return { file, created: null };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
    }
  }
  const k = await createKey(store.db, 'officer', `officer credential (${file})`, actor);
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${k.key}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(tmp, 0o600); // whatever the umask
  await rename(tmp, file);
  return { file, created: k.id };
}
