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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import type { Test } from 'tap';
import { PGlite } from '@electric-sql/pglite';
import { emptyPgliteDataDir } from '../api/pglite-template.ts';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import {
  aggregateSql,
  buildSql,
  planUsesTop,
  csvSource,
  duckdbExecutor,
  duckdbSource,
  pgInputInfo,
  pgRelation,
  pgliteExecutor,
  pgliteSource,
  postgresSource,
} from '../../engine/source/index.ts';
import type { AggregateResult, DuckdbConnectionLike, SqlExecutor } from '../../engine/source/index.ts';
import type { Plan } from '../../engine/types.ts';
import { AREAS, censusPolicy, generateCensus } from '../../bench/generate.ts';
import {
  KEY,
  csvOf,
  examplePolicies,
  expectedCells,
  loadPlan,
  loadTable,
  planColumns,
  planFromDoc,
  readCsv,
  withSource,
} from './helpers.ts';
import type { SqlLike } from './helpers.ts';

const PG_URL = process.env.STATGUARD_TEST_DATABASE_URL;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-sqltest-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// An empty in-memory database, as `new PGlite()` makes it (initdb run once per machine: see pglite-template.ts).
const pglite = new PGlite({ loadDataDir: await emptyPgliteDataDir() });
t.teardown(() => pglite.close());
const duck = await (await DuckDBInstance.create(':memory:')).connect();
const duckDb: SqlLike = { query: (text, params) => duck.run(text, params as never) };
const pgPool = PG_URL ? new pg.Pool({ connectionString: PG_URL, max: 2 }) : null;
t.teardown(() => pgPool?.end());
const pgTable = `sg_test_${process.pid}`;
t.teardown(async () => {
  await pgPool?.query(`DROP TABLE IF EXISTS "${pgTable}"`);
});

const pgPlan = (plan: Plan, table: string): Plan =>
  withSource(plan, { kind: 'postgres', table, schema: null, connection: null, rowNumberColumn: '_line' });

interface Path {
  name: string;
  run: (plan: Plan) => Promise<AggregateResult>;
}

/**
 * Every path on the plan's CSV file (loaded into each database first). `citus`: also the Citus form (no temporary table,
 * no GROUPING SETS: one GROUP BY per set, UNION ALL, the typed relation inlined in every branch) on the server; it re-reads
 * the relation per grouping set, too slow for PGlite on every policy (PGlite runs it on tiny-sdc below).
 */
async function paths(plan: Plan, citus = false): Promise<Path[]> {
  const { header, rows } = await readCsv(csvOf(plan).path, csvOf(plan).delimiter);
  const cols = planColumns(plan, header);
  await loadTable(pglite, 'micro', header, rows, { kind: 'pglite' }, cols);
  await loadTable(duckDb, 'micro', header, rows, { kind: 'duckdb', tmpFile: path.join(tmp, 'load.csv') }, cols);
  const out: Path[] = [
    { name: 'pglite', run: (p) => pgliteSource({ db: pglite }).aggregate(pgPlan(p, 'micro'), { boundingKey: KEY }) },
    {
      name: 'duckdb file',
      run: (p) =>
        duckdbSource().aggregate(
          withSource(p, { kind: 'csv-duckdb', path: csvOf(p).path, delimiter: csvOf(p).delimiter, header: true }),
          { boundingKey: KEY },
        ),
    },
    {
      name: 'duckdb table',
      run: (p) =>
        duckdbSource({
          connection: duck as unknown as DuckdbConnectionLike,
          table: 'micro',
          rowNumberColumn: '_line',
        }).aggregate(p, { boundingKey: KEY }),
    },
  ];
  if (pgPool) {
    await loadTable(pgPool, pgTable, header, rows, { kind: 'insert' }, cols);
    out.push({
      name: 'postgres',
      run: (p) => postgresSource({ url: PG_URL! }).aggregate(pgPlan(p, pgTable), { boundingKey: KEY }),
    });
    if (citus)
      out.push({
        name: 'postgres citus form',
        run: (p) => postgresSource({ url: PG_URL!, citus: true }).aggregate(pgPlan(p, pgTable), { boundingKey: KEY }),
      });
    // The one-pass statement split over 3 connections by heap block ranges (a plan without a unit column; tiny tables too).
    out.push({
      name: 'postgres in parts',
      run: (p) =>
        postgresSource({ url: PG_URL!, parallel: 3, parallelMinBlocks: 1 }).aggregate(pgPlan(p, pgTable), {
          boundingKey: KEY,
        }),
    });
  }
  return out;
}

