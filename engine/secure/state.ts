/**
 * The secure zone's own state: a directory that only the secure zone's operator can read, holding what must outlive a
 * run and must never reach the publication store or a release directory (signing key, draw logs, record-key secrets).
 *
 * Guarantees: the directory is created with mode 0700 and every secret file with mode 0600 (owner only); a secret is
 * created once, atomically (written to a temporary file, then linked into place with O_EXCL semantics), so two
 * concurrent first uses agree on one value and a crash never leaves a half-written secret; an existing file whose
 * permissions give access to group or others is refused (SECURE_STATE) rather than used.
 *
 * Location: STATGUARD_SECURE_DIR, else `.statguard/secure` under the working directory.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { StatguardError } from '../errors.ts';

export const DEFAULT_SECURE_DIR = path.join('.statguard', 'secure');

/** The secure-zone state directory of this process (created on first use, mode 0700). */
export function secureDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = path.resolve(env.STATGUARD_SECURE_DIR || DEFAULT_SECURE_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

/** Path of a file in the secure-zone state directory; `name` may hold sub-folders (created 0700). */
export function securePath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  if (name.split(/[\\/]/).some((part) => part === '' || part === '.' || part === '..')) {
    throw new StatguardError('SECURE_STATE', `invalid secure-zone file name ${JSON.stringify(name)}`);
  }
  const p = path.join(secureDir(env), name);
  mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
  return p;
}

/** Refuse a secure-zone file whose permissions give group or others any access (SECURE_STATE). */
export function checkOwnerOnly(p: string): void {
  const st = statSync(p);
  if ((st.mode & 0o077) !== 0) {
    throw new StatguardError(
      'SECURE_STATE',
      `secure-zone file ${p} is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); ` +
        'it must be owner-only (chmod 600)',
    );
  }
}

/**
 * Read the secret file `name`, creating it with `create()` when it does not exist. Returns its bytes. Two processes
 * creating it at the same time end with one file: the loser reads the winner's.
 */
export function readOrCreateSecret(
  name: string,
  create: () => Uint8Array,
  env: NodeJS.ProcessEnv = process.env,
): Uint8Array {
  const p = securePath(name, env);
  try {
    checkOwnerOnly(p);
    return new Uint8Array(readFileSync(p));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const tmp = `${p}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, create());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, p); // fails with EEXIST when another process created it first
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  checkOwnerOnly(p);
  return new Uint8Array(readFileSync(p));
}
