/**
 * Issue 16, finding 7: one writer for the embedded store. While `statguard serve` (a separate process) holds a
 * PGlite folder, `statguard keys revoke` and `statguard withdraw` take effect at once (through the server's admin
 * routes with the officer credential), survive a restart and leave their audit rows; without the credential the
 * command refuses naming the server and changes nothing; a second server on the same folder refuses to start; a
 * stale lock of a dead process is taken over. On the code before the change the command wrote the folder behind the
 * server's back: the revoked key kept working, the withdrawn release stayed served, and both vanished on restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { start } from '../../api/start.ts';
import { openStore } from '../../api/store/db.ts';
import { publishedInStore } from '../../cli/store-commands.ts';
import { cli } from '../robustness/lib/harness.ts';
import { makeRelease, TEST_SIGNER, tmpDir } from './fixtures.ts';
import { freshPgliteDir } from './pglite-template.ts';

const BIN = fileURLToPath(new URL('../../bin/statguard.js', import.meta.url));

interface Server {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly out: () => string;
  stop(): Promise<void>;
}

/** `statguard serve --port 0` as its own process; resolves once it listens. */
function serveProcess(env: Record<string, string>): Promise<Server> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: { ...process.env, ...env, DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer): void => {
      out += b.toString();
      const m = / on (http:\/\/127\.0\.0\.1:\d+);/.exec(out);
      if (m)
        resolve({
          proc,
          url: m[1]!,
          out: () => out,
          stop: async () => {
            proc.kill('SIGTERM');
            await exited;
          },
        });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    void exited.then((code) => reject(Object.assign(new Error(`server exited with ${code}: ${out}`), { code, out })));
  });
}

/** `start` (what `statguard serve` runs) in this process, with its log captured as `out`. */
async function serveInProcess(data: string): Promise<Omit<Server, 'proc'>> {
  let out = '';
  const s = await start({ releaseDirs: [], dataDir: data, port: 0, log: (x) => void (out += x) });
  let closed: Promise<void> | undefined;
  return { url: s.url, out: () => out, stop: () => (closed ??= s.close()) };
}

