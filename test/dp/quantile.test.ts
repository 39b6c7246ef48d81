/**
 * DP quantiles (issue 18, "Quantiles"): the exponential mechanism over declared candidates with the rank utility.
 * The sampler's distribution is exactly the mechanism's (chi-square, fixed seed); a unit of m rows moves no utility by
 * more than the stated sensitivity; over seeded releases the published quantile's rank error against the exact
 * per-cell quantile stays within the stated 95% bound in at least 95% of cells; a CSV policy with a median table
 * releases end to end; sdc, ckm and SQL sources refuse quantile tables; bad quantile specs are named.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { main, type Io } from '../../cli/main.ts';
import { Aggregator } from '../../engine/aggregate/aggregate.ts';
import { QuantileHist } from '../../engine/aggregate/quantile-hist.ts';
import { makeRecordLayout } from '../../engine/aggregate/record-layout.ts';
import { protectDp } from '../../engine/dp/index.ts';
import {
  QUANTILE_SCALE,
  candidateUtilities,
  quantileCandidates,
  quantileSlot,
  sampleExponentialMechanism,
  utilitySensitivity,
  type QuantileMeasure,
} from '../../engine/dp/quantile.ts';
import { rational } from '../../engine/dp/rational.ts';
import { StatguardError } from '../../engine/errors.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import { loadPolicy, validatePolicy, type PolicyProblem } from '../../engine/policy/index.ts';
import { RandomReader, seededRandom } from '../../engine/random.ts';
import { readReleaseDir } from '../../engine/release/read.ts';
import { sourceFor } from '../../engine/source/source-for.ts';
import type { DpPlan, ExactCell, ExactTable, TablePlan } from '../../engine/types.ts';
import { cellIndex } from '../../engine/types.ts';
import { tempDir } from '../tmp-dir.ts';
import { chiSquareGof } from './stats-helpers.ts';

const median = (bins: number, lower = 0, upper = 1000): QuantileMeasure => ({
  kind: 'quantile',
  column: 'income',
  lower,
  upper,
  decimals: 0,
  a: 5000,
  bins,
});

t.test('candidates, slots and utilities are exact', async (t) => {
  t.same(quantileCandidates(median(4, 0, 10)), [0, 2, 5, 7, 10], 'lower + floor(j (upper - lower) / bins)');
  const c = [0, 2, 5, 7, 10];
  t.same(
    [0, 1, 2, 3, 5, 6, 7, 9, 10].map((v) => quantileSlot(c, v)),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  t.throws(() => quantileCandidates(median(20, 0, 10)), /bins/, 'candidates must be distinct');
  // Values 1, 2, 2, 6, 9 (n = 5): L and G at 0, 2, 5, 7, 10 are (0,5) (1,2) (3,2) (4,1) (5,0).
  const counts = new Int32Array(9);
  for (const v of [1, 2, 2, 6, 9]) counts[quantileSlot(c, v)]!++;
  t.same(
    candidateUtilities(counts, 0, 5, 5000),
    [-25000, -5000, -5000, -15000, -25000],
    'U = -|(1 - a) L - a G| (x 10000)',
  );
  // The 0.25-quantile: U = -|7500 L - 2500 G|.
  t.same(candidateUtilities(counts, 0, 5, 2500), [-12500, -2500, -17500, -27500, -37500]);
});

t.test('a unit of m rows moves every utility by at most the stated sensitivity, and attains it', async (t) => {
  const r = new RandomReader(seededRandom('quantile sensitivity'));
  const c = quantileCandidates(median(10, 0, 100));
  let worst = 0;
  for (const a of [5000, 2500, 9000, 1]) {
    for (let trial = 0; trial < 300; trial++) {
      const m = 1 + r.uniformInt(4);
      const counts = new Int32Array(2 * c.length - 1);
      const n = r.uniformInt(40);
      for (let i = 0; i < n; i++) counts[quantileSlot(c, r.uniformInt(101))]!++;
      const before = candidateUtilities(counts, 0, c.length, a);
      for (let i = 0; i < m; i++) counts[quantileSlot(c, r.uniformInt(101))]!++;
      const after = candidateUtilities(counts, 0, c.length, a);
      const d = utilitySensitivity(m, a);
      const moved = Math.max(...before.map((u, j) => Math.abs(u - after[j]!)));
      t.ok(moved <= d, `moved ${moved} <= ${d}`);
      worst = Math.max(worst, moved / d);
    }
  }
  t.equal(worst, 1, 'the bound is attained (m rows all on one side of a candidate)');
});

t.test('the sampler draws exactly the exponential mechanism (chi-square, fixed seed)', async (t) => {
  const rng = seededRandom('quantile em sampler');
  for (const [utilities, eps, delta] of [
    [[0, -3, -1, -7, -2, -10, -4, 0], rational(1n), 2],
    [[-50, -10, -30, -20, -60, -5, -15, -25, -45, -40, -35, -55], rational(3n, 7n), 5],
  ] as const) {
    const w = utilities.map((u) => Math.exp((Number(eps.num) / Number(eps.den)) * (u / (2 * delta))));
    const z = w.reduce((s, x) => s + x, 0);
    const counts = new Map<number, number>();
    const N = 20000;
    for (let i = 0; i < N; i++) {
      const j = sampleExponentialMechanism(rng, utilities, eps, delta);
      counts.set(j, (counts.get(j) ?? 0) + 1);
    }
    const gof = chiSquareGof(counts, (j) => w[j]! / z, 0, utilities.length - 1, 20);
    t.ok(gof.pass, `chi-square ${gof.stat.toFixed(1)} < ${gof.critical.toFixed(1)} (df ${gof.df})`);
  }
});

/* ------------------------------------------------------------------ */
/* Accuracy against the exact per-cell quantile over seeded releases    */
/* ------------------------------------------------------------------ */

