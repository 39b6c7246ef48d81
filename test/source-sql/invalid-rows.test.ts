/**
 * Invalid rows give the same outcome on the SQL paths as on the CSV path:
 * onInvalidRow 'error' -> ROW_INVALID naming the column and raw value (and
 * the line when the table has a row-number column); 'drop' -> the same counts
 * per reason class and identical tables. Plus sourceFor routing and planning
 * of the new source kinds.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import t from 'tap';
import type { Test } from 'tap';
import { PGlite } from '@electric-sql/pglite';
import { emptyPgliteDataDir } from '../api/pglite-template.ts';
import { StatguardError } from '../../engine/errors.ts';
import { csvSource, duckdbSource, pgliteSource, sourceFor } from '../../engine/source/index.ts';
import type { Plan } from '../../engine/types.ts';
import type { PolicyDoc } from '../../engine/policy/index.ts';
import { censusPolicy, generateCensus } from '../../bench/generate.ts';
import { KEY, ROOT, csvOf, expectedCells, loadPlan, loadTable, planFromDoc, readCsv, withSource } from './helpers.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-sqlinv-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
// An empty in-memory database, as `new PGlite()` makes it (initdb run once per machine: see pglite-template.ts).
const pglite = new PGlite({ loadDataDir: await emptyPgliteDataDir() });
t.teardown(() => pglite.close());

const base = loadPlan(path.join(ROOT, 'policies/tiny-sdc.json'));
const original = readFileSync(csvOf(base).path, 'utf8').trimEnd().split('\n');

/** Each bad row with the reason class, column and value every path must report. */
const BAD: { row: string; reason: string; column: string; value: string }[] = [
  { row: 'e30,X,A,5,10', reason: 'unknown category', column: 'region', value: 'X' },
  { row: 'e31,N,A,5x,10', reason: 'wrong type', column: 'employees', value: '5x' },
  { row: 'e32,N,A,-3,10', reason: 'out of range', column: 'employees', value: '-3' },
  { row: 'e33,N,A,2000000,10', reason: 'no bin', column: 'employees', value: '2000000' },
  { row: 'e34,N,A,5,1e', reason: 'wrong type', column: 'turnover', value: '1e' },
  { row: ',N,A,5,10', reason: 'missing unit id', column: 'ent', value: '' },
  { row: 'e35,N,A,5,-1', reason: 'out of range', column: 'turnover', value: '-1' },
];

function fileWith(rows: string[], name: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, [...original, ...rows].join('\n') + '\n');
  return f;
}

function planOn(file: string, mode: 'error' | 'drop', unit = true): Plan {
  // unit = false: the same plan without a unit column (each row its own unit): the SQL paths then run one statement.
  const u = unit ? base.dataset.unit : { ...base.dataset.unit, column: null, maxRowsPerUnit: 1 };
  return {
    ...withSource(base, { ...csvOf(base), path: file }),
    dataset: { ...base.dataset, source: { ...csvOf(base), path: file }, onInvalidRow: mode, unit: u },
  };
}

async function sqlPaths(plan: Plan): Promise<{ name: string; run: () => Promise<unknown> }[]> {
  const { header, rows } = await readCsv(csvOf(plan).path);
  await loadTable(pglite, 'micro', header, rows, { kind: 'pglite' });
  return [
    {
      name: 'pglite',
      run: () =>
        pgliteSource({ db: pglite }).aggregate(
          withSource(plan, {
            kind: 'postgres',
            table: 'micro',
            schema: null,
            connection: null,
            rowNumberColumn: '_line',
          }),
          { boundingKey: KEY },
        ),
    },
    {
      name: 'duckdb',
      run: () =>
        duckdbSource().aggregate(
          withSource(plan, { kind: 'csv-duckdb', path: csvOf(plan).path, delimiter: ',', header: true }),
          { boundingKey: KEY },
        ),
    },
  ];
}