const statsOf = (r: AggregateResult) => ({ ...r.stats, input: undefined });

async function compareAll(t: Test, plan: Plan, label: string, citus = false): Promise<AggregateResult> {
  const want = await csvSource().aggregate(plan, { boundingKey: KEY });
  for (const p of await paths(plan, citus)) {
    const got = await p.run(plan);
    t.same(
      got.tables.map((x) => x.plan.id),
      want.tables.map((x) => x.plan.id),
      `${label} ${p.name}: same tables`,
    );
    const exp = expectedCells(plan, want.tables);
    want.tables.forEach((w, i) =>
      t.strictSame(
        got.tables[i]!.cells,
        exp[i],
        `${label} ${p.name}: ${w.plan.id} cells identical${planUsesTop(plan) ? '' : ' (no top contributions: the plan reads none)'}`,
      ),
    );
    t.strictSame(statsOf(got), statsOf(want), `${label} ${p.name}: same statistics`);
    t.strictSame(got.truncation, want.truncation, `${label} ${p.name}: same truncation report inputs`);
  }
  return want;
}

for (const file of examplePolicies()) {
  t.test(`example policy ${path.basename(file)}`, async (t) => {
    const plan = loadPlan(file);
    if (plan.protection.regime === 'ckm') {
      // Cell keys are computed by the streaming path only: every SQL path refuses the plan (never silently differs).
      for (const p of await paths(plan))
        await t.rejects(p.run(plan), { code: 'USAGE', message: /csv source only/ }, `${p.name} refuses ckm`);
      return;
    }
    await compareAll(t, plan, path.basename(file), true);
  });
}

t.test('Citus form (no temporary table, no GROUPING SETS) on PGlite: identical to the CSV path', async (t) => {
  const base = loadPlan(examplePolicies().find((f) => f.endsWith('tiny-sdc.json'))!);
  const { header, rows } = await readCsv(csvOf(base).path);
  await loadTable(pglite, 'micro_c', header, rows, { kind: 'pglite' }, planColumns(base, header));
  const src = { kind: 'postgres' as const, table: 'micro_c', schema: null, connection: null, rowNumberColumn: '_line' };
  const citusForm: SqlExecutor = { ...pgliteExecutor(pglite), materialize: false, groupingSets: false };
  // With the unit column (per-unit steps, bounding at m = 1) and without it (one statement).
  for (const [label, plan] of [
    ['unit, m=1', { ...base, dataset: { ...base.dataset, unit: { ...base.dataset.unit, maxRowsPerUnit: 1 } } }],
    [
      'no unit column',
      { ...base, dataset: { ...base.dataset, unit: { ...base.dataset.unit, column: null, maxRowsPerUnit: 1 } } },
    ],
  ] as const) {
    const want = await csvSource().aggregate(plan, { boundingKey: KEY });
    const texts: string[] = [];
    const exec: SqlExecutor = {
      ...citusForm,
      query: (q, p) => {
        texts.push(q);
        return citusForm.query(q, p);
      },
    };
    const got = await aggregateSql(
      pgPlan(plan, 'micro_c'),
      { boundingKey: KEY },
      exec,
      pgRelation(src),
      pgInputInfo(src),
    );
    t.strictSame(
      got.tables.map((x) => x.cells),
      expectedCells(plan, want.tables),
      `${label}: identical cells`,
    );
    t.strictSame(statsOf(got), statsOf(want), `${label}: same statistics`);
    t.notOk(
      texts.some((q) => /GROUPING|TEMPORARY/i.test(q)),
      `${label}: no GROUPING SETS, GROUPING() or temporary table`,
    );
    if (label === 'unit, m=1') t.ok(want.stats.rowsRemovedByBounding > 0, 'bounding active');
  }
});

