// The insider model (engine/sdc/insiders.ts): the contributor of a one-unit suppressed cell knows its value. Under the
// lone-cell rule alone the optimal pattern of the table below is one 6-cycle through that cell, and the insider pins
// every other cell of the cycle, two of them other units' sensitive cells. The attack is solved here independently
// with HiGHS (an LP in CPLEX LP format built from the published tables, not the engine's attacker model).
import t from 'tap';
import { describeSdc } from '../../engine/sdc/describe.ts';
import { highsRuntime } from '../../engine/sdc/highs.ts';
import { auditPattern, buildCellSystem, protectSdc } from '../../engine/sdc/index.ts';
import { cellCoords, cellIndex } from '../../engine/types.ts';
import type { ExactTable, ProtectedTable, SdcPlan } from '../../engine/types.ts';
import { cats, makeTable, sdcPlan } from './helpers.ts';

const ROWS = ['A', 'B', 'C', 'D'];
const COLS = ['w', 'x', 'y', 'z'];
/** Interior counts: (A,w) one person, (B,x) and (C,y) two; the rest safe (>= 3). */
const COUNTS: Record<string, number> = { Aw: 1, Bx: 2, Cy: 2 };
/**
 * (A,w) one person, (B,x) two: under the lone-cell rule both methods hide the 2x2 cube (A,w), (A,x), (B,w), (B,x)
 * (no relation holds the one-unit cell and a sensitive cell alone), and the insider computes (B,x) exactly: row A and
 * column w give (A,x) and (B,w), then row B gives (B,x).
 */
const CUBE: Record<string, number> = { Aw: 1, Bx: 2 };

function table(counts: Record<string, number> = COUNTS): ExactTable {
  const rows: { codes: string[]; value: number }[] = [];
  ROWS.forEach((r, i) =>
    COLS.forEach((c, j) => {
      const n = counts[r + c] ?? 7 + ((3 * i + 5 * j) % 9);
      for (let k = 0; k < n; k++) rows.push({ codes: [r, c], value: 1 });
    }),
  );
  return makeTable(
    'insider',
    [
      { name: 'region', categories: cats(...ROWS), totalCode: 'Total' },
      { name: 'group', categories: cats(...COLS), totalCode: 'Total' },
    ],
    rows,
  );
}

const plan = (method: 'optimal' | 'heuristic', insiders?: 'singletons' | 'lone-cell' | 'none'): SdcPlan =>
  sdcPlan({
    minFrequency: 3,
    frequencyProtection: 10,
    secondary: { method, cost: 'unity', timeLimitSeconds: 20, ...(insiders ? { insiders } : {}) },
  });

/** Cell index of (row code, column code); null = the dimension's total. */
function at(tab: ExactTable, r: string | null, c: string | null): number {
  const dims = tab.plan.dimensions;
  const node = (d: number, code: string | null): number =>
    code === null ? dims[d]!.total! : dims[d]!.nodes.findIndex((n) => n.code === code);
  return cellIndex(dims, [node(0, r), node(1, c)]);
}

interface Attack {
  readonly id: number;
  readonly cell: string;
  readonly value: number;
  readonly min: number;
  readonly max: number;
  /** The insider computes the cell exactly, or narrows it inside its 10% protection interval. */
  readonly disclosed: boolean;
}

/**
 * The insider's attack, independent of the engine: unknowns = the suppressed cells other than the insider's, which is
 * a constant (its value is 1, the insider knows it); every row and column of the published table adds up; counts lie in
 * [0, grand total]. For every other sensitive cell (0 < count < 3), min and max by HiGHS.
 */
