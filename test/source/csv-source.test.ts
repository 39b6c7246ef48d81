import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import seedrandom from 'seedrandom';
import { csvSource } from '../../engine/source/index.ts';
import { StatguardError } from '../../engine/errors.ts';
import { HEADER, KEY, makePlan, randomRows } from './plan-fixture.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-src-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const write = (text: string): string => {
  const f = path.join(dir, `f${n++}.csv`);
  fs.writeFileSync(f, text);
  return f;
};

const GOOD = ['p1,h1,R1,1,34,1,1200.50,a', 'p2,h1,R1,2,30,2,N,b', 'p3,h2,R4,2,5,N,N,c'];

async function rejects(
  t: Tap,
  file: string,
  expect: { code: string; line?: number; column?: string; value?: string },
  opts: Partial<Parameters<typeof makePlan>[0]> = {},
) {
  try {
    await csvSource().aggregate(makePlan({ path: file, ...opts }), { boundingKey: KEY });
    t.fail('expected an error');
  } catch (e) {
    t.ok(e instanceof StatguardError, 'StatguardError');
    const err = e as StatguardError;
    t.equal(err.code, expect.code, `code ${expect.code}: ${err.describe()}`);
    t.equal(err.where.file, file, 'names the file');
    if ('line' in expect) t.equal(err.where.line, expect.line, 'line');
    if ('column' in expect) t.equal(err.where.column, expect.column, 'column');
    if ('value' in expect) t.equal(err.where.value, expect.value, 'value');
    return err;
  }
  return null;
}
type Tap = Test;

const badCases: { name: string; row: string; column: string; value: string; reason: string }[] = [
  { name: 'wrong type', row: 'p9,h9,R2,1,12abc,1,10,z', column: 'age', value: '12abc', reason: 'wrong type' },
  { name: 'empty integer', row: 'p9,h9,R2,1,,1,10,z', column: 'age', value: '', reason: 'missing value' },
  { name: 'unknown category', row: 'p9,h9,R9,1,40,1,10,z', column: 'region', value: 'R9', reason: 'unknown category' },
  {
    name: 'missing code in a dimension',
    row: 'p9,h9,R2,9,40,1,10,z',
    column: 'sex',
    value: '9',
    reason: 'missing value',
  },
  { name: 'missing unit id', row: 'p9,,R2,1,40,1,10,z', column: 'hh', value: '', reason: 'missing unit id' },
  { name: 'missing unit code', row: 'p9,NA,R2,1,40,1,10,z', column: 'hh', value: 'NA', reason: 'missing unit id' },
  { name: 'constraint', row: 'p9,h9,R2,1,130,1,10,z', column: 'age', value: '130', reason: 'out of range' },
  { name: 'no bin', row: 'p9,h9,R2,1,110,1,10,z', column: 'age', value: '110', reason: 'no bin' },
  {
    name: 'measure wrong type',
    row: 'p9,h9,R2,1,40,1,1e999,z',
    column: 'income',
    value: '1e999',
    reason: 'wrong type',
  },
  { name: 'measure garbage', row: 'p9,h9,R2,1,40,1,12abc,z', column: 'income', value: '12abc', reason: 'wrong type' },
  {
    name: 'measure constraint',
    row: 'p9,h9,R2,1,40,1,-20000000,z',
    column: 'income',
    value: '-20000000',
    reason: 'out of range',
  },
  {
    name: 'too few fields',
    row: 'p9,h9,R2,1,40,1',
    column: 'income',
    value: 'p9,h9,R2,1,40,1',
    reason: 'wrong field count',
  },
];

t.test('typed conversion errors stop the run with file, line, column and value', async (t) => {
  for (const c of badCases) {
    // A quoted multi-line field before the bad row: the bad row starts on physical line 6.
    const text = [HEADER, GOOD[0], 'p5,h5,R3,1,50,1,10,"two\nlines"', GOOD[1], c.row, GOOD[2]].join('\n') + '\n';
    const err = await rejects(t, write(text), { code: 'ROW_INVALID', line: 6, column: c.column, value: c.value });
    t.match(err?.message ?? '', c.reason, `${c.name}: reason in message`);
  }
  // Too many fields: no column to name, the raw record is quoted.
  await rejects(t, write([HEADER, GOOD[0], 'p9,h9,R2,1,40,1,10,z,EXTRA'].join('\n')), {
    code: 'ROW_INVALID',
    line: 3,
    value: 'p9,h9,R2,1,40,1,10,z,EXTRA',
  });
});

