/**
 * The dp truncation report (engine/dp/truncation.ts; issue 18, honest accuracy): noisy counts of the rows bounding
 * dropped and of the values clamping moved, centred on the truth with the stated spread over 400 seeded runs, paid
 * from the release's budget (refused when it does not fit), and never an exact count in any output.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { budgetCost, protectDp } from '../../engine/dp/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import { loadPolicy, planPolicy, validatePolicy, type PolicyDoc } from '../../engine/policy/index.ts';
import { lintPlan, previewPolicy, previewText } from '../../engine/preview/index.ts';
import { planCost } from '../../engine/regime.ts';
import { renderRelease } from '../../engine/release/write.ts';
import { seededRandom } from '../../engine/random.ts';
import { csvSource, type ExactTruncation } from '../../engine/source/index.ts';
import type { DpPlan, ExactTable, Plan, TablePlan, UnitPlan } from '../../engine/types.ts';
import { main } from '../../cli/main.ts';
import { tempDir } from '../tmp-dir.ts';

const UNIT: UnitPlan = { column: 'hh', kind: 'household', maxRowsPerUnit: 2 };
const DIMS = [buildDimension({ name: 'g', categories: ['a', 'b'].map((c) => ({ code: c, label: c })) })];
const table = (share: number): TablePlan => ({
  id: 'n',
  title: 'n',
  description: '',
  dimensions: DIMS,
  measure: { kind: 'count' },
  budgetShare: share,
  neverSuppress: [],
  alwaysSuppress: [],
});
const exactTable = (share: number): ExactTable => ({
  kind: 'exact',
  plan: table(share),
  cells: [40, 60, 100].map((n) => ({ units: n, rows: n, sum: n, top: [] })),
});
const REPORT = { share: 0.2, maxDroppedPerUnit: 3 };
const laplace: DpPlan = {
  regime: 'dp',
  mechanism: 'discrete-laplace',
  epsilon: 1,
  rho: null,
  delta: 1e-10,
  noisyThreshold: null,
  granularityLog2: 0,
  truncationReport: REPORT,
};
const gaussian: DpPlan = { ...laplace, mechanism: 'discrete-gaussian', epsilon: null, rho: 0.5 };
// Far from 0 relative to the noise, so the clamp at 0 never acts and the mean is the truth's.
const EXACT: ExactTruncation = {
  rowsDropped: 500,
  valuesClamped: [{ column: 'income', decimals: 0, lower: 0, upper: 1000, count: 300 }],
};

for (const [name, dp] of [
  ['discrete Laplace', laplace],
  ['discrete Gaussian', gaussian],
] as const) {
  t.test(`${name}: 400 seeded reports centred on the truth with the stated spread and 95% coverage`, async (t) => {
    const runs = 400;
    const truth = [EXACT.rowsDropped, EXACT.valuesClamped[0]!.count];
    const got: number[][] = [[], []];
    let stated: { sd: number; hw: number; sensitivity: number }[] = [];
    for (let s = 0; s < runs; s++) {
      const r = protectDp([exactTable(0.8)], dp, UNIT, seededRandom(`truncation ${name} ${s}`), { truncation: EXACT });
      const rep = r.accounting.truncation!;
      rep.counts.forEach((c, k) => got[k]!.push(c.value));
      stated = rep.counts.map((c) => ({ sd: c.noiseSd, hw: c.halfWidth95, sensitivity: c.sensitivity }));
      if (s === 0) {
        // Budget: the report's share, split equally over its two counts; with the table's, the release's total.
        const total = dp.epsilon ?? dp.rho!;
        const rb = rep.epsilon ?? rep.rho!;
        t.equal(rb, total * 0.2, 'the report spends its share of the total');
        for (const c of rep.counts) t.equal(c.epsilon ?? c.rho, rb / 2, `${c.quantity}: half the report's budget`);
        const tb = r.accounting.tables.reduce((a, x) => a + (x.epsilon ?? x.rho!), 0);
        t.ok(Math.abs(tb + rb - total) < 1e-12, 'tables and report spend the total');
        t.same(
          rep.counts.map((c) => [c.quantity, c.sensitivity]),
          [
            ['rows-dropped', 3],
            ['values-clamped', 2],
          ],
          'sensitivities: the drop cap c, and m',
        );
      }
    }
    got.forEach((xs, k) => {
      const { sd, hw } = stated[k]!;
      const mean = xs.reduce((a, b) => a + b, 0) / runs;
      const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (runs - 1);
      const cover = xs.filter((x) => Math.abs(x - truth[k]!) <= hw).length / runs;
      t.ok(Math.abs(mean - truth[k]!) < (4 * sd) / Math.sqrt(runs), `count ${k}: mean ${mean} centred on ${truth[k]}`);
      t.ok(variance / sd ** 2 > 0.85 && variance / sd ** 2 < 1.15, `count ${k}: variance ratio ${variance / sd ** 2}`);
      t.ok(cover >= 0.93 && cover <= 0.975, `count ${k}: 95% half-width covers ${cover}`);
    });
  });
}

t.test('the exact counts are read once (the noise is added to them) and no count is left unnoised', async (t) => {
  let reads = 0;
  const exact: ExactTruncation = {
    get rowsDropped() {
      reads++;
      return 500;
    },
    valuesClamped: [
      {
        column: 'income',
        decimals: 0,
        lower: 0,
        upper: 1000,
        get count() {
          reads++;
          return 300;
        },
      },
    ],
  };
  const r = protectDp([exactTable(0.8)], laplace, UNIT, seededRandom('read once'), { truncation: exact });
  t.equal(reads, 2, 'each exact count read once');
  const text = JSON.stringify(r.accounting);
  t.notMatch(text, /\b500\b|\b300\b/, 'the accounting holds no exact count');
  // Each row its own unit: nothing is dropped, so only the clamp count is asked (and gets all the report's budget).
  const rows = protectDp([exactTable(0.8)], laplace, { ...UNIT, column: null, maxRowsPerUnit: 1 }, seededRandom('r'), {
    truncation: EXACT,
  }).accounting.truncation!;
  t.same(
    rows.counts.map((c) => c.quantity),
    ['values-clamped'],
  );
  t.equal(rows.counts[0]!.epsilon, 0.2);
});

t.test('budget: the report is paid from the total, and refused when it does not fit', async (t) => {
  t.throws(
    () => protectDp([exactTable(0.9)], laplace, UNIT, seededRandom('over'), { truncation: EXACT }),
    {
      code: 'POLICY_INVALID',
      where: { path: '/protection/truncationReport' },
      message: /tables and the truncation report/,
    },
    'table shares plus the report over 1: refused before any draw',
  );
  t.throws(() => protectDp([exactTable(0.8)], laplace, UNIT, seededRandom('none')), {
    code: 'USAGE',
    message: /no truncation counts/,
  });
  const doc = JSON.parse(readFileSync('policies/pums-dp.json', 'utf8')) as PolicyDoc;
  const withReport = (r: unknown): PolicyDoc =>
    ({ ...doc, protection: { ...doc.protection, truncationReport: r } }) as PolicyDoc;
  const problems = (d: PolicyDoc): { path: string; message: string }[] => {
    const v = validatePolicy(d);
    return v.ok ? [] : v.errors.map((e) => ({ path: e.path, message: e.message }));
  };
  const whole = problems(withReport({ budget: { rho: 0.5 } }));
  t.match(whole, [
    { path: '/protection/truncationReport/budget/rho', message: /does not fit in the release's budget/ },
  ]);
  t.match(problems(withReport({ budget: { epsilon: 0.1 } })), [
    { path: '/protection/truncationReport/budget/epsilon', message: /taken from the release's rho/ },
  ]);
  t.ok(
    problems(withReport({ share: 1 })).some((p) => p.path.startsWith('/protection/truncationReport')),
    'a share of 1 leaves the tables nothing: refused',
  );
  t.ok(problems(withReport({ share: 0.1, budget: { rho: 0.05 } })).length > 0, 'share or budget, not both');
  const counts = withReport({ share: 0.1 });
  const nothing = {
    ...counts,
    dataset: { ...counts.dataset, unit: { kind: 'person' } },
    tables: counts.tables.filter((x) => x.measure.kind === 'count'),
  } as PolicyDoc;
  t.match(problems(nothing), [{ path: '/protection/truncationReport', message: /nothing to count/ }]);
  // An amount of the total: rho 0.05 of 0.5 is a share of 0.1; the tables share 0.9; the release costs its total.
  const v = validatePolicy(withReport({ budget: { rho: 0.05 } }));
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const plan = planPolicy(v.policy, {
    policyPath: path.resolve('policies/pums-dp.json'),
    policySha256: '0'.repeat(64),
  });
  const p = plan.protection as DpPlan;
  t.ok(Math.abs(p.truncationReport!.share - 0.1) < 1e-12);
  t.ok(Math.abs(plan.tables.reduce((a, x) => a + x.budgetShare, 0) - 0.9) < 1e-12, 'tables share the rest');
  t.same(planCost(plan), budgetCost({ rho: 0.5 }), 'the ledger charges the total: the report is inside it');
});

/** A file whose exact counts are distinctive: 7,777 rows dropped (counted up to 5 per unit), 3,333 values clamped. */
function distinctiveFixture(dir: string): string {
  const lines = ['hh,g,x'];
  let id = 0;
  const unit = (rows: number, x: number, g: (j: number) => string): void => {
    id++;
    for (let j = 0; j < rows; j++) lines.push(`u${id},${g(j)},${x}`);
  };
  for (let i = 0; i < 1555; i++) unit(7, 50, (j) => 'ab'[(i + j) % 2]!); // 5 dropped each: 7,775
  unit(4, 50, () => 'a'); // 2 dropped: 7,777
  for (let i = 0; i < 3333; i++) unit(1, 500, () => 'ab'[i % 2]!); // clamped to 100: 3,333
  for (let i = 0; i < 2000; i++) unit(2, 10, () => 'ab'[i % 2]!);
  writeFileSync(path.join(dir, 'micro.csv'), lines.join('\n') + '\n');
  const policy = {
    id: 'trunc-demo',
    version: '1.0.0',
    release: { title: 'Truncation report demo', audience: 'public', demo: true },
    dataset: {
      id: 'trunc-demo',
      source: { kind: 'csv', path: 'micro.csv', delimiter: ',', header: true },
      unit: { kind: 'household', column: 'hh', maxRowsPerUnit: 2 },
      columns: [
        { name: 'hh', type: 'string' },
        { name: 'g', type: 'categorical', categories: ['a', 'b'].map((c) => ({ code: c, label: c })) },
        { name: 'x', type: 'integer' },
      ],
    },
    tables: [
      { id: 'n-g', title: 'Households by g', dimensions: ['g'], measure: { kind: 'count' } },
      { id: 'x-g', title: 'Sum of x by g', dimensions: ['g'], measure: { kind: 'sum', column: 'x', bounds: [0, 100] } },
    ],
    protection: {
      regime: 'dp',
      mechanism: 'discrete-laplace',
      budget: { epsilon: 1 },
      truncationReport: { share: 0.2, maxDroppedPerUnit: 5 },
    },
  };
  const file = path.join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(policy, null, 2));
  return file;
}

