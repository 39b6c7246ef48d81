/**
 * Issue 17, finding 2: a SIGKILL of the serving process during reads loses no audit row of a delivered response.
 * A real `statguard serve` child on an embedded (PGlite) store answers table reads from 16 concurrent clients; after
 * 150 successful responses it is killed with SIGKILL while further reads are in flight. Every response the client
 * received with status 200 must have its audit row (matched by the x-request-id the server returned, stored in the
 * row's detail.request) once the store is opened again, and the hash chain must verify.
 * Why it holds: a response is sent only after its audit row's batch has committed (api/audit-buffer.ts).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import t from 'tap';
import { verifyChains } from '../../api/store/chain.ts';
import { openStore } from '../../api/store/db.ts';
import { createKey } from '../../api/store/keys.ts';
import { seedReleases, tmpDir } from '../api/fixtures.ts';
import { freshPgliteDir } from '../api/pglite-template.ts';

const BIN = fileURLToPath(new URL('../../bin/statguard.js', import.meta.url));
const KILL_AFTER = 150;
const CLIENTS = 16;

t.test('SIGKILL during reads: every delivered response has its audit row', { timeout: 240_000 }, async (t) => {
  // A copy of the migrated template (test/api/pglite-template.ts): no initdb (about 5 CPU-s) before the test.
  const dataDir = await freshPgliteDir(await tmpDir('sg-audit-kill-'));
  const officer = { caller: 'cli:test', role: 'officer' } as const;
  let store = await openStore({ dataDir });
  const { pub } = await seedReleases(store.db, officer, 'withdrawn');
  // Several keys, so that the per-key rate limit (burst 60, 20/s) does not throttle the run.
  const keys: string[] = [];
  for (let i = 0; i < 6; i++) keys.push((await createKey(store.db, 'researcher', `reader ${i}`, officer)).key);
  await store.close();

  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: { ...process.env, STATGUARD_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /on (http:\/\/\S+?);/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`server exited before listening: ${err}`)));
  });

  const delivered: string[] = [];
  let failed = 0;
  let n = 0;
  let killed = false;
  const client = async (): Promise<void> => {
    while (!killed) {
      const key = keys[n++ % keys.length]!;
      try {
        const r = await fetch(`${url}/v1/releases/${pub}/tables/pop?format=json`, {
          headers: { authorization: `Bearer ${key}` },
        });
        await r.arrayBuffer();
        if (r.status === 200) delivered.push(r.headers.get('x-request-id')!);
      } catch {
        failed++;
        return;
      }
      if (delivered.length >= KILL_AFTER && !killed) {
        killed = true;
        child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  t.equal(await exited, 'SIGKILL', 'the server was killed');
  t.ok(delivered.length >= KILL_AFTER, `${delivered.length} responses delivered before the kill`);
  t.comment(`${failed} reads in flight failed with the kill`);

  store = await openStore({ dataDir });
  t.teardown(() => store.close());
  const found = await sql<{ request: string }>`SELECT detail->>'request' AS request FROM audit_log
      WHERE action = 'table.read' AND detail->>'request' IN (${sql.join(delivered)})`.execute(store.db);
  const have = new Set(found.rows.map((r) => r.request));
  const missing = delivered.filter((id) => !have.has(id));
  t.same(missing, [], 'no delivered response lacks its audit row');
  t.ok((await verifyChains(store.db)).ok, 'the hash chain verifies after the kill');
});
