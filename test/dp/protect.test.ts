import t from 'tap';
import type {
  DimensionPlan,
  DpPlan,
  ExactCell,
  ExactTable,
  MeasurePlan,
  TablePlan,
  UnitPlan,
} from '../../engine/types.ts';
import { cellCount, cellIndex, TOP_K } from '../../engine/types.ts';
import { buildDimension, ancestorsOf } from '../../engine/policy/dimension.ts';
import { StatguardError } from '../../engine/errors.ts';
import {
  protectDp,
  tableSensitivity,
  discreteLaplaceHalfWidth,
  discreteGaussianHalfWidth,
  zcdpToApproxDp,
} from '../../engine/dp/index.ts';
import { seededRandom, cryptoRandom, RandomReader } from '../../engine/random.ts';

const region = buildDimension({
  name: 'region',
  categories: [
    { code: 'N1', label: 'North 1' },
    { code: 'N2', label: 'North 2' },
    { code: 'S1', label: 'South 1' },
  ],
  hierarchy: [{ code: 'N', label: 'North', children: ['N1', 'N2'] }, 'S1'],
});
const sex = buildDimension({
  name: 'sex',
  categories: [
    { code: 'M', label: 'Male' },
    { code: 'F', label: 'Female' },
  ],
});
const DIMS = [region, sex];
// Path lengths: region N1 -> N -> _T = 3 (S1 -> _T = 2, the max is taken), sex M -> _T = 2: L = 6.

const SUM: MeasurePlan = { kind: 'sum', column: 'income', lower: -500, upper: 1000, decimals: 1 };

function tablePlan(
  id: string,
  measure: MeasurePlan,
  share: number,
  dims: readonly DimensionPlan[] = DIMS,
  extra: Partial<TablePlan> = {},
): TablePlan {
  return {
    id,
    title: id,
    description: id,
    dimensions: dims,
    measure,
    budgetShare: share,
    neverSuppress: [],
    alwaysSuppress: [],
    ...extra,
  };
}

interface Row {
  unit: string;
  leaves: number[];
  value: number;
}

/** Reference aggregator: per cell, distinct units, rows, sum of clamped values, top per-unit contributions. */
function aggregate(plan: TablePlan, rows: readonly Row[]): ExactTable {
  const dims = plan.dimensions;
  const n = cellCount(dims);
  const units = Array.from({ length: n }, () => new Map<string, number>());
  const rowCount = new Array<number>(n).fill(0);
  const lower = plan.measure.kind === 'count' ? 0 : plan.measure.lower;
  const upper = plan.measure.kind === 'count' ? 0 : plan.measure.upper;
  for (const r of rows) {
    const v = plan.measure.kind === 'count' ? 1 : Math.min(upper, Math.max(lower, r.value));
    const paths = dims.map((d, i) => ancestorsOf(d, r.leaves[i]!));
    const visit = (d: number, coords: number[]): void => {
      if (d === dims.length) {
        const c = cellIndex(dims, coords);
        units[c]!.set(r.unit, (units[c]!.get(r.unit) ?? 0) + v);
        rowCount[c]!++;
        return;
      }
      for (const a of paths[d]!) visit(d + 1, [...coords, a]);
    };
    visit(0, []);
  }
  const cells: ExactCell[] = units.map((u, c) => {
    const contrib = [...u.values()].sort((a, b) => b - a);
    return {
      units: u.size,
      rows: rowCount[c]!,
      sum: plan.measure.kind === 'count' ? u.size : contrib.reduce((s, x) => s + x, 0),
      top: plan.measure.kind === 'count' ? contrib.slice(0, TOP_K).map(() => 1) : contrib.slice(0, TOP_K),
    };
  });
  return { kind: 'exact', plan, cells };
}

function laplacePlan(epsilon: number, extra: Partial<DpPlan> = {}): DpPlan {
  return {
    regime: 'dp',
    mechanism: 'discrete-laplace',
    epsilon,
    rho: null,
    delta: 1e-6,
    noisyThreshold: null,
    granularityLog2: 0,
    ...extra,
  };
}
function gaussPlan(rho: number, extra: Partial<DpPlan> = {}): DpPlan {
  return {
    regime: 'dp',
    mechanism: 'discrete-gaussian',
    epsilon: null,
    rho,
    delta: 1e-6,
    noisyThreshold: null,
    granularityLog2: 0,
    ...extra,
  };
}
const UNIT: UnitPlan = { column: 'hh', kind: 'household', maxRowsPerUnit: 2 };

