/**
 * Scale benchmark (npm run bench:scale): the same census policy (five tables
 * with margins and a region -> area hierarchy) released through every path,
 * next to the bare aggregation query (GROUP BY GROUPING SETS over the raw
 * columns, no conversion, no bounding, no protection) in the same engine.
 *
 *   npm run bench:scale -- [--rows 10000000] [--pglite-rows 200000] [--url postgres://...] [--unit household|person]
 *
 * Prints per path: full release time (sdc and dp: aggregate + protect + write
 * every output file), bare query time, their ratio (target <= 1.3), peak RSS
 * of the process running the engine (in-process engines: DuckDB, PGlite) at
 * two sizes (rows/4 and rows; target: independent of rows), and the
 * streaming CSV path's rows/s. PGlite (WASM, single-threaded) runs a smaller
 * row count (--pglite-rows). A real PostgreSQL server (--url or
 * STATGUARD_BENCH_DATABASE_URL) is loaded with server-side COPY (the server
 * must be able to read the generated file).
 * Each measurement runs in a fresh child process (its own peak RSS).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AREAS, censusPolicy, ensureCensusFile } from './generate.ts';
import { planPolicy, validatePolicy } from '../engine/policy/index.ts';
import type { PolicyDoc } from '../engine/policy/index.ts';
import { runRelease } from '../engine/pipeline.ts';
import { writeRelease } from '../engine/release/write.ts';
import { csvSource, duckdbSource, pgliteSource, postgresSource } from '../engine/source/index.ts';
import type { Source } from '../engine/source/index.ts';
import type { Plan } from '../engine/types.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
};

/** The server table the benchmark loads (and drops) on a PostgreSQL server. */
const PG_TABLE = 'statguard_bench_census';

/** Load the generated file into the server (server-side COPY: the server must be able to read the file). */
async function loadServer(url: string, file: string): Promise<void> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP TABLE IF EXISTS ${PG_TABLE}`);
    await c.query(`CREATE TABLE ${PG_TABLE} (person_id text, household_id text, region text, sex text, age text, marital text, education text, industry text, income text, weight text)`);
    await c.query(`COPY ${PG_TABLE} FROM '${file.replace(/'/g, "''")}' WITH (FORMAT csv, HEADER true)`);
    await c.query(`ANALYZE ${PG_TABLE}`);
  } finally { await c.end(); }
}

async function dropServer(url: string): Promise<void> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { await c.query(`DROP TABLE IF EXISTS ${PG_TABLE}`); } finally { await c.end(); }
}

interface Measure { seconds: number; maxRssMb: number; rows: number }

/**
 * The bare query: ONE statement, one scan, GROUP BY GROUPING SETS holding every table's margins (the area level of the
 * region hierarchy included), count and sum(income) per cell, no conversion checks, bounding or protection.
 * `units`: count(DISTINCT household_id) instead of count(*) (the statistic a household-unit policy publishes).
 */
function bareSql(from: string, flavor: 'postgres' | 'duckdb', units = false): string {
  const num = flavor === 'postgres' ? `CASE WHEN income ~ '^-?[0-9]+$' THEN CAST(income AS bigint) END` : `TRY_CAST(income AS BIGINT)`;
  const band = `CASE WHEN CAST(age AS integer) < 15 THEN 0 WHEN CAST(age AS integer) < 25 THEN 1 WHEN CAST(age AS integer) < 35 THEN 2 WHEN CAST(age AS integer) < 45 THEN 3 WHEN CAST(age AS integer) < 55 THEN 4 WHEN CAST(age AS integer) < 65 THEN 5 WHEN CAST(age AS integer) < 75 THEN 6 ELSE 7 END`;
  const area = `CASE ${AREAS.map((a) => `WHEN region IN (${a.children.map((c) => `'${c}'`).join(', ')}) THEN '${a.code}'`).join(' ')} END`;
  const sets = ['(region, sex)', '(area, sex)', '(region)', '(area)', '(sex)', '()', '(band, sex)', '(band)',
    '(region, education)', '(area, education)', '(education)', '(industry, sex)', '(industry)', '(region, marital)', '(area, marital)', '(marital)'];
  return `SELECT region, area, sex, band, education, industry, marital, ${units ? 'count(DISTINCT household_id)' : 'count(*)'} AS n, sum(v) AS s
    FROM (SELECT household_id, region, ${area} AS area, sex, ${band} AS band, education, industry, marital, ${num} AS v FROM ${from}) b
    GROUP BY GROUPING SETS (${sets.join(', ')})`;
}

