/**
 * API benchmark (loopback only, bounded duration): requests/s and p50/p99
 * latency of a table query on a published release of >= 10,000 cells,
 * against a bare fastify route returning the same JSON from memory, in the
 * same run, at 50 concurrent connections.
 *
 *   node --import tsx bench/api-bench.ts        (BENCH_SECONDS=10, BENCH_CONNECTIONS=50)
 *
 * The API path includes everything a real request does: key resolution, the
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
async function run(url: string): Promise<Result> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [autocannonBin, '-c', String(connections), '-d', String(seconds), '-j', url],
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
const queries: [string, string][] = [
  ['slice', `/v1/releases/${id}/tables/big?area=a042`],
  ['whole', `/v1/releases/${id}/tables/big`],
];
for (const [n, q] of queries) {
  const first = await fetch(`${apiAddr}${q}`);
  const body = await first.text();
  if (first.status !== 200) throw new Error(`API answered ${first.status}: ${body}`);
  bodies.set(n, body);
  const cells = (JSON.parse(body) as { cells: unknown[] }).cells.length;
  const before = await store.db
    .selectFrom('audit_log')
    .select(store.db.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  const bareRes = await run(`${bareAddr}/bare/${n}`);
  const cpu0 = process.cpuUsage();
  const apiRes = await run(`${apiAddr}${q}`);
  const cpu = process.cpuUsage(cpu0);
  const after = await store.db
    .selectFrom('audit_log')
    .select(store.db.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  const ratio = apiRes.requests.average / bareRes.requests.average;
  console.log(`${n}: GET ${q.replace(apiAddr, '')} -> ${cells} cells, ${(body.length / 1024).toFixed(1)} KiB JSON`);
  console.log(line('bare', bareRes));
  console.log(line('api', apiRes));
  // Server CPU per request (this process; the load generator runs in its own): steadier than req/s on a shared machine.
  console.log(`  api server CPU ${((cpu.user + cpu.system) / apiRes.requests.total).toFixed(0)} us per request`);
  console.log(
    `  api/bare throughput ${(ratio * 100).toFixed(0)}% (target >= 50%: ${ratio >= 0.5 ? 'met' : 'NOT met'}); api p99 ${apiRes.latency.p99} ms (target < 50 ms: ${apiRes.latency.p99 < 50 ? 'met' : 'NOT met'}); audit rows written ${Number(after.n) - Number(before.n)} for ${apiRes.requests.total} requests`,
  );
}
await bare.close();
await app.close();
await store.close();
