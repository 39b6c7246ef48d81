/**
 * Differential test: every example policy gives IDENTICAL exact tables and
 * statistics through the streaming CSV path and the SQL pushdown paths
 * (PGlite always, DuckDB on the file and on a loaded table always, a real
 * PostgreSQL server when STATGUARD_TEST_DATABASE_URL is set). Also with
 * contribution bounding active (maxRowsPerUnit exceeded): the keyed hash is
 * the same function on every path, so the same rows are kept.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import t from 'tap';
import type { Test } from 'tap';
import { PGlite } from '@electric-sql/pglite';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { csvSource, duckdbSource, pgliteSource, postgresSource } from '../../engine/source/index.ts';
import type { AggregateResult, DuckdbConnectionLike } from '../../engine/source/index.ts';
import type { Plan } from '../../engine/types.ts';
import { censusPolicy, generateCensus } from '../../bench/generate.ts';
import { KEY, csvOf, examplePolicies, loadPlan, loadTable, planColumns, planFromDoc, readCsv, withSource } from './helpers.ts';
import type { SqlLike } from './helpers.ts';

const PG_URL = process.env.STATGUARD_TEST_DATABASE_URL;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-sqltest-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const pglite = new PGlite();
t.teardown(() => pglite.close());
const duck = await (await DuckDBInstance.create(':memory:')).connect();
const duckDb: SqlLike = { query: (text, params) => duck.run(text, params as never) };
const pgPool = PG_URL ? new pg.Pool({ connectionString: PG_URL, max: 2 }) : null;
t.teardown(() => pgPool?.end());
const pgTable = `sg_test_${process.pid}`;
t.teardown(async () => { await pgPool?.query(`DROP TABLE IF EXISTS "${pgTable}"`); });

const pgPlan = (plan: Plan, table: string): Plan => withSource(plan, { kind: 'postgres', table, schema: null, connection: null, rowNumberColumn: '_line' });

interface Path { name: string; run: (plan: Plan) => Promise<AggregateResult> }

/** Every path on the plan's CSV file (loaded into each database first). */
async function paths(plan: Plan): Promise<Path[]> {
  const { header, rows } = await readCsv(csvOf(plan).path, csvOf(plan).delimiter);
  const cols = planColumns(plan, header);
  await loadTable(pglite, 'micro', header, rows, { kind: 'pglite' }, cols);
  await loadTable(duckDb, 'micro', header, rows, { kind: 'duckdb', tmpFile: path.join(tmp, 'load.csv') }, cols);
  const out: Path[] = [
    { name: 'pglite', run: (p) => pgliteSource({ db: pglite }).aggregate(pgPlan(p, 'micro'), { boundingKey: KEY }) },
    { name: 'duckdb file', run: (p) => duckdbSource().aggregate(withSource(p, { kind: 'csv-duckdb', path: csvOf(p).path, delimiter: csvOf(p).delimiter, header: true }), { boundingKey: KEY }) },
    { name: 'duckdb table', run: (p) => duckdbSource({ connection: duck as unknown as DuckdbConnectionLike, table: 'micro', rowNumberColumn: '_line' }).aggregate(p, { boundingKey: KEY }) },
  ];
  if (pgPool) {
    await loadTable(pgPool, pgTable, header, rows, { kind: 'insert' }, cols);
    out.push({ name: 'postgres', run: (p) => postgresSource({ url: PG_URL! }).aggregate(pgPlan(p, pgTable), { boundingKey: KEY }) });
  }
  return out;
}

const statsOf = (r: AggregateResult) => ({ ...r.stats, input: undefined });

async function compareAll(t: Test, plan: Plan, label: string): Promise<AggregateResult> {
  const want = await csvSource().aggregate(plan, { boundingKey: KEY });
  for (const p of await paths(plan)) {
    const got = await p.run(plan);
    t.same(got.tables.map((x) => x.plan.id), want.tables.map((x) => x.plan.id), `${label} ${p.name}: same tables`);
    want.tables.forEach((w, i) => t.strictSame(got.tables[i]!.cells, w.cells, `${label} ${p.name}: ${w.plan.id} cells identical`));
    t.strictSame(statsOf(got), statsOf(want), `${label} ${p.name}: same statistics`);
  }
  return want;
}

for (const file of examplePolicies()) {
  t.test(`example policy ${path.basename(file)}`, async (t) => {
    const plan = loadPlan(file);
    if (plan.protection.regime === 'ckm') {
      // Cell keys are computed by the streaming path only: every SQL path refuses the plan (never silently differs).
      for (const p of await paths(plan)) await t.rejects(p.run(plan), { code: 'USAGE', message: /csv source only/ }, `${p.name} refuses ckm`);
      return;
    }
    await compareAll(t, plan, path.basename(file));
  });
}

t.test('bounding active (maxRowsPerUnit exceeded): same rows kept on every path', async (t) => {
  const csv = path.join(tmp, 'census.csv');
  await generateCensus({ rows: 3000, seed: 'diff', out: csv });
  for (const m of [1, 2]) {
    const plan = planFromDoc(censusPolicy(csv, 'sdc', { unit: 'household', maxRowsPerUnit: m }), path.join(tmp, 'census.policy.json'));
    const want = await compareAll(t, plan, `census m=${m}`);
    t.ok(want.stats.rowsRemovedByBounding > 200, `bounding removed rows (${want.stats.rowsRemovedByBounding})`);
    const other = await csvSource().aggregate(plan, { boundingKey: new Uint8Array(32).fill(7) });
    t.notSame(other.tables.map((x) => x.cells), want.tables.map((x) => x.cells), 'another key keeps other rows (the key matters)');
  }
});

t.test('typed PostgreSQL columns read like their CSV text', async (t) => {
  const csv = path.join(tmp, 'census-typed.csv');
  await generateCensus({ rows: 3000, seed: 'typed', out: csv });
  const plan = planFromDoc(censusPolicy(csv, 'dp', { unit: 'household', maxRowsPerUnit: 2 }), path.join(tmp, 'p.json'));
  const want = await csvSource().aggregate(plan, { boundingKey: KEY });
  const { header, rows } = await readCsv(csv);
  await loadTable(pglite, 'micro_t', header, rows, { kind: 'pglite' });
  await pglite.query(`ALTER TABLE micro_t ALTER COLUMN age TYPE integer USING age::integer, ALTER COLUMN sex TYPE smallint USING sex::smallint`);
  const got = await pgliteSource({ db: pglite }).aggregate(pgPlan(plan, 'micro_t'), { boundingKey: KEY });
  t.strictSame(got.tables.map((x) => x.cells), want.tables.map((x) => x.cells), 'integer columns cast to text: identical cells');
  t.strictSame(statsOf(got), statsOf(want));
});

t.test('Parquet through DuckDB', async (t) => {
  const plan = loadPlan(examplePolicies().find((f) => f.endsWith('tiny-sdc.json'))!);
  const pq = path.join(tmp, 'tiny.parquet');
  await duck.run(`COPY (SELECT * FROM read_csv('${csvOf(plan).path}', header = true, all_varchar = true)) TO '${pq}' (FORMAT parquet)`);
  const want = await csvSource().aggregate(plan, { boundingKey: KEY });
  const got = await duckdbSource().aggregate(withSource(plan, { kind: 'parquet', path: pq, delimiter: ',', header: true }), { boundingKey: KEY });
  t.strictSame(got.tables.map((x) => x.cells), want.tables.map((x) => x.cells));
  t.equal(got.stats.input.kind, 'parquet');
  t.equal(got.stats.input.bytes > 0, true);
});
