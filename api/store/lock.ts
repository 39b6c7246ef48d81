/**
 * One writer for the embedded store: an exclusive lock on a PGlite data folder, held by the process that opened it.
 *
 * PGlite is PostgreSQL in one process, with no lock of its own: two processes opening the same folder each keep
 * their own pages, and the later writer silently overwrites the other's changes. So every process that opens a
 * data folder (a server, a store command, a test) first takes `<folder>.lock`:
 *
 * - The lock file says who holds it: pid, host, purpose (`serve` or `command`), since when, and for a server its
 *   URL and whether it has the officer routes. It is written whole to a temporary file and linked into place
 *   (link(2) fails with EEXIST like O_CREAT|O_EXCL, and a reader never sees a half-written file).
 * - A lock whose pid is not alive on this host is stale (a crashed process): it is taken over (moved aside
 *   atomically, checked to be the same stale lock, removed) and the takeover is logged.
 * - A live holder is never overridden: opening fails with StoreHeld naming it (pid, purpose, URL). A command's lock
 *   is waited for briefly (commands are short); a server's is not.
 * - `close()` of the store releases the lock (only if it is still this process's lock).
 *
 * A PostgreSQL server (DATABASE_URL) needs none of this: its transactions serialise several writers.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { ApiError } from '../errors.ts';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly purpose: 'serve' | 'command';
  /** What the holder runs (`serve`, `start`, `publish`, ...). */
  readonly command: string;
  readonly since: string;
  /** A server's URL once it listens (null while starting, and for commands). */
  readonly url: string | null;
  /** Whether that server has the officer routes (false for `serve --public`). */
  readonly admin: boolean;
}

export interface StoreLock {
  readonly file: string;
  holder(): LockHolder;
  /** A server announces where it listens (rewrites its own lock file). */
  announce(url: string, admin: boolean): Promise<void>;
  release(): Promise<void>;
}

/** The store is held by another live process. */
export class StoreHeld extends ApiError {
  constructor(
    readonly file: string,
    readonly holder: LockHolder | null,
    why = '',
  ) {
    super('STORE_LOCKED', `${describeHolder(file, holder)}${why ? `: ${why}` : ''}`, {});
  }
}

export function describeHolder(file: string, h: LockHolder | null): string {
  if (!h)
    return `the embedded store is locked by ${file}, which cannot be read (remove it only if no statguard process runs)`;
  const what = h.purpose === 'serve' ? `the statguard server (${h.command})` : `statguard ${h.command}`;
  return `the embedded store is held by ${what}, pid ${h.pid} on ${h.host}${h.url ? `, serving ${h.url}` : h.purpose === 'serve' ? ', still starting' : ''} (lock ${file}, since ${h.since})`;
}

export const lockFile = (location: string): string => `${location}.lock`;

function alive(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return true; // cannot tell: never take over another host's lock
  if (h.pid === process.pid) return true;
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(file: string): Promise<LockHolder | null | 'absent'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : null;
  } catch {
    return null;
  }
}

/** Create the lock file whole, or return false when it exists. */
async function create(file: string, h: LockHolder): Promise<boolean> {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(h)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}

const same = (a: LockHolder, b: LockHolder): boolean => a.pid === b.pid && a.since === b.since && a.host === b.host;

/** Move a stale lock aside and remove it; false when the file changed meanwhile (then it is put back). */
async function takeOver(file: string, stale: LockHolder): Promise<boolean> {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const moved = await readHolder(aside);
  if (moved !== 'absent' && moved !== null && !same(moved, stale)) {
    // Another process took the lock between our read and the rename: give it back untouched.
    await link(aside, file).catch(() => {});
    await rm(aside, { force: true });
    return false;
  }
  await rm(aside, { force: true });
  return true;
}

export interface LockOptions {
  readonly purpose: 'serve' | 'command';
  readonly command: string;
  /** How long to wait for a command's lock (default 10 s); a server's lock is never waited for. */
  readonly waitMs?: number;
  readonly log?: (s: string) => void;
}

export async function acquireLock(location: string, o: LockOptions): Promise<StoreLock> {
  const file = lockFile(location);
  let mine: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    purpose: o.purpose,
    command: o.command,
    since: new Date().toISOString(),
    url: null,
    admin: false,
  };
  const deadline = Date.now() + (o.waitMs ?? 10_000);
  for (;;) {
    if (await create(file, mine)) break;
    const h = await readHolder(file);
    if (h === 'absent') continue;
    if (h === null) throw new StoreHeld(file, null);
    if (alive(h)) {
      if (h.purpose === 'command' && h.pid !== process.pid && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      throw new StoreHeld(file, h);
    }
    if (await takeOver(file, h))
      (o.log ?? ((s) => process.stderr.write(s)))(
        `statguard: took over the stale store lock ${file} of ${h.purpose === 'serve' ? 'a server' : `statguard ${h.command}`} (pid ${h.pid}, since ${h.since}), which is no longer running\n`,
      );
  }
  let released = false;
  return {
    file,
    holder: () => mine,
    async announce(url, admin) {
      mine = { ...mine, url, admin };
      const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, `${JSON.stringify(mine)}\n`, { mode: 0o600, flag: 'wx' });
      await rename(tmp, file);
    },
    async release() {
      if (released) return;
      released = true;
      const h = await readHolder(file);
      if (h !== 'absent' && h !== null && h.pid === mine.pid && h.since === mine.since) await rm(file, { force: true });
    },
  };
}

/** Who holds the store now (null: nobody, or a stale lock of a dead process). */
export async function currentHolder(location: string): Promise<LockHolder | null> {
  const h = await readHolder(lockFile(location));
  return h === 'absent' || h === null || !alive(h) ? null : h;
}