async function insiderAttack(tab: ExactTable, pub: ProtectedTable, insider: number): Promise<Attack[]> {
  const highs = await highsRuntime();
  const dims = tab.plan.dimensions;
  const value = (i: number): number => tab.cells[i]!.units;
  const hidden = (i: number): boolean => pub.cells[i]!.value === null && i !== insider;
  const grand = value(at(tab, null, null));
  const name = (i: number): string =>
    cellCoords(dims, i)
      .map((n, d) => dims[d]!.nodes[n]!.code)
      .join(',');
  const term = (i: number): string => `x${i}`;
  // Relations: each total = the sum of its leaves, along each dimension, for every node of the other one.
  const rels: string[] = [];
  for (let d = 0; d < 2; d++) {
    const other = 1 - d;
    for (let o = 0; o < dims[other]!.nodes.length; o++) {
      const cell = (n: number): number => cellIndex(dims, d === 0 ? [n, o] : [o, n]);
      const parts = [cell(dims[d]!.total!), ...dims[d]!.nodes.flatMap((n, k) => (n.leaf ? [cell(k)] : []))];
      const coef = parts.map((_, k) => (k === 0 ? 1 : -1));
      let rhs = 0;
      const lhs: string[] = [];
      parts.forEach((c, k) => {
        if (hidden(c)) lhs.push(`${coef[k]! > 0 ? '+' : '-'} ${term(c)}`);
        else rhs -= coef[k]! * (c === insider ? 1 : (pub.cells[c]!.value as number));
      });
      if (lhs.length > 0) rels.push(` r${rels.length}: ${lhs.join(' ')} = ${rhs}`);
    }
  }
  const vars = tab.cells.flatMap((_, i) => (hidden(i) ? [i] : []));
  const bounds = vars.map((i) => ` 0 <= ${term(i)} <= ${grand}`);
  const out: Attack[] = [];
  for (const v of vars) {
    const units = value(v);
    if (!(units > 0 && units < 3)) continue;
    const solve = (sense: 'Minimize' | 'Maximize'): number => {
      const lp = [sense, ` obj: ${term(v)}`, 'Subject To', ...rels, 'Bounds', ...bounds, 'End'].join('\n');
      const sol = highs.solve(lp);
      if (sol.Status !== 'Optimal') throw new Error(`attack LP: ${sol.Status}`);
      return sol.ObjectiveValue;
    };
    const min = solve('Minimize');
    const max = solve('Maximize');
    const p = 0.1 * units;
    const disclosed = max - min < 1e-6 || max < units + p - 1e-6 || min > units - p + 1e-6;
    out.push({ id: v, cell: name(v), value: units, min, max, disclosed });
  }
  return out;
}

/** The constructed tables: the 6-cycle (optimal under the lone-cell rule) and the 2x2 cube (both methods). */
const CASES = [
  { name: '6-cycle', counts: COUNTS, methods: ['optimal'] },
  { name: '2x2 cube', counts: CUBE, methods: ['optimal', 'heuristic'] },
] as const;

for (const { name, counts, methods } of CASES)
  for (const method of methods)
    t.test(
      `${name}, lone-cell rule only, ${method}: the pattern lets (A,w)'s contributor pin other units' cells`,
      async (t) => {
        const tab = table(counts);
        const r = await protectSdc([tab], plan(method, 'lone-cell'));
        const pub = r.tables[0]!;
        const u = at(tab, 'A', 'w');
        t.equal(pub.cells[u]!.value, null, 'the one-unit cell is suppressed');
        const attack = await insiderAttack(tab, pub, u);
        const pinned = attack.filter((a) => a.disclosed);
        t.ok(
          pinned.length >= 1,
          `the insider discloses ${pinned.map((a) => `(${a.cell}) in [${a.min}, ${a.max}]`).join('; ')}`,
        );
        t.ok(
          pinned.some((a) => a.min === a.max && a.min === a.value),
          'at least one other unit cell is computed exactly',
        );
        // The reviewer report lists what the insider learns, and the same cells the independent attack found.
        t.equal(r.report.insiders.model, 'lone-cell');
        t.equal(r.report.insiders.complete, true, 'every insider was audited for the report');
        t.equal(r.report.insiders.exposures.length, pinned.length, 'the report lists as many cells as the attack pins');
        for (const x of r.report.insiders.exposures) t.ok(x.exact, `${x.insider} computes ${x.exposed}`);
      },
    );

