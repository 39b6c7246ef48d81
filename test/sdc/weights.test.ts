/**
 * Sampling weights (`dataset.weight`): published cells are weighted estimates; the frequency rule counts respondents
 * (unweighted units); dominance judges weighted contributions against the weighted total.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validatePolicy, planPolicy } from '../../engine/policy/index.ts';
import { csvSource } from '../../engine/source/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { cellIndex } from '../../engine/types.ts';
import type { Plan } from '../../engine/types.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-weights-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// Region N: 2 respondents with large weights (weighted count 250.5, but only 2 respondents).
// Region S: 4 respondents; one has a small value but a huge weight, so it dominates the WEIGHTED total only.
// Region W: 5 even respondents.
const CSV = `id,region,w,income
1,N,150.25,10
2,N,100.25,12
3,S,1,100
4,S,1,100
5,S,1,100
6,S,40,30
7,W,2,10
8,W,2,10
9,W,2,10
10,W,2,10
11,W,2,10
`;

function plan(extra: Record<string, unknown> = {}): Plan {
  const file = path.join(tmp, 'w.csv');
  writeFileSync(file, CSV);
  const doc = {
    id: 'w',
    version: '1',
    release: { title: 'w', audience: 'public', demo: true },
    dataset: {
      id: 'w',
      source: { kind: 'csv', path: file },
      unit: { kind: 'person', column: 'id' },
      weight: 'w',
      columns: [
        { name: 'id', type: 'string' },
        { name: 'region', type: 'categorical', categories: ['N', 'S', 'W'].map((c) => ({ code: c, label: c })) },
        { name: 'w', type: 'number', decimals: 2 },
        { name: 'income', type: 'integer' },
      ],
      ...extra,
    },
    tables: [
      { id: 'people', title: 'p', dimensions: ['region'], measure: { kind: 'count' } },
      {
        id: 'income',
        title: 'i',
        dimensions: ['region'],
        measure: { kind: 'sum', column: 'income', bounds: [0, 1000] },
      },
    ],
    protection: {
      regime: 'sdc',
      rules: { minFrequency: { n: 3 }, dominance: [{ n: 1, k: 75 }] },
      secondary: { method: 'optimal' },
    },
  };
  const v = validatePolicy(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return planPolicy(v.policy, { policyPath: path.join(tmp, 'p.json'), policySha256: '0' });
}

t.test('weighted aggregation: estimates weighted, respondents counted unweighted', async (t) => {
  const p = plan();
  t.same(p.tables[0]!.measure, { kind: 'count', weight: { column: 'w', decimals: 2 } });
  const [people, income] = (await csvSource().aggregate(p, { boundingKey: new Uint8Array(32) })).tables;
  const dims = people!.plan.dimensions;
  const at = (r: number) => cellIndex(dims, [r]);
  t.equal(people!.cells[at(0)]!.units, 2);
  t.ok(Math.abs(people!.cells[at(0)]!.sum - 250.5) < 1e-9, 'weighted count of N = 150.25 + 100.25');
  t.ok(Math.abs(income!.cells[at(1)]!.sum - (300 + 40 * 30)) < 1e-9, 'weighted income of S');
  t.same(income!.cells[at(1)]!.top, [1200, 100, 100, 100], 'weighted contributions, descending');
  t.ok(Math.abs(people!.cells[at(3)]!.sum - (250.5 + 43 + 10)) < 1e-9, 'weighted total');
});

t.test('rules and published values under weights', async (t) => {
  const run = await runRelease(plan(), { seed: 'w' });
  const [people, income] = run.content.tables;
  const dims = people!.plan.dimensions;
  const n = people!.cells[cellIndex(dims, [0])]!;
  t.equal(n.value, null, 'N: 2 respondents < 3, suppressed despite a weighted count of 250.5');
  t.equal(n.conf, 'A');
  const s = income!.cells[cellIndex(dims, [1])]!;
  t.equal(s.value, null, 'S: one respondent holds 1200 of 1500 weighted (80% > 75%): dominance');
  t.equal(s.conf, 'O');
  const w = income!.cells[cellIndex(dims, [2])]!;
  t.equal(w.value, 100, 'W published as the weighted sum 5 x 2 x 10');
  t.equal(people!.cells[cellIndex(dims, [2])]!.value, 10, 'weighted count of W');
  t.equal(run.reviewer.sdc!.auditPasses, true);
  // Unweighted, the S cell is not dominated (1 of 4 equal-ish contributions): the weight decides.
  const p2 = plan();
  const unweighted = {
    ...p2,
    tables: p2.tables.map((tp) => {
      const { weight: _w, ...m } = tp.measure;
      return { ...tp, measure: m };
    }),
  } as Plan;
  const r2 = await runRelease(unweighted, { seed: 'w' });
  t.not(r2.content.tables[1]!.cells[cellIndex(dims, [1])]!.conf, 'O');
});

t.test('the weight column must be a declared numeric column', async (t) => {
  t.throws(() => plan({ weight: 'region' }), /weight column .{1,3}region.{1,3} must be integer or number/);
  t.throws(() => plan({ weight: 'nope' }), /weight column .{1,3}nope.{1,3} is not a declared column/);
});
