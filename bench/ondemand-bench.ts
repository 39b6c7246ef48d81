/**
 * Tables on demand benchmark: latency of POST /v1/datasets/{id}/tables on a 1,000,000-row dataset
 * (bench/generate.ts, seed 1), three dimensions with margins, through the whole route (key, role, contract gate,
 * audit row committed before the response) with the secure zone in its own process.
 *
 *   npm run bench:ondemand                (BENCH_ROWS=1000000, BENCH_QUERIES=40, BENCH_REGIME=ckm|dp)
 *
 * Cold: every query distinct (levels, dimensions, filters), so each is computed by the secure zone from its resident
 * rows (aggregation, cut to levels, protection); the one-off load of the file into the secure zone's memory is
 * reported apart. Cached: the same queries again, answered from the cache per contract and query.
 * Targets: p95 < 2 s cold, < 50 ms cached.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { build } from '../api/app.ts';
import { forkSecureZone } from '../api/ondemand/client.ts';
import type { Authorised, ContractGate } from '../api/ondemand/gate.ts';
import { createDataset } from '../api/store/datasets.ts';
import { createKey } from '../api/store/keys.ts';
import { openStore } from '../api/store/db.ts';
import { ensureCensusFile } from './generate.ts';

const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const nQueries = Number(process.env.BENCH_QUERIES ?? 40);
const regime = process.env.BENCH_REGIME === 'dp' ? 'dp' : 'ckm';

const work = mkdtempSync(join(tmpdir(), 'sg-ondemand-bench-'));
process.env.STATGUARD_SECURE_DIR ??= join(work, 'secure');
const file = await ensureCensusFile(rows);
const doc = JSON.parse(readFileSync(resolve('policies/census-ondemand.json'), 'utf8')) as Record<string, any>;
doc.dataset.id = `bench-census-${rows}`;
doc.dataset.source.path = file;
doc.onDemand.maxDimensions = 3;
if (regime === 'dp') {
  doc.protection = { regime: 'dp', mechanism: 'discrete-gaussian', budget: { rho: 1 } };
  doc.onDemand.dp = { rho: 0.01 };
}
const policy = join(work, 'policy.json');
writeFileSync(policy, JSON.stringify(doc));

const gate: ContractGate = {
  authorise: async (): Promise<Authorised> => ({ contractId: 'bench' }),
  recordUse: async () => {},
  cancel: async () => {},
};
const store = await openStore({ dataDir: 'memory' });
const officer = { caller: 'cli:bench', role: 'officer' } as const;
await createDataset(store.db, { id: doc.dataset.id, title: 'bench', regime, demo: true }, officer);
const key = (await createKey(store.db, 'researcher', 'Bench', officer)).key;
const zone = forkSecureZone({ policies: [policy], timeoutMs: 600_000 });
const app = await build({
  store,
  config: { rateLimit: null, addressRateLimit: null },
  logger: false,
  onDemand: { zone, gate },
});

const DIMS = ['region', 'sex', 'age_band', 'marital', 'education'];
const FIRST: Record<string, string> = { region: 'A1', age_band: 'Y0T14' };
const queries: unknown[] = [];
for (let i = 0; queries.length < nQueries; i++) {
  const a = DIMS[i % 5]!;
  const b = DIMS[(i + 1 + (Math.floor(i / 5) % 4)) % 5]!;
  const c = DIMS.find((d) => d !== a && d !== b && (i % 3 === 0 || d !== 'region'))!;
  const dims = [a, b, c].map((name) => (name === 'region' ? { name, level: i % 3 } : { name }));
  const free = DIMS.find((d) => ![a, b, c].includes(d))!;
  const filter = i >= 20 ? { [free]: [FIRST[free] ?? '1'] } : undefined;
  queries.push({ dimensions: dims, measure: i % 4 === 3 ? 'income' : 'count', ...(filter ? { filter } : {}) });
}
const ask = async (q: unknown): Promise<number> => {
  const t0 = performance.now();
  const res = await app.inject({
    method: 'POST',
    url: `/v1/datasets/${doc.dataset.id}/tables`,
    headers: { authorization: `Bearer ${key}` },
    payload: q as Record<string, unknown>,
  });
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`);
  return performance.now() - t0;
};
const p = (xs: number[], q: number): number =>
  [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;

const t0 = performance.now();
await ask({ dimensions: [{ name: 'sex' }], measure: 'count' });
const load = performance.now() - t0;
const cold: number[] = [];
for (const q of queries) cold.push(await ask(q));
const cached: number[] = [];
const cpu0 = process.cpuUsage();
for (let r = 0; r < 5; r++) for (const q of queries) cached.push(await ask(q));
const cpu = process.cpuUsage(cpu0);
const cachedCpu = (cpu.user + cpu.system) / 1000 / cached.length;
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;
console.log(
  `tables on demand, ${regime}, ${rows.toLocaleString('en')} rows, three dimensions with margins (load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} on ${cpus().length} cores)`,
);
console.log(`  secure zone start and first load of the file: ${fmt(load)} (once per dataset and file version)`);
console.log(
  `  cold   (${cold.length} distinct queries): p50 ${fmt(p(cold, 0.5))}, p95 ${fmt(p(cold, 0.95))}, max ${fmt(Math.max(...cold))}  (target p95 < 2000 ms)`,
);
console.log(
  `  cached (${cached.length} requests):        p50 ${fmt(p(cached, 0.5))}, p95 ${fmt(p(cached, 0.95))}, max ${fmt(Math.max(...cached))}  (target p95 < 50 ms); API CPU ${cachedCpu.toFixed(1)} ms per cached request`,
);
await app.close();
await store.close();