/** Small deterministic pseudo-random helper for building test data. */
function dataRng(seed: string): (n: number) => number {
  const r = new RandomReader(seededRandom(seed));
  return (n) => r.uniformInt(n);
}

function makeRows(seed: string, units: number, m: number, valueRange: [number, number]): Row[] {
  const rnd = dataRng(seed);
  const rows: Row[] = [];
  for (let u = 0; u < units; u++) {
    const k = 1 + rnd(m);
    for (let j = 0; j < k; j++)
      rows.push({
        unit: `u${u}`,
        leaves: [rnd(3), rnd(2)],
        value: valueRange[0] + rnd(valueRange[1] - valueRange[0] + 1),
      });
  }
  return rows;
}

const near = (a: number, b: number, tol = 1e-9): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

t.test('Laplace: sensitivities, budget split and scales as computed by hand', async (t) => {
  const rows = makeRows('hand', 40, 2, [-800, 1500]);
  const count = aggregate(tablePlan('count', { kind: 'count' }, 0.5), rows);
  const sum = aggregate(tablePlan('sum', SUM, 0.5), rows);
  const res = protectDp([count, sum], laplacePlan(1), UNIT, seededRandom('hand'));
  const [ac, as] = res.accounting.tables;
  t.equal(res.accounting.neighbouring, 'datasets differ by all rows of one household (at most 2 rows per unit)');
  t.same(res.accounting.total, { epsilon: 1, delta: 0, rho: null });
  t.equal(res.accounting.definition, 'pure-dp');
  // count: L = 6, m = 2, the rows of a unit share the grand total: L1 = m(L-1)+1 = 11, L2 = sqrt(11);
  // eps_table = 0.5 -> scale 22 (rounded up by < 2^-19).
  t.equal(ac!.cellsPerRow, 6);
  t.equal(ac!.epsilon, 0.5);
  t.equal(ac!.l1Sensitivity, 11);
  t.ok(near(ac!.l2Sensitivity, Math.sqrt(11)));
  t.ok(ac!.noiseScale >= 22 && ac!.noiseScale < 22 + 2 ** -19, `count scale ${ac!.noiseScale}`);
  t.equal(ac!.cellsNoised, 15);
  // sum: B = 1000 scaled = 100.0 natural; L1 = m L B = 12000 scaled = 1200; L2 = m B sqrt(L); scale = 12000/0.5 = 24000 scaled = 2400.
  t.ok(near(as!.l1Sensitivity, 1200));
  t.ok(near(as!.l2Sensitivity, 200 * Math.sqrt(6)));
  t.ok(as!.noiseScale >= 2400 && as!.noiseScale < 2400 + 1e-6, `sum scale ${as!.noiseScale}`);
  const cell = res.tables[1]!.cells[0]!;
  t.ok(near(cell.accuracy!.scale, 2400, 1e-9));
  t.equal(cell.accuracy!.halfWidth95, discreteLaplaceHalfWidth(24000) / 10);
  t.equal(res.tables[0]!.cells[0]!.accuracy!.halfWidth95, discreteLaplaceHalfWidth(22));
  for (const tbl of res.tables) for (const c of tbl.cells) t.match(c, { conf: 'F', obs: 'E' });
});

