import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import t from 'tap';
import { loadPolicy } from '../../engine/policy/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { computeOnDemand } from '../../engine/ondemand/compute.ts';
import { loadResident } from '../../engine/ondemand/resident.ts';
import { onDemandOf } from '../../engine/ondemand/query.ts';
import type { ProtectedTable } from '../../engine/types.ts';
import { dpDoc, ONDEMAND_POLICY, ondemandDoc, planDoc } from './helpers.ts';

/** Value of the cell with these codes (one per dimension). */
function valueAt(table: ProtectedTable, codes: readonly string[]): number | null {
  const dims = table.plan.dimensions;
  let idx = 0;
  codes.forEach((c, d) => {
    const i = dims[d]!.nodes.findIndex((n) => n.code === c);
    if (i < 0) throw new Error(`no code ${c} in ${dims[d]!.name}`);
    idx = idx * dims[d]!.nodes.length + i;
  });
  return table.cells[idx]!.value;
}

t.test('ckm: an on-demand table equals the published table of the same cells (same keys, same p-table)', async (t) => {
  const plan = onDemandOf(await loadPolicy(ONDEMAND_POLICY));
  const data = await loadResident(plan, 'ondemand-test');
  t.equal(data.rows, 5000);
  const r = await computeOnDemand(plan, data, { dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' });
  t.equal(r.regime, 'ckm');
  t.equal(r.randomness, 'seeded');
  t.equal(r.cost, null);
  const published = await runRelease(await loadPolicy('policies/census-ckm.json'), { seed: 'ondemand-test' });
  const pub = published.content.tables.find((x) => x.plan.id === 'pop-region-sex')!;
  t.same(
    r.table.plan.dimensions.map((d) => d.nodes.map((n) => n.code)),
    pub.plan.dimensions.map((d) => d.nodes.map((n) => n.code)),
  );
  t.same(
    r.table.cells.map((c) => c.value),
    pub.cells.map((c) => c.value),
    'every cell as published',
  );
  const inc = await computeOnDemand(plan, data, { dimensions: [{ name: 'sex' }], measure: 'income' });
  const pubInc = published.content.tables.find((x) => x.plan.id === 'income-industry-sex')!;
  t.equal(valueAt(inc.table, ['_T']), valueAt(pubInc, ['_T', '_T']), 'a magnitude cell as published');
});

t.test('ckm: levels are cut from the finest table; a filter is the cell of the crossed table', async (t) => {
  const plan = onDemandOf(await loadPolicy(ONDEMAND_POLICY));
  const data = await loadResident(plan, 'ondemand-test');
  const byArea = await computeOnDemand(plan, data, {
    dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }],
    measure: 'count',
  });
  const dims = byArea.table.plan.dimensions;
  t.same(
    dims[0]!.nodes.map((n) => n.code),
    ['A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'A8', '_T'],
  );
  t.equal(dims[0]!.leafCount, 8);
  t.equal(dims[0]!.total, 8);
  t.same(dims[0]!.nodes[8]!.children, [0, 1, 2, 3, 4, 5, 6, 7]);
  t.equal(byArea.cells, 27);
  const total = await computeOnDemand(plan, data, { dimensions: [{ name: 'region', level: 0 }], measure: 'count' });
  t.same(
    total.table.plan.dimensions[0]!.nodes.map((n) => n.code),
    ['_T'],
  );
  t.equal(valueAt(total.table, ['_T']), valueAt(byArea.table, ['_T', '_T']));
  const a1 = await computeOnDemand(plan, data, {
    dimensions: [{ name: 'sex' }],
    measure: 'count',
    filter: { region: ['R01', 'R02', 'R03', 'R04', 'R05', 'R06', 'R07'] },
  });
  const a1b = await computeOnDemand(plan, data, {
    dimensions: [{ name: 'sex' }],
    measure: 'count',
    filter: { region: ['A1'] },
  });
  for (const s of ['1', '2', '_T']) {
    t.equal(
      valueAt(a1.table, [s]),
      valueAt(byArea.table, ['A1', s]),
      `filter A1's regions, sex ${s}: the cell (A1, ${s})`,
    );
    t.equal(valueAt(a1b.table, [s]), valueAt(byArea.table, ['A1', s]), `filter A1, sex ${s}`);
  }
});

t.test('dp: per-query budget, noisy cells with accuracy, cost stated', async (t) => {
  const plan = onDemandOf(planDoc(dpDoc(0.5)));
  const data = await loadResident(plan, 'dp-test');
  const q = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };
  const a = await computeOnDemand(plan, data, q, { seed: 'q1' });
  const b = await computeOnDemand(plan, data, q, { seed: 'q2' });
  t.same(a.cost, { rho: 0.125, epsilon: 0.5 });
  t.equal(a.regime, 'dp');
  t.ok(
    a.table.cells.every((c) => c.obs === 'E' && c.accuracy !== null),
    'every cell noisy, with accuracy',
  );
  t.not(
    JSON.stringify(a.table.cells.map((c) => c.value)),
    JSON.stringify(b.table.cells.map((c) => c.value)),
    'fresh noise per query',
  );
  const ckm = await computeOnDemand(
    onDemandOf(await loadPolicy(ONDEMAND_POLICY)),
    await loadResident(onDemandOf(await loadPolicy(ONDEMAND_POLICY)), 'x'),
    q,
  );
  const err = Math.abs(valueAt(a.table, ['_T', '_T'])! - 5000);
  t.ok(err < 60, `total near 5000 (|error| ${err})`);
  t.equal(ckm.cells, a.cells, 'same layout under either regime');
});