t.test('one writer: store commands go through the serving process', async (t) => {
  const dir = await tmpDir('sg-writer-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const data = await freshPgliteDir(dir);
  const env = { STATGUARD_DATA_DIR: data, DATABASE_URL: undefined };
  const credFile = `${data}.officer.key`;
  const first = await serveProcess({ STATGUARD_DATA_DIR: data });
  let server: Omit<Server, 'proc'> = first;
  t.teardown(() => server.stop());

  // The server wrote an owner-only officer credential and says where it is.
  t.match(server.out(), credFile, 'the start prints where the credential is');
  t.equal((await stat(credFile)).mode & 0o777, 0o600, 'credential file mode 0600');
  const officer = (await readFile(credFile, 'utf8')).trim();
  const lock = JSON.parse(await readFile(`${data}.lock`, 'utf8'));
  t.same([lock.pid, lock.url, lock.purpose], [first.proc.pid, server.url, 'serve'], 'the lock names the server');

  // Setup through the CLI while the server runs (each goes through the server): the officer registers the fixtures'
  // signing key and the release's dataset first (the store refuses unsigned releases and unregistered datasets).
  const pem = path.join(dir, 'signer.pem');
  await writeFile(pem, TEST_SIGNER.publicKeyPem);
  let r = await cli(['signing-keys', 'register', '--pem', pem, '--name', 'fixtures'], env);
  t.equal(r.code, 0, `signing key registered through the server: ${r.err}`);
  r = await cli(['datasets', 'create', 'census-sdc', '--title', 'Census', '--regime', 'sdc'], env);
  t.equal(r.code, 0, `dataset registered through the server: ${r.err}`);
  t.match((await cli(['signing-keys', 'list'], env)).out, TEST_SIGNER.keyId, 'signing keys listed through the server');
  const rel = await makeRelease({ policyId: 'pop', audience: 'public' });
  r = await cli(['publish', rel.dir], env);
  t.equal(r.code, 0, `publish through the server: ${r.err}`);
  t.equal((await cli(['approve', 'pop-v1'], env)).code, 0);
  // `release` reads what is published through the server too (cross-release control: the officer's history route).
  const savedDir = process.env.STATGUARD_DATA_DIR;
  process.env.STATGUARD_DATA_DIR = data;
  try {
    const found = await publishedInStore('census-sdc', { out: () => {}, err: () => {}, isTty: false });
    t.match(found?.via, `the server at ${server.url}`, 'read through the serving process');
    t.same(
      found?.entries.map((e) => e.id),
      ['pop-v1'],
    );
    const popJs = JSON.parse(await readFile(path.join(rel.dir, 'pop.json'), 'utf8')) as { value: unknown[] };
    t.same(found?.entries[0]!.tables[0]!.value, popJs.value, 'the published cells, suppressed ones null');
  } finally {
    process.env.STATGUARD_DATA_DIR = savedDir;
  }
  r = await cli(['keys', 'create', '--role', 'researcher', '--name', 'Rex'], env);
  t.equal(r.code, 0);
  const rex = r.out.trim();
  const rexId = rex.split('_')[1]!;
  const spare = (await cli(['keys', 'create', '--role', 'researcher', '--name', 'Spare'], env)).out.trim();
  const spareId = spare.split('_')[1]!;
  r = await cli(['keys', 'list'], env);
  t.match(r.out, rexId, 'keys list reads through the server');
  const get = (url: string, key?: string) =>
    fetch(`${server.url}${url}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  t.equal((await get('/v1/releases/pop-v1/tables/pop', rex)).status, 200, 'the researcher reads the release');

  // Revoke and withdraw through the CLI: effective at once.
  r = await cli(['keys', 'revoke', rexId], env);
  t.equal(r.code, 0, `keys revoke: ${r.err}`);
  t.equal((await get('/v1/releases', rex)).status, 401, 'the revoked key is refused on its next request');
  r = await cli(['withdraw', 'pop-v1', '--reason', 'x'], env);
  t.equal(r.code, 0, `withdraw: ${r.err}`);
  const w = await get('/v1/releases/pop-v1/tables/pop?format=csv');
  t.equal(w.status, 410, 'the withdrawn release is no longer served');
  t.equal(((await w.json()) as { code: string }).code, 'RELEASE_WITHDRAWN');

  // The hash chains (issue 17), checkpointed and verified through the server's officer routes.
  const cpFile = path.join(dir, 'checkpoint.json');
  r = await cli(['audit', 'checkpoint', '--out', cpFile], env);
  t.equal(r.code, 0, `audit checkpoint through the server: ${r.err}`);
  t.equal(JSON.parse(await readFile(cpFile, 'utf8')).chains.budget_ledger.count, 1, 'one ledger entry');
  r = await cli(['audit', 'verify', '--checkpoint', cpFile], env);
  t.equal(r.code, 0, `audit verify through the server: ${r.out}${r.err}`);
  t.match(r.out, /audit_log: ok, \d+ rows, head [0-9a-f]{64} \(extends the checkpoint\)/);

  // Without the credential: refused naming the server, nothing changed.
  await rm(credFile);
  for (const argv of [
    ['keys', 'revoke', spareId],
    ['keys', 'create', '--role', 'officer', '--name', 'X'],
    ['publish', (await makeRelease({ policyId: 'other' })).dir],
  ]) {
    r = await cli(argv, env);
    t.equal(r.code, 1, `${argv.join(' ')}: refused`);
    t.match(r.err, /STORE_LOCKED/);
    t.match(r.err, `pid ${first.proc.pid}`, 'names the serving pid');
    t.match(r.err, server.url, 'names the serving URL');
    t.match(r.err, credFile, 'names the missing credential');
  }
  t.equal((await get('/v1/releases', spare)).status, 200, 'the spare key still works: nothing changed');
  t.equal(((await (await get('/v1/releases')).json()) as { total: number }).total, 1, 'nothing published');

  // A second server on the same folder refuses to start, naming the first: `statguard serve` (its command, run in
  // this process: the lock is held by the server's process either way; a serve that started would never return and
  // the test would fail on its timeout), and an in-process start.
  const second = await cli(['serve', '--port', '0'], env);
  t.equal(second.code, 1, 'the second server did not start');
  t.match(second.err, /STORE_LOCKED/);
  t.match(second.err, `pid ${first.proc.pid}`);
  await t.rejects(start({ releaseDirs: [], dataDir: data, port: 0, log: () => {} }), { code: 'STORE_LOCKED' });

  // Restart: the server makes a new credential; revocation and withdrawal are still in force. The first server's
  // process is gone; the restarted one runs in this process (`start`, what `statguard serve` runs), reading only what
  // that process left in the folder.
  await server.stop();
  await t.rejects(stat(`${data}.lock`), { code: 'ENOENT' }, 'a stopped server releases the lock');
  server = await serveInProcess(data);
  t.match(server.out(), /new officer key/, 'a new credential replaced the removed one');
  const officer2 = (await readFile(credFile, 'utf8')).trim();
  t.not(officer2, officer);
  t.equal((await get('/v1/releases', rex)).status, 401, 'still revoked after a restart');
  t.equal((await get('/v1/releases/pop-v1/tables/pop')).status, 410, 'still withdrawn after a restart');
  const audit = (await (await get('/v1/admin/audit?limit=200', officer2)).json()) as {
    items: { action: string; target: string; outcome: string; caller: string }[];
  };
  const changed = audit.items.filter((a) => a.outcome === 'ok' && /revoke|withdraw/.test(a.action));
  t.same(
    changed.map((a) => [a.action, a.target]).sort(),
    [
      ['key.revoke', rexId],
      ['release.withdraw', 'pop-v1'],
    ],
    'their audit rows survived',
  );
  t.ok(
    audit.items.some((a) => a.action === 'key.create' && a.caller.startsWith('system:serve:')),
    'the credential keys were created as audited actions',
  );
  await server.stop();

  // No server: the command opens the store itself, under the same lock.
  r = await cli(['keys', 'revoke', spareId], env);
  t.equal(r.code, 0, `direct when no server runs: ${r.err}`);
  // A stale lock of a dead process is taken over (said on stderr).
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((res) => dead.once('exit', res));
  await writeFile(
    `${data}.lock`,
    JSON.stringify({
      pid: dead.pid,
      host: os.hostname(),
      purpose: 'serve',
      command: 'serve',
      since: new Date().toISOString(),
      url: 'http://127.0.0.1:1',
      admin: true,
    }),
  );
  r = await cli(['keys', 'list'], env);
  t.equal(r.code, 0, `stale lock taken over: ${r.err}`);
  t.match(r.err, `took over the stale store lock ${data}.lock`);
  t.match(r.err, `pid ${dead.pid}`);
  const s = await openStore({ dataDir: data });
  const keys = await s.db.selectFrom('api_keys').select(['id', 'revoked_at']).execute();
  await s.close();
  t.ok(keys.find((k) => k.id === spareId)?.revoked_at, 'the direct revocation is stored');
});

t.test('the credential file is refused when others may read it', async (t) => {
  const dir = await tmpDir('sg-writer-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const data = await freshPgliteDir(dir);
  let log = '';
  const s1 = await start({ releaseDirs: [], dataDir: data, port: 0, log: (x) => void (log += x) });
  t.equal(s1.credential, `${data}.officer.key`);
  t.match(log, `officer credential: ${data}.officer.key`, 'npm start prints where the credential is');
  const { chmod } = await import('node:fs/promises');
  await chmod(s1.credential!, 0o644);
  const r = await cli(['keys', 'list'], { STATGUARD_DATA_DIR: data, DATABASE_URL: undefined });
  t.equal(r.code, 1);
  t.match(r.err, /STORE_LOCKED.*readable or writable by others/s);
  t.match(r.err, `pid ${process.pid}`);
  await s1.close();
  await t.rejects(start({ releaseDirs: [], dataDir: data, port: 0, log: () => {} }), /readable or writable by others/);
  await t.rejects(stat(`${data}.lock`), { code: 'ENOENT' }, 'a refused start leaves no lock');
});
