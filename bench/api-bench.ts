/**
 * API benchmark (loopback only, bounded duration): requests/s and p50/p99
 * latency of a table query on a published release of >= 10,000 cells,
 * against a bare fastify route returning the same JSON from memory, in the
 * same run, at 50 concurrent connections.
 *
 *   node --import tsx bench/api-bench.ts        (BENCH_SECONDS=10, BENCH_CONNECTIONS=50, BENCH_REPEATS=3,
 *                                               BENCH_QUERIES=slice,key,whole: which queries, in that order)
 *
 * The machine may be shared: the bare route and the API are measured in turns (bare, api, bare, api, ...), each
 * query BENCH_REPEATS times, and the medians are reported (throughput ratio, p99, server CPU per request: the CPU
 * figures are the steadiest on a loaded machine). DATABASE_URL measures on a PostgreSQL server instead of PGlite.
 *
 * The API path includes everything a real request does: key resolution (`key`: the slice asked with a researcher's
 * API key, whose row and contracts the API caches briefly; the others anonymous), the
 * release status and visibility check against the store, selection parsing,
 * the cell limit, rendering (cached per query), the request log lines and the audit row, committed (group commit)
 * before the response is sent.
 * Target: >= half the bare route's throughput, p99 < 50 ms.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { build } from '../api/app.ts';
import { openStore } from '../api/store/db.ts';
import { loadReleaseDir } from '../api/store/release-dir.ts';
import { createKey } from '../api/store/keys.ts';
import { approveRelease, storeDraft } from '../api/store/releases.ts';
import { makeRelease, registerFixtures } from '../test/api/fixtures.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

// autocannon runs in its own process so that the load generator does not share the servers' event loop.
const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
async function run(url: string, headers: readonly string[] = []): Promise<Result> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [autocannonBin, '-c', String(connections), '-d', String(seconds), ...headers.flatMap((h) => ['-H', h]), '-j', url],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(stdout) as Result;
}

const store = await openStore({
  dataDir: process.env.DATABASE_URL ? undefined : 'memory',
  databaseUrl: process.env.DATABASE_URL,
});
const { dir } = await makeRelease({ policyId: 'bench', bigSide: 100 });
const actor = { caller: 'bench', role: 'officer' } as const;
await registerFixtures(store.db, actor); // the store accepts only signed releases of registered datasets
const { id } = await storeDraft(store.db, await loadReleaseDir(dir), actor);
await approveRelease(store.db, id, actor);
const researcher = await createKey(store.db, 'researcher', 'bench', actor);

// Logging as served (level info: two JSON lines per request), into a sink that drops them so the terminal stays
// readable: the figures include producing the log lines, not writing them to a file.
const app = await build({
  store,
  config: { rateLimit: null, maxCells: 1_000_000 },
  logger: { level: 'info', stream: { write: () => undefined } },
});
const apiAddr = await app.listen({ host: '127.0.0.1', port: 0 });
const bare = Fastify();
const bodies = new Map<string, string>();
bare.get('/bare/:n', async (req, reply) =>
  reply.type('application/json; charset=utf-8').send(bodies.get((req.params as { n: string }).n)),
);
const bareAddr = await bare.listen({ host: '127.0.0.1', port: 0 });

const line = (name: string, r: Result) =>
  `  ${name.padEnd(5)} ${r.requests.average.toFixed(0).padStart(7)} req/s   p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms   non-2xx ${r.non2xx}   errors ${r.errors}`;
console.log(
  `store ${store.kind}; release ${id}, table big: 10201 cells (101 x 101 with totals); ${connections} connections, ${seconds} s per run`,
);
// 1. a typical query: one area, every activity (101 cells); 2. the whole 10,201-cell table.
// 3. the slice again with a researcher's API key.
const keyHeader = `authorization=Bearer ${researcher.key}`;
const chosen = (process.env.BENCH_QUERIES ?? 'slice,key,whole').split(',');
const queries = (
  [
    ['slice', `/v1/releases/${id}/tables/big?area=a042`, []],
    ['key', `/v1/releases/${id}/tables/big?area=a041`, [keyHeader]],
    ['whole', `/v1/releases/${id}/tables/big`, []],
  ] as const
).filter(([n]) => chosen.includes(n));
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const auditRows = async (): Promise<number> =>
  Number(
    (await store.db.selectFrom('audit_log').select(store.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n,
  );
/** One autocannon run and this process's CPU per request over it (the servers run here, the load generator not). */
async function measure(url: string, headers: readonly string[] = []): Promise<Result & { cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const r = await run(url, headers);
  const cpu = process.cpuUsage(cpu0);
  return { ...r, cpuUs: (cpu.user + cpu.system) / r.requests.total };
}
for (const [n, q, headers] of queries) {
  const first = await fetch(`${apiAddr}${q}`, {
    headers: headers.length ? { authorization: `Bearer ${researcher.key}` } : {},
  });
  const body = await first.text();
  if (first.status !== 200) throw new Error(`API answered ${first.status}: ${body}`);
  bodies.set(n, body);
  const cells = (JSON.parse(body) as { cells: unknown[] }).cells.length;
  console.log(
    `${n}: GET ${q}${headers.length ? ' (researcher key)' : ''} -> ${cells} cells, ${(body.length / 1024).toFixed(1)} KiB JSON`,
  );
  const ratios: number[] = [];
  const p99s: number[] = [];
  const cpus: number[] = [];
  for (let rep = 1; rep <= repeats; rep++) {
    const bareRes = await measure(`${bareAddr}/bare/${n}`);
    const before = await auditRows();
    const apiRes = await measure(`${apiAddr}${q}`, headers);
    const written = (await auditRows()) - before;
    ratios.push(apiRes.requests.average / bareRes.requests.average);
    p99s.push(apiRes.latency.p99);
    cpus.push(apiRes.cpuUs);
    console.log(`  run ${rep}`);
    console.log(`${line('bare', bareRes)}   server CPU ${bareRes.cpuUs.toFixed(0)} us/request`);
    console.log(`${line('api', apiRes)}   server CPU ${apiRes.cpuUs.toFixed(0)} us/request`);
    console.log(
      `        api/bare ${((apiRes.requests.average / bareRes.requests.average) * 100).toFixed(0)}%; audit rows written ${written} for ${apiRes.requests.total} requests`,
    );
  }
  const ratio = median(ratios);
  const p99 = median(p99s);
  console.log(
    `  median of ${repeats}: api/bare throughput ${(ratio * 100).toFixed(0)}% (target >= 50%: ${ratio >= 0.5 ? 'met' : 'NOT met'}); api p99 ${p99} ms (target < 50 ms: ${p99 < 50 ? 'met' : 'NOT met'}); api server CPU ${median(cpus).toFixed(0)} us/request`,
  );
}
await bare.close();
await app.close();
await store.close();
