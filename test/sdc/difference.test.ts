/**
 * The primary rules on the difference table of a correction (`assessDifference`): a published cell that changed by d
 * is judged on the worst case d allows (count tables: at least |d| units changed; other measures: possibly one unit's
 * contribution of |d|), with protection levels of the difference.
 */
import t from 'tap';
import { assessDifference } from '../../engine/sdc/index.ts';
import type { TablePlan } from '../../engine/types.ts';
import { sdcPlan, sumMeasure } from './helpers.ts';

const table = (measure: TablePlan['measure']): TablePlan => ({
  id: 't',
  title: 't',
  description: '',
  dimensions: [],
  measure,
  budgetShare: 1,
  neverSuppress: [],
  alwaysSuppress: [],
});

t.test('count differences: the frequency rule on |d| units', async (t) => {
  const plan = sdcPlan({ minFrequency: 3, frequencyProtection: 10 });
  const counts = table({ kind: 'count' });
  for (const d of [-2, -1, 1, 2]) {
    const a = assessDifference(plan, counts, d);
    t.same(a.rules, ['frequency'], `d = ${d} could be fewer than 3 units`);
    t.equal(a.status, 'A');
    t.equal(a.level, 0.1 * Math.abs(d));
  }
  for (const d of [-3, 3, 40]) t.same(assessDifference(plan, counts, d).rules, [], `d = ${d}: at least 3 units`);
  t.same(assessDifference(plan, counts, 0).rules, [], 'no change, no cell');
  t.same(assessDifference(sdcPlan({ minFrequency: null }), counts, 1).rules, [], 'no frequency rule, no count rule');
});

t.test('magnitude differences: possibly one contributor, every rule applies', async (t) => {
  const plan = sdcPlan({
    minFrequency: 3,
    frequencyProtection: 10,
    dominance: [{ n: 1, k: 85 }],
    pPercent: 15,
  });
  const a = assessDifference(plan, table(sumMeasure), -600);
  t.same(a.rules, ['frequency', 'dominance', 'p-percent']);
  // The largest level: dominance (1, 85) asks 600 * 100/85 - 600 = 105.88; p% 90; frequency 60.
  t.ok(Math.abs(a.level - (600 * 100) / 85 + 600) < 1e-9);
  t.same(assessDifference(plan, table(sumMeasure), 0).rules, []);
  // Only a p% rule: a single contributor is always within p% of the difference.
  const p = assessDifference(sdcPlan({ minFrequency: null, pPercent: 10, dominance: [] }), table(sumMeasure), 250);
  t.same(p.rules, ['p-percent']);
  t.equal(p.level, 25);
});
