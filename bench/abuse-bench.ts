/**
 * Abuse benchmark (npm run bench:abuse; loopback only): what a researcher's table query costs while the API is
 * abused, and what a flood leaves in the store (issue 17, findings 3 and 5). Load comes from autocannon in child
 * processes, so the load generators do not share the server's event loop.
 *
 *   npm run bench:abuse   (BENCH_SECONDS=10 per latency run, BENCH_FLOOD_SECONDS=60, BENCH_CONNECTIONS=10)
 *
 * 1. Researcher p99 idle, then during three anonymous 35 MB POSTs to the upload route (three connections posting
 *    35 MB bodies over and over for the whole run). Target: < 2x idle.
 * 2. Researcher p99 while a reviewer's 1,000,000-cell preview runs (dp, one 1000 x 1000 table with totals;
 *    bench/big-preview.ts), measured over the preview's run. Target: < 100 ms.
 * 3. Store growth after an anonymous flood at full rate for BENCH_FLOOD_SECONDS (default rate limits; anonymous
 *    probes of unknown ids, an officer route without a key, unknown keys), measured as the database size
 *    (pg_database_size) before and after every count was written. Target: < 1 MB.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { build } from '../api/app.ts';
import { openStore } from '../api/store/db.ts';
import { createKey } from '../api/store/keys.ts';
import { loadReleaseDir } from '../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../api/store/releases.ts';
import { makeRelease, registerFixtures } from '../test/api/fixtures.ts';
import { tempDir } from '../test/tmp-dir.ts';
import { bigPreviewPolicy } from './big-preview.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const floodSeconds = Number(process.env.BENCH_FLOOD_SECONDS ?? 60);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);

interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  statusCodeStats?: Record<string, { count: number }>;
}

const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
function autocannon(args: string[]): Promise<Result> {
  return promisify(execFile)(process.execPath, [autocannonBin, '-j', ...args], { maxBuffer: 64 * 1024 * 1024 }).then(
    ({ stdout }) => JSON.parse(stdout) as Result,
  );
}
/** A background autocannon (its output ignored), stopped by the returned function. */
function background(args: string[]): () => void {
  const child = spawn(process.execPath, [autocannonBin, ...args], { stdio: 'ignore' });
  return () => child.kill();
}

const dir = tempDir('sg-abuse-bench-');
const store = await openStore({
  dataDir: process.env.DATABASE_URL ? undefined : 'memory',
  databaseUrl: process.env.DATABASE_URL,
});
const officer = { caller: 'bench', role: 'officer' } as const;
await registerFixtures(store.db, officer);
const { id } = await storeDraft(
  store.db,
  await loadReleaseDir((await makeRelease({ policyId: 'bench', bigSide: 100 })).dir),
  officer,
);
await approveRelease(store.db, id, officer);
const researcher = (await createKey(store.db, 'researcher', 'bench researcher', officer)).key;
const reviewer = (await createKey(store.db, 'reviewer', 'bench reviewer', officer)).key;
const query = `/v1/releases/${id}/tables/big?area=a042`;
const researcherArgs = (url: string, d: number) => [
  '-c',
  String(connections),
  '-d',
  String(d),
  '-H',
  `authorization=Bearer ${researcher}`,
  `${url}${query}`,
];
/** The server's event-loop delay (max and p99, ms) over an async step: how long the main thread was blocked. */
async function loopDelay<T>(f: () => Promise<T>): Promise<[T, string]> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const out = await f();
  h.disable();
  return [
    out,
    `server event-loop delay p99 ${(h.percentile(99) / 1e6).toFixed(0)} ms, max ${(h.max / 1e6).toFixed(0)} ms`,
  ];
}
const fmt = (r: Result) =>
  `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.requests.average.toFixed(0)} req/s, non-2xx ${r.non2xx}, errors ${r.errors}`;

console.log(`store ${store.kind}; researcher query GET ${query} (101 cells), ${connections} connections`);