t.test('bounding active (maxRowsPerUnit exceeded): same rows kept on every path', async (t) => {
  const csv = path.join(tmp, 'census.csv');
  await generateCensus({ rows: 3000, seed: 'diff', out: csv });
  for (const m of [1, 2]) {
    const plan = planFromDoc(
      censusPolicy(csv, 'sdc', { unit: 'household', maxRowsPerUnit: m }),
      path.join(tmp, 'census.policy.json'),
    );
    const want = await compareAll(t, plan, `census m=${m}`);
    t.ok(want.stats.rowsRemovedByBounding > 200, `bounding removed rows (${want.stats.rowsRemovedByBounding})`);
    const other = await csvSource().aggregate(plan, { boundingKey: new Uint8Array(32).fill(7) });
    // Deep inequality by node:util: tap's notSame formats both sides and computes a text diff of them whenever they
    // differ (which is the passing case here), about 12 s of CPU on these tables.
    t.notOk(
      isDeepStrictEqual(
        other.tables.map((x) => x.cells),
        want.tables.map((x) => x.cells),
      ),
      'another key keeps other rows (the key matters)',
    );
  }
});

t.test('dp truncation report inputs: the same on every path, and as counted by hand', async (t) => {
  const csv = path.join(tmp, 'census-trunc.csv');
  await generateCensus({ rows: 3000, seed: 'trunc', out: csv });
  const { header, rows } = await readCsv(csv);
  const col = (name: string): number => header.indexOf(name);
  const perUnit = new Map<string, number>();
  for (const r of rows)
    perUnit.set(r.fields[col('household_id')]!, (perUnit.get(r.fields[col('household_id')]!) ?? 0) + 1);
  const incomes = rows.map((r) => r.fields[col('income')]!).filter((x) => x !== 'N');
  for (const [m, cap] of [
    [1, 2],
    [99, 1],
  ] as const) {
    const doc = censusPolicy(csv, 'dp', { unit: 'household', maxRowsPerUnit: m });
    const plan = planFromDoc(
      {
        ...doc,
        protection: { ...doc.protection, truncationReport: { share: 0.1, maxDroppedPerUnit: cap } },
      } as typeof doc,
      path.join(tmp, `trunc-${m}.policy.json`),
    );
    const want = await compareAll(t, plan, `truncation m=${m}`);
    const dropped = [...perUnit.values()].reduce((a, n) => a + (n > m ? Math.min(n - m, cap) : 0), 0);
    t.equal(want.truncation!.rowsDropped, dropped, `m=${m}: rows dropped, up to ${cap} per household`);
    if (m === 1) t.ok(dropped > 100 && dropped < want.stats.rowsRemovedByBounding, 'the cap acts');
    else {
      // Every row kept: the clamped incomes are those outside [-20000, 250000].
      const out = incomes.filter((x) => Number(x) < -20000 || Number(x) > 250000).length;
      t.same(
        want.truncation!.valuesClamped.map((c) => [c.column, c.lower, c.upper, c.count]),
        [['income', -20000, 250000, out]],
      );
      t.ok(out > 0, `some incomes clamped (${out})`);
    }
  }
});

t.test('one row per person (no unit column: one statement), sdc with magnitude rules and dp', async (t) => {
  const csv = path.join(tmp, 'census-person.csv');
  await generateCensus({ rows: 3000, seed: 'person', out: csv });
  for (const regime of ['sdc', 'dp'] as const) {
    const plan = planFromDoc(
      censusPolicy(csv, regime, { unit: 'person' }),
      path.join(tmp, `person-${regime}.policy.json`),
    );
    t.equal(
      planUsesTop(plan),
      regime === 'sdc',
      `${regime}: top contributions ${regime === 'sdc' ? 'used' : 'not used'}`,
    );
    const want = await compareAll(t, plan, `census person ${regime}`);
    const sum = want.tables.find((x) => x.plan.measure.kind !== 'count')!;
    t.ok(
      sum.cells.every((c) => c.top.length === Math.min(c.units, 4)),
      `${regime}: the csv path has top contributions (compared when used)`,
    );
  }
});