t.test('Gaussian: sigma^2 = L2^2 / (2 rho_table) and (epsilon, delta) of the total', async (t) => {
  const rows = makeRows('gauss', 40, 2, [0, 1000]);
  const res = protectDp(
    [aggregate(tablePlan('count', { kind: 'count' }, 0.25), rows), aggregate(tablePlan('sum', SUM, 0.75), rows)],
    gaussPlan(1),
    UNIT,
    seededRandom('g'),
  );
  const [ac, as] = res.accounting.tables;
  t.equal(res.accounting.definition, 'zcdp');
  t.equal(res.accounting.total.rho, 1);
  t.equal(res.accounting.total.delta, 1e-6);
  t.equal(res.accounting.total.epsilon, zcdpToApproxDp(1, 1e-6));
  t.equal(ac!.rho, 0.25);
  t.equal(ac!.epsilon, null);
  // count: L2^2 = 11 -> sigma^2 = 11 / 0.5 = 22.
  t.ok(near(ac!.noiseScale, Math.sqrt(22), 1e-6), `count sigma ${ac!.noiseScale}`);
  t.equal(res.tables[0]!.cells[0]!.accuracy!.halfWidth95, discreteGaussianHalfWidth(ac!.noiseScale ** 2));
  // sum: L2^2 = (2*1000)^2 * 6 = 2.4e7 -> sigma^2 = 2.4e7 / 1.5 = 1.6e7 -> sigma 4000 scaled = 400 natural.
  t.ok(near(as!.noiseScale, 400, 1e-6), `sum sigma ${as!.noiseScale}`);
  t.ok(near(as!.l2Sensitivity, 200 * Math.sqrt(6)));
});

t.test('mean tables: half the budget to the sum, half to the count; values within the possible range', async (t) => {
  const rows = makeRows('mean', 60, 2, [0, 1000]);
  const meanPlan = tablePlan('mean', { kind: 'mean', column: 'income', lower: 0, upper: 1000, decimals: 1 }, 1);
  const res = protectDp([aggregate(meanPlan, rows)], laplacePlan(2), UNIT, seededRandom('mean'));
  const a = res.accounting.tables[0]!;
  t.equal(a.measure, 'mean');
  t.equal(a.epsilon, 2);
  t.same(
    a.queries.map((q) => q.quantity),
    ['sum', 'count'],
  );
  t.same(
    a.queries.map((q) => q.epsilon),
    [1, 1],
  );
  t.ok(near(a.queries[0]!.noiseScale, 1200 / 1, 1e-6), 'sum scale = L1 / (eps/2) = 1200 natural');
  t.ok(near(a.queries[1]!.noiseScale, 11, 1e-6), 'count scale = 11 / 1');
  for (const c of res.tables[0]!.cells) {
    t.ok(c.value !== null && c.value >= 0 && c.value <= 200, 'a unit total is in [0, m * upper] = [0, 200]');
    t.ok(c.accuracy !== null && c.accuracy.noiseSd > 0);
  }
});

t.test('seeded runs reproduce, crypto runs differ', async (t) => {
  const rows = makeRows('rep', 30, 2, [0, 1000]);
  const tables = [
    aggregate(tablePlan('count', { kind: 'count' }, 0.5), rows),
    aggregate(tablePlan('sum', SUM, 0.5), rows),
  ];
  const a = protectDp(tables, laplacePlan(1), UNIT, seededRandom('same'));
  const b = protectDp(tables, laplacePlan(1), UNIT, seededRandom('same'));
  t.same(a, b);
  const c = protectDp(tables, laplacePlan(1), UNIT, seededRandom('other'));
  t.notSame(a.tables, c.tables);
  const x = protectDp(tables, laplacePlan(1), UNIT, cryptoRandom());
  const y = protectDp(tables, laplacePlan(1), UNIT, cryptoRandom());
  t.notSame(
    x.tables.map((tb) => tb.cells.map((cl) => cl.value)),
    y.tables.map((tb) => tb.cells.map((cl) => cl.value)),
  );
});

t.test('non-negativity: counts and non-negative sums are clamped, signed sums are not', async (t) => {
  const rows = [{ unit: 'a', leaves: [0, 0], value: 10 }];
  const pos = tablePlan('pos', { kind: 'sum', column: 'x', lower: 0, upper: 1000, decimals: 0 }, 0.4);
  const signed = tablePlan('signed', { kind: 'sum', column: 'x', lower: -1000, upper: 1000, decimals: 0 }, 0.4);
  const cnt = tablePlan('cnt', { kind: 'count' }, 0.2);
  const res = protectDp(
    [aggregate(pos, rows), aggregate(signed, rows), aggregate(cnt, rows)],
    laplacePlan(0.5),
    UNIT,
    seededRandom('nonneg'),
  );
  const v = (i: number): number[] => res.tables[i]!.cells.map((c) => c.value!);
  t.ok(
    v(0).every((x) => x >= 0),
    'non-negative sums',
  );
  t.ok(
    v(2).every((x) => x >= 0 && Number.isInteger(x)),
    'non-negative integer counts',
  );
  t.ok(v(2).includes(0), 'some counts clamped to 0');
  t.ok(
    v(1).some((x) => x < 0),
    'signed sums keep negative noisy values',
  );
});

