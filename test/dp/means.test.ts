/**
 * Mean tables (issue 18, item 2): a mean per unit or per row, with the matching denominator and sensitivity, and a
 * 95% interval that covers 95% of cells (over 400 seeded releases per mechanism), where adding two 97.5% half-widths
 * covered 98.5-100%. And the example `pums-dp` publishes the mean income per person its title names.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { protectDp, tableSensitivity } from '../../engine/dp/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { RandomReader, seededRandom } from '../../engine/random.ts';
import type { DpPlan, ExactCell, ExactTable, MeasurePlan, TablePlan, UnitPlan } from '../../engine/types.ts';
import { cellCoords } from '../../engine/types.ts';

const flat = (name: string, codes: string[]) =>
  buildDimension({ name, categories: codes.map((c) => ({ code: c, label: c })) });
const DIMS = [flat('g', ['a', 'b', 'c']), flat('h', ['p', 'q', 'r', 's'])];
const UNIT: UnitPlan = { column: 'hh', kind: 'household', maxRowsPerUnit: 2 };

const mean = (per: 'unit' | 'row'): MeasurePlan => ({
  kind: 'mean',
  column: 'income',
  lower: 0,
  upper: 1000,
  decimals: 0,
  per,
});
const plan = (measure: MeasurePlan): TablePlan => ({
  id: 'm',
  title: 'm',
  description: '',
  dimensions: DIMS,
  measure,
  budgetShare: 1,
  neverSuppress: [],
  alwaysSuppress: [],
});

/** Units of 1 or 2 rows in the 3 x 4 leaves (more in a than in c), values in [0, 1000]; the exact table with margins. */
function exactTable(tp: TablePlan): ExactTable {
  const r = new RandomReader(seededRandom('means data'));
  const dims = tp.dimensions;
  const acc = dims.reduce((n, d) => n * d.nodes.length, 1);
  const units = new Array<number>(acc).fill(0);
  const rows = new Array<number>(acc).fill(0);
  const sums = new Array<number>(acc).fill(0);
  const leafOf = (code: string, d: number): number => dims[d]!.nodes.findIndex((n) => n.code === code);
  const total = (d: number): number => dims[d]!.total!;
  for (let u = 0; u < 1400; u++) {
    const g = u % 7 < 4 ? 0 : u % 7 < 6 ? 1 : 2;
    const h = r.uniformInt(4);
    const k = 1 + r.uniformInt(2);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += 100 + r.uniformInt(400) + 300 * g;
    const coords = [
      [leafOf(['a', 'b', 'c'][g]!, 0), total(0)],
      [h, total(1)],
    ];
    for (const x of coords[0]!)
      for (const y of coords[1]!) {
        const i = x * dims[1]!.nodes.length + y;
        units[i]!++;
        rows[i]! += k;
        sums[i]! += sum;
      }
  }
  const cells: ExactCell[] = units.map((n, i) => ({ units: n, rows: rows[i]!, sum: sums[i]!, top: [] }));
  return { kind: 'exact', plan: tp, cells };
}

const laplace = (epsilon: number): DpPlan => ({
  regime: 'dp',
  mechanism: 'discrete-laplace',
  epsilon,
  rho: null,
  delta: 1e-6,
  noisyThreshold: null,
  granularityLog2: 0,
});
const gauss = (rho: number): DpPlan => ({ ...laplace(1), mechanism: 'discrete-gaussian', epsilon: null, rho });

t.test('a mean per row divides by rows, a mean per unit by units, each with its own sensitivity', async (t) => {
  const sens = tableSensitivity(plan(mean('row')), 2);
  // L = 4 (leaf or total in two dimensions): rows L1 = m L = 8, L2^2 = m^2 L = 16; units m(L-1)+1 = 7.
  t.same([sens.rows.l1, Number(sens.rows.l2Squared), sens.count.l1], [8, 16, 7]);
  for (const per of ['row', 'unit'] as const) {
    const res = protectDp([exactTable(plan(mean(per)))], laplace(1), UNIT, seededRandom(`per ${per}`));
    const a = res.accounting.tables[0]!;
    t.same(
      a.queries.map((q) => [q.quantity, q.epsilon, q.l1Sensitivity]),
      [
        ['sum', 0.5, 2 * 4 * 1000],
        [per === 'row' ? 'rows' : 'count', 0.5, per === 'row' ? 8 : 7],
      ],
      `${per}: the budget split in two halves, stated`,
    );
  }
});

/** Coverage of the stated 95% half-widths over `runs` seeded releases, and the largest interior error seen. */
function coverage(per: 'unit' | 'row', dp: DpPlan, runs: number): number {
  const tp = plan(mean(per));
  const exact = exactTable(tp);
  const truth = exact.cells.map((c) => c.sum / (per === 'row' ? c.rows : c.units));
  let inside = 0;
  let cells = 0;
  for (let k = 0; k < runs; k++) {
    const res = protectDp([exact], dp, UNIT, seededRandom(`coverage ${per} ${k}`));
    res.tables[0]!.cells.forEach((c, i) => {
      cells++;
      if (Math.abs(c.value! - truth[i]!) <= c.accuracy!.halfWidth95) inside++;
    });
  }
  return inside / cells;
}

t.test('the stated 95% intervals of means cover 94-96% of cells (400 seeded releases each)', async (t) => {
  for (const [per, dp, name] of [
    ['unit', gauss(0.2), 'Gaussian, rho 0.2'],
    ['row', laplace(1), 'Laplace, epsilon 1'],
  ] as const) {
    const c = coverage(per, dp, 400);
    t.ok(c >= 0.94 && c <= 0.96, `${name}, mean per ${per}: coverage ${c.toFixed(4)} of 8,000 cells`);
  }
});

t.test('pums-dp publishes the mean income per person its title names', async (t) => {
  const p = await loadPolicy(new URL('../../policies/pums-dp.json', import.meta.url).pathname);
  const tp = p.tables.find((x) => x.measure.kind === 'mean')!;
  t.match(tp.title, /per person/);
  // The persons' own incomes, clamped to the policy's bounds: each person once, whatever their number of rows.
  const text = readFileSync(new URL('../../fixtures/pums-dup/PUMS_dup.csv', import.meta.url), 'utf8').trim();
  const [head, ...lines] = text.split('\n');
  const cols = head!.split(',');
  const income = new Map<string, number>();
  for (const l of lines) {
    const f = l.split(',');
    income.set(f[cols.indexOf('pid')]!, Math.min(200000, Math.max(0, Number(f[cols.indexOf('income')]))));
  }
  const perPerson = [...income.values()].reduce((a, b) => a + b, 0) / income.size;
  const run = await runRelease(p, { seed: 'pums mean' });
  const out = run.content.tables.find((x) => x.plan.id === tp.id)!;
  const dims = out.plan.dimensions;
  const grand = out.cells.findIndex((_, i) => cellCoords(dims, i).every((n, d) => n === dims[d]!.total));
  const cell = out.cells[grand]!;
  t.ok(
    Math.abs(cell.value! - perPerson) <= cell.accuracy!.halfWidth95,
    `grand mean ${cell.value} within ${cell.accuracy!.halfWidth95} of the per-person mean ${perPerson.toFixed(0)}`,
  );
  const entry = run.content.manifest.tables.find((x) => x.id === tp.id)!;
  t.equal(entry.measure.per, 'unit', 'the manifest states what the mean is over');
});