const flat = (name: string, codes: string[]) =>
  buildDimension({ name, categories: codes.map((c) => ({ code: c, label: c })) });
const DIMS = [flat('g', ['a', 'b', 'c']), flat('h', ['p', 'q'])];
const M = 2;

/** 3000 units of 1 or 2 rows, incomes skewed and different per g; the exact values per cell and the quantile table. */
function medianData(bins: number): { table: ExactTable; values: number[][]; cands: number[] } {
  const measure = median(bins);
  const tp: TablePlan = {
    id: 'med',
    title: 'median income',
    description: '',
    dimensions: DIMS,
    measure,
    budgetShare: 1,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const n = DIMS.reduce((k, d) => k * d.nodes.length, 1);
  const hist = new QuantileHist(tp, n);
  const values: number[][] = Array.from({ length: n }, () => []);
  const r = new RandomReader(seededRandom('quantile data'));
  const units = new Array<number>(n).fill(0);
  for (let u = 0; u < 3000; u++) {
    const g = u % 6 < 3 ? 0 : u % 6 < 5 ? 1 : 2;
    const rows = 1 + r.uniformInt(M);
    const seen = new Set<number>();
    for (let k = 0; k < rows; k++) {
      const h = r.uniformInt(2);
      // Skewed: the product of two uniforms, scaled per group, clamped to the bounds.
      const v = Math.min(1000, Math.floor(((200 + 250 * g) * (r.uniformInt(1000) * r.uniformInt(1000))) / 250_000));
      const cells = Int32Array.from(
        [g, DIMS[0]!.total!].flatMap((x) => [h, DIMS[1]!.total!].map((y) => cellIndex(DIMS, [x, y]))),
      );
      hist.add(cells, 0, cells.length, v);
      for (const c of cells) {
        values[c]!.push(v);
        seen.add(c);
      }
    }
    for (const c of seen) units[c]!++;
  }
  const cells: ExactCell[] = values.map((v, i) => ({ units: units[i]!, rows: v.length, sum: 0, top: [] }));
  return {
    table: { kind: 'exact', plan: tp, cells, histogram: hist.result() },
    values,
    cands: quantileCandidates(measure),
  };
}

/** Rank error of value v in sorted values for the alpha-quantile: |(1 - alpha) L - alpha G| in rows. */
function rankError(sorted: readonly number[], v: number, alpha: number): number {
  const below = sorted.filter((x) => x < v).length;
  const above = sorted.filter((x) => x > v).length;
  return Math.abs((1 - alpha) * below - alpha * above);
}

for (const [name, protection, runs] of [
  ['Laplace plan, epsilon 2', { mechanism: 'discrete-laplace', epsilon: 2, rho: null }, 200],
  ['Gaussian plan, rho 0.5', { mechanism: 'discrete-gaussian', epsilon: null, rho: 0.5 }, 200],
] as const) {
  t.test(`${name}: rank error within the stated 95% bound in >= 95% of cells`, async (t) => {
    const { table, values, cands } = medianData(50);
    const plan: DpPlan = { regime: 'dp', ...protection, delta: 1e-10, noisyThreshold: null, granularityLog2: 0 };
    const sorted = values.map((v) => [...v].sort((x, y) => x - y));
    const exact = sorted.map((s) => s[Math.ceil(0.5 * s.length) - 1]!);
    const best = sorted.map((s) => Math.min(...cands.map((c) => rankError(s, c, 0.5))));
    let within = 0;
    let total = 0;
    let bound = 0;
    const excess: number[] = [];
    const valueErr: number[] = [];
    let notCandidate = 0;
    let uniformWithin = 0; // control: a candidate drawn uniformly, ignoring the data, must fail the same check
    const control = new RandomReader(seededRandom(`control ${name}`));
    for (let run = 0; run < runs; run++) {
      const res = protectDp(
        [table],
        plan,
        { column: 'u', kind: 'household', maxRowsPerUnit: M },
        seededRandom(`q${run}`),
      );
      const acc = res.accounting.tables[0]!;
      if (run === 0) t.equal(acc.quantile?.cellsPerUnit, M * (4 - 1) + 1, 'a unit reaches m (L - S) + S cells');
      bound = acc.quantile!.rankBound95;
      res.tables[0]!.cells.forEach((c, i) => {
        if (c.value === null || !cands.includes(c.value)) notCandidate++;
        const e = rankError(sorted[i]!, c.value!, 0.5) - best[i]!;
        excess.push(e);
        valueErr.push(Math.abs(c.value! - exact[i]!));
        total++;
        if (e <= bound + 1e-9) within++;
        if (rankError(sorted[i]!, cands[control.uniformInt(cands.length)]!, 0.5) - best[i]! <= bound + 1e-9)
          uniformWithin++;
      });
    }
    t.equal(notCandidate, 0, 'every published value is a declared candidate');
    const q = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.ceil(p * xs.length) - 1]!;
    t.ok(within / total >= 0.95, `${within}/${total} cells within the bound of ${bound.toFixed(1)} rows`);
    t.ok(
      uniformWithin / total < 0.5,
      `control: a data-blind candidate is within the bound in ${uniformWithin}/${total} cells`,
    );
    t.ok(bound < 400, 'the bound says something at these cell sizes (250 to 3000 rows)');
    t.comment(
      `${name}: stated 95% rank bound ${bound.toFixed(1)} rows; excess rank error median ${q(excess, 0.5).toFixed(1)}, ` +
        `95th pct ${q(excess, 0.95).toFixed(1)}; |published - exact median| median ${q(valueErr, 0.5)}, 95th pct ${q(valueErr, 0.95)} ` +
        `(candidate spacing 20, values in [0, 1000]); within bound ${((100 * within) / total).toFixed(1)}%`,
    );
  });
}

