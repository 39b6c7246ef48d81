import t from 'tap';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { StatguardError } from '../../engine/errors.ts';
import type { ExactTable } from '../../engine/types.ts';
import { cats, codesOf, hasShared, makeTable, microdata1, sdcPlan, sdcTableNumber, sumMeasure } from './helpers.ts';

const oneCell = (values: number[], measure = sumMeasure): ExactTable =>
  makeTable(
    'one',
    [{ name: 'x', categories: cats('a'), total: false }],
    values.map((v) => ({ codes: ['a'], value: v })),
    measure,
  );

t.test('minimum frequency: 0 < units < n', async (t) => {
  const plan = sdcPlan({ minFrequency: 3, frequencyProtection: 10 });
  const two = applyPrimaryRules(oneCell([1, 2], { kind: 'count' }), plan).cells[0]!;
  t.equal(two.unsafe, true);
  t.equal(two.status, 'A');
  t.equal(two.rule, 'frequency');
  t.ok(Math.abs(two.upper - 0.2) < 1e-12, 'protection 10% of 2 units');
  const three = applyPrimaryRules(oneCell([1, 2, 3], { kind: 'count' }), plan).cells[0]!;
  t.equal(three.unsafe, false);
  t.equal(three.status, 'F');
  const zero = makeTable(
    'z',
    [{ name: 'x', categories: cats('a', 'b') }],
    [
      { codes: ['a'], value: 1 },
      { codes: ['a'], value: 1 },
      { codes: ['a'], value: 1 },
    ],
  );
  const zp = applyPrimaryRules(zero, plan).cells;
  t.equal(zp[1]!.unsafe, false, 'zero cell published by default');
  const zs = applyPrimaryRules(zero, sdcPlan({ minFrequency: 3, zeroCells: 'suppress' })).cells;
  t.equal(zs[1]!.unsafe, true, 'zero cell suppressed on request');
  t.equal(zs[1]!.rule, 'zero');
});

t.test('(n,k) dominance with n=1 and n=2', async (t) => {
  // X = 100, x1 = 60, x2 = 25
  const tab = oneCell([60, 25, 10, 5]);
  const r1 = applyPrimaryRules(tab, sdcPlan({ dominance: [{ n: 1, k: 50 }] })).cells[0]!;
  t.equal(r1.status, 'O');
  t.ok(Math.abs(r1.upper - ((60 * 100) / 50 - 100)) < 1e-9, 'upper protection = x1*100/k - X = 20');
  const r1safe = applyPrimaryRules(tab, sdcPlan({ dominance: [{ n: 1, k: 60 }] })).cells[0]!;
  t.equal(r1safe.unsafe, false, '60 > 60 is false: safe at k=60');
  const r2 = applyPrimaryRules(tab, sdcPlan({ dominance: [{ n: 2, k: 80 }] })).cells[0]!;
  t.equal(r2.status, 'T');
  t.ok(Math.abs(r2.upper - ((85 * 100) / 80 - 100)) < 1e-9, 'upper = 85*1.25 - 100 = 6.25');
  t.equal(applyPrimaryRules(tab, sdcPlan({ dominance: [{ n: 2, k: 90 }] })).cells[0]!.unsafe, false);
  const count = applyPrimaryRules(
    oneCell([1, 1], { kind: 'count' }),
    sdcPlan({ dominance: [{ n: 1, k: 10 }], pPercent: 10 }),
  ).cells[0]!;
  t.equal(count.unsafe, false, 'dominance and p% do not apply to count tables');
});

