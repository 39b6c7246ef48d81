import t from 'tap';
import { buildDimension } from '../../engine/policy/dimension.ts';
import { realisedError, riskSignals, suppressedShare } from '../../engine/preview/index.ts';
import type { ExactCell, ExactTable, ProtectedCell, ProtectedTable, TablePlan } from '../../engine/types.ts';

// One dimension r with leaves a, b and total _T (nodes a, b, _T).
const r = buildDimension({
  name: 'r',
  label: 'R',
  categories: [
    { code: 'a', label: 'A' },
    { code: 'b', label: 'B' },
  ],
});
const plan: TablePlan = {
  id: 't',
  title: 'T',
  description: '',
  dimensions: [r],
  measure: { kind: 'count' },
  budgetShare: 1,
  neverSuppress: [],
  alwaysSuppress: [],
};
const ex = (units: number): ExactCell => ({ units, rows: units, sum: units, top: [] });
const exact: ExactTable = { kind: 'exact', plan, cells: [ex(1), ex(10), ex(11)] };
const pc = (value: number | null): ProtectedCell => ({
  value,
  conf: value === null ? 'C' : 'F',
  obs: 'E',
  accuracy: null,
});
const prot = (vals: (number | null)[]): ProtectedTable => ({ kind: 'protected', plan, cells: vals.map(pc) });

t.test('realised error, computed by hand', async (t) => {
  t.same(
    r.nodes.map((n) => n.code),
    ['a', 'b', '_T'],
    'layout: leaves then total',
  );
  // errors 1 (rel 100%), 0.5 (rel 5%), 1 (rel 9.09%)
  const e = realisedError(exact, prot([2, 10.5, 12]));
  t.equal(e.cells, 3);
  t.equal(e.meanAbsError, (1 + 0.5 + 1) / 3);
  t.equal(e.maxAbsError, 1);
  t.equal(e.shareRelAbove10, 1 / 3);
  t.equal(e.shareRelAbove50, 1 / 3);
  // suppressed cells are left out; errors 1.2 (rel 12%), 5 (rel 45.45%)
  const s = realisedError(exact, prot([null, 11.2, 16]));
  t.equal(s.cells, 2);
  t.ok(Math.abs(s.meanAbsError - 3.1) < 1e-12);
  t.equal(s.maxAbsError, 5);
  t.equal(s.shareRelAbove10, 1);
  t.equal(s.shareRelAbove50, 0);
  // exact 0: any non-zero noisy value is above both levels, 0 is not
  const zero: ExactTable = { kind: 'exact', plan, cells: [ex(0), ex(0), ex(0)] };
  const z = realisedError(zero, prot([0, 1, 0]));
  t.equal(z.shareRelAbove50, 1 / 3);
});

t.test('risk signals, computed by hand', async (t) => {
  const all = riskSignals(exact, prot([1, 10, 11]));
  t.same(all, { publishedOneOrTwo: 1, interiorPublished: 2, interiorOneOrTwo: 1, sparsityShare: 0.5, sparse: true });
  const sup = riskSignals(exact, prot([null, 10, 11]));
  t.same(
    sup,
    { publishedOneOrTwo: 0, interiorPublished: 1, interiorOneOrTwo: 0, sparsityShare: 0, sparse: false },
    'a suppressed singleton is no risk',
  );
  t.equal(riskSignals(exact, prot([1, 10, 11]), 0.6).sparse, false, 'threshold is a parameter');
  t.same(suppressedShare(prot([null, 1, null])), { suppressed: 2, share: 2 / 3 });
});