/* ------------------------------------------------------------------ */
/* Policies: end to end, refusals, bad specs                            */
/* ------------------------------------------------------------------ */

const problemsOf = (v: ReturnType<typeof validatePolicy>): readonly PolicyProblem[] => (v.ok ? [] : v.errors);
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function writeData(dir: string): void {
  const r = new RandomReader(seededRandom('quantile csv'));
  const lines = ['pid,region,income'];
  for (let i = 0; i < 600; i++) lines.push(`${i},${['N', 'S'][i % 2]},${(r.uniformInt(9000) * (1 + (i % 2))) / 10}`);
  writeFileSync(path.join(dir, 'data.csv'), lines.join('\n') + '\n');
}

const policy = (regime: Json): Json => ({
  id: 'median-demo',
  version: '1.0.0',
  release: { title: 'Median income by region', description: 'demo', audience: 'public', demo: true },
  dataset: {
    id: 'median-demo',
    source: { kind: 'csv', path: 'data.csv' },
    unit: { kind: 'person', column: 'pid', maxRowsPerUnit: 1 },
    columns: [
      { name: 'pid', title: 'Person', type: 'integer' },
      {
        name: 'region',
        title: 'Region',
        type: 'categorical',
        categories: [
          { code: 'N', label: 'North' },
          { code: 'S', label: 'South' },
        ],
      },
      { name: 'income', title: 'Income', type: 'number', decimals: 1 },
    ],
  },
  tables: [
    {
      id: 'median-income',
      title: 'Median income by region',
      dimensions: ['region'],
      measure: { kind: 'quantile', column: 'income', bounds: [0, 2000], quantile: 0.5, bins: 100 },
    },
    { id: 'persons', title: 'Persons by region', dimensions: ['region'], measure: { kind: 'count' } },
  ],
  protection: regime,
});
const DP = { regime: 'dp', mechanism: 'discrete-gaussian', budget: { rho: 1 } };

