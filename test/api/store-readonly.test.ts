/**
 * Issue 17, finding 6: an embedded store whose folder cannot be written fails with STORE_UNAVAILABLE naming the
 * folder, not PGlite's "failed to initialize properly". The folder is made read-only; root ignores file modes, so
 * when the test runs as root the command runs as the unprivileged user `nobody` (uid 65534), which must be able to read
 * the checkout (else the test is skipped, saying so: a checkout under a 0700 folder, as `mktemp -d` makes).
 */
import { spawn } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tmpDir } from './fixtures.ts';
import { freshPgliteDir } from './pglite-template.ts';

const BIN = fileURLToPath(new URL('../../bin/statguard.js', import.meta.url));

async function chmodTree(dir: string, mode: number): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  for (const e of await readdir(dir, { withFileTypes: true }))
    if (e.isDirectory()) await chmodTree(path.join(dir, e.name), mode);
  await chmod(dir, mode);
}

/** Whether `nobody` can read the command's own files (a checkout under a 0700 folder, as `mktemp -d` makes, is not). */
async function nobodyCanRun(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(BIN)})`], {
      stdio: 'ignore',
      uid: 65534,
      gid: 65534,
    });
    p.once('error', () => resolve(false));
    p.once('exit', (code) => resolve(code === 0));
  });
}

const asRoot = process.getuid?.() === 0;
const skip = asRoot && !(await nobodyCanRun()) ? 'running as root, and nobody cannot read this checkout' : false;

t.test('a read-only store folder is named in the error', { skip }, async (t) => {
  const parent = await tmpDir('sg-readonly-');
  await chmod(parent, 0o777); // the lock file is written beside the folder
  const data = await freshPgliteDir(parent);
  await chmodTree(data, 0o555);
  t.teardown(() => chmodTree(data, 0o755));
  const asNobody = asRoot ? { uid: 65534, gid: 65534 } : {};
  const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const p = spawn(process.execPath, [BIN, 'keys', 'list'], {
      env: { ...process.env, STATGUARD_DATA_DIR: data, DATABASE_URL: '' },
      cwd: parent,
      stdio: ['ignore', 'ignore', 'pipe'],
      ...asNobody,
    });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.once('exit', (code) => resolve({ code, err }));
  });
  t.equal(r.code, 1);
  t.match(r.err, `STORE_UNAVAILABLE: the store folder ${data} is not writable`);
  t.notMatch(r.err, /PGlite failed to initialize/);
});