t.test(
  'one pass in two levels (finest cells, then margins): a ragged hierarchy, a sum table on it, invalid rows dropped',
  async (t) => {
    // The one-pass statement groups each row by the tables' finest cells only and computes every margin and hierarchy
    // level from them. Here the region hierarchy is ragged (regions directly under the total, an area with a sub-area),
    // so level columns are NULL below shallow leaves; a sum table reads tops over it; invalid rows (unknown region, bad and
    // out-of-range ages, a non-numeric income) form finest groups of their own that must add nothing to any cell.
    const src = path.join(tmp, 'census-ragged-src.csv');
    await generateCensus({ rows: 2500, seed: 'ragged', out: src });
    const { header, rows } = await readCsv(src);
    const at = (name: string): number => header.indexOf(name);
    const bad = [
      ['region', 'R99'],
      ['age', 'abc'],
      ['age', '150'],
      ['income', '12x'],
      ['region', ''],
    ].map(([col, v], i) => ({ ...rows[i]!, fields: rows[i]!.fields.map((x, j) => (j === at(col!) ? v! : x)) }));
    const csv = path.join(tmp, 'census-ragged.csv');
    writeFileSync(csv, [header, ...[...rows, ...bad].map((r) => r.fields)].map((r) => r.join(',')).join('\n') + '\n');
    for (const regime of ['sdc', 'dp'] as const) {
      const doc = censusPolicy(csv, regime, { unit: 'person' });
      doc.dataset.onInvalidRow = 'drop';
      const [a1, a2, a3, ...rest] = AREAS;
      doc.dataset.hierarchies = {
        region: [
          { code: a1!.code, label: a1!.label, children: a1!.children },
          ...a2!.children,
          {
            code: a3!.code,
            label: a3!.label,
            children: [
              { code: `${a3!.code}S`, label: 'Sub-area', children: a3!.children.slice(0, 3) },
              ...a3!.children.slice(3),
            ],
          },
          ...rest.map((a) => ({ code: a.code, label: a.label, children: a.children })),
        ],
      };
      doc.tables.push({
        id: 'income-region',
        title: 'Total income by region',
        dimensions: ['region'],
        measure: { kind: 'sum', column: 'income', bounds: [-20000, 250000] },
        weight: 1,
      });
      const plan = planFromDoc(doc, path.join(tmp, `ragged-${regime}.policy.json`));
      const q = buildSql(
        plan,
        pgRelation({ kind: 'postgres', table: 'micro', schema: null, connection: null, rowNumberColumn: '_line' }),
        'postgres',
        Buffer.from(KEY).toString('hex'),
        { typedTable: null, fence: true },
      );
      t.ok(
        q.onePass !== null && q.canon.some((c) => c.cols.some((lc) => lc.nullable)),
        `${regime}: one pass, with level columns NULL below shallow leaves`,
      );
      const want = await compareAll(t, plan, `ragged ${regime}`);
      t.equal(want.stats.rowsDropped, bad.length, `${regime}: the ${bad.length} invalid rows are dropped`);
    }
  },
);