// 1 and 2: no rate limits (the researcher's load would hit its own), default body and preview limits.
{
  // Logging on, as in production (its cost measured), its lines discarded so the figures stay readable.
  const app = await build({
    store,
    config: { rateLimit: null, maxCells: 1_000_000, dataRoots: [dir] },
    logger: { level: 'info', stream: { write: () => undefined } },
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const [idle, idleLoop] = await loopDelay(() => autocannon(researcherArgs(url, seconds)));
  console.log(`1. researcher idle:                      ${fmt(idle)}; ${idleLoop}`);
  const body = path.join(dir, 'body-35mb.json');
  writeFileSync(body, Buffer.alloc(35 * 1024 * 1024, 0x20));
  const stop = background(['-c', '3', '-d', String(seconds + 5), '-m', 'POST', '-i', body, `${url}/v1/admin/releases`]);
  await new Promise((r) => setTimeout(r, 500));
  const during = await autocannon(researcherArgs(url, seconds));
  stop();
  const ratio = during.latency.p99 / Math.max(1, idle.latency.p99);
  console.log(`   during three anonymous 35 MB POSTs:  ${fmt(during)}`);
  console.log(
    `   p99 ratio ${ratio.toFixed(2)}x idle (target < 2x: ${ratio < 2 ? 'met' : 'NOT met'}; idle p99 floored at 1 ms)`,
  );

  const big = await bigPreviewPolicy(dir, 999);
  const t0 = performance.now();
  let previewMs = 0;
  const preview = fetch(`${url}/v1/previews`, {
    method: 'POST',
    headers: { authorization: `Bearer ${reviewer}`, 'content-type': 'application/json' },
    body: JSON.stringify({ policy: big.doc, seed: '1' }),
  }).then(async (r) => {
    previewMs = performance.now() - t0;
    return { status: r.status, body: await r.text() };
  });
  // The preview takes a few seconds (worker start included); measure the researcher over that window.
  const [whilePreview, previewLoop] = await loopDelay(() => autocannon(researcherArgs(url, 3)));
  const stillRunning = previewMs === 0;
  const p = await preview;
  if (p.status !== 200) throw new Error(`preview answered ${p.status}: ${p.body.slice(0, 300)}`);
  console.log(
    `2. researcher during a ${big.cells.toLocaleString('en')}-cell preview: ${fmt(whilePreview)} (target p99 < 100 ms: ${whilePreview.latency.p99 < 100 ? 'met' : 'NOT met'})`,
  );
  console.log(
    `   ${previewLoop}; preview answered 200 in ${(previewMs / 1000).toFixed(1)} s (worker start included); ${stillRunning ? 'still running when the 3 s researcher run ended' : 'finished before the researcher run ended'}`,
  );
  await app.close();
}

// 3: default limits, anonymous flood at full rate.
{
  const app = await build({ store, logger: { level: 'info', stream: { write: () => undefined } } });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const size = async () =>
    Number(
      (await sql<{ n: string }>`select pg_database_size(current_database())::text as n`.execute(store.db)).rows[0]!.n,
    );
  const rows = async () =>
    Number(
      (
        await store.db
          .selectFrom('audit_log')
          .select(sql<string>`count(*)::text`.as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const [sizeBefore, rowsBefore] = [await size(), await rows()];
  const unknown = `sg_0123456789abcdef_${'A'.repeat(43)}`;
  const runs = await Promise.all([
    autocannon(['-c', '20', '-d', String(floodSeconds), `${url}/v1/releases/${'x'.repeat(90)}`]),
    autocannon(['-c', '20', '-d', String(floodSeconds), `${url}/v1/admin/audit`]),
    autocannon(['-c', '20', '-d', String(floodSeconds), '-H', `authorization=Bearer ${unknown}`, `${url}/v1/releases`]),
  ]);
  await app.close(); // writes the open minute's counts
  const total = runs.reduce((n, r) => n + r.requests.total, 0);
  const growth = (await size()) - sizeBefore;
  console.log(
    `3. anonymous flood ${floodSeconds} s at full rate (60 connections): ${total} requests, ${(total / floodSeconds).toFixed(0)} req/s`,
  );
  console.log(
    `   store grew by ${(growth / 1024).toFixed(0)} KiB (target < 1 MB: ${growth < 1024 * 1024 ? 'met' : 'NOT met'}); audit rows added ${(await rows()) - rowsBefore}`,
  );
}
await store.close();