for (const { name, counts } of CASES)
  for (const method of ['optimal', 'heuristic'] as const) {
    t.test(
      `${name}, insiders 'singletons' (the default), ${method}: no other unit's sensitive cell is disclosed`,
      async (t) => {
        const tab = table(counts);
        const r = await protectSdc([tab], plan(method));
        const pub = r.tables[0]!;
        t.equal(r.report.insiders.model, 'singletons');
        t.same(r.report.insiders.exposures, [], 'nothing left for an insider');
        t.equal(r.report.method, method);
        if (method === 'optimal')
          t.equal(r.report.optimalFinished, true, 'the optimum under the insider cuts is proven');
        // Every one-unit suppressed cell is an insider; each must leave the others' cells protected.
        const insiders = tab.cells.flatMap((c, i) => (c.units === 1 && pub.cells[i]!.value === null ? [i] : []));
        t.ok(insiders.length >= 1, 'the one-unit cell is suppressed');
        for (const u of insiders) {
          const attack = await insiderAttack(tab, pub, u);
          t.ok(attack.length >= 1, 'the other units’ sensitive cells are attacked');
          for (const a of attack) t.notOk(a.disclosed, `(${a.cell}) = ${a.value} stays in [${a.min}, ${a.max}]`);
        }
      },
    );
  }

t.test("insiders 'none': the policy switches both rules off, and nothing insider-related runs", async (t) => {
  const tab = table();
  const off = await protectSdc([tab], plan('optimal', 'none'));
  const lone = await protectSdc([tab], plan('optimal', 'lone-cell'));
  const on = await protectSdc([tab], plan('optimal'));
  const secondaries = (x: typeof on): number => x.report.tables[0]!.secondary;
  t.ok(secondaries(off) <= secondaries(lone), 'no rule costs no more than the lone-cell rule');
  t.ok(secondaries(on) > secondaries(lone), 'protecting against the insider costs secondaries here');
  t.equal(off.report.singletonRule, false);
  // The manifest says what each model claims about a cell's lone contributor.
  const note = (x: typeof on): string =>
    describeSdc(
      { dataset: { id: 'x', unit: { kind: 'person' } }, tables: [], protection: plan('optimal') } as never,
      [],
      x.report,
    ).methods.join('\n');
  t.match(note(on), /lone contributor of each suppressed cell, who knows its value, was audited as an attacker too/);
  t.match(note(lone), /only the singleton rule was applied/);
  t.match(note(off), /no protection against the lone contributor/);
  t.same(
    off.report.insiders,
    { model: 'none', audited: false, complete: false, exposures: [] },
    'the report says the insiders were not audited (zero cost)',
  );
  t.ok(
    lone.report.insiders.exposures.length >= 1,
    "under 'lone-cell' the reviewer report lists what the insider learns",
  );
});

t.test('audit: the insider audit fails the 6-cycle the lone-cell rule passes, names insider and cells', async (t) => {
  const tab = table();
  const sys = buildCellSystem([tab]);
  const cycle = [
    ['A', 'w'],
    ['A', 'x'],
    ['B', 'x'],
    ['B', 'y'],
    ['C', 'y'],
    ['C', 'w'],
  ] as const;
  const sup = new Uint8Array(sys.cellCount);
  for (const [r, c] of cycle) sup[sys.tableCells[0]![at(tab, r, c)]!] = 1;
  const g = (r: string, c: string): number => sys.tableCells[0]![at(tab, r, c)]!;
  const sens = [
    { id: g('A', 'w'), upper: 0.1, lower: 0.1 },
    { id: g('B', 'x'), upper: 0.2, lower: 0.2 },
    { id: g('C', 'y'), upper: 0.2, lower: 0.2 },
  ];
  const today = await auditPattern(sys, sup, sens);
  t.equal(today.passes, true, 'the lone-cell rule passes the cycle');
  for (const tables of [undefined, [tab]]) {
    const r = await auditPattern(sys, sup, sens, { insiders: true, ...(tables ? { tables } : {}) });
    t.equal(r.passes, false, `the insider audit fails it (${tables ? 'with' : 'without'} witnesses)`);
    t.same(
      r.insiders.map((x) => [x.insider, x.exposed, x.exact]).sort(),
      [
        [g('A', 'w'), g('B', 'x'), true],
        [g('A', 'w'), g('C', 'y'), true],
      ].sort(),
      'the insider (A,w) computes (B,x) and (C,y) exactly',
    );
  }
  const report = await auditPattern(sys, sup, sens, { insiders: 'report' });
  t.equal(report.passes, true, "'report' lists without judging");
  t.equal(report.insiders.length, 2);
});