t.test(
  'PostgreSQL row tops from bucket maxima: no second read where the maxima determine them, a ranked read of the other cells',
  async (t) => {
    // The sum table (income by industry and sex) reads its top contributions. (a) Every income above the clamp bound: each
    // finest cell has 4 buckets whose maximum is the bound, so the tops are known from the one pass. (b) Distinct incomes:
    // buckets of several rows hide values, so the undetermined cells are ranked by a second statement. (c) A few rows
    // only: cells of one row per bucket are known exactly, the others ranked. All identical to the CSV path.
    const src = path.join(tmp, 'census-tops.csv');
    await generateCensus({ rows: 3000, seed: 'tops', out: src });
    const { header, rows } = await readCsv(src);
    const inc = header.indexOf('income');
    const variants = [
      {
        name: 'clamped',
        rows: rows.map((r) => ({ ...r, fields: r.fields.map((v, j) => (j === inc ? '300000' : v)) })),
        fallback: false,
      },
      { name: 'distinct', rows, fallback: true },
      { name: 'few rows', rows: rows.slice(0, 40), fallback: null },
    ];
    for (const v of variants) {
      const csv = path.join(tmp, `census-tops-${v.name.replace(' ', '-')}.csv`);
      writeFileSync(csv, [header, ...v.rows.map((r) => r.fields)].map((r) => r.join(',')).join('\n') + '\n');
      const plan = planFromDoc(censusPolicy(csv, 'sdc', { unit: 'person' }), path.join(tmp, 'tops.policy.json'));
      const want = await csvSource().aggregate(plan, { boundingKey: KEY });
      await loadTable(pglite, 'micro_tops', header, v.rows, { kind: 'pglite' });
      const seen: { text: string; params: unknown[] }[] = [];
      const db = {
        query: <T>(text: string, params?: unknown[]) => {
          seen.push({ text, params: params ?? [] });
          return pglite.query<T>(text, params);
        },
      };
      const got = await pgliteSource({ db }).aggregate(pgPlan(plan, 'micro_tops'), { boundingKey: KEY });
      t.strictSame(
        got.tables.map((x) => x.cells),
        expectedCells(plan, want.tables),
        `${v.name}: identical cells, tops included`,
      );
      const ranked = seen.filter((q) => q.text.includes(' AS f('));
      if (v.fallback !== null)
        t.equal(ranked.length, v.fallback ? 1 : 0, `${v.name}: ${v.fallback ? 'one ranked read' : 'no second read'}`);
      for (const q of ranked) {
        // The thresholds are values of the microdata: bind parameters, never in the SQL text.
        const thresholds = q.params[q.params.length - 1] as (string | null)[];
        t.ok(
          Array.isArray(thresholds) && thresholds.some((x) => x !== null),
          `${v.name}: thresholds sent as a parameter`,
        );
      }
      // The ranked statement's text does not depend on the thresholds (they are values of the microdata).
      const bt = buildSql(
        plan,
        pgRelation({ kind: 'postgres', table: 'micro_tops', schema: null, connection: null, rowNumberColumn: '_line' }),
        'postgres',
        Buffer.from(KEY).toString('hex'),
        { typedTable: null, fence: true },
      ).onePass!.bucketTops![0]!;
      const [a, b] = [123457, 654321].map((threshold) => bt.fallback([{ key: bt.cols.map(() => 0), threshold }]));
      t.ok(a!.sql === b!.sql && !a!.sql.includes('123457'), `${v.name}: no threshold in the SQL text`);
      const sum = want.tables.find((x) => x.plan.measure.kind !== 'count')!;
      t.ok(
        sum.cells.some((c) => c.top.length === 4),
        `${v.name}: cells with a full top`,
      );
      // The same statement in parts (heap block ranges, as a server's connections read them; here one after the other on
      // PGlite, which has one connection and no exported snapshots): the parts' rows added up give the same cells.
      if (v.rows.length < 1000) continue; // one heap block
      const pages = Number(
        (await pglite.query<{ n: number }>(`SELECT pg_relation_size('micro_tops') / 8192 AS n`)).rows[0]!.n,
      );
      const bounds = [0, Math.floor(pages / 3), Math.floor((2 * pages) / 3), pages];
      let parts = 0;
      const base = pgliteExecutor(pglite);
      const exec: SqlExecutor = {
        ...base,
        query: (text, params) =>
          /^(BEGIN|COMMIT)/.test(text)
            ? Promise.resolve([])
            : /pg_export_snapshot/.test(text)
              ? Promise.resolve([{ s: 'test' }])
              : base.query(text, params),
        parallel: {
          blocks: () => Promise.resolve(bounds),
          sessions: (_snapshot, n) => {
            parts = n + 1;
            return Promise.resolve({ execs: Array.from({ length: n }, () => base), close: () => Promise.resolve() });
          },
        },
      };
      const src = {
        kind: 'postgres' as const,
        table: 'micro_tops',
        schema: null,
        connection: null,
        rowNumberColumn: '_line',
      };
      const split = await aggregateSql(
        pgPlan(plan, 'micro_tops'),
        { boundingKey: KEY },
        exec,
        pgRelation(src),
        pgInputInfo(src),
      );
      t.ok(pages >= 3, `${v.name}: the table spans ${pages} blocks`);
      t.equal(parts, 3, `${v.name}: read in three parts`);
      t.strictSame(
        split.tables.map((x) => x.cells),
        expectedCells(plan, want.tables),
        `${v.name}: in parts, identical cells`,
      );
      t.strictSame(statsOf(split), statsOf(want), `${v.name}: in parts, same statistics`);
    }
  },
);