for (const [i, bad] of BAD.entries())
  for (const unit of [true, false]) {
    if (!unit && bad.column === 'ent') continue; // without a unit column the unit id is not read
    t.test(`error mode: ${bad.reason} in ${bad.column}${unit ? '' : ' (no unit column: one statement)'}`, async (t) => {
      const plan = planOn(fileWith([bad.row], `bad${i}.csv`), 'error', unit);
      const want = await csvSource()
        .aggregate(plan, { boundingKey: KEY })
        .then(
          () => null,
          (e: unknown) => e as StatguardError,
        );
      t.ok(want instanceof StatguardError && want.code === 'ROW_INVALID', 'csv path refuses');
      t.equal(want!.where.column, bad.column);
      t.equal(want!.where.value, bad.value);
      for (const p of await sqlPaths(plan)) {
        const got = await p.run().then(
          () => null,
          (e: unknown) => e as StatguardError,
        );
        t.ok(got instanceof StatguardError, `${p.name}: refused`);
        t.equal(got!.code, 'ROW_INVALID', `${p.name}: ROW_INVALID`);
        t.match(got!.message, `(${bad.reason})`, `${p.name}: reason class named`);
        t.equal(got!.where.column, bad.column, `${p.name}: column`);
        t.equal(got!.where.value, bad.value, `${p.name}: value`);
        if (p.name === 'pglite') t.equal(got!.where.line, want!.where.line, 'pglite: line from the row-number column');
      }
    });
  }

for (const unit of [true, false])
  t.test(
    `drop mode: same counts per reason and identical tables${unit ? '' : ' (no unit column: one statement)'}`,
    async (t) => {
      const plan = planOn(
        fileWith(
          BAD.map((b) => b.row),
          'drop.csv',
        ),
        'drop',
        unit,
      );
      const want = await csvSource().aggregate(plan, { boundingKey: KEY });
      t.equal(want.stats.rowsDropped, unit ? BAD.length : BAD.length - 1);
      for (const p of await sqlPaths(plan)) {
        const got = (await p.run()) as typeof want;
        t.strictSame(got.stats.dropReasons, want.stats.dropReasons, `${p.name}: drop reasons`);
        t.equal(got.stats.rowsDropped, want.stats.rowsDropped, `${p.name}: rows dropped`);
        t.strictSame(
          got.tables.map((x) => x.cells),
          expectedCells(plan, want.tables),
          `${p.name}: identical tables`,
        );
        t.strictSame(
          { ...got.stats, input: undefined },
          { ...want.stats, input: undefined },
          `${p.name}: same statistics`,
        );
      }
    },
  );

t.test('missing table / column and empty input', async (t) => {
  const pgp = withSource(base, {
    kind: 'postgres',
    table: 'nope',
    schema: null,
    connection: null,
    rowNumberColumn: null,
  });
  await t.rejects(pgliteSource({ db: pglite }).aggregate(pgp, { boundingKey: KEY }), { code: 'SOURCE_UNREADABLE' });
  await pglite.query('CREATE TABLE few (ent text, region text, sector text, employees text)');
  await t.rejects(
    pgliteSource({ db: pglite }).aggregate(
      withSource(base, { kind: 'postgres', table: 'few', schema: null, connection: null, rowNumberColumn: null }),
      { boundingKey: KEY },
    ),
    { code: 'SOURCE_UNREADABLE', where: { column: 'turnover' } },
  );
  await pglite.query('ALTER TABLE few ADD COLUMN turnover text');
  await t.rejects(
    pgliteSource({ db: pglite }).aggregate(
      withSource(base, { kind: 'postgres', table: 'few', schema: null, connection: null, rowNumberColumn: null }),
      { boundingKey: KEY },
    ),
    { code: 'EMPTY_INPUT' },
  );
});