t.test('audit: a one-unit aggregate of the insider is its own value, not another unit', async (t) => {
  // Row A holds one person only: (A,Total) = (A,w) is the same unit, never an exposure.
  const rows: { codes: string[]; value: number }[] = [{ codes: ['A', 'w'], value: 1 }];
  for (const r of ['B', 'C'])
    for (const c of ['w', 'x']) for (let k = 0; k < 5; k++) rows.push({ codes: [r, c], value: 1 });
  const tab = makeTable(
    'own',
    [
      { name: 'region', categories: cats('A', 'B', 'C'), totalCode: 'Total' },
      { name: 'group', categories: cats('w', 'x'), totalCode: 'Total' },
    ],
    rows,
  );
  const sys = buildCellSystem([tab]);
  const g = (r: string | null, c: string | null): number => sys.tableCells[0]![at(tab, r, c)]!;
  const sup = new Uint8Array(sys.cellCount);
  for (const id of [g('A', 'w'), g('A', null), g('B', 'w'), g('B', null)]) sup[id] = 1;
  const sens = [
    { id: g('A', 'w'), upper: 0.1, lower: 0.1 },
    { id: g('A', null), upper: 0.1, lower: 0.1 },
  ];
  const r = await auditPattern(sys, sup, sens, { insiders: true, singletons: false });
  t.same(r.insiders, [], 'the insider learning its own row total is no exposure');
});

t.test('seeded 7x6 tables: every insider of the default pattern is re-attacked independently', async (t) => {
  const seedrandom = (await import('seedrandom')).default;
  const rng = seedrandom('insiders');
  const R = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const C = ['p', 'q', 'r', 's', 't', 'u'];
  for (let rep = 0; rep < 3; rep++) {
    const rows: { codes: string[]; value: number }[] = [];
    for (const r of R)
      for (const c of C) {
        // About a fifth of the cells hold one person, some two, the rest 3-14.
        const x = rng();
        const n = x < 0.2 ? 1 : x < 0.3 ? 2 : 3 + Math.floor(rng() * 12);
        for (let k = 0; k < n; k++) rows.push({ codes: [r, c], value: 1 });
      }
    const tab = makeTable(
      `seeded-${rep}`,
      [
        { name: 'region', categories: cats(...R), totalCode: 'Total' },
        { name: 'group', categories: cats(...C), totalCode: 'Total' },
      ],
      rows,
    );
    for (const method of ['optimal', 'heuristic'] as const) {
      const r = await protectSdc([tab], plan(method));
      const pub = r.tables[0]!;
      const insiders = tab.cells.flatMap((c, i) => (c.units === 1 && pub.cells[i]!.value === null ? [i] : []));
      let attacked = 0;
      const disclosed: string[] = [];
      const dims = tab.plan.dimensions;
      for (const u of insiders) {
        const cu = cellCoords(dims, u);
        for (const a of await insiderAttack(tab, pub, u)) {
          // A one-person margin over the insider's cell holds the insider alone: its own value, not another unit's.
          const own = a.value === 1 && cellCoords(dims, a.id).every((n, d) => n === cu[d] || n === dims[d]!.total);
          if (own) continue;
          attacked++;
          if (a.disclosed) disclosed.push(`(${a.cell}) in [${a.min}, ${a.max}] by insider ${u}`);
        }
      }
      t.ok(
        insiders.length > 0 && attacked > 0,
        `${tab.plan.id} ${method}: ${insiders.length} insiders, ${attacked} attacks`,
      );
      t.same(disclosed, [], `${tab.plan.id} ${method}: no other unit's cell disclosed`);
    }
  }
});