function capture(): Io & { stderr: () => string } {
  let e = '';
  return { out: () => {}, err: (s) => (e += s), isTty: false, stderr: () => e };
}

t.test('a CSV policy with a median table releases end to end', async (t) => {
  const dir = tempDir('statguard-quantile-');
  process.env.STATGUARD_SECURE_DIR = path.join(dir, 'secure');
  writeData(dir);
  const file = path.join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(policy(DP)));
  t.same(problemsOf(validatePolicy(policy(DP))), [], 'valid');
  const out = path.join(dir, 'out');
  const io = capture();
  t.equal(await main(['release', file, '--out', out, '--seed', 'median'], io), 0, io.stderr());
  const rel = await readReleaseDir(out);
  const med = rel.tables.find((x) => x.id === 'median-income')!;
  const cands = Array.from({ length: 101 }, (_, j) => j * 20);
  t.equal(med.cells.value.length, 3, 'N, S and the total');
  t.ok(
    med.cells.value.every((v) => v !== null && cands.includes(v)),
    `published medians are declared candidates: ${med.cells.value.join(', ')}`,
  );
  const m = rel.manifest;
  const entry = m.tables.find((x) => x.id === 'median-income')!;
  t.same(entry.measure, { kind: 'quantile', column: 'income', bounds: [0, 2000], quantile: 0.5, bins: 100 });
  const privacy = entry.privacy as Json;
  t.equal(privacy.measure, 'quantile');
  t.equal(privacy.quantile.cellsPerUnit, 2, 'one row per person in its region and the total');
  t.ok(privacy.quantile.rankBound95 > 0 && privacy.epsilon === null && privacy.rho > 0);
  t.ok(
    m.methods.some((x) => /Quantiles: per cell, the exponential mechanism/.test(x)),
    'method note',
  );
  const js = JSON.parse(readFileSync(path.join(out, 'median-income.json'), 'utf8')) as Json;
  t.equal(js.class, 'dataset', 'JSON-stat dataset');
  t.same(js.value, med.cells.value);
  t.notOk(js.extension?.statguard?.accuracy, 'no noise interval is claimed for a quantile');
});

t.test('sdc and ckm refuse quantile tables; so do SQL sources', async (t) => {
  const sdc = validatePolicy(
    policy({ regime: 'sdc', rules: { minFrequency: { n: 3 } }, secondary: { method: 'auto', cost: 'unity' } }),
  );
  t.match(problemsOf(sdc), [{ code: 'POLICY_INVALID', path: '/tables/0/measure/kind', message: /need the dp regime/ }]);
  const ckm = validatePolicy(policy({ regime: 'ckm', ptable: { maxDeviation: 2, variance: 1 } }));
  t.match(
    problemsOf(ckm).filter((p) => p.path === '/tables/0/measure/kind'),
    [{ code: 'POLICY_INVALID', message: /need the dp regime/ }],
  );
  const dir = tempDir('statguard-quantile-sql-');
  writeData(dir);
  const doc = policy(DP);
  doc.dataset.source = { kind: 'csv-duckdb', path: 'data.csv' };
  writeFileSync(path.join(dir, 'p.json'), JSON.stringify(doc));
  const plan = await loadPolicy(path.join(dir, 'p.json'));
  const err = (() => {
    try {
      sourceFor(plan);
    } catch (e) {
      return e;
    }
    return null;
  })();
  t.ok(err instanceof StatguardError && err.code === 'USAGE', 'USAGE');
  t.match((err as Error).message, /table median-income: quantile tables need the per-cell distribution/);
});