t.test('dropped rows are counted by reason and the tables equal those of the clean file', async (t) => {
  const rng = seedrandom('drop');
  const good = randomRows(rng, 40);
  const mixed: string[] = [];
  const expected: Record<string, number> = {};
  good.forEach((r, i) => {
    mixed.push(r);
    if (i % 5 === 0) {
      const c = badCases[(i / 5) % badCases.length]!;
      // keep bad rows in their own households so the clean households are unchanged
      mixed.push(c.row.replace('h9', `hbad${i}`));
      expected[c.reason] = (expected[c.reason] ?? 0) + 1;
    }
  });
  const fMixed = write([HEADER, ...mixed].join('\n') + '\n');
  const fClean = write([HEADER, ...good].join('\n') + '\n');
  const a = await csvSource().aggregate(makePlan({ path: fMixed, onInvalidRow: 'drop', m: 2 }), { boundingKey: KEY });
  const b = await csvSource().aggregate(makePlan({ path: fClean, onInvalidRow: 'drop', m: 2 }), { boundingKey: KEY });
  t.same(a.stats.dropReasons, expected, 'counts per reason');
  t.equal(a.stats.rowsDropped, mixed.length - good.length);
  t.equal(a.stats.rowsRead, mixed.length);
  t.equal(b.stats.rowsDropped, 0);
  t.same(
    a.tables.map((x) => x.cells),
    b.tables.map((x) => x.cells),
    'same tables as without the bad rows',
  );
  t.equal(a.stats.units, b.stats.units);
  t.notOk(JSON.stringify(a.stats).includes('12abc'), 'stats never carry row content');
});

t.test('malformed CSV structure: unbalanced quote', async (t) => {
  const text = [HEADER, GOOD[0], GOOD[1], 'p7,h7,R2,"1,40,1,10,z', GOOD[2], 'p8,h8,R2,1,40,1,"10",z'].join('\n') + '\n';
  for (const mode of ['error', 'drop'] as const) {
    await rejects(
      t,
      write(text),
      { code: 'CSV_MALFORMED', line: 4, column: 'sex', value: 'p7,h7,R2,"1,40,1,10,z' },
      { onInvalidRow: mode },
    );
  }
  // unterminated at end of file
  await rejects(t, write([HEADER, GOOD[0], 'p7,h7,R2,1,40,1,10,"z'].join('\n')), {
    code: 'CSV_MALFORMED',
    line: 3,
    column: 'extra',
  });
});

t.test('header problems, empty and missing files', async (t) => {
  await rejects(t, write('pid,hh,region,sex,age,income\n' + 'p1,h1,R1,1,3,4\n'), {
    code: 'CSV_HEADER',
    column: 'industry',
  });
  await rejects(t, write('pid,hh,region,sex,age,industry,income,age\n' + 'p1,h1,R1,1,3,1,4,5\n'), {
    code: 'CSV_HEADER',
    column: 'age',
  });
  await rejects(t, write(''), { code: 'EMPTY_INPUT' });
  await rejects(t, write(HEADER + '\n'), { code: 'EMPTY_INPUT' });
  await rejects(t, write('\n\n'), { code: 'EMPTY_INPUT' });
  const missing = path.join(dir, 'nope.csv');
  const err = await rejects(t, missing, { code: 'SOURCE_UNREADABLE' });
  t.match(err?.message ?? '', missing, 'message names the path');
  await rejects(t, dir, { code: 'SOURCE_UNREADABLE' });
  // Columns in another order plus extra columns are fine; CRLF line endings too.
  const f = write(
    ['extra,income,industry,age,sex,region,hh,pid,more', 'a,10,1,40,1,R1,h1,p1,b', 'a,20,2,41,2,R2,h2,p2,b'].join(
      '\r\n',
    ) + '\r\n',
  );
  const r = await csvSource().aggregate(makePlan({ path: f }), { boundingKey: KEY });
  t.equal(r.stats.rowsRead, 2);
  t.equal(r.tables.find((x) => x.plan.id === 'total')!.cells[0]!.units, 2);
});

t.test('fingerprint: SHA-256 and size of the input bytes; progress reported', async (t) => {
  const rows = randomRows(seedrandom('fp'), 3000);
  const text = [HEADER, ...rows].join('\n') + '\n';
  const f = write(text);
  const stages: string[] = [];
  const r = await csvSource().aggregate(makePlan({ path: f }), {
    boundingKey: KEY,
    onProgress: (p) => {
      stages.push(p.stage);
      t.equal(p.totalBytes, Buffer.byteLength(text));
    },
  });
  t.equal(r.stats.input.sha256, createHash('sha256').update(fs.readFileSync(f)).digest('hex'));
  t.equal(r.stats.input.bytes, fs.statSync(f).size);
  t.equal(r.stats.input.kind, 'csv');
  t.equal(r.stats.rowsRead, rows.length);
  t.ok(stages.includes('done'), 'final progress call');
});

