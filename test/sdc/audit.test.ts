import t from 'tap';
import { auditPattern } from '../../engine/sdc/audit.ts';
import { components } from '../../engine/sdc/components.ts';
import { determinedCells } from '../../engine/sdc/determined.ts';
import { buildCellSystem } from '../../engine/sdc/relations.ts';
import type { CellSystem } from '../../engine/sdc/relations.ts';
import { cellIndex } from '../../engine/types.ts';
import type { ExactTable } from '../../engine/types.ts';
import { protectSdc } from '../../engine/sdc/protect.ts';
import { cats, makeTable, sdcPlan } from './helpers.ts';

/** Rows with region, gender, age; deterministic counts. */
const rows = (() => {
  const out: { codes: string[]; value: number }[] = [];
  const regions = ['A', 'B', 'C', 'D'];
  regions.forEach((r, i) =>
    ['m', 'f'].forEach((g, j) =>
      ['y', 'o'].forEach((a, k) => {
        const n = 3 + ((i * 7 + j * 3 + k * 5) % 6);
        for (let u = 0; u < n; u++) out.push({ codes: [r, g, a], value: 1 });
      }),
    ),
  );
  return out;
})();
const region = { name: 'region', categories: cats('A', 'B', 'C', 'D') };
const gender = { name: 'gender', categories: cats('m', 'f') };
const age = { name: 'age', categories: cats('y', 'o') };
const rg = makeTable(
  'rg',
  [region, gender],
  rows.map((r) => ({ codes: [r.codes[0]!, r.codes[1]!], value: 1 })),
);
const ra = makeTable(
  'ra',
  [region, age],
  rows.map((r) => ({ codes: [r.codes[0]!, r.codes[2]!], value: 1 })),
);

function gid(sys: CellSystem, tables: readonly ExactTable[], ti: number, codes: string[]): number {
  const dims = tables[ti]!.plan.dimensions;
  return sys.tableCells[ti]![
    cellIndex(
      dims,
      codes.map((c, d) => dims[d]!.nodes.findIndex((n) => n.code === c)),
    )
  ]!;
}
function pattern(sys: CellSystem, tables: readonly ExactTable[], cells: [number, string[]][]): Uint8Array {
  const p = new Uint8Array(sys.cellCount);
  for (const [ti, codes] of cells) p[gid(sys, tables, ti, codes)] = 1;
  return p;
}

t.test('relations of a 2-D table with totals', async (t) => {
  const sys = buildCellSystem([rg]);
  t.equal(sys.cellCount, 15);
  // 3 column relations (one per gender node) over regions + 5 row relations (one per region node) over genders
  t.equal(sys.relations.length, 8);
  for (const r of sys.relations) {
    let s = 0;
    r.cells.forEach((c, k) => {
      s += r.coefs[k]! * sys.value[c]!;
    });
    t.equal(s, 0, 'relation holds on the exact values');
  }
  t.equal(sys.lower[0], 0);
  t.equal(sys.upper[0], rows.length, 'a priori upper bound = grand total');
});

t.test('audit catches exact disclosure and passes a rectangle', async (t) => {
  const tabs = [rg];
  const sys = buildCellSystem(tabs);
  const sens = [{ id: gid(sys, tabs, 0, ['A', 'f']), upper: 1, lower: 1 }];
  const lone = pattern(sys, tabs, [[0, ['A', 'f']]]);
  const bad = await auditPattern(sys, lone, sens);
  t.equal(bad.passes, false);
  t.equal(bad.cells[0]!.exact, true, 'one suppressed cell with its row total published is exactly disclosed');
  t.equal(bad.cells[0]!.min, bad.cells[0]!.max);
  // Two cells in one row: row relation has two unknowns, but each column pins them down.
  const rowPair = pattern(sys, tabs, [
    [0, ['A', 'f']],
    [0, ['A', 'm']],
  ]);
  const bad2 = await auditPattern(sys, rowPair, sens);
  t.equal(bad2.passes, false, 'column totals disclose a row pair');
  t.equal(bad2.cells[0]!.exact, true);
  const rect = pattern(sys, tabs, [
    [0, ['A', 'f']],
    [0, ['A', 'm']],
    [0, ['B', 'f']],
    [0, ['B', 'm']],
  ]);
  const good = await auditPattern(sys, rect, sens);
  t.equal(good.passes, true);
  const c = good.cells[0]!;
  t.ok(c.max - c.min > 1, 'a real interval');
  t.ok(c.min <= c.value - 1 && c.max >= c.value + 1);
  // Interval of a rectangle: x_Af can move down to max(0, ...) and up until a - cell hits 0.
  const v = (codes: string[]) => sys.value[gid(sys, tabs, 0, codes)]!;
  t.equal(c.max, v(['A', 'f']) + Math.min(v(['A', 'm']), v(['B', 'f'])), 'max = a + min(opposite corners)');
  t.equal(c.min, v(['A', 'f']) - Math.min(v(['A', 'f']), v(['B', 'm'])), 'min = a - min(same-sign corners)');
  t.equal(good.components, 1);
});

