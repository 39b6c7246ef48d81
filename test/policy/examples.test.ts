import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { loadPolicy, planPolicy, validatePolicy } from '../../engine/policy/index.ts';
import type { PolicyDoc } from '../../engine/policy/index.ts';
import { cellCount } from '../../engine/types.ts';
import type { Plan, TablePlan } from '../../engine/types.ts';

const POLICIES = resolve('policies');
const examples = readdirSync(POLICIES)
  .filter((f) => f.endsWith('.json') && f !== 'policy.schema.json')
  .sort();
const readDoc = (f: string): PolicyDoc => JSON.parse(readFileSync(resolve(POLICIES, f), 'utf8')) as PolicyDoc;
const table = (p: Plan, id: string): TablePlan => {
  const tp = p.tables.find((x) => x.id === id);
  if (!tp) throw new Error(`no table ${id}`);
  return tp;
};
const codes = (tp: TablePlan, d: number): string[] => tp.dimensions[d]!.nodes.map((n) => n.code);

t.test('the example policies cover every regime', async (t) => {
  t.same(examples, [
    'acs-ma-sdc.json',
    'acs-tx-dp-laplace.json',
    'acs-tx-dp.json',
    'census-ckm.json',
    'census-ondemand.json',
    'pums-dp.json',
    'tiny-sdc.json',
  ]);
  const regimes = new Set(examples.map((f) => readDoc(f).protection.regime));
  t.same([...regimes].sort(), ['ckm', 'dp', 'sdc']);
});

for (const f of examples) {
  t.test(`${f} validates, plans, and its plan agrees with the document`, async (t) => {
    const doc = readDoc(f);
    const v = validatePolicy(doc);
    t.ok(v.ok, v.ok ? 'valid' : JSON.stringify(v.errors));
    const path = resolve(POLICIES, f);
    const plan = await loadPolicy(path);
    t.equal(plan.policyId, doc.id);
    t.equal(plan.policySha256, createHash('sha256').update(readFileSync(path)).digest('hex'));
    t.equal(plan.policyPath, path);
    // Source path: absolute, relative to the policy file's directory, and the fixture exists.
    t.ok(isAbsolute(csvOf(plan).path));
    t.equal(csvOf(plan).path, resolve(dirname(path), (doc.dataset.source as { path: string }).path));
    t.ok(readFileSync(csvOf(plan).path).length > 0, 'source file exists');
    t.equal(plan.tables.length, doc.tables.length);
    // Budget shares: weights normalised to what a truncation report leaves (dp), 0 (sdc).
    const weights = doc.tables.map((x) => x.weight ?? 1);
    const sum = weights.reduce((a, b) => a + b, 0);
    const report = plan.protection.regime === 'dp' ? (plan.protection.truncationReport?.share ?? 0) : 0;
    plan.tables.forEach((tp, i) => {
      const share = doc.protection.regime === 'dp' ? (weights[i]! / sum) * (1 - report) : 0;
      t.equal(tp.budgetShare, share, `share of ${tp.id}`);
      const n = cellCount(tp.dimensions);
      t.ok(n >= 2 && n <= 5000, `${tp.id}: moderate cell count (${n})`);
    });
    if (doc.protection.regime === 'dp')
      t.ok(Math.abs(plan.tables.reduce((a, x) => a + x.budgetShare, 0) + report - 1) < 1e-12, 'shares sum to 1');
    t.ok(
      Object.isFrozen(plan) &&
        Object.isFrozen(plan.tables) &&
        Object.isFrozen((plan.tables[0] ?? plan.onDemand!).dimensions[0]!.nodes),
      'plan is frozen',
    );
    t.equal(plan.release.demo, doc.release.demo ?? false);
  });
}

