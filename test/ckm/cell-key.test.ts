/**
 * Cell key method: ptable generation, the tau-Argus ptable files, lookup, and the tau-Argus cell key example
 * (../shared/data/tauargus-cellkey: microdata with record keys, hierarchies, perturbation tables).
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatPtable, generatePtable, lookupPerturbation, parsePtable } from '../../engine/ckm/index.ts';
import type { Ptable } from '../../engine/ckm/index.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { csvSource } from '../../engine/source/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { cellCoords } from '../../engine/types.ts';

const DIR = new URL('../../../shared/data/tauargus-cellkey/', import.meta.url).pathname;
const skip = existsSync(`${DIR}cellkey__Magnitude__ptab_freq.txt`) ? false : 'needs ../shared/data/tauargus-cellkey';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-ckm-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const moments = (row: Ptable['rows'][number]) =>
  row.reduce((m, e) => ({ mean: m.mean + e.p * e.v, var: m.var + e.p * e.v * e.v, sum: m.sum + e.p }), {
    mean: 0,
    var: 0,
    sum: 0,
  });

t.test('generated ptable: support, unbiasedness, variance, js, determinism, file round trip', async (t) => {
  const pt = generatePtable({ D: 4, V: 2, js: 2 });
  t.equal(pt.rows.length, 4 + 2 + 2, 'rows 0..D+js+1');
  t.same(pt.rows[0], [{ i: 0, j: 0, p: 1, v: 0, ub: 1 }], 'an empty cell stays empty');
  pt.rows.forEach((row, i) => {
    const m = moments(row);
    t.ok(Math.abs(m.sum - 1) < 1e-12 && Math.abs(m.mean) < 1e-9, `row ${i} sums to 1 and is unbiased`);
    if (i > 0) t.ok(Math.abs(m.var - 2) < 1e-8, `row ${i} has variance V`);
    t.ok(
      row.every((e) => Math.abs(e.v) <= 4 && !(e.j >= 1 && e.j <= 2)),
      `row ${i}: |v| <= D, never 1..js`,
    );
  });
  t.same(generatePtable({ D: 4, V: 2, js: 2 }), pt, 'deterministic');
  const back = parsePtable(formatPtable(pt));
  for (let i = 0; i < pt.rows.length; i++)
    for (const ck of [0, 0.1, 0.37, 0.5, 0.77, 0.999])
      t.equal(lookupPerturbation(back, i, ck), lookupPerturbation(pt, i, ck));
  t.equal(
    lookupPerturbation(pt, 1000, 0.5),
    lookupPerturbation(pt, pt.rows.length - 1, 0.5),
    'large counts use the last row',
  );
  // Statistical check: over uniform cell keys the perturbation of count 10 has mean 0 and variance V.
  let s = 0;
  let s2 = 0;
  const n = 20000;
  for (let k = 0; k < n; k++) {
    const v = lookupPerturbation(pt, 10, (k + 0.5) / n);
    s += v;
    s2 += v * v;
  }
  t.ok(Math.abs(s / n) < 1e-3 && Math.abs(s2 / n - 2) < 1e-3, `empirical mean ${s / n}, variance ${s2 / n}`);
  t.throws(() => generatePtable({ D: 2, V: 5, js: 0 }), /variance V must be in/);
  t.throws(() => parsePtable('i;j;p\n1;0;1\n'), /lacks the column "v"/);
  t.throws(
    () => parsePtable('i;j;p;v;p_int_ub\n0;0;1;0;1\n1;0;0.5;-1;0.5\n'),
    /row i = 1: cumulative probabilities end at 0.5/,
  );
});

t.test('the tau-Argus ptable files: read, looked up, and regenerated from their parameters', { skip }, async (t) => {
  for (const [file, pstayRows] of [
    ['cellkey__Magnitude__ptab_freq.txt', true],
    ['cellkey__Frequency__tau_testW_ptable.txt', false],
  ] as const) {
    const ref = parsePtable(readFileSync(`${DIR}${file}`, 'utf8'), file);
    // Every entry: a cell key inside its interval looks up its perturbation.
    let checked = 0;
    for (const row of ref.rows) {
      let lb = 0;
      for (const e of row) {
        t.equal(lookupPerturbation(ref, e.i, (lb + e.ub) / 2), e.v);
        lb = e.ub;
        checked++;
      }
    }
    t.ok(checked > 60, `${file}: ${checked} entries looked up`);
    // The files do not state their parameters; they are read off the table: D = max |v|, js = smallest positive
    // target - 1, V = variance of the last row, pstay = p(v = 0) of the last row when the rows above js share it.
    const all = ref.rows.flat();
    const D = Math.max(...all.map((e) => Math.abs(e.v)));
    const js = Math.min(...all.filter((e) => e.j > 0).map((e) => e.j)) - 1;
    const last = ref.rows[ref.rows.length - 1]!;
    const V = Math.round(moments(last).var * 1e6) / 1e6;
    const p0 = last.find((e) => e.v === 0)!.p;
    const gen = generatePtable({ D, V, js, ...(pstayRows ? { pstay: p0 } : {}) });
    t.equal(
      gen.rows.length,
      ref.rows.length,
      `${file}: same rows (D = ${D}, V = ${V}, js = ${js}${pstayRows ? `, pstay = ${p0}` : ''})`,
    );
    let close = 0;
    ref.rows.forEach((row, i) => {
      const g = gen.rows[i]!;
      t.same(
        g.map((e) => e.v),
        row.map((e) => e.v),
        `${file} row ${i}: same support`,
      );
      const d = Math.max(...row.map((e) => Math.abs((g.find((x) => x.v === e.v)?.p ?? 0) - e.p)));
      if (d < 1e-6) close++;
      t.ok(d < 0.02, `${file} row ${i}: probabilities within 0.02 (max difference ${d.toExponential(2)})`);
    });
    // Maximum entropy reproduces the package's rows to 1e-6 except where its solver settled elsewhere (1 or 2 rows).
    t.ok(close >= ref.rows.length - 2, `${file}: ${close} of ${ref.rows.length} rows equal to 1e-6`);
  }
});

t.test('tau-Argus cell key example: microdata with record keys, hierarchies and ptab_freq', { skip }, async (t) => {
  const raw = readFileSync(`${DIR}cellkey__Magnitude__microdata.csv`, 'utf8').trim().split(/\r?\n/);
  const csv = path.join(tmp, 'micro.csv');
  writeFileSync(csv, `sex;age;highinc;savings;weight;rkey\n${raw.join('\n')}\n`);
  const cat = (...c: string[]) => c.map((code) => ({ code, label: code }));
  const policy = {
    id: 'tau-ckm',
    version: '1',
    release: { title: 'tau-Argus ckm example', audience: 'public', demo: true },
    dataset: {
      id: 'tau',
      source: { kind: 'csv', path: csv, delimiter: ';' },
      unit: { kind: 'person' },
      columns: [
        { name: 'sex', type: 'categorical', categories: cat('2', '1') },
        { name: 'age', type: 'categorical', categories: cat('1', '2', '3', '4', '5', '6') },
        { name: 'savings', type: 'integer' },
        { name: 'rkey', type: 'number', decimals: 8 },
      ],
      // dim_sex.hrc and dim_age.hrc: male > 2, female > 1; A1 > 1, A2 > 2, then 3..6 at the top level.
      hierarchies: {
        sex: [
          { code: 'male', label: 'male', children: ['2'] },
          { code: 'female', label: 'female', children: ['1'] },
        ],
        age: [
          { code: 'A1', label: 'A1', children: ['1'] },
          { code: 'A2', label: 'A2', children: ['2'] },
          '3',
          '4',
          '5',
          '6',
        ],
      },
    },
    tables: [
      { id: 'sex-age', title: 'persons by sex and age', dimensions: ['sex', 'age'], measure: { kind: 'count' } },
      { id: 'age', title: 'persons by age', dimensions: ['age'], measure: { kind: 'count' } },
      {
        id: 'savings',
        title: 'savings by sex and age',
        dimensions: ['sex', 'age'],
        measure: { kind: 'sum', column: 'savings', bounds: [0, 10000] },
      },
    ],
    protection: {
      regime: 'ckm',
      ptable: { file: `${DIR}cellkey__Magnitude__ptab_freq.txt` },
      recordKey: { column: 'rkey', decimals: 8 },
      magnitudePercent: 10,
    },
  };
  const file = path.join(tmp, 'tau.json');
  writeFileSync(file, JSON.stringify(policy));
  const plan = await loadPolicy(file);
  const ref = parsePtable(readFileSync(`${DIR}cellkey__Magnitude__ptab_freq.txt`, 'utf8'));
  const exact = await csvSource().aggregate(plan, { boundingKey: new Uint8Array(32) });
  const run = await runRelease(plan, { seed: 'ckm' });
  const [sexAge, age, savings] = run.content.tables;

  // Cell keys, recomputed here from the raw record keys: fractional part of the sum over the cell's persons.
  const rows = raw.map((l) => l.split(';'));
  const dims = sexAge!.plan.dimensions;
  const inNode = (d: number, node: number, code: string): boolean =>
    dims[d]!.nodes[node]!.leaves.some((l) => dims[d]!.nodes[l]!.code === code);
  let checked = 0;
  exact.tables[0]!.cells.forEach((c, i) => {
    const [s, a] = cellCoords(dims, i) as [number, number];
    let k = 0n;
    for (const r of rows) if (inNode(0, s, r[0]!) && inNode(1, a, r[1]!)) k += BigInt(Math.round(Number(r[5]) * 1e8));
    t.equal(
      c.cellKey,
      Number(k % 100000000n) / 1e8,
      `cell key of (${dims[0]!.nodes[s]!.code}, ${dims[1]!.nodes[a]!.code})`,
    );
    // Published = count + tau-Argus's ptable perturbation for (count, cell key).
    t.equal(sexAge!.cells[i]!.value, c.units + lookupPerturbation(ref, c.units, c.cellKey!));
    checked++;
  });
  t.equal(checked, 5 * 9, 'sex: 2 codes, 2 aggregates, total; age: 6 codes, 2 aggregates, total');
  const values = sexAge!.cells.map((c) => c.value!);
  t.ok(
    values.every((v) => v === 0 || v > 2),
    'counts 1 and 2 are never published (js = 2)',
  );
  t.ok(
    sexAge!.cells.every((c) => c.obs === 'E' && c.conf === 'F'),
    'every cell estimated, none suppressed',
  );
  // Same cell, same perturbation: the age margin of sex-age equals the age table; single-child aggregates equal their child.
  const at = (codes: string[]) => {
    const idx = codes.reduce(
      (n, code, d) => n * dims[d]!.nodes.length + dims[d]!.nodes.findIndex((x) => x.code === code),
      0,
    );
    return sexAge!.cells[idx]!.value;
  };
  for (const a of ['1', '2', '3', 'A1', '_T'])
    t.equal(
      at(['_T', a]),
      age!.cells[age!.plan.dimensions[0]!.nodes.findIndex((x) => x.code === a)]!.value,
      `age ${a} agrees across tables`,
    );
  t.equal(at(['male', '3']), at(['2', '3']), 'male (= sex 2) and sex 2 share contributors, hence key and value');
  t.equal(at(['_T', 'A1']), at(['_T', '1']));
  // Magnitudes: deviation at most magnitudePercent of the largest contribution, same per cell across tables.
  exact.tables[2]!.cells.forEach((c, i) => {
    const dev = Math.abs(savings!.cells[i]!.value! - c.sum);
    t.ok(dev <= 0.1 * (c.top[0] ?? 0) + 1e-9, 'sum perturbation bounded by 10% of the top contribution');
  });
  t.equal(run.content.manifest.regime, 'ckm');
  // A seeded run claims nothing; the regime's statement stays a method note.
  t.equal(run.content.manifest.guarantee.statement, 'reproducible demo noise; not private');
  t.match(run.content.manifest.methods[0], /same perturbation/);
});