t.test('policies with the new source kinds plan, and sourceFor routes them', async (t) => {
  const doc = JSON.parse(readFileSync(path.join(ROOT, 'policies/tiny-sdc.json'), 'utf8')) as PolicyDoc;
  const pgDoc: PolicyDoc = {
    ...doc,
    dataset: {
      ...doc.dataset,
      source: { kind: 'postgres', table: 'enterprises', schema: 'micro', connection: 'TINY_DB' },
    },
  };
  const pgPlan = planFromDoc(pgDoc, '/srv/p.json');
  t.strictSame(pgPlan.dataset.source, {
    kind: 'postgres',
    table: 'enterprises',
    schema: 'micro',
    connection: 'TINY_DB',
    rowNumberColumn: null,
  });
  const pq = planFromDoc(
    { ...doc, dataset: { ...doc.dataset, source: { kind: 'parquet', path: 'data/x.parquet' } } },
    '/srv/p.json',
  );
  t.strictSame(pq.dataset.source, { kind: 'parquet', path: '/srv/data/x.parquet', delimiter: ',', header: true });
  t.equal(sourceFor(base).kind, 'csv');
  t.equal(sourceFor(pq).kind, 'duckdb');
  t.equal(sourceFor(pgPlan, { env: { TINY_DB: 'postgres://u@h/db' } }).kind, 'postgres');
  t.equal(sourceFor(pgPlan, { env: {}, pglite }).kind, 'postgres');
  t.throws(
    () => sourceFor(pgPlan, { env: { DATABASE_URL: 'postgres://x' } }),
    { code: 'SOURCE_UNREADABLE' },
    'the named connection, not DATABASE_URL',
  );
});

/** A bad row appended to a generated census file, and what every path must report for it. */
interface CensusBadRow {
  row: string;
  reason: string;
  column: string;
  value: string;
}

/**
 * Generated census rows plus `bad` rows, through the CSV path and every SQL path, household and person units: in drop
 * mode the same drop counts and identical tables (`checkDrops` asserts the CSV path's counts), in error mode each bad row
 * alone (among the generated rows `keep` lets through) gives ROW_INVALID naming its reason, column and value.
 */
async function censusLikeCsv(
  t: Test,
  name: string,
  bad: readonly CensusBadRow[],
  opts: {
    edit?: (doc: PolicyDoc) => void;
    keep?: (line: string) => boolean;
    checkDrops: (drops: Record<string, number>, unit: string) => void;
    /** Valid rows appended to the generated ones. */
    extra?: readonly string[];
  },
): Promise<void> {
  const csv = path.join(tmp, `census-${name}.csv`);
  await generateCensus({ rows: 400, seed: name, out: csv });
  const lines = [...readFileSync(csv, 'utf8').trimEnd().split('\n'), ...(opts.extra ?? [])];
  const fileOf = (rows: readonly string[], file: string): string => {
    const f = path.join(tmp, file);
    writeFileSync(f, [...rows].join('\n') + '\n');
    return f;
  };
  for (const unit of ['household', 'person'] as const) {
    const planFor = (file: string, mode: 'error' | 'drop'): Plan => {
      const doc = censusPolicy(file, 'sdc', { unit });
      doc.dataset.onInvalidRow = mode;
      opts.edit?.(doc);
      return planFromDoc(doc, path.join(tmp, `${name}.policy.json`));
    };
    const dropPlan = planFor(fileOf([...lines, ...bad.map((b) => b.row)], `${name}-drop-${unit}.csv`), 'drop');
    const want = await csvSource().aggregate(dropPlan, { boundingKey: KEY });
    opts.checkDrops(want.stats.dropReasons, unit);
    for (const p of await sqlPaths(dropPlan)) {
      const got = (await p.run()) as typeof want;
      t.strictSame(got.stats.dropReasons, want.stats.dropReasons, `${unit} ${p.name}: drop reasons`);
      t.strictSame(
        got.tables.map((x) => x.cells),
        expectedCells(dropPlan, want.tables),
        `${unit} ${p.name}: identical tables`,
      );
    }
    for (const [i, b] of bad.entries()) {
      const plan = planFor(
        fileOf([...lines.filter(opts.keep ?? (() => true)), b.row], `${name}-err-${unit}-${i}.csv`),
        'error',
      );
      for (const p of await sqlPaths(plan)) {
        const got = await p.run().then(
          () => null,
          (e: unknown) => e as StatguardError,
        );
        t.equal(got?.code, 'ROW_INVALID', `${unit} ${p.name} ${b.column} ${b.value}: ROW_INVALID`);
        t.match(got?.message ?? '', `(${b.reason})`, `${unit} ${p.name}: reason`);
        t.equal(got?.where.column, b.column, `${unit} ${p.name}: column`);
        t.equal(got?.where.value, b.value, `${unit} ${p.name}: value`);
      }
    }
  }
}