t.test('p% and (p,q) rules', async (t) => {
  const tab = oneCell([60, 25, 10, 5]); // remainder X - x1 - x2 = 15
  const p20 = applyPrimaryRules(tab, sdcPlan({ pPercent: 20 })).cells[0]!;
  t.equal(p20.unsafe, false, '15 >= 0.2*60 = 12');
  const p30 = applyPrimaryRules(tab, sdcPlan({ pPercent: 30 })).cells[0]!;
  t.equal(p30.unsafe, true);
  t.equal(p30.status, 'C');
  t.ok(Math.abs(p30.upper - (18 - 15)) < 1e-9, 'p% protection = 0.3*60 - 15 = 3');
  t.equal(p30.lower, p30.upper, 'symmetric protection');
  const pq = applyPrimaryRules(tab, sdcPlan({ pq: { p: 20, q: 50 } })).cells[0]!;
  t.equal(pq.unsafe, true, '15 < (20/50)*60 = 24');
  t.ok(Math.abs(pq.upper - (0.2 * 60 - 0.5 * 15)) < 1e-9, '(p,q) protection = p/100 x1 - q/100 rest = 4.5');
  t.equal(applyPrimaryRules(tab, sdcPlan({ pq: { p: 20, q: 80 } })).cells[0]!.unsafe, false, '15 >= 0.25*60');
});

t.test('neverSuppress / alwaysSuppress and bad marks', async (t) => {
  const spec = [{ name: 'x', categories: cats('a', 'b') }];
  const rows = [1, 2, 3, 4].map((v) => ({ codes: [v < 2 ? 'a' : 'b'], value: v }));
  const always = makeTable('t', spec, rows, { kind: 'count' }, { alwaysSuppress: [['b']] });
  const a = applyPrimaryRules(always, sdcPlan()).cells;
  t.equal(a[1]!.unsafe, true);
  t.equal(a[1]!.rule, 'always');
  const never = makeTable('t', spec, rows, { kind: 'count' }, { neverSuppress: [['a']] });
  const err = t.throws(() => applyPrimaryRules(never, sdcPlan({ minFrequency: 3 }))) as StatguardError;
  t.equal(err.code, 'SDC_INFEASIBLE');
  t.match(err.message, /neverSuppress/);
  const bad = makeTable('t', spec, rows, { kind: 'count' }, { neverSuppress: [['zz']] });
  t.throws(() => applyPrimaryRules(bad, sdcPlan()), { code: 'POLICY_INVALID', message: /"zz"/ });
  t.throws(() => applyPrimaryRules(always, sdcPlan({ dominance: [{ n: 5, k: 80 }] })), { code: 'POLICY_INVALID' });
});

t.test(
  'sdcTable reference results on microdata1 (region x gender)',
  { skip: hasShared ? false : 'needs ../shared/data (sdcTable microdata1)' },
  async (t) => {
    const flagged = (tab: ExactTable, plan: Parameters<typeof applyPrimaryRules>[1]): number[] =>
      applyPrimaryRules(tab, plan)
        .cells.flatMap((c, i) => (c.unsafe ? [sdcTableNumber(tab, codesOf(tab, i))] : []))
        .sort((a, b) => a - b);
    const count = microdata1();
    // sdcTable's maxN = 2 flags cells with 1..2 units; our convention (unsafe when 0 < units < n) needs n = 3.
    t.same(flagged(count, sdcPlan({ minFrequency: 3 })), [6]);
    t.same(
      codesOf(
        count,
        applyPrimaryRules(count, sdcPlan({ minFrequency: 3 })).cells.findIndex((c) => c.unsafe),
      ),
      ['A', 'female'],
    );
    const mag = microdata1(sumMeasure);
    t.same(flagged(mag, sdcPlan({ dominance: [{ n: 2, k: 75 }] })), [6, 14]);
    t.same(flagged(mag, sdcPlan({ pPercent: 70 })), [6, 14]);
    t.same(flagged(mag, sdcPlan({ pq: { p: 60, q: 80 } })), [6, 14]);
    const d14 = applyPrimaryRules(mag, sdcPlan({ dominance: [{ n: 2, k: 75 }] })).cells.find(
      (c, i) => sdcTableNumber(mag, codesOf(mag, i)) === 14,
    )!;
    t.equal(d14.status, 'T');
  },
);