t.test('ckm with households (several rows per unit): the on-demand table equals the published one', async (t) => {
  const pub = JSON.parse(readFileSync('policies/census-ckm.json', 'utf8')) as Record<string, any>;
  const od = ondemandDoc() as unknown as Record<string, any>;
  for (const d of [pub, od]) {
    d.dataset.unit = { kind: 'household', column: 'household_id', maxRowsPerUnit: 8 };
    d.dataset.source.path = resolve('fixtures/synthetic/census-5000.csv');
  }
  const pubPlan = planDoc(pub);
  const plan = onDemandOf(planDoc(od));
  const data = await loadResident(plan, 'households');
  // No household is truncated: which rows a truncated unit keeps depends on the columns a run reads (the bounding
  // hash covers the converted row), so an on-demand table matches a release only where no unit is truncated.
  t.equal(data.rows, 5000);
  const release = await runRelease(pubPlan, { seed: 'households' });
  for (const [id, q] of [
    ['pop-region-sex', { dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' }],
    ['income-industry-sex', { dimensions: [{ name: 'sex' }], measure: 'income' }],
  ] as const) {
    const r = await computeOnDemand(plan, data, q);
    const table = release.content.tables.find((x) => x.plan.id === id)!;
    if (id === 'pop-region-sex')
      t.same(
        r.table.cells.map((c) => c.value),
        table.cells.map((c) => c.value),
        'every cell as published',
      );
    else
      for (const s of ['1', '2', '_T'])
        t.equal(valueAt(r.table, [s]), valueAt(table, ['_T', s]), `income, sex ${s}, as published`);
  }
  // A filtered household cell equals the crossed table's cell (bounding before filtering).
  const byArea = await computeOnDemand(plan, data, {
    dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }],
    measure: 'count',
  });
  const a2 = await computeOnDemand(plan, data, {
    dimensions: [{ name: 'sex' }],
    measure: 'count',
    filter: { region: ['A2'] },
  });
  for (const s of ['1', '2', '_T']) t.equal(valueAt(a2.table, [s]), valueAt(byArea.table, ['A2', s]));
});

t.test('truncated households: every query uses the same kept rows (a filtered cell is the crossed cell)', async (t) => {
  const od = ondemandDoc() as unknown as Record<string, any>;
  od.dataset.unit = { kind: 'household', column: 'household_id', maxRowsPerUnit: 1 };
  const plan = onDemandOf(planDoc(od));
  const data = await loadResident(plan, 'truncated');
  t.ok(data.rows < 5000, `bounding kept ${data.rows} rows of 5000`);
  const byArea = await computeOnDemand(plan, data, {
    dimensions: [{ name: 'region', level: 1 }, { name: 'marital' }],
    measure: 'count',
  });
  for (const area of ['A1', 'A5']) {
    const f = await computeOnDemand(plan, data, {
      dimensions: [{ name: 'marital' }],
      measure: 'count',
      filter: { region: [area] },
    });
    t.same(
      f.table.plan.dimensions[0]!.nodes.map((n) => valueAt(f.table, [n.code])),
      f.table.plan.dimensions[0]!.nodes.map((n) => valueAt(byArea.table, [area, n.code])),
      `filter ${area}: the crossed table's cells`,
    );
  }
});

t.test('ckm, real keys: the dataset secret in the secure zone gives the same values after a reload', async (t) => {
  const plan = onDemandOf(await loadPolicy(ONDEMAND_POLICY));
  const q = { dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' };
  const first = await computeOnDemand(plan, await loadResident(plan), q);
  const again = await computeOnDemand(plan, await loadResident(plan), q);
  t.equal(first.randomness, 'crypto');
  t.match(first.guarantee, /same value in every query/);
  t.same(
    again.table.cells.map((c) => c.value),
    first.table.cells.map((c) => c.value),
    'a restarted secure zone (new load, same dataset secret) publishes the same cells',
  );
  const seeded = await computeOnDemand(plan, await loadResident(plan, 'other'), q);
  t.not(
    JSON.stringify(seeded.table.cells.map((c) => c.value)),
    JSON.stringify(first.table.cells.map((c) => c.value)),
    'other keys, other perturbations',
  );
});