t.test('noisy threshold: decided on the noisy value only, suppressed cells are null with conf C', async (t) => {
  const plan = tablePlan('cnt', { kind: 'count' }, 1);
  // Two datasets with different exact counts (some below, some above the threshold).
  const rowsA = makeRows('thrA', 12, 2, [0, 0]);
  const rowsB = makeRows('thrB', 40, 2, [0, 0]);
  const threshold = 8;
  for (const rows of [rowsA, rowsB]) {
    const exact = aggregate(plan, rows);
    const free = protectDp([exact], laplacePlan(0.5), UNIT, seededRandom('thr'));
    const thr = protectDp([exact], laplacePlan(0.5, { noisyThreshold: threshold }), UNIT, seededRandom('thr'));
    let hidden = 0;
    let exactBelowButShown = 0;
    free.tables[0]!.cells.forEach((c, i) => {
      const out = thr.tables[0]!.cells[i]!;
      if (c.value! < threshold) {
        t.same(out, { value: null, conf: 'C', obs: 'E', accuracy: null });
        hidden++;
      } else {
        t.same(out, c, 'same noise draw, same published cell');
        if (exact.cells[i]!.units < threshold) exactBelowButShown++;
      }
    });
    t.equal(thr.accounting.tables[0]!.cellsSuppressed, hidden);
    t.comment(`${hidden} hidden, ${exactBelowButShown} exact-below-threshold cells published by their noisy value`);
  }
  // Same noise draws, different exact values: the noise (published - exact) is the same sequence,
  // so the decision follows the noisy value, not the exact one.
  const e1 = aggregate(plan, rowsA);
  const e2 = aggregate(plan, rowsB);
  const p1 = protectDp([e1], laplacePlan(0.1), UNIT, seededRandom('same-noise'));
  const p2 = protectDp([e2], laplacePlan(0.1), UNIT, seededRandom('same-noise'));
  const noise1 = p1.tables[0]!.cells.map((c, i) => c.value! - e1.cells[i]!.units).filter(
    (_, i) => p1.tables[0]!.cells[i]!.value! > 0 && p2.tables[0]!.cells[i]!.value! > 0,
  );
  const noise2 = p2.tables[0]!.cells.map((c, i) => c.value! - e2.cells[i]!.units).filter(
    (_, i) => p1.tables[0]!.cells[i]!.value! > 0 && p2.tables[0]!.cells[i]!.value! > 0,
  );
  t.same(noise1, noise2, 'noise draws do not depend on exact values');
  t.ok(noise1.length > 0);
  // neverSuppress and alwaysSuppress are honoured (public plan data).
  const marked = tablePlan('cnt', { kind: 'count' }, 1, DIMS, {
    neverSuppress: [['N1', 'M']],
    alwaysSuppress: [['_T', '_T']],
  });
  const r = protectDp([aggregate(marked, [])], laplacePlan(1, { noisyThreshold: 1e9 }), UNIT, seededRandom('m'));
  t.not(r.tables[0]!.cells[cellIndex(DIMS, [0, 0])]!.value, null, 'never-suppress cell published');
  t.equal(r.tables[0]!.cells[cellIndex(DIMS, [4, 2])]!.value, null, 'always-suppress cell null');
  t.equal(r.tables[0]!.cells.filter((c) => c.value === null).length, 14);
});

