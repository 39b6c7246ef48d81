import t from 'tap';
import { buildDimension, ancestorsOf } from '../engine/policy/dimension.ts';

t.test('buildDimension resolves a hierarchy: leaves first, aggregates after, total last', async (t) => {
  const dim = buildDimension({
    name: 'region',
    categories: [
      { code: 'N1', label: 'North 1' },
      { code: 'N2', label: 'North 2' },
      { code: 'S1', label: 'South 1' },
    ],
    hierarchy: [{ code: 'N', label: 'North', children: ['N1', 'N2'] }, 'S1'],
  });
  t.same(
    dim.nodes.map((n) => n.code),
    ['N1', 'N2', 'S1', 'N', '_T'],
  );
  t.equal(dim.total, 4);
  t.same(ancestorsOf(dim, 0), [0, 3, 4]);
  t.same(ancestorsOf(dim, 2), [2, 4]);
  t.same(dim.nodes[3]!.leaves, [0, 1]);
  t.equal(dim.nodes[0]!.level, 2);
  t.throws(
    () =>
      buildDimension({
        name: 'r',
        categories: [{ code: 'a', label: 'a' }],
        hierarchy: [{ code: 'X', label: 'X', children: ['b'] }],
      }),
    /not a declared category/,
  );
  t.throws(
    () =>
      buildDimension({
        name: 'r',
        categories: [
          { code: 'a', label: 'a' },
          { code: 'b', label: 'b' },
        ],
        hierarchy: ['a'],
      }),
    /leaves out categories "b"/,
  );
});