t.test(
  'long code lists (PostgreSQL: a join, DuckDB: an inline ENUM, not a CASE): unknown codes found and reported like the CSV path',
  async (t) => {
    // region (50 codes), education (11) and industry (21): VALUES lists joined by PostgreSQL, ENUM casts in DuckDB.
    await censusLikeCsv(
      t,
      'lookup',
      [
        { row: 'p9001,h9001,R99,1,30,1,3,4,100,1.00', reason: 'unknown category', column: 'region', value: 'R99' },
        { row: 'p9002,h9002,R01,1,30,1,12,4,100,1.00', reason: 'unknown category', column: 'education', value: '12' },
        { row: 'p9003,h9003,R01,1,30,1,3,X,100,1.00', reason: 'unknown category', column: 'industry', value: 'X' },
      ],
      { checkDrops: (drops, unit) => t.equal(drops['unknown category'], 3, `${unit}: csv path drops the three rows`) },
    );
  },
);

t.test(
  'integer bins over a short declared range (an array indexed by the value): the same bins, gaps and errors as the CSV path',
  async (t) => {
    // age is an integer with range 0-99: the SQL sources bin it by an array lookup. Here the 25-34 band is removed and the
    // 45-54 band becomes 47-54 (gaps: those ages have no bin); in error mode the generated rows in the gaps are left out.
    await censusLikeCsv(
      t,
      'bins',
      [
        { row: 'p9101,h9101,R01,1,100,1,3,4,100,1.00', reason: 'out of range', column: 'age', value: '100' },
        { row: 'p9102,h9102,R01,1,-1,1,3,4,100,1.00', reason: 'out of range', column: 'age', value: '-1' },
        { row: 'p9103,h9103,R01,1,7.0,1,3,4,100,1.00', reason: 'wrong type', column: 'age', value: '7.0' },
        {
          row: 'p9104,h9104,R01,1,99999999999999999999,1,3,4,100,1.00',
          reason: 'wrong type',
          column: 'age',
          value: '99999999999999999999',
        },
      ],
      {
        edit: (doc) => {
          const d = doc.dataset.derived![0]!;
          d.bins = d.bins!.filter((b) => b.min !== 25).map((b) => (b.min === 45 ? { ...b, min: 47 } : b));
        },
        keep: (l) => !/^P\d+,H\d+,R\d+,\d,(2[5-9]|3[0-4]|4[56]),/.test(l),
        checkDrops: (drops, unit) => {
          t.ok((drops['no bin'] ?? 0) > 0, `${unit}: the gap leaves rows without a bin`);
          t.equal(drops['out of range'], 2, `${unit}: two ages out of range`);
        },
      },
    );
  },
);

t.test(
  'clamp bounds on both sides of the 32-bit boundary (PostgreSQL clamps to an integer within it, a bigint beyond): the same sums and tops as the CSV path',
  async (t) => {
    // Incomes at, around and far beyond +-2^31, all of them in one cell (industry 7, sex 2), so that a cell's sum passes 2^31
    // either way; the sdc policy reads the top contributions of that table.
    const big = ['2147483647', '2147483648', '5000000000', '-3000000000', '-2147483649', '2147483647', '2147483646'];
    const extra = big.map((v, i) => `p95${i},h95${i},R01,2,40,1,3,7,${v},1.00`);
    for (const [lower, upper] of [
      [-(2 ** 31), 2 ** 31 - 1],
      [-(2 ** 31), 2 ** 31],
      [-(2 ** 31) - 1, 2 ** 31 - 1],
    ] as const) {
      await censusLikeCsv(t, `int32-${upper}`, [], {
        extra,
        edit: (doc) => {
          const m = doc.tables.find((x) => x.id === 'income-industry-sex')!.measure;
          if (m.kind === 'sum') m.bounds = [lower, upper];
        },
        checkDrops: (drops, unit) => t.strictSame(drops, {}, `${unit}, bounds [${lower}, ${upper}]: no row dropped`),
      });
    }
  },
);