t.test('the csv source counts them exactly, in memory and when the bounder spills to disk', async (t) => {
  const dir = tempDir('sg-truncation-csv-');
  const plan = await loadPolicy(distinctiveFixture(dir));
  const key = new Uint8Array(32).fill(3);
  const mem = await csvSource().aggregate(plan, { boundingKey: key });
  const spilled = await csvSource().aggregate(plan, { boundingKey: key, maxBufferedUnits: 100 });
  t.same(mem.truncation, {
    rowsDropped: 7777,
    valuesClamped: [{ column: 'x', decimals: 0, lower: 0, upper: 100, count: 3333 }],
  });
  t.same(spilled.truncation, mem.truncation, 'the same counts through the spill files');
  const none = await csvSource().aggregate(
    { ...plan, protection: { ...plan.protection, truncationReport: null } } as Plan,
    {
      boundingKey: key,
    },
  );
  t.equal(none.truncation, undefined, 'not computed when the plan does not ask');
});

const EXACT_FIGURES = /(?<![0-9A-Za-z.])(7777|7,777|3333|3,333)(?![0-9A-Za-z.])/;

t.test(
  'no exact count in the manifest, the files, the reviewer report, the preview, lint or the command',
  async (t) => {
    const dir = tempDir('sg-truncation-');
    mkdirSync(dir, { recursive: true });
    const file = distinctiveFixture(dir);
    const plan = await loadPolicy(file);
    const run = await runRelease(plan, { seed: 'no exact counts' });
    const m = run.content.manifest;
    const rep = m.truncation as { counts: { quantity: string; value: number; halfWidth95: number }[] };
    t.same(
      rep.counts.map((c) => c.quantity),
      ['rows-dropped', 'values-clamped'],
    );
    t.not(rep.counts[0]!.value, 7777, 'the published count is noisy');
    t.not(rep.counts[1]!.value, 3333, 'the published count is noisy');
    t.ok(Math.abs(rep.counts[0]!.value - 7777) < 4 * rep.counts[0]!.halfWidth95, 'near the truth');
    const bias = (m.tables[1]!.privacy as { bias: { source: string; estimate?: { count: number } }[] }).bias;
    t.equal(bias.find((b) => b.source === 'clamping')!.estimate!.count, rep.counts[1]!.value, 'clamping note estimate');
    t.equal(bias.find((b) => b.source === 'bounding')!.estimate!.count, rep.counts[0]!.value, 'bounding note estimate');
    const files = renderRelease(run.content).files;
    for (const [name, body] of files) t.notMatch(String(body), EXACT_FIGURES, `${name}: no exact count`);
    t.notMatch(JSON.stringify(run.reviewer), EXACT_FIGURES, 'reviewer report: no exact count');
    const preview = await previewPolicy(plan, { seed: 'no exact counts' });
    t.notMatch(JSON.stringify(preview), EXACT_FIGURES, 'preview: no exact count');
    t.equal(preview.budget!.truncation!.counts.length, 2, 'the preview shows the noisy report');
    t.match(previewText(preview), /truncation report \(share 0\.2 of the budget\): rows dropped by bounding about \d+/);
    t.notMatch(previewText(preview), EXACT_FIGURES, 'preview text: no exact count');
    t.notMatch(JSON.stringify(lintPlan(plan, { ledger: null })), EXACT_FIGURES, 'lint: no exact count');
    let said = '';
    const io = { out: (x: string) => void (said += x), err: (x: string) => void (said += x), isTty: false };
    const out = path.join(dir, 'release');
    t.equal(await main(['release', file, '--out', out, '--seed', 'cli'], io), 0, said);
    t.equal(await main(['lint', file], io), 0, said);
    t.notMatch(said, EXACT_FIGURES, 'command output: no exact count');
    t.notMatch(
      readFileSync(path.join(out, 'manifest.json'), 'utf8'),
      EXACT_FIGURES,
      'written manifest: no exact count',
    );
  },
);