t.test('components and linear-algebra disclosure agree with the LP', async (t) => {
  const big = makeTable(
    'big',
    [
      { name: 'r', categories: cats('1', '2', '3', '4', '5', '6') },
      { name: 'c', categories: cats('1', '2', '3', '4', '5', '6') },
    ],
    Array.from({ length: 400 }, (_, i) => ({
      codes: [String(1 + (i % 6)), String(1 + ((i * 5 + Math.floor(i / 6)) % 6))],
      value: 1,
    })),
  );
  const tabs = [big];
  const sys = buildCellSystem(tabs);
  const cells: [number, string[]][] = [
    [0, ['1', '1']],
    [0, ['1', '2']],
    [0, ['2', '1']],
    [0, ['2', '2']],
    [0, ['5', '5']],
    [0, ['5', '6']],
    [0, ['6', '5']],
  ];
  const p = pattern(sys, tabs, cells);
  const comps = components(sys, p);
  t.equal(comps.length, 2, 'two independent groups of suppressed cells');
  t.same(comps.map((c) => c.cells.length).sort(), [3, 4]);
  const sens = cells.map(([, codes]) => ({ id: gid(sys, tabs, 0, codes), upper: 0.5, lower: 0.5 }));
  const withRref = await auditPattern(sys, p, sens);
  const lpOnly = await auditPattern(sys, p, sens, { duals: true });
  t.ok(lpOnly.lpSolves > withRref.lpSolves, 'linear algebra spared LP solves');
  const determined = new Set(comps.flatMap((c) => [...determinedCells(sys, c, p)]));
  for (let k = 0; k < sens.length; k++) {
    const a = withRref.cells[k]!;
    const b = lpOnly.cells[k]!;
    t.equal(a.exact, b.exact, `cell ${cells[k]![1].join(',')}: same verdict`);
    t.equal(determined.has(a.id), Math.abs(b.max - b.min) < 1e-6, 'RREF determined <=> LP min == max');
  }
  t.same(
    withRref.cells.map((c) => c.exact),
    [false, false, false, false, true, true, true],
    'the L-shaped triple is exactly disclosed, the rectangle is not',
  );
});

t.test('linked tables: safe alone, unsafe together', async (t) => {
  // In rg: suppress (A,f), (B,f) and the region totals (A,_T), (B,_T): one degree of freedom remains.
  const cellsRg: [number, string[]][] = [
    [0, ['A', 'f']],
    [0, ['B', 'f']],
    [0, ['A', '_T']],
    [0, ['B', '_T']],
  ];
  const alone = buildCellSystem([rg]);
  const sensAlone = [{ id: gid(alone, [rg], 0, ['A', 'f']), upper: 1, lower: 1 }];
  const a = await auditPattern(alone, pattern(alone, [rg], cellsRg), sensAlone);
  t.equal(a.passes, true, 'safe in the region x gender table alone');
  // ra shares the region margin (region, _T): there the region totals are sums of published age cells.
  const both = buildCellSystem([rg, ra]);
  t.equal(both.cellCount, 15 + 15 - 5, 'the five region-margin cells are shared');
  t.equal(gid(both, [rg, ra], 0, ['A', '_T']), gid(both, [rg, ra], 1, ['A', '_T']));
  const sensBoth = [{ id: gid(both, [rg, ra], 0, ['A', 'f']), upper: 1, lower: 1 }];
  const b = await auditPattern(both, pattern(both, [rg, ra], cellsRg), sensBoth);
  t.equal(b.passes, false, 'the linked table discloses the region totals, hence (A, f)');
  t.equal(b.cells[0]!.exact, true);
  // Different hierarchies for the same dimension name: tables are not linked.
  const other = makeTable(
    'rx',
    [
      {
        name: 'region',
        categories: cats('A', 'B', 'C', 'D'),
        hierarchy: [{ code: 'AB', label: 'AB', children: ['A', 'B'] }, 'C', 'D'],
      },
      age,
    ],
    rows.map((r) => ({ codes: [r.codes[0]!, r.codes[2]!], value: 1 })),
  );
  const unlinked = buildCellSystem([rg, other]);
  t.equal(unlinked.cellCount, 15 + 18);
  t.not(unlinked.linkGroup[0], unlinked.linkGroup[1]);
});

