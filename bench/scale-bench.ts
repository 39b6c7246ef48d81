/**
 * Scale benchmark (npm run bench:scale): the same census policy (five tables with margins, a region -> area hierarchy,
 * age bands, a clamped sum of income; bench/generate.ts) released through every path, next to the bare aggregation
 * query in the same engine.
 *
 *   npm run bench:scale -- [--rows 10000000] [--pglite-rows 1000000] [--url postgres://...] [--unit household|person]
 *                          [--repeat 3] [--only duckdb,postgres,pglite,csv] [--data-dir /tmp/statguard-bench]
 *                          [--duckdb-memory 400MB]  (default: the source's, defaultDuckdbMemoryLimit(cores))
 *
 * RELEASE = the full release of the policy (sdc, then dp): aggregate (validation, bounding, clamping, every table and
 * margin) + protect + write every output file, timed in a fresh child process.
 *
 * BARE = exactly ONE statement in the same engine over the same input (DuckDB: the same CSV file through read_csv with
 * all_varchar and the same instance settings as the source; PostgreSQL and PGlite: the same loaded table, with the
 * hash_mem the release's one-pass statement gets, so that both are planned as hash aggregates):
 * `GROUP BY GROUPING SETS` with exactly the 16 grouping sets the policy's five tables need (every margin and the area
 * level of the region hierarchy), count(*) and sum(income) per cell, computing only what grouping needs (age -> band,
 * region -> area, income text -> integer) and nothing else: no validation or domain checks, no bounding, no clamping,
 * no distinct units, no protection. For a household-unit policy the release publishes households per cell, which
 * count(*) does not compute; the unprotected form of that statistic is timed in both of its bare forms, one statement
 * each: count(DISTINCT household_id) under the same GROUPING SETS, and (household, cell) groups (the household added to
 * every grouping set) counted per cell; the household ratio is printed against the faster of the two.
 * Ratios are release / bare (target <= 1.3); medians of `--repeat` rounds, interleaved (sdc, dp, bare, bare-units, ...).
 *
 * PEAK MEMORY of the engine process during the dp release, measured at two sizes (rows/10 and rows; target: independent
 * of rows; dp because sdc may fail on a sparse small file), the sdc release's beside it:
 * DuckDB and PGlite run inside the benchmark's child process (its peak RSS; PGlite's table is in a data directory,
 * as for the embedded default, loaded once per size and opened before the clock starts); a PostgreSQL server's engine processes are the backends
 * serving the release's connections (one, or one per part when the one-pass statement is read in parts): the largest
 * VmHWM from /proc (server on this machine; includes the shared buffers it touched, at most shared_buffers) and the
 * largest private memory (RssAnon), sampled every 100 ms; the statguard process beside it is printed too.
 *
 * The streaming CSV path prints rows/s (and its own peak RSS at both sizes). PGlite (WASM, single-threaded) runs
 * --pglite-rows rows (default min(rows, 1,000,000)), printed on its line. A PostgreSQL server (--url or
 * STATGUARD_BENCH_DATABASE_URL) is loaded with server-side COPY (the server must be able to read the generated file)
 * and the table is dropped at the end. Generated files go to --data-dir (default bench/data; ~21 bytes per row).
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
import {
  csvSource,
  defaultDuckdbMemoryLimit,
  duckdbSource,
  pgliteSource,
  postgresSource,
} from '../engine/source/index.ts';
import type { Source } from '../engine/source/index.ts';
import { cellHashMemSql } from '../engine/source/sql-source.ts';
import type { Plan } from '../engine/types.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
};

/** A DuckDB memory size ("400MB", "1GB", "1.5GB") in MB (Infinity when not understood: treated as large). */
const parseMb = (v: string): number => {
  const m = /^\s*([0-9.]+)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i.exec(v);
  if (!m) return Infinity;
  const unit = (m[2] ?? 'MB').toUpperCase().replace('I', '');
  return Number(m[1]) * ({ KB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 } as Record<string, number>)[unit]!;
};

/** The server table the benchmark loads (and drops) on a PostgreSQL server. */
const PG_TABLE = 'statguard_bench_census';
const COLUMNS =
  'person_id text, household_id text, region text, sex text, age text, marital text, education text, industry text, income text, weight text';

