import t from 'tap';
import { loadPolicy } from '../../engine/policy/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import {
  aggregateExact,
  comparePreviews,
  lintDocument,
  lintPlan,
  previewFromExact,
  previewPolicy,
  sweepPolicy,
  sweepSvg,
  parseSweep,
} from '../../engine/preview/index.ts';
import { cellCoords } from '../../engine/types.ts';
import { TINY, TINY_UNITS, tinyDoc, tinyDpDoc, writeDoc } from './helpers.ts';

t.test('sdc preview of tiny-sdc: rules, protection levels, intervals (fixtures/tiny/README.md)', async (t) => {
  const p = await previewPolicy(await loadPolicy(TINY), { seed: 's' });
  t.equal(p.regime, 'sdc');
  t.equal(p.budget, null);
  const turnover = p.tables.find((x) => x.id === 'turnover')!;
  t.same(
    turnover.sdc!.primary,
    { frequency: 1, dominance: 2, 'p-percent': 1, pq: 0, zero: 0, always: 0 },
    'N/C frequency; N/B, S/B dominance; S/A p%',
  );
  t.equal(turnover.cells, 16);
  t.equal(turnover.shareCellsSuppressed, turnover.suppressed / 16);
  t.equal(turnover.suppressed, turnover.sdc!.primaryTotal + turnover.sdc!.secondary);
  const sens = new Map(turnover.sdc!.sensitive.map((s) => [s.codes.join('/'), s]));
  // Required protection by hand (thousand EUR): S/A p%: 0.15*300 - (390-300-50) = 5;
  // N/B: max((1,85): 900/0.85-950 = 108.8, p%: 0.15*900 - (950-900-30) = 115) = 115; S/B (2,90): 900/0.9 - 990 = 10.
  t.ok(Math.abs(sens.get('S/A')!.requiredUpper - 5) < 1e-9);
  t.ok(Math.abs(sens.get('N/B')!.requiredUpper - 115) < 1e-9);
  t.ok(Math.abs(sens.get('S/B')!.requiredUpper - 10) < 1e-9);
  t.equal(sens.get('S/A')!.value, 390);
  for (const s of turnover.sdc!.sensitive) {
    t.ok(
      s.passes && s.max >= s.value + s.requiredUpper - 1e-6 && s.min <= s.value - s.requiredLower + 1e-6,
      `interval of ${s.codes} covers its protection`,
    );
  }
  t.equal(turnover.sdc!.smallestMargin, Math.min(...turnover.sdc!.sensitive.map((s) => s.margin)));
  t.equal(p.sdc!.smallestMargin, Math.min(...p.tables.map((x) => x.sdc!.smallestMargin ?? Infinity)));
  t.same(p.sdc!.insiders, { model: 'singletons', exposed: 0 }, 'the default insider model leaves insiders nothing');
  // Every non-zero leaf turnover cell of N and S is hidden by the pattern or not: share of value agrees with the cells.
  t.ok(turnover.sdc!.shareValueSuppressed > 0 && turnover.sdc!.shareValueSuppressed <= 1);
  t.same(p.tables.find((x) => x.id === 'size-by-region')!.sdc!.primary.frequency, 3, 'M/N, L/N, L/S');
  t.equal(
    p.tables.find((x) => x.id === 'enterprises')!.risk.publishedOneOrTwo,
    0,
    'n = 3 publishes no cell of 1-2 units',
  );
  t.ok(
    p.lint.some(
      (f) => f.code === 'CATEGORY_NOT_IN_DATA' && f.path === '/dataset/columns/1/categories' && /"W"/.test(f.message),
    ),
    'W has no unit',
  );
});

t.test('risk signals and lint with minimum frequency 2 (hand-computed)', async (t) => {
  const doc = await tinyDoc();
  doc.id = 'tiny-n2';
  doc.protection.rules.minFrequency.n = 2;
  const plan = await loadPolicy(await writeDoc(doc));
  const p = await previewPolicy(plan, { seed: 's' });
  const ent = p.tables.find((x) => x.id === 'enterprises')!;
  t.equal(ent.suppressed, 0, 'no enterprise cell has 0 < units < 2');
  // Published cells with 1-2 units: N/C (2). Non-empty interior cells: N/A N/B N/C S/A S/B S/C.
  t.same(ent.risk, {
    publishedOneOrTwo: 1,
    interiorPublished: 6,
    interiorOneOrTwo: 1,
    sparsityShare: 1 / 6,
    sparse: false,
  });
  t.ok(p.lint.some((f) => f.code === 'LOW_THRESHOLD' && f.path === '/protection/rules/minFrequency/n'));
  t.same(p.tables.find((x) => x.id === 'turnover')!.sdc!.primary.dominance, 3, 'N/C now fails (2,90): 1000 > 900');
});

