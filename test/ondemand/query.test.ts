import t from 'tap';
import { validatePolicy } from '../../engine/policy/index.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import {
  cellCount,
  checkQuery,
  onDemandOf,
  publicSchema,
  validateQuery,
  type OnDemandQuery,
} from '../../engine/ondemand/query.ts';
import { StatguardError } from '../../engine/errors.ts';
import { dpDoc, ONDEMAND_POLICY, ondemandDoc, planDoc } from './helpers.ts';

const problemsOf = (doc: unknown): { path: string; message: string }[] => {
  const v = validatePolicy(doc);
  return v.ok ? [] : v.errors.map((e) => ({ path: e.path, message: e.message }));
};

t.test('policy: onDemand is refused under sdc, needs a per-query budget under dp, none under ckm', async (t) => {
  const sdc = ondemandDoc() as unknown as Record<string, unknown>;
  sdc.protection = { regime: 'sdc', rules: { minFrequency: { n: 3 } } };
  const p1 = problemsOf(sdc);
  t.match(p1, [{ path: '/onDemand', message: /suppression is not safe against ad-hoc overlapping tables/ }]);

  const dp = dpDoc() as unknown as { onDemand: Record<string, unknown> };
  delete dp.onDemand.dp;
  t.match(problemsOf(dp), [{ path: '/onDemand', message: /"dp": \{ "epsilon"/ }]);
  const dpRho = dpDoc() as unknown as { onDemand: Record<string, unknown> };
  dpRho.onDemand.dp = { rho: 0.1 };
  t.match(problemsOf(dpRho), [{ path: '/onDemand/dp/rho', message: /in epsilon/ }]);
  t.same(problemsOf(dpDoc()), [], 'a dp policy with a per-query epsilon is valid');

  const ckm = ondemandDoc() as unknown as { onDemand: Record<string, unknown> };
  ckm.onDemand.dp = { epsilon: 1 };
  t.match(problemsOf(ckm), [{ path: '/onDemand/dp', message: /spends no budget/ }]);
});

t.test('policy: dimensions, measures and the empty tables list are checked at their paths', async (t) => {
  const doc = ondemandDoc() as unknown as { onDemand: Record<string, unknown>; tables: unknown[] };
  doc.onDemand.dimensions = ['region', 'income', 'nope'];
  doc.onDemand.measures = [
    { name: 'count', kind: 'sum', column: 'income', bounds: [0, 1] },
    { name: 'avg', kind: 'mean', column: 'income', bounds: [0, 1] },
    { name: 'avg', kind: 'sum', column: 'region', bounds: [1, 0] },
  ];
  const paths = problemsOf(doc).map((p) => p.path);
  for (const p of [
    '/onDemand/dimensions/1',
    '/onDemand/dimensions/2',
    '/onDemand/measures/0/name',
    '/onDemand/measures/1/kind',
    '/onDemand/measures/2/name',
    '/onDemand/measures/2/column',
    '/onDemand/measures/2/bounds',
  ])
    t.ok(paths.includes(p), `problem at ${p} (got ${paths.join(', ')})`);

  const none = ondemandDoc() as unknown as Record<string, unknown>;
  delete none.onDemand;
  t.match(problemsOf(none), [{ path: '/tables' }], 'no tables and no onDemand: refused at /tables');
  const noMax = ondemandDoc() as unknown as { onDemand: Record<string, unknown> };
  delete noMax.onDemand.maxCells;
  t.match(problemsOf(noMax), [{ path: '/onDemand', message: /maxCells/ }]);
});

t.test('plan: the declared dimensions at their finest level with totals, count first', async (t) => {
  const plan = await loadPolicy(ONDEMAND_POLICY);
  const od = plan.onDemand!;
  t.same(
    od.dimensions.map((d) => d.name),
    ['region', 'sex', 'age_band', 'marital', 'education'],
  );
  t.equal(od.dimensions[0]!.nodes.length, 50 + 8 + 1, 'regions, areas and the total');
  t.same(
    od.measures.map((m) => [m.name, m.measure.kind]),
    [
      ['count', 'count'],
      ['income', 'sum'],
    ],
  );
  t.equal(od.dp, null);
  t.same(planDoc(dpDoc(0.25)).onDemand!.dp, { epsilon: 0.25, rho: null });
  t.ok(plan.dataset.columns.find((c) => c.name === 'marital')!.required, 'offered columns are required');
});

t.test('validateQuery: every problem with its JSON path; cellCount from the schema alone', async (t) => {
  const plan = await loadPolicy(ONDEMAND_POLICY);
  const q: OnDemandQuery = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };
  t.same(validateQuery(plan, q), []);
  t.equal(cellCount(plan, q), 9 * 3, '8 areas + total, 2 sexes + total');
  t.equal(cellCount(plan, { dimensions: [{ name: 'region' }], measure: 'count' }), 59);
  t.equal(cellCount(plan, { dimensions: [{ name: 'region', level: 0 }], measure: 'count' }), 1);
  const bad = validateQuery(plan, {
    dimensions: [{ name: 'region', level: 3 }, { name: 'sex', depth: 1 }, { name: 'sex' }, { name: 'zzz' }],
    measure: 'median',
    filter: { sex: ['1'], marital: ['9', '_T', '1', '1'], nope: ['x'] },
    format: 'xlsx',
    extra: 1,
  });
  const paths = bad.map((p) => p.path).sort();
  t.same(paths, [
    '/dimensions',
    '/dimensions/0/level',
    '/dimensions/1/depth',
    '/dimensions/2/name',
    '/dimensions/3/name',
    '/extra',
    '/filter/marital/0',
    '/filter/marital/1',
    '/filter/marital/3',
    '/filter/nope',
    '/filter/sex',
    '/format',
    '/measure',
  ]);
  t.match(
    bad.find((p) => p.path === '/dimensions'),
    { message: /at most 3 dimensions/ },
  );
  const small = ondemandDoc();
  small.onDemand!.maxCells = 1000;
  const big = validateQuery(planDoc(small), {
    dimensions: [{ name: 'region' }, { name: 'education' }, { name: 'marital' }],
    measure: 'income',
  });
  t.match(big, [{ path: '/dimensions', message: /4956 cells, more than the 1000 allowed/ }]);
  t.equal(
    cellCount(plan, { dimensions: [{ name: 'region' }, { name: 'education' }, { name: 'marital' }], measure: 'x' }),
    59 * 12 * 7,
  );
  // The API validates against the public schema the secure zone sends: the same problems, the same cell counts.
  const pub = publicSchema(plan);
  t.same(
    validateQuery(pub, { dimensions: [{ name: 'region', level: 3 }], measure: 'x', filter: { marital: ['_T'] } }),
    validateQuery(plan, { dimensions: [{ name: 'region', level: 3 }], measure: 'x', filter: { marital: ['_T'] } }),
  );
  t.equal(cellCount(pub, q), 27);
  t.throws(() => checkQuery(plan, { dimensions: [], measure: 'count' }), {
    code: 'QUERY_INVALID',
    where: { path: '/dimensions' },
  });
});

