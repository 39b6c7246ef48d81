/**
 * Soak test (issue 6.5): the researcher API under steady load for a bounded
 * time, loopback only, with resident memory sampled every second.
 *
 *   npm run bench:soak                      (60 s)
 *   npm run bench:soak -- --seconds 300 --connections 20
 *
 * The API runs in this process over the embedded store (PGlite in a temporary
 * folder, removed at the end) holding published releases (an sdc release with a
 * 3,721-cell table and a dp release with a 1,681-cell table, written by the
 * engine's release writer). The load generator (autocannon) runs in a child
 * process so that its memory and event loop are not measured. Each connection
 * cycles through a mix of researcher routes: release list, release metadata,
 * service config, and table queries in every format (json, csv, jsonstat,
 * sdmx-csv) with and without selections and labels. Rate limiting is off
 * (a soak measures the service, not the 429 path).
 *
 * Bounded: the run ends after --seconds (the child is killed if it overruns by
 * 60 s); only 127.0.0.1 is contacted. Prints total requests, errors (any
 * non-2xx/3xx status, socket error or timeout), requests/s, p50/p99 latency,
 * RSS after warm-up (after a full gc) and at the end (median of the last 5
 * samples under load) and the growth;
 * exits 1 when there was an error or growth reached 10%.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { serve } from '../api/server.ts';
import { openStore } from '../api/store/db.ts';
import { loadReleaseDir } from '../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../api/store/releases.ts';
import { makeRelease } from '../test/api/fixtures.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    connections: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
  },
  strict: true,
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const warmup = Number(values.warmup);
for (const [k, v, min, max] of [
  ['--seconds', seconds, 1, 86_400],
  ['--connections', connections, 1, 1000],
  ['--warmup', warmup, 1, 600],
] as const) {
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`bench:soak: ${k} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
}

interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  '1xx': number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  errors: number;
  timeouts: number;
}

// --- store and releases -------------------------------------------------------------------------------------
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sg-soak-'));
const store = await openStore({ dataDir: path.join(dataDir, 'db') });
const actor = { caller: 'bench:soak', role: 'officer' } as const;
const releases: { id: string; table: string; selections: string[] }[] = [];
for (const o of [
  { policyId: 'soak-sdc', bigSide: 60, sel: ['area=a001,a002,a017&activity=b003', 'area=a042', 'activity=b010,b011'] },
  { policyId: 'soak-dp', rho: 0.5, bigSide: 40, sel: ['area=a000,a039', 'activity=b020&area=a005,a006,a007'] },
]) {
  const { dir } = await makeRelease(
    { policyId: o.policyId, bigSide: o.bigSide, ...(o.rho !== undefined ? { rho: o.rho } : {}) },
    path.join(dataDir, o.policyId),
  );
  const { id } = await storeDraft(store.db, await loadReleaseDir(dir), actor);
  await approveRelease(store.db, id, actor);
  releases.push({ id, table: 'big', selections: o.sel });
}
const { app, url } = await serve({ store, host: '127.0.0.1', port: 0, config: { rateLimit: null } });
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`soak: expected a loopback address, got ${url}`);

// --- request mix ----------------------------------------------------------------------------------------------
const paths: string[] = ['/v1/releases', '/v1/releases?status=published', '/v1/config'];
for (const r of releases) {
  paths.push(`/v1/releases/${r.id}`);
  for (const format of ['json', 'csv', 'jsonstat', 'sdmx-csv']) {
    paths.push(`/v1/releases/${r.id}/tables/pop?format=${format}`);
    paths.push(`/v1/releases/${r.id}/tables/pop?region=N,S1&sex=1&format=${format}&labels=both`);
    for (const s of r.selections) paths.push(`/v1/releases/${r.id}/tables/${r.table}?${s}&format=${format}`);
  }
  paths.push(`/v1/releases/${r.id}/tables/${r.table}?labels=both`); // the whole table
}
// Every path must answer 2xx before the soak (a wrong fixture would otherwise show up as "errors").
for (const p of paths) {
  const res = await fetch(`${url}${p}`);
  await res.arrayBuffer();
  if (res.status >= 400) throw new Error(`soak: GET ${p} answered ${res.status} before the soak`);
}

// --- load generator in a child process ---------------------------------------------------------------------
const autocannonPath = createRequire(import.meta.url).resolve('autocannon');
const WORKER = `
  const autocannon = (await import(${JSON.stringify(autocannonPath)})).default;
  const cfg = JSON.parse(process.env.SOAK_CFG);
  const r = await autocannon({ url: cfg.url, connections: cfg.connections, duration: cfg.seconds, timeout: 10,
    requests: cfg.paths.map((p) => ({ method: 'GET', path: p })) });
  process.stdout.write(JSON.stringify(r));
`;
function load(secs: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WORKER], {
      env: { ...process.env, NODE_OPTIONS: '', SOAK_CFG: JSON.stringify({ url, connections, seconds: secs, paths }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), (secs + 60) * 1000);
    child.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`load generator exited with ${code ?? signal}`));
      try {
        resolve(JSON.parse(out) as Result);
      } catch (e) {
        reject(e);
      }
    });
  });
}

// A full garbage collection before each measurement point, so that garbage left by building the releases does not
// count as the baseline (and a leak cannot hide behind it): gc is exposed at run time (the npm script has no flags).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const settle = async (): Promise<{ rss: number; heap: number }> => {
  gc();
  gc();
  await new Promise((r) => setTimeout(r, 500));
  return { rss: process.memoryUsage.rss(), heap: process.memoryUsage().heapUsed };
};

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

let exitCode = 1;
try {
  console.log(
    `soak: API on ${url}, store ${store.kind} (${store.location}); ${releases.length} published releases; ` +
      `${paths.length} researcher requests in the mix; ${connections} connections; warm-up ${warmup} s, soak ${seconds} s`,
  );
  const warm = await load(warmup);
  console.log(
    `warm-up: ${warm.requests.total} requests, ${warm['4xx'] + warm['5xx'] + warm.errors + warm.timeouts} errors`,
  );

  const before = await settle();
  const rss: number[] = [before.rss];
  const sampler = setInterval(() => rss.push(process.memoryUsage.rss()), 1000);
  const started = performance.now();
  const r = await load(seconds);
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  rss.push(process.memoryUsage.rss());

  const after = await settle();
  const errors = r['4xx'] + r['5xx'] + r.errors + r.timeouts;
  // Start: after warm-up and a full gc. End: median of the last 5 samples under load (live garbage included, so
  // the growth is an upper bound); the post-run figure after a full gc is printed beside it.
  const start = before.rss;
  const end = median(rss.slice(-5));
  const growth = ((end - start) / start) * 100;
  const peak = Math.max(...rss);
  console.log(`total requests   ${r.requests.total} in ${elapsed.toFixed(1)} s`);
  console.log(
    `errors           ${errors} (4xx ${r['4xx']}, 5xx ${r['5xx']}, socket errors ${r.errors}, timeouts ${r.timeouts}); 2xx ${r['2xx']}, 3xx ${r['3xx']}`,
  );
  console.log(`requests/s       ${r.requests.average.toFixed(0)}`);
  console.log(`latency          p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms`);
  console.log(
    `RSS              start ${mib(start)} (after warm-up and gc), end ${mib(end)} (median of the last 5 samples under load), peak ${mib(peak)}; ${rss.length} samples, 1 s apart`,
  );
  console.log(
    `after the run    RSS ${mib(after.rss)} after gc; JS heap used ${mib(before.heap)} -> ${mib(after.heap)}`,
  );
  console.log(
    `RSS growth       ${growth >= 0 ? '+' : ''}${growth.toFixed(1)}% (target < 10%: ${growth < 10 ? 'met' : 'NOT met'}); errors target 0: ${errors === 0 ? 'met' : 'NOT met'}`,
  );
  exitCode = errors === 0 && growth < 10 ? 0 : 1;
} finally {
  await app.close();
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
}
process.exitCode = exitCode;