t.test('bad quantile specs are named with their path', async (t) => {
  const cases: [string, (m: Json) => void, string, RegExp][] = [
    ['no bins', (m) => delete m.bins, '/tables/0/measure', /bins/],
    ['no quantile', (m) => delete m.quantile, '/tables/0/measure', /quantile/],
    ['quantile 1', (m) => (m.quantile = 1), '/tables/0/measure/quantile', /./],
    ['quantile 0', (m) => (m.quantile = 0), '/tables/0/measure/quantile', /./],
    ['5 decimals', (m) => (m.quantile = 0.12345), '/tables/0/measure/quantile', /more than 4 decimals/],
    ['bins 0', (m) => (m.bins = 0), '/tables/0/measure/bins', /./],
    ['bins 2.5', (m) => (m.bins = 2.5), '/tables/0/measure/bins', /./],
    ['too many bins', (m) => (m.bins = 30000), '/tables/0/measure/bins', /./],
    [
      'bins wider than the bounds',
      (m) => (m.bounds = [0, 0.5]),
      '/tables/0/measure/bins',
      /at least 100 steps .*got 5/,
    ],
    ['no bounds', (m) => delete m.bounds, '/tables/0/measure', /bounds/],
    ['string column', (m) => (m.column = 'region'), '/tables/0/measure/column', /integer or number/],
  ];
  for (const [name, mutate, where, message] of cases) {
    const doc = policy(DP);
    mutate(doc.tables[0].measure);
    const v = validatePolicy(doc);
    t.notOk(v.ok, `${name}: invalid`);
    t.ok(
      problemsOf(v).some((p) => p.path === where && message.test(p.message)),
      `${name}: ${JSON.stringify(problemsOf(v).map((p) => [p.path, p.message]))}`,
    );
  }
  const sum = policy(DP);
  sum.tables[0].measure = { kind: 'sum', column: 'income', bounds: [0, 10], bins: 4 };
  t.notOk(validatePolicy(sum).ok, 'bins only with a quantile');
  t.equal(QUANTILE_SCALE, 10000);
});

t.test('the aggregator counts every row of a unit in its slots, margins included', async (t) => {
  const dir = tempDir('statguard-quantile-agg-');
  writeData(dir);
  writeFileSync(path.join(dir, 'p.json'), JSON.stringify(policy(DP)));
  const plan = await loadPolicy(path.join(dir, 'p.json'));
  const layout = makeRecordLayout(plan);
  const agg = new Aggregator(layout);
  const row = (region: number, income: number): [Int32Array, Float64Array] => [
    Int32Array.from([region]),
    Float64Array.from([income]),
  ];
  agg.addSingle(...row(0, 0)); // North, 0.0: candidate 0 (slot 0)
  agg.beginUnit(); // a unit of two rows: South 30.0 (slot 3: between 20 and 40) and North 40.0 (slot 4: candidate 2)
  agg.addUnitRow(...row(1, 300));
  agg.addUnitRow(...row(0, 400));
  agg.endUnit();
  const q = agg.finish().find((x) => x.plan.id === 'median-income')!;
  const h = q.histogram!;
  t.equal(h.slots, 201);
  const nonZero = (cell: number): [number, number][] =>
    [...h.counts.subarray(cell * h.slots, (cell + 1) * h.slots)].flatMap((n, s) =>
      n ? [[s, n] as [number, number]] : [],
    );
  t.same(nonZero(0), [
    [0, 1],
    [4, 1],
  ]);
  t.same(nonZero(1), [[3, 1]]);
  t.same(
    nonZero(2),
    [
      [0, 1],
      [3, 1],
      [4, 1],
    ],
    'the total counts all three rows',
  );
});