/** Load the generated file into the server (server-side COPY: the server must be able to read the file). */
async function loadServer(url: string, file: string, table: string): Promise<void> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    await c.query(`CREATE TABLE ${table} (${COLUMNS})`);
    await c.query(`COPY ${table} FROM '${file.replace(/'/g, "''")}' WITH (FORMAT csv, HEADER true)`);
    await c.query(`ANALYZE ${table}`);
  } finally {
    await c.end();
  }
}

async function dropServer(url: string, table: string): Promise<void> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP TABLE IF EXISTS ${table}`);
  } finally {
    await c.end();
  }
}

interface Measure {
  seconds: number;
  /** Peak RSS of the child process (statguard; DuckDB and PGlite run inside it). */
  maxRssMb: number;
  /** Peak RSS (VmHWM) of the PostgreSQL server backend that ran the statements (null when not measurable). */
  serverRssMb: number | null;
  /** Its peak private memory (RssAnon), and how many backends served the release. */
  serverPrivateMb?: number | null;
  serverBackends?: number;
  rows: number;
}

/**
 * The bare query (see the header comment): ONE statement, one scan, GROUP BY GROUPING SETS holding the 16 grouping sets
 * of the policy's five tables, count(*) and sum(income) per cell ('bare'); households per cell by count(DISTINCT
 * household_id) ('bare-units') or by (household, cell) groups counted per cell ('bare-unit-cells').
 */
type BareKind = 'bare' | 'bare-units' | 'bare-unit-cells';
function bareSql(from: string, flavor: 'postgres' | 'duckdb', kind: BareKind = 'bare'): string {
  const num =
    flavor === 'postgres'
      ? `CASE WHEN income ~ '^-?[0-9]+$' THEN CAST(income AS bigint) END`
      : `TRY_CAST(income AS BIGINT)`;
  const band = `CASE WHEN CAST(age AS integer) < 15 THEN 0 WHEN CAST(age AS integer) < 25 THEN 1 WHEN CAST(age AS integer) < 35 THEN 2 WHEN CAST(age AS integer) < 45 THEN 3 WHEN CAST(age AS integer) < 55 THEN 4 WHEN CAST(age AS integer) < 65 THEN 5 WHEN CAST(age AS integer) < 75 THEN 6 ELSE 7 END`;
  const area = `CASE ${AREAS.map((a) => `WHEN region IN (${a.children.map((c) => `'${c}'`).join(', ')}) THEN '${a.code}'`).join(' ')} END`;
  const sets = [
    '(region, sex)',
    '(area, sex)',
    '(region)',
    '(area)',
    '(sex)',
    '()',
    '(band, sex)',
    '(band)',
    '(region, education)',
    '(area, education)',
    '(education)',
    '(industry, sex)',
    '(industry)',
    '(region, marital)',
    '(area, marital)',
    '(marital)',
  ];
  const cols = 'region, area, sex, band, education, industry, marital';
  const rows = `(SELECT household_id, region, ${area} AS area, sex, ${band} AS band, education, industry, marital, ${num} AS v FROM ${from}) b`;
  // Households per cell in two levels, as the release counts them: (household, cell) groups, then groups per cell.
  if (kind === 'bare-unit-cells') {
    return `SELECT g, ${cols}, count(*) AS units, sum(n) AS n, sum(s) AS s
    FROM (SELECT GROUPING(${cols}) AS g, ${cols}, count(*) AS n, sum(v) AS s FROM ${rows}
      GROUP BY GROUPING SETS (${sets.map((x) => `(household_id${x === '()' ? '' : `, ${x.slice(1, -1)}`})`).join(', ')})) x
    GROUP BY g, ${cols}`;
  }
  return `SELECT ${cols}, ${kind === 'bare-units' ? 'count(DISTINCT household_id)' : 'count(*)'} AS n, sum(v) AS s
    FROM ${rows}
    GROUP BY GROUPING SETS (${sets.join(', ')})`;
}
const isBare = (what: string): what is BareKind =>
  what === 'bare' || what === 'bare-units' || what === 'bare-unit-cells';

function planFor(
  csv: string,
  regime: 'sdc' | 'dp',
  unit: 'household' | 'person',
  source: PolicyDoc['dataset']['source'],
): Plan {
  const doc = censusPolicy(csv, regime, { unit });
  doc.dataset.source = source;
  const v = validatePolicy(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return planPolicy(v.policy, { policyPath: path.join(here, 'census.policy.json'), policySha256: '0'.repeat(64) });
}

async function release(plan: Plan, source: Source): Promise<number> {
  const run = await runRelease(plan, { source });
  const out = mkdtempSync(path.join(os.tmpdir(), 'statguard-scale-'));
  try {
    await writeRelease(run.content, path.join(out, 'release'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return run.internal.rows.read;
}

/**
 * Peak memory of the server backend(s) whose application_name is `app` (the release's connections: one, or one per part
 * when a one-pass statement is read in parts), sampled every 100 ms from /proc/<pid>/status: VmHWM (peak RSS; only grows,
 * so the last sample before the backend exits is its peak up to 100 ms; it counts the shared buffers the backend touched,
 * at most shared_buffers) and the largest RssAnon seen (its private memory: hash tables, sorts). Per backend, the largest;
 * null when not readable.
 */
interface BackendPeak {
  hwm: number;
  priv: number;
  backends: number;
}
async function watchBackend(url: string, app: string): Promise<() => Promise<BackendPeak | null>> {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const peak = new Map<number, { hwm: number; priv: number }>();
  let stop = false;
  const sample = async (): Promise<void> => {
    const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
    for (const { pid } of r.rows) {
      try {
        const st = readFileSync(`/proc/${pid}/status`, 'utf8');
        const h = /VmHWM:\s+(\d+) kB/.exec(st);
        const a = /RssAnon:\s+(\d+) kB/.exec(st);
        const p = peak.get(pid) ?? { hwm: 0, priv: 0 };
        if (h && a)
          peak.set(pid, { hwm: Math.max(p.hwm, Number(h[1]) / 1024), priv: Math.max(p.priv, Number(a[1]) / 1024) });
      } catch {
        /* exited, or the server is on another machine */
      }
    }
  };
  const loop = (async () => {
    while (!stop) {
      await sample();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    stop = true;
    await loop;
    await c.end();
    const ps = [...peak.values()];
    return ps.length > 0
      ? { hwm: Math.max(...ps.map((p) => p.hwm)), priv: Math.max(...ps.map((p) => p.priv)), backends: ps.length }
      : null;
  };
}

const withApp = (url: string, app: string): string => `${url}${url.includes('?') ? '&' : '?'}application_name=${app}`;

/** The PGlite data directory holding `file`'s rows (under the run's STATGUARD_BENCH_PGLITE_ROOT, set by the parent). */
const pgliteDir = (file: string): string =>
  path.join(process.env.STATGUARD_BENCH_PGLITE_ROOT ?? os.tmpdir(), path.basename(file, '.csv'));

/** Child: one measurement (engine, what, file), printed as a JSON line. */
async function child(
  engine: string,
  what: string,
  file: string,
  unit: 'household' | 'person',
  url: string,
  table: string,
  mem: string,
): Promise<void> {
  const t0 = performance.now();
  let rows = 0;
  let serverRssMb: number | null = null;
  if (engine === 'csv') {
    rows = await release(planFor(file, what as 'sdc' | 'dp', unit, { kind: 'csv', path: file }), csvSource());
  } else if (engine === 'duckdb') {
    if (isBare(what)) {
      // Same instance settings as duckdbSource() (threads = cores, no insertion order, the same memory limit, a temp directory).
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-bare-'));
      // Except: DuckDB's count(DISTINCT) under GROUPING SETS does not spill (out of memory at 256MB-512MB, 10M rows), nor do
      // 16 (household, cell) grouping sets in one statement (out of memory at 400MB), so both bare forms of households
      // per cell get at least 1GB (the release runs one statement per table, within the source's limit).
      const bareMem = (what === 'bare-units' || what === 'bare-unit-cells') && parseMb(mem) < 1024 ? '1GB' : mem;
      const c = await (
        await DuckDBInstance.create(':memory:', {
          memory_limit: bareMem,
          temp_directory: tmp,
          preserve_insertion_order: 'false',
          threads: String(os.availableParallelism()),
        })
      ).connect();
      await c.runAndReadAll(
        bareSql(
          `read_csv('${file}', header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')`,
          'duckdb',
          what,
        ),
      );
      rmSync(tmp, { recursive: true, force: true });
    } else {
      rows = await release(
        planFor(file, what as 'sdc' | 'dp', unit, { kind: 'csv-duckdb', path: file }),
        duckdbSource({ memoryLimit: mem }),
      );
    }
  } else if (engine === 'pglite' && what === 'load') {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create(pgliteDir(file));
    await db.query(`CREATE TABLE census (${COLUMNS})`);
    await db.query(`COPY census FROM '/dev/blob' WITH (FORMAT csv, HEADER true)`, [], {
      blob: new Blob([readFileSync(file)]),
    });
    await db.close();
  } else if (engine === 'pglite' || engine === 'postgres') {
    const pgSrc = { kind: 'postgres' as const, table: engine === 'postgres' ? table : 'census' };
    let exec: (q: string) => Promise<unknown>;
    let source: Source;
    let done = async (): Promise<void> => {};
    let watch: (() => Promise<BackendPeak | null>) | null = null;
    if (engine === 'pglite') {
      // As the embedded default runs: the table is in a data directory (loaded once per size by the 'load' child), opened
      // before the clock starts (an embedded store is open already; opening takes ~1-2 s whatever the size).
      const { PGlite } = await import('@electric-sql/pglite');
      const db = await PGlite.create(pgliteDir(file));
      exec = (q) => db.query(q);
      source = pgliteSource({ db });
      done = () => db.close();
    } else {
      const app = `statguard_bench_${process.pid}`;
      const pg = (await import('pg')).default;
      const pool = new pg.Pool({ connectionString: withApp(url, app), max: 1 });
      exec = (q) => pool.query(q);
      source = postgresSource({ url: withApp(url, app) });
      watch = await watchBackend(url, app);
      done = () => pool.end();
    }
    let bareSeconds: number | null = null;
    const t1 = performance.now();
    if (isBare(what)) {
      // The same hash_mem as the release's one-pass statement (sql-source.ts withCellHashMem: 256 MB): with the default
      // PostgreSQL cannot estimate the computed columns' groups and sorts every row once per rollup (about 2x slower), which
      // would flatter the ratio. Set, not timed separately: the statement below is.
      await exec(cellHashMemSql(false));
      const t2 = performance.now();
      await exec(bareSql(engine === 'postgres' ? table : 'census', 'postgres', what));
      bareSeconds = (performance.now() - t2) / 1000;
    } else rows = await release(planFor(file, what as 'sdc' | 'dp', unit, pgSrc), source);
    const seconds = bareSeconds ?? (performance.now() - t1) / 1000;
    await done();
    const peak = watch ? await watch() : null;
    if (peak) serverRssMb = peak.hwm;
    const m: Measure = {
      seconds,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      serverRssMb,
      serverPrivateMb: peak?.priv ?? null,
      serverBackends: peak?.backends ?? 0,
      rows,
    };
    process.stdout.write(`${JSON.stringify(m)}\n`);
    return;
  }
  const m: Measure = {
    seconds: (performance.now() - t0) / 1000,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    serverRssMb,
    rows,
  };
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