t.test('lint: every check with its path', async (t) => {
  const bad = await tinyDoc();
  bad.tables[0].measure.bounds = [10, 1];
  delete bad.release;
  const inv = lintDocument(bad);
  t.ok(inv.length >= 2 && inv.every((f) => f.severity === 'error' && f.code === 'INVALID'));
  t.ok(
    inv.some((f) => f.path === '/tables/0/measure/bounds'),
    'bounds order, with its path',
  );

  const n10 = await tinyDoc();
  n10.id = 'tiny-n10';
  n10.protection.rules.minFrequency.n = 10;
  const plan = await loadPolicy(await writeDoc(n10));
  const data = await aggregateExact(plan, { seed: 'l' });
  const f = lintPlan(plan, { exact: data.tables, stats: data.stats });
  // size-by-region non-empty interior units 6, 9, 1, 3, 1, 2: 5 of 6 below 10; turnover/enterprises 4,3,2,4,5,4: all below.
  t.same(
    f
      .filter((x) => x.code === 'MOSTLY_BELOW_THRESHOLD')
      .map((x) => x.path)
      .sort(),
    ['/tables/0', '/tables/1', '/tables/2'],
  );
  t.notOk(f.some((x) => x.code === 'LOW_THRESHOLD'));

  const eps = await loadPolicy(
    await writeDoc(await tinyDpDoc({ mechanism: 'discrete-laplace', budget: { epsilon: 20 } })),
  );
  t.same(
    lintPlan(eps).map((x) => [x.code, x.path]),
    [['HIGH_EPSILON', '/protection/budget/epsilon']],
  );
  const rho = await loadPolicy(await writeDoc(await tinyDpDoc({ mechanism: 'discrete-gaussian', budget: { rho: 6 } })));
  t.same(
    lintPlan(rho).map((x) => [x.code, x.path]),
    [['HIGH_RHO', '/protection/budget/rho']],
  );
  // rho 6 costs 6; 5 - 4.5 = 0.5 remains.
  const led = lintPlan(rho, { ledger: { totalRho: 5, totalEpsilon: 10, spentRho: 4.5, spentEpsilon: 0 } });
  t.ok(led.some((x) => x.code === 'BUDGET_EXCEEDS_LEDGER' && x.path === '/protection/budget'));
});

t.test('dp preview: budget, noise scale, half-width, realised error (hand-computed)', async (t) => {
  // One count table region x sector, epsilon 1, at most 2 rows per unit: a row is counted in 2 x 2 = 4 cells, the
  // unit's rows share the grand total: L1 = 2 * (4 - 1) + 1 = 7, Laplace scale b = 7 / 1 = 7. 95% half-width: smallest
  // w with 2 q^(w+1) / (1 + q) <= 0.05, q = e^(-1/7): w + 1 >= ln(0.05 (1 + q) / 2) / ln q = 21.45, so w = 21.
  const plan = await loadPolicy(
    await writeDoc(await tinyDpDoc({ mechanism: 'discrete-laplace', budget: { epsilon: 1 } })),
  );
  const ledger = { totalRho: 5, totalEpsilon: 10, spentRho: 4.8, spentEpsilon: 1 };
  const p = await previewPolicy(plan, { seed: 'dp-1', ledger });
  const d = p.tables[0]!.dp!;
  t.equal(d.epsilon, 1);
  t.equal(d.delta, 0);
  t.ok(Math.abs(d.noiseScale - 7) < 1e-5, `scale ${d.noiseScale}`);
  t.equal(d.halfWidth95, 21);
  t.same(p.budget!.cost, { rho: 0.5, epsilon: 1 }, 'epsilon 1 costs rho 1/2 on the ledger');
  const l = p.budget!.ledger as Exclude<NonNullable<typeof p.budget>['ledger'], 'unknown'>;
  t.ok(
    Math.abs(l.remainingRho - 0.2) < 1e-12 && l.remainingEpsilon === 9 && l.fits === false,
    'rho 0.2 and epsilon 9 remain; rho 0.5 does not fit',
  );
  t.ok(p.lint.some((f) => f.code === 'BUDGET_EXCEEDS_LEDGER'));
  // The same seed gives the release's very cells: realised error against the README's exact counts.
  const rel = await runRelease(plan, { seed: 'dp-1' });
  const tab = rel.content.tables[0]!;
  const dims = tab.plan.dimensions;
  let n = 0;
  let sum = 0;
  let max = 0;
  let a10 = 0;
  let a50 = 0;
  tab.cells.forEach((c, i) => {
    if (c.value === null) return;
    const [r, s] = cellCoords(dims, i).map((k, dd) => dims[dd]!.nodes[k]!.code);
    const x = TINY_UNITS[r!]![s!]!;
    const err = Math.abs(c.value - x);
    n++;
    sum += err;
    max = Math.max(max, err);
    const rel = x === 0 ? (err === 0 ? 0 : Infinity) : err / x;
    if (rel > 0.1) a10++;
    if (rel > 0.5) a50++;
  });
  t.equal(d.error.cells, n);
  t.ok(Math.abs(d.error.meanAbsError - sum / n) < 1e-12);
  t.equal(d.error.maxAbsError, max);
  t.equal(d.error.shareRelAbove10, a10 / n);
  t.equal(d.error.shareRelAbove50, a50 / n);
  t.ok(max > 0, 'noise was added');

  // zCDP: rho 2.556 at delta 1e-10 is about (17.14, 1e-10); a noisy threshold above every count suppresses every cell.
  const g = await loadPolicy(
    await writeDoc(await tinyDpDoc({ mechanism: 'discrete-gaussian', budget: { rho: 2.556 }, noisyThreshold: 1000 })),
  );
  const pg = await previewPolicy(g, { seed: 'g' });
  t.ok(Math.abs(pg.tables[0]!.dp!.approxEpsilon - 17.14) < 0.01);
  t.equal(pg.tables[0]!.dp!.shareSuppressedByThreshold, 1);
  t.equal(pg.budget!.ledger, 'unknown');
});