t.test('no exact value is kept or read beyond the noise addition', async (t) => {
  // Distinctive exact values: sums and top contributions with digits no noisy value will reproduce.
  const distinctive = [987654321, 876543219, 765432198];
  const rows: Row[] = distinctive.map((v, i) => ({ unit: `u${i}`, leaves: [i, i % 2], value: v }));
  const sumPlan = tablePlan('s', { kind: 'sum', column: 'x', lower: 0, upper: 1_000_000_000, decimals: 2 }, 1);
  const exact = aggregate(sumPlan, rows);
  // Cells whose getters throw for what a DP release must never use: units/rows/top of a sum table.
  const guarded: ExactTable = {
    kind: 'exact',
    plan: sumPlan,
    cells: exact.cells.map((c) => ({
      get units(): number {
        throw new Error('units read');
      },
      get rows(): number {
        throw new Error('rows read');
      },
      get top(): number[] {
        throw new Error('top read');
      },
      sum: c.sum,
    })),
  };
  const res = protectDp([guarded], laplacePlan(1), { ...UNIT, maxRowsPerUnit: 1 }, seededRandom('leak'));
  const json = JSON.stringify(res);
  for (const v of [...distinctive, ...exact.cells.map((c) => c.sum).filter((s) => s > 0)]) {
    t.notOk(json.includes(String(v)), `scaled exact ${v} absent`);
    t.notOk(json.includes(String(v / 100)), `natural exact ${v / 100} absent`);
  }
  t.ok(
    res.tables[0]!.cells.every((c, i) => exact.cells[i]!.sum === 0 || c.value !== exact.cells[i]!.sum / 100),
    'every non-zero exact sum differs from its published value',
  );
  t.notOk(/"(units|rows|top|sum)":/.test(json), 'no exact-cell fields in the result');
  // A count table needs only units.
  const cnt = aggregate(tablePlan('c', { kind: 'count' }, 1), rows);
  const guardedCount: ExactTable = {
    kind: 'exact',
    plan: cnt.plan,
    cells: cnt.cells.map((c) => ({
      units: c.units,
      get rows(): number {
        throw new Error('rows read');
      },
      get top(): number[] {
        throw new Error('top read');
      },
      get sum(): number {
        throw new Error('sum read');
      },
    })),
  };
  t.doesNotThrow(() => protectDp([guardedCount], laplacePlan(1), UNIT, seededRandom('c')));
  // The test can fail: a table that does read units of a sum table would throw here.
  t.throws(() => guarded.cells[0]!.units, /units read/);
});

t.test('granularity 2^k: sum noise on the lattice, sensitivity with ceil(B / 2^k)', async (t) => {
  const rows = makeRows('gran', 30, 2, [0, 1000]);
  const res = protectDp(
    [aggregate(tablePlan('s', SUM, 1), rows)],
    laplacePlan(1, { granularityLog2: 3 }),
    UNIT,
    seededRandom('gran'),
  );
  for (const c of res.tables[0]!.cells) {
    const scaled = Math.round(c.value! * 10);
    t.equal(scaled % 8, 0, 'published scaled sums are multiples of 8');
  }
  const q = res.accounting.tables[0]!.queries[0]!;
  t.ok(near(q.l1Sensitivity, (2 * 6 * 125 * 8) / 10), 'L1 = m L ceil(1000/8) lattice steps of 0.8');
  t.ok(near(q.granularity, 0.8));
});