function planFor(csv: string, regime: 'sdc' | 'dp', unit: 'household' | 'person', source: PolicyDoc['dataset']['source']): Plan {
  const doc = censusPolicy(csv, regime, { unit });
  doc.dataset.source = source;
  const v = validatePolicy(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return planPolicy(v.policy, { policyPath: path.join(here, 'census.policy.json'), policySha256: '0'.repeat(64) });
}

async function release(plan: Plan, source: Source): Promise<number> {
  const run = await runRelease(plan, { source });
  const out = mkdtempSync(path.join(os.tmpdir(), 'statguard-scale-'));
  try { await writeRelease(run.content, path.join(out, 'release')); } finally { rmSync(out, { recursive: true, force: true }); }
  return run.content.manifest.internal.rows.read;
}

/** Child: one measurement (engine, what, file), printed as a JSON line. */
async function child(engine: string, what: string, file: string, unit: 'household' | 'person', url: string): Promise<void> {
  const t0 = performance.now();
  let rows = 0;
  if (engine === 'csv') {
    rows = await release(planFor(file, what as 'sdc' | 'dp', unit, { kind: 'csv', path: file }), csvSource());
  } else if (engine === 'duckdb') {
    if (what === 'bare' || what === 'bare-units') {
      // Same instance settings as duckdbSource() (threads = cores, no insertion order, 1GB memory limit).
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-bare-'));
      const c = await (await DuckDBInstance.create(':memory:', { memory_limit: '1GB', temp_directory: tmp, preserve_insertion_order: 'false', threads: String(os.availableParallelism()) })).connect();
      await c.runAndReadAll(bareSql(`read_csv('${file}', header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')`, 'duckdb', what === 'bare-units'));
      rmSync(tmp, { recursive: true, force: true });
    } else {
      rows = await release(planFor(file, what as 'sdc' | 'dp', unit, { kind: 'csv-duckdb', path: file }), duckdbSource());
    }
  } else if (engine === 'pglite' || engine === 'postgres') {
    const pgSrc = { kind: 'postgres' as const, table: engine === 'postgres' ? PG_TABLE : 'census' };
    let exec: (q: string) => Promise<unknown>;
    let source: Source;
    let done = async (): Promise<void> => {};
    if (engine === 'pglite') {
      const { PGlite } = await import('@electric-sql/pglite');
      const db = new PGlite();
      await db.query(`CREATE TABLE census (person_id text, household_id text, region text, sex text, age text, marital text, education text, industry text, income text, weight text)`);
      await db.query(`COPY census FROM '/dev/blob' WITH (FORMAT csv, HEADER true)`, [], { blob: new Blob([readFileSync(file)]) });
      exec = (q) => db.query(q);
      source = pgliteSource({ db });
      done = () => db.close();
    } else {
      const pg = (await import('pg')).default;
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      exec = (q) => pool.query(q);
      source = postgresSource({ url });
      done = () => pool.end();
    }
    const t1 = performance.now();
    if (what === 'bare' || what === 'bare-units') await exec(bareSql(engine === 'postgres' ? PG_TABLE : 'census', 'postgres', what === 'bare-units'));
    else rows = await release(planFor(file, what as 'sdc' | 'dp', unit, pgSrc), source);
    await done();
    const m: Measure = { seconds: (performance.now() - t1) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024, rows };
    process.stdout.write(`${JSON.stringify(m)}\n`);
    return;
  }
  const m: Measure = { seconds: (performance.now() - t0) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024, rows };
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

function measure(engine: string, what: string, file: string, unit: string, url = ''): Measure {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', engine, '--what', what, '--file', file, '--unit', unit, '--url', url], {
    encoding: 'utf8', maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`${engine} ${what} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measure;
}


async function main(): Promise<void> {
  if (process.argv.includes('--child')) {
    await child(arg('child', ''), arg('what', ''), arg('file', ''), arg('unit', 'household') as 'household' | 'person', arg('url', ''));
    return;
  }
  const rows = Number(arg('rows', '10000000'));
  const pgliteRows = Number(arg('pglite-rows', String(Math.min(rows, 200_000))));
  const unit = arg('unit', 'household');
  const url = arg('url', process.env.STATGUARD_BENCH_DATABASE_URL ?? '');
  const small = Math.max(1, Math.floor(rows / 4));
  const file = await ensureCensusFile(rows);
  const smallFile = await ensureCensusFile(small);
  const pgFile = await ensureCensusFile(pgliteRows);
  const smallPgFile = await ensureCensusFile(Math.max(1, Math.floor(pgliteRows / 4)));
  const repeat = Number(arg('repeat', '3'));
  const only = arg('only', 'duckdb,postgres,pglite,csv').split(',');
  const units = unit === 'household';
  const f = (x: number) => x.toFixed(2).padStart(7);
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
  /** `repeat` rounds, interleaved (sdc, dp, bare, bare-units each round), so load changes hit all alike; medians and max RSS. */
  const series = (engine: string, f0: string, u: string, link = ''): Record<string, Measure> => {
    const whats = ['sdc', 'dp', 'bare', ...(units ? ['bare-units'] : [])];
    const runs: Record<string, Measure[]> = {};
    for (let i = 0; i < repeat; i++) for (const w of whats) (runs[w] ??= []).push(measure(engine, w, f0, u, link));
    return Object.fromEntries(Object.entries(runs).map(([w, ms]) => [w, { seconds: med(ms.map((m) => m.seconds)), maxRssMb: Math.max(...ms.map((m) => m.maxRssMb)), rows: ms[0]!.rows }]));
  };
  const line = (name: string, n: number, r: Record<string, Measure>, extra = ''): void => {
    const sdc = r.sdc!; const dp = r.dp!; const bare = r.bare!; const bu = r['bare-units'];
    process.stdout.write(`${name.padEnd(18)} ${n.toLocaleString('en').padStart(11)} rows  sdc ${f(sdc.seconds)} s  dp ${f(dp.seconds)} s  bare ${f(bare.seconds)} s  ratio sdc ${(sdc.seconds / bare.seconds).toFixed(2)} dp ${(dp.seconds / bare.seconds).toFixed(2)}`
      + (bu ? `  | bare count(DISTINCT unit) ${f(bu.seconds)} s  ratio sdc ${(sdc.seconds / bu.seconds).toFixed(2)} dp ${(dp.seconds / bu.seconds).toFixed(2)}` : '')
      + `  peak RSS ${Math.max(sdc.maxRssMb, dp.maxRssMb).toFixed(0)} MB${extra}\n`);
  };
  process.stdout.write(`scale benchmark: unit ${unit}, ${os.cpus().length} cores, medians of ${repeat} interleaved runs\n`);

  if (only.includes('duckdb')) {
    const duck = series('duckdb', file, unit);
    const duckSmall = measure('duckdb', 'sdc', smallFile, unit);
    line('duckdb (csv file)', rows, duck, `  (at ${small.toLocaleString('en')} rows: ${duckSmall.maxRssMb.toFixed(0)} MB)`);
  }
  if (url !== '' && only.includes('postgres')) {
    await loadServer(url, file);
    try { line('postgres (server)', rows, series('postgres', file, unit, url), ' (statguard process; the server runs the query)'); } finally { await dropServer(url); }
  }
  if (only.includes('pglite')) {
    const pgl = series('pglite', pgFile, unit);
    const pglSmall = measure('pglite', 'sdc', smallPgFile, unit);
    line('pglite (embedded)', pgliteRows, pgl, ` (includes the loaded table; at ${Math.floor(pgliteRows / 4).toLocaleString('en')} rows: ${pglSmall.maxRssMb.toFixed(0)} MB)`);
  }
  if (only.includes('csv')) {
    const csv = ['sdc', 'dp'].map((w) => measure('csv', w, file, unit));
    const csvSmall = measure('csv', 'sdc', smallFile, unit);
    process.stdout.write(`${'csv (streaming)'.padEnd(18)} ${rows.toLocaleString('en').padStart(11)} rows  sdc ${f(csv[0]!.seconds)} s  dp ${f(csv[1]!.seconds)} s  ${Math.round(rows / csv[0]!.seconds).toLocaleString('en')} rows/s  peak RSS ${csv[0]!.maxRssMb.toFixed(0)} MB (at ${small.toLocaleString('en')} rows: ${csvSmall.maxRssMb.toFixed(0)} MB)\n`);
  }
}

await main();