t.test(
  'units read in parts (PostgreSQL, split by unit key): the parts add up to the CSV path, bounding and tops included',
  async (t) => {
    const csv = path.join(tmp, 'census-unit-parts.csv');
    await generateCensus({ rows: 3000, seed: 'unit-parts', out: csv });
    const { header, rows } = await readCsv(csv);
    await loadTable(pglite, 'micro_up', header, rows, { kind: 'pglite' });
    const src = {
      kind: 'postgres' as const,
      table: 'micro_up',
      schema: null,
      connection: null,
      rowNumberColumn: '_line',
    };
    for (const regime of ['sdc', 'dp'] as const) {
      const plan = planFromDoc(
        censusPolicy(csv, regime, { unit: 'household', maxRowsPerUnit: 2 }),
        path.join(tmp, `up-${regime}.policy.json`),
      );
      const want = await csvSource().aggregate(plan, { boundingKey: KEY });
      t.ok(want.stats.rowsRemovedByBounding > 0, `${regime}: bounding active`);
      // Three parts on PGlite's one connection, one after the other (no exported snapshots there).
      const base = pgliteExecutor(pglite);
      const created: string[] = [];
      const counted: SqlExecutor = {
        ...base,
        query: (text, params) => {
          if (text.startsWith('CREATE TEMPORARY TABLE')) created.push(text.split(' ')[3]!);
          return base.query(text, params);
        },
      };
      const exec: SqlExecutor = {
        ...counted,
        query: (text, params) =>
          /^(BEGIN|COMMIT|ROLLBACK)/.test(text)
            ? Promise.resolve([])
            : /pg_export_snapshot/.test(text)
              ? Promise.resolve([{ s: 'test' }])
              : counted.query(text, params),
        parallel: {
          blocks: () => Promise.resolve([0, 1, 2, 3]),
          sessions: (_snapshot, n) =>
            Promise.resolve({ execs: Array.from({ length: n }, () => counted), close: () => Promise.resolve() }),
        },
      };
      const got = await aggregateSql(
        pgPlan(plan, 'micro_up'),
        { boundingKey: KEY },
        exec,
        pgRelation(src),
        pgInputInfo(src),
      );
      t.equal(new Set(created).size, 3, `${regime}: three typed tables, one per part`);
      t.strictSame(
        got.tables.map((x) => x.cells),
        expectedCells(plan, want.tables),
        `${regime}: identical cells`,
      );
      t.strictSame(statsOf(got), statsOf(want), `${regime}: same statistics (units, bounding, clamping)`);
      const left = await pglite.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'sg_typed_%' AND relpersistence = 't'`,
      );
      t.equal(left.rows[0]!.n, 0, `${regime}: every part's temporary table dropped`);
      if (pgPool) {
        // The real thing: three connections on one exported snapshot.
        const upTable = `${pgTable}_up`;
        t.teardown(async () => {
          await pgPool.query(`DROP TABLE IF EXISTS "${upTable}"`);
        });
        await loadTable(pgPool, upTable, header, rows, { kind: 'insert' });
        const srv = await postgresSource({ url: PG_URL!, parallel: 3, parallelMinBlocks: 1 }).aggregate(
          pgPlan(plan, upTable),
          { boundingKey: KEY },
        );
        t.strictSame(
          srv.tables.map((x) => x.cells),
          expectedCells(plan, want.tables),
          `${regime} server in parts: identical cells`,
        );
        t.strictSame(statsOf(srv), statsOf(want), `${regime} server in parts: same statistics`);
      }
    }
  },
);

t.test('typed PostgreSQL columns read like their CSV text', async (t) => {
  const csv = path.join(tmp, 'census-typed.csv');
  await generateCensus({ rows: 3000, seed: 'typed', out: csv });
  const plan = planFromDoc(censusPolicy(csv, 'dp', { unit: 'household', maxRowsPerUnit: 2 }), path.join(tmp, 'p.json'));
  const want = await csvSource().aggregate(plan, { boundingKey: KEY });
  const { header, rows } = await readCsv(csv);
  await loadTable(pglite, 'micro_t', header, rows, { kind: 'pglite' });
  await pglite.query(
    `ALTER TABLE micro_t ALTER COLUMN age TYPE integer USING age::integer, ALTER COLUMN sex TYPE smallint USING sex::smallint`,
  );
  const got = await pgliteSource({ db: pglite }).aggregate(pgPlan(plan, 'micro_t'), { boundingKey: KEY });
  t.strictSame(
    got.tables.map((x) => x.cells),
    expectedCells(plan, want.tables),
    'integer columns cast to text: identical cells',
  );
  t.strictSame(statsOf(got), statsOf(want));
});