interface Ctx {
  unit: string;
  url: string;
  table: string;
  mem: string;
}

function measure(engine: string, what: string, file: string, c: Ctx): Measure {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      engine,
      '--what',
      what,
      '--file',
      file,
      '--unit',
      c.unit,
      '--url',
      c.url,
      '--table',
      c.table,
      '--duckdb-memory',
      c.mem,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) throw new Error(`${engine} ${what} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measure;
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) {
    await child(
      arg('child', ''),
      arg('what', ''),
      arg('file', ''),
      arg('unit', 'household') as 'household' | 'person',
      arg('url', ''),
      arg('table', PG_TABLE),
      arg('duckdb-memory', defaultDuckdbMemoryLimit(os.availableParallelism())),
    );
    return;
  }
  const rows = Number(arg('rows', '10000000'));
  const pgliteRows = Number(arg('pglite-rows', String(Math.min(rows, 1_000_000))));
  const unit = arg('unit', 'household');
  const url = arg('url', process.env.STATGUARD_BENCH_DATABASE_URL ?? '');
  const dataDir = path.resolve(arg('data-dir', path.join(here, 'data')));
  const mem = arg('duckdb-memory', defaultDuckdbMemoryLimit(os.availableParallelism()));
  const small = Math.max(1, Math.floor(rows / 10));
  const smallPg = Math.max(1, Math.floor(pgliteRows / 10));
  const repeat = Number(arg('repeat', '3'));
  const only = arg('only', 'duckdb,postgres,pglite,csv').split(',');
  const file = await ensureCensusFile(rows, dataDir);
  const smallFile = await ensureCensusFile(small, dataDir);
  const pgFile = only.includes('pglite') ? await ensureCensusFile(pgliteRows, dataDir) : '';
  const smallPgFile = only.includes('pglite') ? await ensureCensusFile(smallPg, dataDir) : '';
  const units = unit === 'household';
  const ctx: Ctx = { unit, url, table: PG_TABLE, mem };
  const f = (x: number) => x.toFixed(2).padStart(7);
  const n = (x: number) => x.toLocaleString('en');
  const med = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)]!;
  };
  const mb = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : `${x.toFixed(0)} MB`);
  /** `repeat` rounds, interleaved (sdc, dp, bare, bare-units each round), so load changes hit all alike; medians and max RSS. */
  const series = (engine: string, f0: string, c: Ctx): Record<string, Measure> => {
    const whats = ['sdc', 'dp', 'bare', ...(units ? ['bare-units', 'bare-unit-cells'] : [])];
    const runs: Record<string, Measure[]> = {};
    for (let i = 0; i < repeat; i++) for (const w of whats) (runs[w] ??= []).push(measure(engine, w, f0, c));
    return Object.fromEntries(
      Object.entries(runs).map(([w, ms]) => [
        w,
        {
          seconds: med(ms.map((m) => m.seconds)),
          maxRssMb: Math.max(...ms.map((m) => m.maxRssMb)),
          serverRssMb: ms.some((m) => m.serverRssMb !== null) ? Math.max(...ms.map((m) => m.serverRssMb ?? 0)) : null,
          serverPrivateMb: ms.some((m) => (m.serverPrivateMb ?? null) !== null)
            ? Math.max(...ms.map((m) => m.serverPrivateMb ?? 0))
            : null,
          serverBackends: Math.max(...ms.map((m) => m.serverBackends ?? 0)),
          rows: ms[0]!.rows,
        },
      ]),
    );
  };
  /** Peak engine-process memory of a release: the server backend for a server, else the process itself. */
  const engineRss = (m: Measure, server: boolean): number | null => (server ? m.serverRssMb : m.maxRssMb);
  const line = (
    name: string,
    rowsN: number,
    r: Record<string, Measure>,
    smallN: number,
    smallM: Measure,
    server: boolean,
  ): void => {
    const sdc = r.sdc!;
    const dp = r.dp!;
    const bare = r.bare!;
    const bu = r['bare-units'];
    const bc = r['bare-unit-cells'];

    process.stdout.write(
      `${name.padEnd(18)} ${n(rowsN).padStart(11)} rows  release sdc ${f(sdc.seconds)} s  dp ${f(dp.seconds)} s  bare count(*) ${f(bare.seconds)} s  ratio sdc ${(sdc.seconds / bare.seconds).toFixed(2)} dp ${(dp.seconds / bare.seconds).toFixed(2)}\n`,
    );
    if (bu && bc) {
      // The published statistic (households per cell) without protection: the faster of its two bare forms.
      const best = Math.min(bu.seconds, bc.seconds);
      process.stdout.write(
        `${''.padEnd(32)}bare households per cell: count(DISTINCT household_id) ${f(bu.seconds)} s, (household, cell) groups then cells ${f(bc.seconds)} s;` +
          ` ratio to the faster sdc ${(sdc.seconds / best).toFixed(2)} dp ${(dp.seconds / best).toFixed(2)}\n`,
      );
    }
    process.stdout.write(
      `${''.padEnd(32)}peak RSS of the ${server ? 'server backend' : 'engine process'} (dp release): ${mb(engineRss(smallM, server))} at ${n(smallN)} rows, ${mb(engineRss(dp, server))} at ${n(rowsN)} rows` +
        (server ? ` (statguard process: ${mb(smallM.maxRssMb)}, ${mb(dp.maxRssMb)})` : '') +
        `; sdc release ${mb(engineRss(sdc, server))}, bare ${mb(engineRss(bare, server))} at ${n(rowsN)} rows\n`,
    );
    if (server)
      process.stdout.write(
        `${''.padEnd(32)}private memory (RssAnon) of a backend (dp release): ${mb(smallM.serverPrivateMb)} -> ${mb(dp.serverPrivateMb)}; sdc ${mb(sdc.serverPrivateMb)}, bare ${mb(bare.serverPrivateMb)}; backends per release: ${dp.serverBackends ?? 0} (bare ${bare.serverBackends ?? 0}); VmHWM counts the shared buffers touched (shared_buffers bounds them)\n`,
      );
  };
  process.stdout.write(
    `scale benchmark: unit ${unit}, ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}, medians of ${repeat} interleaved runs, DuckDB memory_limit ${mem}\n`,
  );

  if (only.includes('duckdb')) {
    const duck = series('duckdb', file, ctx);
    line('duckdb (csv file)', rows, duck, small, measure('duckdb', 'dp', smallFile, ctx), false);
  }
  if (url !== '' && only.includes('postgres')) {
    const smallTable = `${PG_TABLE}_small`;
    try {
      await loadServer(url, file, PG_TABLE);
      await loadServer(url, smallFile, smallTable);
      const pgSmall = measure('postgres', 'dp', smallFile, { ...ctx, table: smallTable });
      line('postgres (server)', rows, series('postgres', file, ctx), small, pgSmall, true);
    } finally {
      await dropServer(url, PG_TABLE);
      await dropServer(url, smallTable);
    }
  }
  if (only.includes('pglite')) {
    process.env.STATGUARD_BENCH_PGLITE_ROOT = mkdtempSync(path.join(os.tmpdir(), 'statguard-bench-pglite-'));
    try {
      for (const f0 of [pgFile, smallPgFile]) measure('pglite', 'load', f0, ctx);
      const pgl = series('pglite', pgFile, ctx);
      line(`pglite (embedded)`, pgliteRows, pgl, smallPg, measure('pglite', 'dp', smallPgFile, ctx), false);
      process.stdout.write(
        `${''.padEnd(32)}(PGlite${pgliteRows !== rows ? ` runs ${n(pgliteRows)} rows, not ${n(rows)}` : ''}: WASM, single-threaded; its table in a data directory, as the embedded default)\n`,
      );
    } finally {
      rmSync(process.env.STATGUARD_BENCH_PGLITE_ROOT, { recursive: true, force: true });
    }
  }
  if (only.includes('csv')) {
    const csv = ['sdc', 'dp'].map((w) => measure('csv', w, file, ctx));
    const csvSmall = measure('csv', 'dp', smallFile, ctx);
    process.stdout.write(
      `${'csv (streaming)'.padEnd(18)} ${n(rows).padStart(11)} rows  release sdc ${f(csv[0]!.seconds)} s  dp ${f(csv[1]!.seconds)} s  ${n(Math.round(rows / csv[0]!.seconds))} rows/s (sdc), ${n(Math.round(rows / csv[1]!.seconds))} rows/s (dp)\n`,
    );
    process.stdout.write(
      `${''.padEnd(32)}peak RSS of the engine process (dp release): ${mb(csvSmall.maxRssMb)} at ${n(small)} rows, ${mb(csv[1]!.maxRssMb)} at ${n(rows)} rows; sdc release ${mb(csv[0]!.maxRssMb)}\n`,
    );
  }
}

await main();