t.test('compare and sweep', async (t) => {
  const planA = await loadPolicy(TINY);
  const doc = await tinyDoc();
  doc.id = 'tiny-n2';
  doc.protection.rules.minFrequency.n = 2;
  const planB = await loadPolicy(await writeDoc(doc));
  const a = await previewPolicy(planA, { seed: 'c' });
  const b = await previewPolicy(planB, { seed: 'c' });
  const c = comparePreviews(a, b);
  const row = (table: string, figure: string) => c.rows.find((r) => r.table === table && r.figure === figure)!;
  t.same(row('enterprises', 'primary'), { table: 'enterprises', figure: 'primary', a: 1, b: 0, diff: -1 });
  t.same(
    row('size-by-region', 'primary: frequency'),
    { table: 'size-by-region', figure: 'primary: frequency', a: 3, b: 2, diff: -1 },
    'L/S (2 units) no longer primary',
  );
  t.equal(
    row('*', 'suppressed cells').diff,
    (row('*', 'suppressed cells').b as number) - (row('*', 'suppressed cells').a as number),
  );

  // Sweep n: primaries by hand: n=2: turnover 4 (N/B, S/B, N/C by (2,90); S/A), enterprises 0, size M/N + L/N = 2 -> 6;
  // n=3: 4 + 1 + 3 = 8.
  const data = await aggregateExact(planA, { seed: 'w' });
  const s = await sweepPolicy(planA, parseSweep('n=3,2'), data);
  t.same(
    s.points.map((p) => [p.value, p.primary]),
    [
      [2, 6],
      [3, 8],
    ],
  );
  const svg = sweepSvg(s);
  t.match(svg, /<svg[^>]+role="img"/);
  t.match(svg, /<title id="sg-title">tiny-sdc: share of cells suppressed by n<\/title>/);
  t.match(svg, /<desc id="sg-desc">[^<]*n = 2: [^<]*; 3: /);
  t.equal((svg.match(/<circle /g) ?? []).length, 2);
  t.throws(() => parseSweep('bogus=1'), { code: 'USAGE' });
  t.throws(() => parseSweep('epsilon=0,1'), { code: 'USAGE' });
  await t.rejects(sweepPolicy(planA, parseSweep('epsilon=1'), data), { code: 'USAGE' }, 'epsilon on an sdc policy');

  const dp = await loadPolicy(
    await writeDoc(await tinyDpDoc({ mechanism: 'discrete-laplace', budget: { epsilon: 1 } })),
  );
  const sd = await sweepPolicy(dp, parseSweep('epsilon=0.5,1,4'), await aggregateExact(dp, { seed: 'x' }));
  const hw = sd.points.map((p) => p.halfWidth95!);
  t.ok(hw[0]! > hw[1]! && hw[1]! > hw[2]!, 'more budget, narrower intervals');
  t.equal(sd.metric, 'shareRelAbove10');
});

t.test('preview from exact data does not change the plan', async (t) => {
  const plan = await loadPolicy(TINY);
  const data = await aggregateExact(plan, { seed: 'f' });
  await sweepPolicy(plan, parseSweep('p=10,20'), data);
  t.equal((plan.protection as { pPercent: number }).pPercent, 15);
  const p = await previewFromExact(plan, data);
  t.equal(p.policy.id, 'tiny-sdc');
});