t.test('Parquet through DuckDB', async (t) => {
  const plan = loadPlan(examplePolicies().find((f) => f.endsWith('tiny-sdc.json'))!);
  const pq = path.join(tmp, 'tiny.parquet');
  await duck.run(
    `COPY (SELECT * FROM read_csv('${csvOf(plan).path}', header = true, all_varchar = true)) TO '${pq}' (FORMAT parquet)`,
  );
  const want = await csvSource().aggregate(plan, { boundingKey: KEY });
  const got = await duckdbSource().aggregate(
    withSource(plan, { kind: 'parquet', path: pq, delimiter: ',', header: true }),
    { boundingKey: KEY },
  );
  t.strictSame(
    got.tables.map((x) => x.cells),
    expectedCells(plan, want.tables),
  );
  t.equal(got.stats.input.kind, 'parquet');
  t.equal(got.stats.input.bytes > 0, true);
});

t.test(
  'integer unit key: used when injective, and a collision falls back to the unit id with identical results',
  async (t) => {
    const csv = path.join(tmp, 'census-key.csv');
    await generateCensus({ rows: 3000, seed: 'key', out: csv });
    const plan = planFromDoc(
      censusPolicy(csv, 'sdc', { unit: 'household', maxRowsPerUnit: 2 }),
      path.join(tmp, 'key.policy.json'),
    );
    const want = await csvSource().aggregate(plan, { boundingKey: KEY });
    t.ok(want.stats.rowsRemovedByBounding > 0, 'bounding active');
    const { header, rows } = await readCsv(csv);
    await loadTable(pglite, 'micro_k', header, rows, { kind: 'pglite' }, planColumns(plan, header));
    await loadTable(
      duckDb,
      'micro_k',
      header,
      rows,
      { kind: 'duckdb', tmpFile: path.join(tmp, 'load-k.csv') },
      planColumns(plan, header),
    );
    const src = {
      kind: 'postgres' as const,
      table: 'micro_k',
      schema: null,
      connection: null,
      rowNumberColumn: '_line',
    };
    const engines: { name: string; exec: SqlExecutor; keyFn: string }[] = [
      { name: 'pglite', exec: pgliteExecutor(pglite), keyFn: 'hashtextextended(u, 0)' },
      { name: 'duckdb', exec: duckdbExecutor(duck as unknown as DuckdbConnectionLike), keyFn: 'hash(u)' },
    ];
    for (const e of engines) {
      for (const collide of [false, true]) {
        const texts: string[] = [];
        // collide: the key becomes length(u) (many unit ids share a length), the worst case of a real 64-bit hash collision.
        const exec: SqlExecutor = {
          flavor: e.exec.flavor,
          query: (text, params) => {
            const sqlText = collide ? text.replaceAll(e.keyFn, 'length(u)') : text;
            texts.push(sqlText);
            return e.exec.query(sqlText, params);
          },
        };
        const got = await aggregateSql(
          pgPlan(plan, 'micro_k'),
          { boundingKey: KEY },
          exec,
          pgRelation(src),
          pgInputInfo(src),
        );
        t.strictSame(
          got.tables.map((x) => x.cells),
          expectedCells(plan, want.tables),
          `${e.name} collide=${collide}: identical cells`,
        );
        t.strictSame(statsOf(got), statsOf(want), `${e.name} collide=${collide}: same statistics`);
        const keyed = texts.some((x) => x.includes('"uk" AS k'));
        t.equal(
          keyed,
          !collide,
          `${e.name} collide=${collide}: ${collide ? 'grouped by the unit id' : 'grouped by the integer key'}`,
        );
        t.equal(
          texts.some((x) => /GROUP BY u\) g/.test(x)),
          collide,
          `${e.name} collide=${collide}: unit statistics ${collide ? 're-run by unit id' : 'by key only'}`,
        );
      }
    }
  },
);