t.test('tiny-sdc: concrete plan facts', async (t) => {
  const plan = await loadPolicy('policies/tiny-sdc.json');
  t.equal(csvOf(plan).path, resolve('fixtures/tiny/enterprises.csv'));
  t.same(plan.dataset.unit, { column: 'ent', kind: 'enterprise', maxRowsPerUnit: 2 });
  t.equal(csvOf(plan).delimiter, ',');
  t.equal(plan.dataset.onInvalidRow, 'error');
  const turnover = table(plan, 'turnover');
  // bounds [0, 100000] on a column with 1 decimal -> scaled integers x10
  t.same(turnover.measure, { kind: 'sum', column: 'turnover', lower: 0, upper: 1_000_000, decimals: 1 });
  t.same(codes(turnover, 0), ['N', 'S', 'W', '_T']);
  t.same(codes(turnover, 1), ['A', 'B', 'C', '_T']);
  t.equal(turnover.dimensions[0]!.total, 3);
  t.equal(turnover.dimensions[0]!.label, 'Region');
  t.equal(cellCount(turnover.dimensions), 16);
  const size = table(plan, 'size-by-region');
  t.same(codes(size, 0), ['S', 'M', 'L', '_T']);
  const derived = plan.dataset.derived.find((d) => d.name === 'size_class')!;
  t.same(
    derived.bins!.map((b) => [b.min, b.max]),
    [
      [0, 9],
      [10, 49],
      [50, 1_000_000],
    ],
  );
  // required defaults: unit and dimension columns (also through a derived column) are required, the measure is not
  const req = Object.fromEntries(plan.dataset.columns.map((c) => [c.name, c.required]));
  t.same(req, { ent: true, region: true, sector: true, employees: true, turnover: false });
  t.same(plan.protection, {
    regime: 'sdc',
    minFrequency: 3,
    frequencyProtection: 10,
    dominance: [
      { n: 1, k: 85 },
      { n: 2, k: 90 },
    ],
    pPercent: 15,
    pq: null,
    secondary: { method: 'auto', cost: 'unity', timeLimitSeconds: 30, insiders: 'singletons' },
    zeroCells: 'publish',
  });
  t.throws(
    () => {
      (plan.tables as TablePlan[]).push(turnover);
    },
    TypeError,
    'frozen',
  );
});

t.test('acs-ma-sdc: hierarchies and derived maps resolve', async (t) => {
  const plan = await loadPolicy('policies/acs-ma-sdc.json');
  const age = table(plan, 'pop-puma-age-sex');
  t.same(
    age.dimensions.map((d) => d.nodes.length),
    [6, 13, 3],
  ); // 5 PUMAs + total; 9 bands + 3 levels + total; 2 sexes + total
  t.equal(cellCount(age.dimensions), 234);
  const band = age.dimensions[1]!;
  const mid = band.nodes.findIndex((n) => n.code === 'Y18T64');
  t.same(
    band.nodes[mid]!.leaves.map((l) => band.nodes[l]!.code),
    ['Y18T24', 'Y25T34', 'Y35T44', 'Y45T54', 'Y55T64'],
  );
  t.equal(band.nodes[band.total!]!.children.length, 3);
  const inc = table(plan, 'income-puma-sector');
  t.same(codes(inc, 1), ['IND', 'TRD', 'SRV', 'PUB', 'UNE', 'NLF', 'EMP', '_T']);
  t.same(inc.measure, { kind: 'sum', column: 'PINCP', lower: 0, upper: 500000, decimals: 0 });
  const map = plan.dataset.derived.find((d) => d.name === 'IND_SECTOR')!.map!;
  t.equal(Object.keys(map).length, 20, 'every INDP_CAT code (0..18 and N) is mapped');
  t.equal(map['N'], 'NLF');
  const pincp = plan.dataset.columns.find((c) => c.name === 'PINCP')!;
  t.same(pincp.missingValues, ['N']);
  t.equal(plan.dataset.columns.find((c) => c.name === 'INDP_CAT')!.required, true);
});