t.test('publicSchema holds declared facts only; sdc and plain policies offer nothing', async (t) => {
  const plan = await loadPolicy(ONDEMAND_POLICY);
  const s = publicSchema(plan);
  t.equal(s.regime, 'ckm');
  t.equal(s.dimensions[0]!.levels, 2);
  t.match(
    s.dimensions[0]!.codes.find((c) => c.code === 'R01'),
    { parent: 'A1', level: 2, leaf: true },
  );
  t.same(Object.keys(s).sort(), [
    'cacheEntries',
    'costPerQuery',
    'dataset',
    'dimensions',
    'formats',
    'maxCells',
    'maxDimensions',
    'measures',
    'regime',
    'title',
  ]);
  t.notMatch(JSON.stringify(s), /path|census-5000\.csv|fixtures|bounds|-20000|250000/, 'no source, no bounds');
  const plain = await loadPolicy('policies/census-ckm.json');
  t.throws(() => onDemandOf(plain), { code: 'ON_DEMAND_NOT_OFFERED' });
  const sdc = await loadPolicy('policies/tiny-sdc.json');
  const err = t.throws(() => publicSchema(sdc)) as StatguardError;
  t.equal(err.code, 'ON_DEMAND_NOT_OFFERED');
  t.match(err.message, /suppression/);
});

t.test('a release of an on-demand-only policy is refused, naming why', async (t) => {
  const { runRelease } = await import('../../engine/pipeline.ts');
  await t.rejects(runRelease(await loadPolicy(ONDEMAND_POLICY), { seed: 'x' }), {
    code: 'USAGE',
    message: /publishes no tables: it offers tables on demand only/,
  });
});