t.test('semicolon delimiter', async (t) => {
  const f = write([HEADER.replaceAll(',', ';'), ...GOOD.map((g) => g.replaceAll(',', ';'))].join('\n'));
  const r = await csvSource().aggregate(makePlan({ path: f, delimiter: ';' }), { boundingKey: KEY });
  t.equal(r.stats.rowsRead, 3);
  t.equal(r.stats.units, 2);
});

t.test('gzip files are read by their magic bytes, whatever their name; a broken one is named as such', async (t) => {
  const rows = randomRows(seedrandom('gz'), 2000);
  const text = [HEADER, ...rows].join('\n') + '\n';
  const plain = write(text);
  const gz = path.join(dir, 'rows.csv.gz');
  fs.writeFileSync(gz, zlib.gzipSync(text));
  const renamed = path.join(dir, 'rows-gz-without-suffix.csv');
  fs.copyFileSync(gz, renamed);
  const want = await csvSource().aggregate(makePlan({ path: plain }), { boundingKey: KEY });
  for (const f of [gz, renamed]) {
    let lastBytes = 0;
    const got = await csvSource().aggregate(makePlan({ path: f }), {
      boundingKey: KEY,
      onProgress: (p) => {
        lastBytes = p.bytes;
        t.equal(p.totalBytes, fs.statSync(f).size, 'progress counts the bytes as stored');
      },
    });
    t.same(
      got.tables.map((x) => x.cells),
      want.tables.map((x) => x.cells),
      `${path.basename(f)}: the tables of the plain file`,
    );
    t.equal(got.stats.rowsRead, rows.length);
    t.equal(
      got.stats.input.sha256,
      createHash('sha256').update(fs.readFileSync(f)).digest('hex'),
      'fingerprint of the file as stored',
    );
    t.equal(lastBytes, fs.statSync(f).size, 'progress reaches the whole file');
  }
  // A malformed record inside a gzip file is located as in a plain one.
  const broken = path.join(dir, 'broken.csv.gz');
  fs.writeFileSync(
    broken,
    zlib.gzipSync([HEADER, GOOD[0], GOOD[1], 'p7,h7,R2,"1,40,1,10,z', GOOD[2]].join('\n') + '\n'),
  );
  await rejects(t, broken, { code: 'CSV_MALFORMED', line: 4, column: 'sex' });
  // A cut gzip file: not blamed on the encoding.
  const cut = path.join(dir, 'cut.csv.gz');
  const whole = zlib.gzipSync(text);
  fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
  const err = await rejects(t, cut, { code: 'SOURCE_UNREADABLE' });
  t.match(err?.message ?? '', /gzip file but cannot be decompressed/);
  t.notMatch(err?.message ?? '', /UTF-8/);
});

t.test('source.rename: header names with spaces read as the policy names them', async (t) => {
  const rows = randomRows(seedrandom('rename'), 500);
  const spaced = HEADER.replace('age', 'Age in years').replace('region', ' Region (NUTS) ');
  const plain = write([HEADER, ...rows].join('\n') + '\n');
  const f = write([spaced, ...rows].join('\n') + '\n');
  const renamed = (file: string, rename: Record<string, string>) => {
    const p = makePlan({ path: file });
    return { ...p, dataset: { ...p.dataset, source: { ...p.dataset.source, rename } } } as typeof p;
  };
  const rename = { 'Age in years': 'age', 'Region (NUTS)': 'region' };
  const want = await csvSource().aggregate(makePlan({ path: plain }), { boundingKey: KEY });
  const got = await csvSource().aggregate(renamed(f, rename), { boundingKey: KEY });
  t.same(
    got.tables.map((x) => x.cells),
    want.tables.map((x) => x.cells),
    'the tables of the file with plain names',
  );
  // Without the map the spaced names are not the policy's; a name the map gives that the header lacks is named.
  await rejects(t, f, { code: 'CSV_HEADER', column: 'region' });
  try {
    await csvSource().aggregate(renamed(f, { ...rename, 'Income (EUR)': 'income' }), { boundingKey: KEY });
    t.fail('expected CSV_HEADER');
  } catch (e) {
    t.equal((e as StatguardError).code, 'CSV_HEADER');
    t.equal((e as StatguardError).where.column, 'Income (EUR)');
    t.match((e as Error).message, /source\.rename names header "Income \(EUR\)"/);
  }
  // Renaming onto a name the header already has: the duplicate is named.
  try {
    await csvSource().aggregate(renamed(f, { ...rename, extra: 'income' }), { boundingKey: KEY });
    t.fail('expected CSV_HEADER');
  } catch (e) {
    t.equal((e as StatguardError).code, 'CSV_HEADER');
    t.match((e as Error).message, /"income" appears more than once/);
  }
});