t.test('dp examples: budgets, shares and unit bounding', async (t) => {
  const tx = await loadPolicy('policies/acs-tx-dp.json');
  t.same(tx.protection, {
    regime: 'dp',
    mechanism: 'discrete-gaussian',
    epsilon: null,
    rho: 1,
    delta: 1e-10,
    noisyThreshold: 5,
    granularityLog2: 0,
    consistency: 'none',
  });
  t.same(
    tx.tables.map((x) => x.budgetShare),
    [0.25, 0.25, 0.5],
  );
  t.same(
    table(tx, 'pop-puma-sex').dimensions.map((d) => d.nodes.length),
    [7, 3],
  );
  const lap = await loadPolicy('policies/acs-tx-dp-laplace.json');
  t.equal(lap.protection.regime === 'dp' && lap.protection.epsilon, 1);
  t.equal(lap.protection.regime === 'dp' && lap.protection.rho, null);
  t.equal(lap.protection.regime === 'dp' && lap.protection.consistency, 'hierarchical');
  t.same(table(lap, 'income-puma').measure, { kind: 'sum', column: 'PINCP', lower: 0, upper: 200000, decimals: 0 });
  const pums = await loadPolicy('policies/pums-dp.json');
  t.same(pums.dataset.unit, { column: 'pid', kind: 'person', maxRowsPerUnit: 1 });
  t.equal(csvOf(pums).path, resolve('fixtures/pums-dup/PUMS_dup.csv'));
  t.equal(table(pums, 'persons-educ').dimensions[0]!.nodes.length, 17);
  t.same(
    pums.tables.map((x) => x.neverSuppress.length + x.alwaysSuppress.length),
    [0, 0, 0, 0],
  );
});

t.test('planPolicy resolves a relative source against the policy directory and fills defaults', async (t) => {
  const doc = readDoc('tiny-sdc.json');
  const minimal: PolicyDoc = {
    id: 'min',
    version: '1',
    release: { title: 'm', audience: 'contract' },
    dataset: { ...doc.dataset, source: { kind: 'csv', path: 'data/x.csv' }, unit: { kind: 'other' }, derived: [] },
    tables: [
      { id: 'a', title: 'A', dimensions: [{ column: 'region', total: false }], measure: { kind: 'count' }, weight: 3 },
      { id: 'b', title: 'B', dimensions: ['sector'], measure: { kind: 'count' } },
    ],
    protection: { regime: 'dp', mechanism: 'discrete-laplace', budget: { epsilon: 0.5 } },
  };
  t.ok(validatePolicy(minimal).ok);
  const plan = planPolicy(minimal, { policyPath: '/srv/policies/min.json', policySha256: 'abc' });
  t.equal(csvOf(plan).path, '/srv/policies/data/x.csv');
  t.same(plan.dataset.unit, { column: null, kind: 'other', maxRowsPerUnit: 1 });
  t.same(plan.release, {
    title: 'm',
    description: '',
    audience: 'contract',
    demo: false,
    expires: null,
    contact: null,
  });
  t.same(
    plan.tables.map((x) => x.budgetShare),
    [0.75, 0.25],
  );
  t.equal(plan.tables[0]!.dimensions[0]!.total, null);
  t.same(codes(plan.tables[0]!, 0), ['N', 'S', 'W']);
  t.equal(plan.tables[0]!.description, '');
  t.same(plan.protection, {
    regime: 'dp',
    mechanism: 'discrete-laplace',
    epsilon: 0.5,
    rho: null,
    delta: 1e-10,
    noisyThreshold: null,
    granularityLog2: 0,
    consistency: 'none',
  });
  // an absolute source path is kept
  const abs = planPolicy(
    { ...minimal, dataset: { ...minimal.dataset, source: { kind: 'csv', path: '/data/y.csv' } } },
    { policyPath: 'rel/p.json', policySha256: 'x' },
  );
  t.equal(csvOf(abs).path, '/data/y.csv');
  t.ok(isAbsolute(abs.policyPath));
});

function csvOf(p: {
  dataset: { source: import('../../engine/types.ts').SourcePlan };
}): import('../../engine/types.ts').CsvSourcePlan {
  const s = p.dataset.source;
  if (s.kind !== 'csv') throw new Error(`expected a csv source, got ${s.kind}`);
  return s;
}
