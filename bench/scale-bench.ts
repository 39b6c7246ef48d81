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
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { censusPolicy, generateCensus } from './generate.ts';
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

interface Measure { seconds: number; maxRssMb: number; rows: number }

/** The bare query: each table's GROUP BY GROUPING SETS (all margins of its raw columns), one statement. */
function bareSql(from: string, flavor: 'postgres' | 'duckdb'): string {
  const num = (c: string) => (flavor === 'postgres' ? `CASE WHEN ${c} ~ '^-?[0-9]+$' THEN CAST(${c} AS bigint) END` : `TRY_CAST(${c} AS BIGINT)`);
  const band = `CASE WHEN CAST(age AS integer) < 15 THEN 0 WHEN CAST(age AS integer) < 25 THEN 1 WHEN CAST(age AS integer) < 35 THEN 2 WHEN CAST(age AS integer) < 45 THEN 3 WHEN CAST(age AS integer) < 55 THEN 4 WHEN CAST(age AS integer) < 65 THEN 5 WHEN CAST(age AS integer) < 75 THEN 6 ELSE 7 END`;
  const cube = (a: string, b: string, agg: string) => `SELECT CAST(${a} AS varchar) AS a, CAST(${b} AS varchar) AS b, ${agg} AS v FROM ${from} GROUP BY GROUPING SETS ((${a}, ${b}), (${a}), (${b}), ())`;
  return [
    cube('region', 'sex', 'count(*)'),
    cube(band, 'sex', 'count(*)'),
    cube('region', 'education', 'count(*)'),
    cube('industry', 'sex', `sum(${num('income')})`),
    cube('region', 'marital', 'count(*)'),
  ].join(' UNION ALL ');
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
    if (what === 'bare') {
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const c = await (await DuckDBInstance.create(':memory:', { memory_limit: '2GB' })).connect();
      await c.runAndReadAll(bareSql(`read_csv('${file}', header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')`, 'duckdb'));
    } else {
      rows = await release(planFor(file, what as 'sdc' | 'dp', unit, { kind: 'csv-duckdb', path: file }), duckdbSource());
    }
  } else if (engine === 'pglite' || engine === 'postgres') {
    const pgSrc = { kind: 'postgres' as const, table: 'census' };
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
    if (what === 'bare') await exec(bareSql('census', 'postgres'));
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

async function ensureFile(rows: number): Promise<string> {
  const dir = path.join(here, 'data');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `census-${rows}.csv`);
  if (!existsSync(file)) {
    process.stdout.write(`generating ${path.relative(process.cwd(), file)} (${rows.toLocaleString('en')} rows, seed 1)\n`);
    await generateCensus({ rows, seed: 1, out: file });
  }
  return file;
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
  const file = await ensureFile(rows);
  const smallFile = await ensureFile(small);
  const pgFile = await ensureFile(pgliteRows);
  const f = (x: number) => x.toFixed(2).padStart(8);
  const line = (name: string, n: number, sdc: Measure, dp: Measure, bare: Measure, extra = ''): void => {
    process.stdout.write(`${name.padEnd(22)} ${n.toLocaleString('en').padStart(11)} rows  sdc ${f(sdc.seconds)} s  dp ${f(dp.seconds)} s  bare ${f(bare.seconds)} s  ratio sdc ${(sdc.seconds / bare.seconds).toFixed(2)} dp ${(dp.seconds / bare.seconds).toFixed(2)}  peak RSS ${Math.max(sdc.maxRssMb, dp.maxRssMb).toFixed(0)} MB${extra}\n`);
  };
  process.stdout.write(`scale benchmark: unit ${unit}, ${os.cpus().length} cores\n`);

  const duck = ['sdc', 'dp', 'bare'].map((w) => measure('duckdb', w, file, unit));
  const duckSmall = measure('duckdb', 'sdc', smallFile, unit);
  line('duckdb (csv file)', rows, duck[0]!, duck[1]!, duck[2]!, `  (at ${small.toLocaleString('en')} rows: ${duckSmall.maxRssMb.toFixed(0)} MB)`);

  if (url !== '') {
    const pgRes = ['sdc', 'dp', 'bare'].map((w) => measure('postgres', w, file, unit, url));
    line('postgres (server)', rows, pgRes[0]!, pgRes[1]!, pgRes[2]!, ' (statguard process; the server runs the query)');
  }

  const pgl = ['sdc', 'dp', 'bare'].map((w) => measure('pglite', w, pgFile, unit));
  line('pglite (embedded)', pgliteRows, pgl[0]!, pgl[1]!, pgl[2]!, ' (includes the loaded table in memory)');

  const csv = ['sdc', 'dp'].map((w) => measure('csv', w, file, unit));
  const csvSmall = measure('csv', 'sdc', smallFile, unit);
  process.stdout.write(`${'csv (streaming)'.padEnd(22)} ${rows.toLocaleString('en').padStart(11)} rows  sdc ${f(csv[0]!.seconds)} s  dp ${f(csv[1]!.seconds)} s  ${Math.round(rows / csv[0]!.seconds).toLocaleString('en')} rows/s  peak RSS ${csv[0]!.maxRssMb.toFixed(0)} MB (at ${small.toLocaleString('en')} rows: ${csvSmall.maxRssMb.toFixed(0)} MB)\n`);
}

await main();