t.test('property: removing one unit changes each exact table by at most the claimed L1 and L2', async (t) => {
  const m = 3;
  const plans = [
    tablePlan('count', { kind: 'count' }, 0.25),
    tablePlan('sum', SUM, 0.25),
    // No totals: L = 1, where m rows in m different cells attain the count bound.
    tablePlan('flat', { kind: 'count' }, 0.25, [
      buildDimension({
        name: 'r',
        categories: region.nodes.slice(0, 3).map((n) => ({ code: n.code, label: n.label })),
        total: false,
      }),
    ]),
  ];
  // Two flat dimensions with totals: L = 2 x 2 = 4, the rows of a unit share only the grand total (S = 1), so the
  // count bound is m(L-1)+1 = 10, not mL = 12; m rows on the diagonal attain it.
  const flat3 = (name: string) =>
    buildDimension({ name, categories: ['a', 'b', 'c'].map((c) => ({ code: c, label: c })) });
  plans.push(tablePlan('crossed', { kind: 'count' }, 0.25, [flat3('r'), flat3('s')]));
  t.equal(tableSensitivity(plans[3]!, m).count.l1, 10, 'crossed: m(L-1)+1');
  t.equal(tableSensitivity(plans[2]!, m).count.l1, m, 'no total: nothing shared, m L');
  // The hierarchical table: L = 6, S = 1: 3 * 5 + 1.
  t.equal(tableSensitivity(plans[0]!, m).count.l1, 16);
  const rows = makeRows('prop', 25, m, [-900, 1600]);
  // Crafted units that attain the bounds: m rows at the upper bound in one leaf (sum), m rows in m distinct leaves
  // (flat count), m rows on the diagonal of distinct leaves in both dimensions (crossed count).
  for (let j = 0; j < m; j++) rows.push({ unit: 'heavy', leaves: [0, 0], value: 5000 });
  for (let j = 0; j < m; j++) rows.push({ unit: 'spread', leaves: [j, j % 2], value: 1 });
  for (let j = 0; j < m; j++) rows.push({ unit: 'diagonal', leaves: [j, j], value: 1 });
  const unitIds = [...new Set(rows.map((r) => r.unit))];
  for (const k of [0, 4]) {
    const g = 2 ** k;
    for (const plan of plans) {
      const sens = tableSensitivity(plan, m, k);
      const q = plan.measure.kind === 'count' ? sens.count : sens.sum!;
      // The lattice the noise is drawn on: 2^k, reduced to the largest power of two dividing B (B = 1000: 8).
      const lattice = sens.sum?.granularity ?? 1;
      t.equal(lattice, plan.measure.kind === 'count' ? 1 : Math.min(g, 8));
      const value = (c: ExactCell): number => (plan.measure.kind === 'count' ? c.units : Math.floor(c.sum / lattice));
      const full = aggregate(plan, rows);
      let maxL1 = 0;
      let maxL2sq = 0;
      for (const u of unitIds) {
        const without = aggregate(
          plan,
          rows.filter((r) => r.unit !== u),
        );
        let l1 = 0;
        let l2sq = 0;
        full.cells.forEach((c, i) => {
          const d = value(c) - value(without.cells[i]!);
          l1 += Math.abs(d);
          l2sq += d * d;
        });
        maxL1 = Math.max(maxL1, l1);
        maxL2sq = Math.max(maxL2sq, l2sq);
      }
      t.ok(maxL1 <= q.l1, `${plan.id}, k=${k}: max L1 change ${maxL1} <= ${q.l1}`);
      t.ok(maxL2sq <= Number(q.l2Squared), `${plan.id}, k=${k}: max L2^2 change ${maxL2sq} <= ${q.l2Squared}`);
      if (plan.id === 'flat' || plan.id === 'crossed' || (plan.id === 'sum' && k === 0)) {
        t.equal(maxL1, q.l1, `${plan.id}, k=${k}: the L1 bound is attained (tight)`);
        t.equal(maxL2sq, Number(q.l2Squared), `${plan.id}, k=${k}: the L2 bound is attained (tight)`);
      }
    }
  }
  // protectDp reports the same sensitivities (published units).
  const res = protectDp(
    plans.map((p) => aggregate(p, rows)),
    laplacePlan(1),
    { ...UNIT, maxRowsPerUnit: m },
    seededRandom('p'),
  );
  t.equal(res.accounting.tables[0]!.l1Sensitivity, tableSensitivity(plans[0]!, m).count.l1);
  t.ok(near(res.accounting.tables[1]!.l1Sensitivity, tableSensitivity(plans[1]!, m).sum!.l1 / 10));
});

t.test('granularity never inflates the sensitivity above m L B', async (t) => {
  const m = 2;
  // B = 200,000 scaled with granularityLog2 20: a 2^20 lattice would give ceil(B / 2^20) 2^20 = 1,048,576 per row.
  const wide = tablePlan('wide', { kind: 'sum', column: 'income', lower: 0, upper: 200_000, decimals: 0 }, 1);
  const s = tableSensitivity(wide, m, 20).sum!;
  t.equal(s.granularity, 64, 'reduced to the largest power of two dividing 200,000');
  t.equal(s.l1 * s.granularity, m * 6 * 200_000, 'L1 in scaled units is m L B exactly');
  for (const [upper, k, g] of [
    [3, 1, 1],
    [1024, 4, 16],
    [1000, 2, 4],
    [0, 5, 32],
  ] as const) {
    const p = tablePlan('p', { kind: 'sum', column: 'income', lower: 0, upper, decimals: 0 }, 1);
    const q = tableSensitivity(p, m, k).sum!;
    t.equal(q.granularity, g, `B = ${upper}, k = ${k}: lattice ${g}`);
    t.ok(q.l1 * q.granularity <= m * 6 * upper || upper === 0, 'never above m L B');
  }
});