t.test('singleton rule', async (t) => {
  // Row A: (A,m) has one unit; suppressing (A,m) with (A,f) lets that unit compute (A,f).
  const rows2 = [
    { codes: ['A', 'm'], value: 1 },
    { codes: ['A', 'f'], value: 1 },
    { codes: ['A', 'f'], value: 1 },
    ...Array.from({ length: 12 }, (_, i) => ({ codes: [i % 2 ? 'B' : 'C', i % 3 ? 'm' : 'f'], value: 1 })),
  ];
  const tab = makeTable('s', [{ name: 'region', categories: cats('A', 'B', 'C') }, gender], rows2);
  const sys = buildCellSystem([tab]);
  const sens = [
    { id: gid(sys, [tab], 0, ['A', 'f']), upper: 0.2, lower: 0.2 },
    { id: gid(sys, [tab], 0, ['A', 'm']), upper: 0.1, lower: 0.1 },
  ];
  const rect = pattern(
    sys,
    [tab],
    [
      [0, ['A', 'f']],
      [0, ['A', 'm']],
      [0, ['B', 'f']],
      [0, ['B', 'm']],
    ],
  );
  const r = await auditPattern(sys, rect, sens);
  t.ok(
    r.singletons.some((s) => s.exposed === sens[0]!.id && s.singleton === sens[1]!.id),
    'singleton (A,m) exposes (A,f)',
  );
  t.equal(r.passes, false);
  t.equal(
    (await auditPattern(sys, rect, sens, { singletons: false })).passes,
    true,
    'the LP alone accepts the rectangle',
  );
});

t.test('singleton rule: an aggregate with a single child shares its contributors (no exposure)', async (t) => {
  // Region group G1 holds one region (r1) with one unit: G1 = r1 always, both suppressed, same lone contributor.
  const region = {
    name: 'region',
    categories: cats('r1', 'r2', 'r3', 'r4'),
    hierarchy: [
      { code: 'G1', label: 'G1', children: ['r1'] },
      { code: 'G2', label: 'G2', children: ['r2', 'r3', 'r4'] },
    ],
  };
  const sex = { name: 'sex', categories: cats('m', 'f') };
  const rows = [
    { codes: ['r1', 'm'], value: 1 },
    ...Array.from({ length: 9 }, (_, i) => ({ codes: [`r${2 + (i % 3)}`, i % 2 ? 'm' : 'f'], value: 1 })),
    ...Array.from({ length: 9 }, (_, i) => ({ codes: [`r${2 + (i % 3)}`, i % 2 ? 'f' : 'm'], value: 1 })),
  ];
  const tab = makeTable('single-child', [region, sex], rows);
  const r = await protectSdc(
    [tab],
    sdcPlan({ minFrequency: 3, secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: 10 } }),
  );
  t.equal(r.report.auditPasses, true, 'a pattern is found');
  const dims = tab.plan.dimensions;
  const at = (reg: string, s: string | null): number => {
    const ri = dims[0]!.nodes.findIndex((n) => n.code === reg);
    const si = s === null ? dims[1]!.total! : dims[1]!.nodes.findIndex((n) => n.code === s);
    return ri * dims[1]!.nodes.length + si;
  };
  t.equal(r.tables[0]!.cells[at('r1', 'm')]!.value, null, 'the one-unit cell is suppressed');
  t.equal(r.tables[0]!.cells[at('G1', 'm')]!.value, null, 'and so is its single-child aggregate (equal to it)');
  // The audit itself: the two-cell relation G1 = r1 is never a singleton exposure.
  const sys = buildCellSystem([tab]);
  const sup = Uint8Array.from(r.tables[0]!.cells, (c) => (c.value === null ? 1 : 0));
  const audit = await auditPattern(sys, sup, [{ id: at('r1', 'm'), upper: 1, lower: 1 }]);
  t.ok(
    audit.singletons.every((x) => sys.relations[x.relation]!.cells.length > 2),
    'no exposure reported on a single-child relation',
  );
});
