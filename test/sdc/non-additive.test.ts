/**
 * Count tables of DISTINCT units that do not add up (a unit with rows in several categories counts once in the
 * aggregate but once in each child): relations become the inequalities max(child) <= aggregate <= sum(children).
 */
import t from 'tap';
import path from 'node:path';
import { auditPattern } from '../../engine/sdc/audit.ts';
import { determinedCells } from '../../engine/sdc/determined.ts';
import { components } from '../../engine/sdc/components.ts';
import { buildCellSystem } from '../../engine/sdc/relations.ts';
import type { CellSystem } from '../../engine/sdc/relations.ts';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { protectSdc } from '../../engine/sdc/protect.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import type { DimensionSpec } from '../../engine/policy/dimension.ts';
import { csvSource } from '../../engine/source/index.ts';
import { TOP_K, cellCount, cellCoords, cellIndex } from '../../engine/types.ts';
import type { ExactTable, SdcPlan, TablePlan } from '../../engine/types.ts';
import { cats, makeTable, sdcPlan } from './helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');

/** A count table of distinct units: each unit lists the leaf cells it has rows in (possibly several). */
function distinctCounts(
  id: string,
  specs: readonly DimensionSpec[],
  units: readonly (readonly (readonly string[])[])[],
): ExactTable {
  const dims = specs.map((s) => buildDimension(s));
  const plan: TablePlan = {
    id,
    title: id,
    description: '',
    dimensions: dims,
    measure: { kind: 'count' },
    budgetShare: 0,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const members: Set<number>[] = Array.from({ length: cellCount(dims) }, () => new Set());
  const rows = new Array<number>(cellCount(dims)).fill(0);
  units.forEach((cellsOfUnit, u) => {
    for (const codes of cellsOfUnit) {
      const leaves = codes.map((c, d) => dims[d]!.nodes.findIndex((x) => x.code === c && x.leaf));
      members.forEach((set, i) => {
        const co = cellCoords(dims, i);
        if (co.every((n, d) => dims[d]!.nodes[n]!.leaves.includes(leaves[d]!))) {
          set.add(u);
          rows[i]!++;
        }
      });
    }
  });
  return {
    kind: 'exact',
    plan,
    cells: members.map((s, i) => ({
      units: s.size,
      rows: rows[i]!,
      sum: s.size,
      top: new Array<number>(Math.min(s.size, TOP_K)).fill(1),
    })),
  };
}

function gid(sys: CellSystem, tables: readonly ExactTable[], ti: number, codes: readonly string[]): number {
  const dims = tables[ti]!.plan.dimensions;
  return sys.tableCells[ti]![
    cellIndex(
      dims,
      codes.map((c, d) => dims[d]!.nodes.findIndex((n) => n.code === c)),
    )
  ]!;
}

// One dimension, categories a, b, c: a = {1..4}, b = {4,5,6}, c = {6..10}; units 4 and 6 are in two categories.
// Exact: a = 4, b = 3, c = 5, total = 10 distinct units (sum of children 12).
const unitsABC = [
  ...[1, 2, 3].map(() => [['a']]),
  [['a'], ['b']],
  [['b']],
  [['b'], ['c']],
  ...[7, 8, 9, 10].map(() => [['c']]),
];
const abc = distinctCounts('abc', [{ name: 'x', categories: cats('a', 'b', 'c') }], unitsABC);

t.test('additivity is decided per relation on the exact values', async (t) => {
  t.same(
    abc.cells.map((c) => c.units),
    [4, 3, 5, 10],
    'a, b, c, total',
  );
  const sys = buildCellSystem([abc]);
  t.equal(sys.relations.length, 1);
  t.equal(sys.relations[0]!.additive, false, 'total 10 < 4 + 3 + 5');
  t.equal(sys.upper[0], 10, 'a priori upper bound = the distinct units of the table, not the leaf sum 12');
  // An additive table keeps equalities only (and its leaf-sum bound).
  const add = makeTable(
    'add',
    [{ name: 'x', categories: cats('a', 'b', 'c') }],
    [
      { codes: ['a'], value: 1 },
      { codes: ['b'], value: 1 },
      { codes: ['b'], value: 1 },
    ],
  );
  const sa = buildCellSystem([add]);
  t.ok(sa.relations.every((r) => r.additive));
  t.equal(sa.upper[0], 3);
});

t.test('a lone suppressed child of an inequality relation is bounded, not determined (interval by hand)', async (t) => {
  const sys = buildCellSystem([abc]);
  const b = gid(sys, [abc], 0, ['b']);
  const total = gid(sys, [abc], 0, ['_T']);
  const p = new Uint8Array(sys.cellCount);
  p[b] = 1;
  const comp = components(sys, p);
  t.equal(comp.length, 1);
  t.equal(determinedCells(sys, comp[0]!, p).size, 0, 'linear algebra ignores the inequality row');
  const r = await auditPattern(sys, p, [{ id: b, upper: 1, lower: 1 }]);
  const c = r.cells[0]!;
  // total <= a + b + c  =>  b >= 10 - 4 - 5 = 1;  b <= total = 10 (also the a priori bound).
  t.equal(c.min, 1, 'min = total - a - c');
  t.equal(c.max, 10, 'max = total');
  t.equal(c.exact, false);
  t.equal(c.needUp, 4);
  t.equal(c.needDown, 2);
  t.equal(r.passes, true, 'protection 1 either way is reached');
  // The same pattern on the additive reading (total = 12) would disclose b exactly.
  const addSame = makeTable(
    'add',
    [{ name: 'x', categories: cats('a', 'b', 'c') }],
    [...'aaaabbbccccc'].map((x) => ({ codes: [x], value: 1 })),
  );
  const sa = buildCellSystem([addSame]);
  const pa = new Uint8Array(sa.cellCount);
  pa[gid(sa, [addSame], 0, ['b'])] = 1;
  const ra = await auditPattern(sa, pa, [{ id: gid(sa, [addSame], 0, ['b']), upper: 1, lower: 1 }]);
  t.equal(ra.cells[0]!.exact, true, 'additive: exactly determined');

  // A lone suppressed aggregate: max(children) <= total <= sum(children) => [5, 12], capped by the a priori bound 10.
  const q = new Uint8Array(sys.cellCount);
  q[total] = 1;
  const rt = await auditPattern(sys, q, [{ id: total, upper: 1, lower: 1 }]);
  t.equal(rt.cells[0]!.min, 5, 'min = largest child');
  t.equal(rt.cells[0]!.max, 10, 'max = min(sum of children, a priori bound)');
  // Protection beyond the interval fails: needDown = 10 - 6 = 4 < 5.
  const rt6 = await auditPattern(sys, q, [{ id: total, upper: 6, lower: 6 }]);
  t.equal(rt6.passes, false);
  t.equal(rt6.cells[0]!.needDown, 4);
});

t.test('an inequality relation combined with an additive one: equalities still determine', async (t) => {
  // region x sector; unit 1 is in N/A and N/B (rows of N do not add up), every region column adds up.
  const tab = distinctCounts(
    'rs',
    [
      { name: 'region', categories: cats('N', 'S') },
      { name: 'sector', categories: cats('A', 'B') },
    ],
    [
      [
        ['N', 'A'],
        ['N', 'B'],
      ],
      [['N', 'A']],
      [['N', 'A']],
      [['N', 'B']],
      [['S', 'A']],
      [['S', 'A']],
      [['S', 'B']],
      [['S', 'B']],
      [['S', 'B']],
    ],
  );
  const sys = buildCellSystem([tab]);
  const nonAdd = sys.relations.filter((r) => !r.additive);
  t.equal(nonAdd.length, 2, 'row N and the total row over sectors');
  const nb = gid(sys, [tab], 0, ['N', 'B']);
  const p = new Uint8Array(sys.cellCount);
  p[nb] = 1;
  const r = await auditPattern(sys, p, [{ id: nb, upper: 1, lower: 1 }]);
  t.equal(r.cells[0]!.exact, true, 'column B = N/B + S/B is an equality: N/B is exactly disclosed');
});

t.test('singleton rule on an inequality relation (conservative)', async (t) => {
  // a = {1} (a singleton), b = {1, 2}, c = {3..8}; total 8 < 1 + 2 + 6.
  const tab = distinctCounts(
    's',
    [{ name: 'x', categories: cats('a', 'b', 'c') }],
    [[['a'], ['b']], [['b']], ...[3, 4, 5, 6, 7, 8].map(() => [['c']])],
  );
  const sys = buildCellSystem([tab]);
  t.equal(sys.relations[0]!.additive, false);
  const a = gid(sys, [tab], 0, ['a']);
  const b = gid(sys, [tab], 0, ['b']);
  const p = new Uint8Array(sys.cellCount);
  p[a] = 1;
  p[b] = 1;
  const r = await auditPattern(sys, p, [
    { id: b, upper: 0.2, lower: 0.2 },
    { id: a, upper: 0.1, lower: 0.1 },
  ]);
  t.ok(
    r.singletons.some((s) => s.singleton === a && s.exposed === b),
    'the singleton a may narrow b: flagged',
  );
  t.equal(r.passes, false);
});

t.test('secondary suppression with inequality relations (both methods) passes an independent audit', async (t) => {
  const rng = (() => {
    let s = 7;
    return () => (s = (s * 48271) % 2147483647) / 2147483647;
  })();
  const regions = ['r0', 'r1', 'r2', 'r3'];
  const sectors = ['s0', 's1', 's2'];
  const units: string[][][] = [];
  for (let u = 0; u < 40; u++) {
    const r = regions[Math.floor(rng() * regions.length)]!;
    const k = rng() < 0.25 ? 2 : 1; // a quarter of the units have establishments in two sectors
    const secs = new Set<string>();
    while (secs.size < k) secs.add(sectors[Math.floor(rng() * sectors.length)]!);
    units.push([...secs].map((s) => [r, s]));
  }
  units.push([['r0', 's0']]); // make sure something is rare
  const tab = distinctCounts(
    'ent',
    [
      { name: 'region', categories: cats(...regions) },
      { name: 'sector', categories: cats(...sectors) },
    ],
    units,
  );
  const sys = buildCellSystem([tab]);
  t.ok(
    sys.relations.some((r) => !r.additive),
    'some relations are inequalities',
  );
  const plan = sdcPlan({ minFrequency: 4 });
  const prim = applyPrimaryRules(tab, plan);
  const sens = prim.cells.flatMap((c, i) => (c.unsafe ? [{ id: i, upper: c.upper, lower: c.lower }] : []));
  t.ok(sens.length > 0, `primaries: ${sens.length}`);
  const patterns: Record<string, number> = {};
  for (const method of ['optimal', 'heuristic'] as const) {
    const res = await protectSdc([tab], { ...plan, secondary: { method, cost: 'unity', timeLimitSeconds: 20 } });
    t.equal(res.report.auditPasses, true, method);
    t.equal(res.report.inequalityRelations, sys.relations.filter((r) => !r.additive).length);
    const suppressed = Uint8Array.from(res.tables[0]!.cells, (c) => (c.value === null ? 1 : 0));
    t.ok(
      sens.every((s) => suppressed[s.id]),
      `${method}: every primary suppressed`,
    );
    t.equal((await auditPattern(sys, suppressed, sens)).passes, true, `${method}: independent re-audit`);
    for (const c of res.report.tables[0]!.sensitive)
      t.ok((c.min < c.value && c.value < c.max) || c.min < c.max, 'a real interval');
    patterns[method] = suppressed.reduce((n, v) => n + v, 0);
    if (method === 'optimal') t.equal(res.report.optimalFinished, true);
  }
  t.ok(
    patterns.optimal! <= patterns.heuristic!,
    `optimal (${patterns.optimal}) never costs more than the heuristic (${patterns.heuristic})`,
  );
});

t.test('magnitude tables and impossible counts are still refused', async (t) => {
  const sum = makeTable(
    'm',
    [{ name: 'x', categories: cats('a', 'b') }],
    [
      { codes: ['a'], value: 5 },
      { codes: ['b'], value: 7 },
    ],
    { kind: 'sum', column: 'v', lower: 0, upper: 100, decimals: 0 },
  );
  const broken: ExactTable = { ...sum, cells: sum.cells.map((c, i) => (i === 2 ? { ...c, sum: 11 } : c)) };
  await t.rejects(protectSdc([broken], sdcPlan()), {
    code: 'SDC_INFEASIBLE',
    message: /magnitude table must be additive/,
  });
  // A count aggregate below its largest child is impossible for distinct units.
  const cnt = makeTable(
    'c',
    [{ name: 'x', categories: cats('a', 'b') }],
    [
      { codes: ['a'], value: 1 },
      { codes: ['a'], value: 1 },
      { codes: ['b'], value: 1 },
    ],
  );
  const low: ExactTable = { ...cnt, cells: cnt.cells.map((c, i) => (i === 2 ? { ...c, units: 1 } : c)) };
  await t.rejects(protectSdc([low], sdcPlan()), { code: 'SDC_INFEASIBLE', message: /largest child/ });
});

t.test('tiny fixture: enterprise counts by region are non-additive and release', async (t) => {
  const plan = await loadPolicy(path.join(root, 'policies/tiny-sdc.json'));
  const { tables } = await csvSource().aggregate(plan, { boundingKey: new Uint8Array(32) });
  const sdc = plan.protection as SdcPlan;
  t.equal(sdc.regime, 'sdc');
  const byId = (id: string) => tables.findIndex((x) => x.plan.id === id);
  const ent = byId('enterprises');
  const size = byId('size-by-region');
  const sys = buildCellSystem(tables);
  // Which relations are inequalities (fixtures/tiny/README.md): e02 is in N/A and N/C, so the sector rows of N and
  // of the total (8 + 8 + 6 = 22 > 21) do not add up; e18 is in size classes S and M of region S, so the size
  // columns of S (9 + 3 + 2 = 14 > 13) and of the total (22 > 21) do not. Region relations add up.
  const describe = (ri: number): string => {
    const r = sys.relations[ri]!;
    const o = sys.owners[r.cells[0]!]!.find((x) =>
      sys.relations[ri]!.cells.slice(1).every((c) => sys.owners[c]!.some((y) => y.table === x.table)),
    )!;
    const dims = tables[o.table]!.plan.dimensions;
    const agg = cellCoords(dims, o.index).map((n, d) => dims[d]!.nodes[n]!.code);
    const ch = cellCoords(dims, sys.owners[r.cells[1]!]!.find((y) => y.table === o.table)!.index).map(
      (n, d) => dims[d]!.nodes[n]!.code,
    );
    const along = dims[agg.findIndex((c, d) => c !== ch[d])]!.name;
    return `${tables[o.table]!.plan.id}:${agg.join('/')}:${along}`;
  };
  const ineq = sys.relations.flatMap((r, ri) => (r.additive ? [] : [describe(ri)])).sort();
  t.same(ineq, [
    'enterprises:N/_T:sector',
    'enterprises:_T/_T:sector',
    'size-by-region:_T/S:size_class',
    'size-by-region:_T/_T:size_class',
  ]);
  for (const r of sys.relations) {
    const v = [...r.cells].map((c) => sys.value[c]!);
    const sumCh = v.slice(1).reduce((s, x) => s + x, 0);
    if (r.additive) t.equal(v[0], sumCh);
    else t.ok(v[0]! < sumCh && v[0]! >= Math.max(...v.slice(1)), 'max child <= aggregate < sum of children');
  }
  t.equal(sys.linkGroup[ent], sys.linkGroup[size], 'the two count tables are linked through region');

  for (const method of ['optimal', 'heuristic'] as const) {
    const res = await protectSdc(tables, { ...sdc, secondary: { ...sdc.secondary, method } });
    t.equal(res.report.auditPasses, true, `${method}: audit passes`);
    t.equal(res.report.inequalityRelations, 4);
    // Primaries from the fixture README are suppressed.
    const cell = (ti: number, codes: string[]) => {
      const dims = tables[ti]!.plan.dimensions;
      return res.tables[ti]!.cells[
        cellIndex(
          dims,
          codes.map((c, d) => dims[d]!.nodes.findIndex((n) => n.code === c)),
        )
      ]!;
    };
    t.equal(cell(ent, ['N', 'C']).value, null);
    t.equal(cell(ent, ['N', 'C']).conf, 'A');
    for (const codes of [
      ['M', 'N'],
      ['L', 'N'],
      ['L', 'S'],
    ])
      t.equal(cell(size, codes).value, null, `size ${codes.join('/')} suppressed`);
    for (const codes of [
      ['N', 'B'],
      ['N', 'C'],
      ['S', 'A'],
      ['S', 'B'],
    ])
      t.equal(cell(byId('turnover'), codes).value, null);
    // Independent re-audit over all tables with the primaries' protection.
    const suppressed = new Uint8Array(sys.cellCount);
    res.tables.forEach((tab, ti) =>
      tab.cells.forEach((c, i) => {
        if (c.value === null) suppressed[sys.tableCells[ti]![i]!] = 1;
      }),
    );
    const sens = tables.flatMap((tab, ti) =>
      applyPrimaryRules(tab, sdc).cells.flatMap((c, i) =>
        c.unsafe ? [{ id: sys.tableCells[ti]![i]!, upper: c.upper, lower: c.lower }] : [],
      ),
    );
    const audit = await auditPattern(sys, suppressed, sens);
    t.equal(audit.passes, true, `${method}: independent audit`);
    // Published cells are the exact distinct counts.
    res.tables[ent]!.cells.forEach((c, i) => {
      if (c.value !== null) t.equal(c.value, tables[ent]!.cells[i]!.units);
    });
  }
});