t.test('bad inputs give clear errors', async (t) => {
  const tbl = aggregate(tablePlan('c', { kind: 'count' }, 1), []);
  const code = (fn: () => unknown, c: string, re: RegExp): void => {
    try {
      fn();
      t.fail(`expected ${c} matching ${re}`);
    } catch (e) {
      t.ok(e instanceof StatguardError && e.code === c && re.test(e.message), `${c}: ${(e as Error).message}`);
    }
  };
  code(() => protectDp([tbl], laplacePlan(1, { epsilon: null }), UNIT, seededRandom('e')), 'POLICY_INVALID', /epsilon/);
  code(() => protectDp([tbl], gaussPlan(0), UNIT, seededRandom('e')), 'POLICY_INVALID', /rho/);
  code(() => protectDp([tbl], gaussPlan(1, { delta: 0 }), UNIT, seededRandom('e')), 'POLICY_INVALID', /delta/);
  code(
    () => protectDp([tbl], laplacePlan(1, { granularityLog2: -1 }), UNIT, seededRandom('e')),
    'POLICY_INVALID',
    /granularityLog2/,
  );
  code(() => protectDp([tbl, tbl], laplacePlan(1), UNIT, seededRandom('e')), 'POLICY_INVALID', /add up to 2/);
  code(
    () => protectDp([{ ...tbl, cells: tbl.cells.slice(1) }], laplacePlan(1), UNIT, seededRandom('e')),
    'USAGE',
    /14 cells, its dimensions give 15/,
  );
  code(
    () => protectDp([aggregate(tablePlan('z', { kind: 'count' }, 0), [])], laplacePlan(1), UNIT, seededRandom('e')),
    'POLICY_INVALID',
    /budget share > 0/,
  );
  code(
    () => protectDp([tbl], laplacePlan(1), { ...UNIT, maxRowsPerUnit: 0 }, seededRandom('e')),
    'POLICY_INVALID',
    /maxRowsPerUnit/,
  );
  const bad: ExactTable = { ...tbl, cells: tbl.cells.map((c, i) => (i === 3 ? { ...c, units: 0.5 } : c)) };
  try {
    protectDp([bad], laplacePlan(1), UNIT, seededRandom('e'));
    t.fail('non-integer exact count accepted');
  } catch (e) {
    t.ok(
      e instanceof StatguardError && /cell 3/.test(e.message) && !/0\.5/.test(e.message),
      'names the cell, not the value',
    );
  }
  code(
    () =>
      protectDp(
        [aggregate(tablePlan('c', { kind: 'count' }, 1, DIMS, { neverSuppress: [['N1', 'X']] }), [])],
        laplacePlan(1),
        UNIT,
        seededRandom('e'),
      ),
    'POLICY_INVALID',
    /"X"/,
  );
});

// Speed is measured by `npm run bench:engine`, not here: this checks that a table of this size comes out whole.
t.test('a 100k-cell table: every cell published, each with a finite value and accuracy', async (t) => {
  const big = buildDimension({
    name: 'b',
    categories: Array.from({ length: 999 }, (_, i) => ({ code: `c${i}`, label: `c${i}` })),
  });
  const small = buildDimension({
    name: 's',
    categories: Array.from({ length: 99 }, (_, i) => ({ code: `d${i}`, label: `d${i}` })),
  });
  const plan = tablePlan('big', SUM, 1, [big, small]);
  const n = cellCount(plan.dimensions);
  const cells: ExactCell[] = Array.from({ length: n }, (_, i) => ({
    units: i % 7,
    rows: i % 7,
    sum: (i % 7) * 500,
    top: [],
  }));
  const res = protectDp([{ kind: 'exact', plan, cells }], gaussPlan(0.5), UNIT, seededRandom('big'));
  const out = res.tables[0]!.cells;
  t.equal(out.length, 100_000);
  t.equal(
    out.findIndex((c) => c.value === null || !Number.isFinite(c.value) || !(c.accuracy!.halfWidth95 > 0)),
    -1,
    'no cell without a finite value and a positive 95% half-width',
  );
});
