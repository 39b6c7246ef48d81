/**
 * Private partition selection (engine/dp/partition.ts): the threshold formula, and an empirical privacy test.
 *
 * Threshold: tau is the smallest integer with m P(Z >= tau - 1) <= delta, checked against tails summed from the pmfs
 * of test/dp/stats-helpers.ts (independent of the engine) and against Google's approximation
 * 1 + (m / eps) ln(m / (2 delta)).
 *
 * Empirical privacy (as test/robustness/privacy-empirical.test.ts does for the noise): neighbouring datasets D and D'
 * differ by one unit u (m = 2 rows) that holds category C alone and adds one unit to A (at the threshold). Over N seeded runs of the
 * selection on each, every output (the released subset of {A, B, M, C}) and every category's release is an event; the
 * Clopper-Pearson lower bound of epsilon at the claimed delta (Bonferroni over events and directions) must stay under
 * the claimed epsilon. The same mechanism with HALF the threshold must be caught: its bound exceeds the claim (the
 * test has the power to see a broken threshold). A candidate whose count equals the threshold is released at the
 * rate the pmf predicts (binomial z). The whole dp step (protectDp: the selection and a count table restricted to it)
 * is checked the same way against the release's (epsilon, delta), with events on the released set, the total and A.
 */
import t from 'tap';
import { epsilonLowerBound, type EventCount } from '../robustness/lib/epsilon.ts';
import { aesCtrRandom } from '../robustness/lib/stream.ts';
import { binomialZ, gaussPmf, laplacePmf } from './stats-helpers.ts';
import { gaussianSelectionThreshold, laplaceSelectionThreshold, selectPartitions } from '../../engine/dp/partition.ts';
import { makeNoise } from '../../engine/dp/noise.ts';
import { zcdpToApproxDp } from '../../engine/dp/accounting.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import type { DpPlan, ExactTable } from '../../engine/types.ts';

/** P(Z >= k) summed from a pmf (k >= 0), to far below any delta used here. */
function upperTail(pmf: (x: number) => number, k: number, reach: number): number {
  let s = 0;
  for (let x = reach; x >= k; x--) s += pmf(x);
  return s;
}

t.test('Laplace threshold: the smallest tau with m P(Z >= tau - 1) <= delta', async (t) => {
  // t = 1, m = 1, delta = 1e-5: q^k / (1 + q) <= 1e-5 first at k = 12 (ln(1e5 / (1 + e^-1)) = 11.2).
  t.equal(laplaceSelectionThreshold(1, 1, 1e-5), 13);
  for (const [scale, m, delta] of [
    [1, 1, 1e-5],
    [2, 2, 1e-6],
    [0.5, 1, 1e-9],
    [7.3, 4, 1e-7],
    [30, 3, 1e-8],
  ] as const) {
    const tau = laplaceSelectionThreshold(scale, m, delta);
    const pmf = laplacePmf(scale);
    const reach = tau + Math.ceil(60 * scale);
    t.ok(m * upperTail(pmf, tau - 1, reach) <= delta * (1 + 1e-9), `t=${scale} m=${m} delta=${delta}: tau=${tau} fits`);
    t.ok(m * upperTail(pmf, tau - 2, reach) > delta, `t=${scale} m=${m} delta=${delta}: tau-1 does not`);
  }
  // Large scales: Google's 1 + (m / eps) ln(m / (2 delta)), with t = m / eps and 1 + q -> 2.
  for (const [scale, m, delta] of [
    [100, 1, 1e-6],
    [250, 5, 1e-9],
  ] as const) {
    const approx = 1 + scale * Math.log(m / (2 * delta));
    t.ok(Math.abs(laplaceSelectionThreshold(scale, m, delta) - approx) <= 2, `t=${scale}: near Google's formula`);
  }
  // More rows per unit, smaller delta or more noise: a higher threshold.
  t.ok(laplaceSelectionThreshold(2, 3, 1e-6) > laplaceSelectionThreshold(2, 1, 1e-6));
  t.ok(laplaceSelectionThreshold(2, 1, 1e-9) > laplaceSelectionThreshold(2, 1, 1e-6));
  t.ok(laplaceSelectionThreshold(4, 1, 1e-6) > laplaceSelectionThreshold(2, 1, 1e-6));
  t.throws(() => laplaceSelectionThreshold(1, 1, 0), RangeError);
  t.throws(() => laplaceSelectionThreshold(0, 1, 1e-6), RangeError);
  t.throws(() => laplaceSelectionThreshold(1, 0, 1e-6), RangeError);
});

t.test('Gaussian threshold: the subgaussian tail bound, never below the exact tail', async (t) => {
  for (const [s2, m, delta] of [
    [1, 1, 1e-5],
    [2, 2, 1e-6],
    [10, 2, 1e-5],
    [400, 4, 1e-9],
  ] as const) {
    const tau = gaussianSelectionThreshold(s2, m, delta);
    const k = tau - 1;
    t.ok(m * Math.exp(-(k * k) / (2 * s2)) <= delta, `s2=${s2}: the bound fits at tau=${tau}`);
    t.ok(m * Math.exp(-((k - 1) * (k - 1)) / (2 * s2)) > delta, `s2=${s2}: tau - 1 does not`);
    const exact = upperTail(gaussPmf(s2), k, k + Math.ceil(40 * Math.sqrt(s2)));
    t.ok(m * exact <= delta, `s2=${s2}: the exact discrete Gaussian tail fits too (${m * exact})`);
    t.equal(tau, 1 + Math.ceil(Math.sqrt(2 * s2 * Math.log(m / delta)) - 1e-9), 'closed form');
  }
});

const N = 100_000;
const ALPHA = 1e-3;
const CATS = ['A', 'B', 'M', 'C'];

/** The selection query of one open column over candidates with these unit counts (absent = not a candidate). */
function selectionTable(units: Readonly<Record<string, number>>, budgetShare = 1): ExactTable {
  const codes = CATS.filter((c) => units[c] !== undefined);
  const dim = {
    ...buildDimension({ name: 'occ', categories: codes.map((code) => ({ code, label: code })), total: false }),
    open: true,
  };
  return {
    kind: 'exact',
    plan: {
      id: '_select_occ',
      title: 'selection',
      description: '',
      dimensions: [dim],
      measure: { kind: 'count' },
      budgetShare,
      neverSuppress: [],
      alwaysSuppress: [],
    },
    cells: codes.map((c) => ({ units: units[c]!, rows: units[c]!, sum: units[c]!, top: [] })),
  };
}

/** Bitmask of the released categories (bit i: CATS[i]). */
const maskOf = (released: ReadonlySet<string>): number =>
  CATS.reduce((b, c, i) => b | (released.has(c) ? 1 << i : 0), 0);

/** Events: every output subset, and each category released. */
function events(m0: Int32Array, m1: Int32Array): EventCount[] {
  const out: EventCount[] = [];
  const count = (ms: Int32Array, f: (x: number) => boolean): number => ms.reduce((n, x) => n + (f(x) ? 1 : 0), 0);
  for (let s = 0; s < 1 << CATS.length; s++)
    out.push({ name: `output ${s}`, k0: count(m0, (x) => x === s), k1: count(m1, (x) => x === s) });
  CATS.forEach((c, i) =>
    out.push({
      name: `${c} released`,
      k0: count(m0, (x) => (x & (1 << i)) !== 0),
      k1: count(m1, (x) => (x & (1 << i)) !== 0),
    }),
  );
  return out.filter((e) => e.k0 + e.k1 > 0);
}

const results: string[] = [];

for (const mech of ['discrete-laplace', 'discrete-gaussian'] as const) {
  t.test(`${mech}: empirical epsilon under the claim; half the threshold is caught`, async (t) => {
    const m = 2;
    const laplace = mech === 'discrete-laplace';
    const budget = laplace ? 1 : 0.1;
    const deltaSel = 1e-5;
    const plan: DpPlan = {
      regime: 'dp',
      mechanism: mech,
      epsilon: laplace ? budget : null,
      rho: laplace ? null : budget,
      delta: 1e-10,
      noisyThreshold: null,
      granularityLog2: 0,
      partitionSelection: { share: 1, delta: deltaSel, threshold: 'minimum' },
    };
    const noise = makeNoise(plan, budget, m, BigInt(m));
    const tau = laplace
      ? laplaceSelectionThreshold(noise.scale, m, deltaSel)
      : gaussianSelectionThreshold(noise.scale ** 2 * (1 + 1e-12), m, deltaSel);
    // u holds C alone and adds one unit to A, which sits at the threshold (its release rate moves by about e^(1/t));
    // M sits at the threshold in both (released about half the time).
    const d = selectionTable({ A: tau, B: 60, M: tau, C: 1 });
    const dPrime = selectionTable({ A: tau - 1, B: 60, M: tau });
    const half = Math.floor(tau / 2);
    const run = (table: ExactTable, seed: string): { real: Int32Array; broken: Int32Array } => {
      const rng = aesCtrRandom(seed);
      const real = new Int32Array(N);
      for (let i = 0; i < N; i++)
        real[i] = maskOf(selectPartitions([table], plan, m, budget, rng).released.get('occ')!);
      // The broken mechanism: the same noise and candidates, half the threshold.
      const rng2 = aesCtrRandom(`${seed} broken`);
      const broken = new Int32Array(N);
      const dim = table.plan.dimensions[0]!;
      for (let i = 0; i < N; i++) {
        const rel = new Set<string>();
        for (let j = 0; j < dim.leafCount; j++) {
          const u = table.cells[j]!.units;
          if (u >= 1 && u + Number(noise.sample(rng2)) >= half) rel.add(dim.nodes[j]!.code);
        }
        broken[i] = maskOf(rel);
      }
      return { real, broken };
    };
    const r0 = run(d, `${mech} D`);
    const r1 = run(dPrime, `${mech} D'`);
    // The claim: (eps, delta_sel) for Laplace; for Gaussian (eps(rho, delta0), delta0 + delta_sel).
    const delta0 = 1e-3;
    const claimEps = laplace ? budget : zcdpToApproxDp(budget, delta0);
    const claimDelta = laplace ? deltaSel : delta0 + deltaSel;
    const real = epsilonLowerBound(events(r0.real, r1.real), N, N, claimDelta, ALPHA);
    const broken = epsilonLowerBound(events(r0.broken, r1.broken), N, N, claimDelta, ALPHA);
    results.push(
      `${mech}: tau ${tau}, claim (${claimEps.toFixed(3)}, ${claimDelta}); lower bound ${real.epsilon.toFixed(3)} (${real.event}); half threshold ${broken.epsilon.toFixed(3)} (${broken.event})`,
    );
    t.ok(real.epsilon <= claimEps, `lower bound ${real.epsilon} (${real.event}) <= claim ${claimEps}`);
    t.ok(broken.epsilon > claimEps, `half threshold caught: ${broken.epsilon} (${broken.event}) > ${claimEps}`);
    // C (held by u alone) is never released under D' and at most delta_sel / m of the time under D (none expected).
    t.equal(r1.real.filter((x) => (x & 8) !== 0).length, 0);
    t.ok(r0.real.filter((x) => (x & 8) !== 0).length <= 5);
    // M, at the threshold: released with probability P(Z >= 0).
    const pmf = laplace ? laplacePmf(noise.scale) : gaussPmf(noise.scale ** 2);
    const p0 = upperTail(pmf, 0, Math.ceil(60 * noise.scale) + 10);
    const rate = r0.real.filter((x) => (x & 4) !== 0).length;
    t.ok(Math.abs(binomialZ(rate, N, p0)) < 4.5, `M released ${rate} / ${N} times, expected ${(p0 * N).toFixed(0)}`);
  });
}

t.teardown(() => {
  if (results.length > 0) console.log(results.join('\n'));
});

t.test(
  'restrictTable keeps the released leaves, the totals and every other dimension, cells and histograms',
  async (t) => {
    const { restrictTable } = await import('../../engine/dp/partition.ts');
    const { cellCoords, cellIndex } = await import('../../engine/types.ts');
    const occ = {
      ...buildDimension({ name: 'occ', categories: ['A', 'B', 'C'].map((code) => ({ code, label: code })) }),
      open: true,
    };
    const region = buildDimension({
      name: 'region',
      categories: [
        { code: 'N', label: 'North' },
        { code: 'S', label: 'South' },
      ],
    });
    const dims = [occ, region];
    const n = occ.nodes.length * region.nodes.length; // 4 x 3
    const table: ExactTable = {
      kind: 'exact',
      plan: {
        id: 't',
        title: 't',
        description: '',
        dimensions: dims,
        measure: { kind: 'count' },
        budgetShare: 1,
        neverSuppress: [],
        alwaysSuppress: [],
      },
      cells: Array.from({ length: n }, (_, i) => ({ units: i, rows: i, sum: i, top: [] })),
      histogram: { slots: 2, counts: Int32Array.from({ length: 2 * n }, (_, k) => (k % 2 ? 100 : 0) + (k >> 1)) },
    };
    const r = restrictTable(table, new Map([['occ', new Set(['A', 'C'])]]));
    const d0 = r.plan.dimensions[0]!;
    t.same(
      d0.nodes.map((x) => x.code),
      ['A', 'C', '_T'],
    );
    t.equal(d0.open, true, 'still marked open');
    t.equal(r.plan.dimensions[1], region, 'a declared dimension is kept as is');
    t.equal(r.cells.length, 3 * 3);
    r.cells.forEach((c, i) => {
      const [o, g] = cellCoords(r.plan.dimensions, i);
      const old = cellIndex(dims, [occ.nodes.findIndex((x) => x.code === d0.nodes[o!]!.code), g!]);
      t.equal(c.units, old, `cell ${i} is old cell ${old}`);
      t.same([...r.histogram!.counts.subarray(2 * i, 2 * i + 2)], [old, 100 + old], `histogram of cell ${i}`);
    });
    t.equal(restrictTable(table, new Map()), table, 'no open dimension released: the same table');
  },
);

t.test('a hand-made dp plan with a broken selection is refused, naming the setting', async (t) => {
  const { checkDpPlan } = await import('../../engine/dp/protect.ts');
  const base: DpPlan = {
    regime: 'dp',
    mechanism: 'discrete-laplace',
    epsilon: 1,
    rho: null,
    delta: 1e-10,
    noisyThreshold: null,
    granularityLog2: 0,
    partitionSelection: { share: 0.5, delta: 1e-6, threshold: 'minimum' },
  };
  t.doesNotThrow(() => checkDpPlan(base));
  for (const [ps, where] of [
    [{ share: 0.5, delta: 0, threshold: 'minimum' }, '/protection/partitionSelection/delta'],
    [{ share: 0, delta: 1e-6, threshold: 'minimum' }, '/protection/partitionSelection/weight'],
    [{ share: 0.5, delta: 1e-6, threshold: 2.5 }, '/protection/partitionSelection/threshold'],
  ] as const)
    t.throws(() => checkDpPlan({ ...base, partitionSelection: ps }), {
      code: 'POLICY_INVALID',
      where: { path: where },
    });
});

t.test('candidate codes: sorted and unique, without empty, missing or total codes; too many refused', async (t) => {
  const { candidateCodes, MAX_OPEN_CATEGORIES } = await import('../../engine/policy/open-domain.ts');
  const col = { name: 'occ', type: 'categorical' as const, missingValues: ['N/A'], required: true, open: true };
  t.same(candidateCodes(col, ['b', 'a', '', 'N/A', '_T', 'b', 'Ä', 'B']), ['B', 'a', 'b', 'Ä']);
  const many = Array.from({ length: MAX_OPEN_CATEGORIES + 1 }, (_, i) => `c${i}`);
  t.throws(() => candidateCodes(col, many, '/dataset/columns/2'), {
    code: 'USAGE',
    message: /open column occ holds more than 100000 distinct codes/,
    where: { path: '/dataset/columns/2' },
  });
});

t.test('whole dp step (protectDp): selection and a table restricted to it stay under (epsilon, delta)', async (t) => {
  const { protectDp } = await import('../../engine/dp/protect.ts');
  const { thresholdEvents } = await import('../robustness/lib/epsilon.ts');
  const NW = 50_000;
  const m = 2;
  const deltaSel = 1e-5;
  const plan: DpPlan = {
    regime: 'dp',
    mechanism: 'discrete-laplace',
    epsilon: 1,
    rho: null,
    delta: 1e-10,
    noisyThreshold: null,
    granularityLog2: 0,
    consistency: 'none',
    partitionSelection: { share: 0.5, delta: deltaSel, threshold: 'minimum' },
  };
  const tau = laplaceSelectionThreshold(makeNoise(plan, 0.5, m, BigInt(m)).scale, m, deltaSel);
  // u: one row in A (at the threshold) and one in C (alone). Table: units by occupation, with the total.
  const table = (units: Readonly<Record<string, number>>, total: number): ExactTable => {
    const sel = selectionTable(units);
    const dim = {
      ...buildDimension({ name: 'occ', categories: sel.plan.dimensions[0]!.nodes.map((n) => ({ ...n })) }),
      open: true,
    };
    const cells = [...sel.cells, { units: total, rows: total, sum: total, top: [] }];
    return { kind: 'exact', plan: { ...sel.plan, id: 'by-occ', dimensions: [dim], budgetShare: 0.5 }, cells };
  };
  const d = { sel: selectionTable({ A: tau, B: 60, C: 1 }, 0.5), tab: table({ A: tau, B: 60, C: 1 }, tau + 60) };
  const dPrime = { sel: selectionTable({ A: tau - 1, B: 60 }, 0.5), tab: table({ A: tau - 1, B: 60 }, tau + 59) };
  const unit = { column: 'pid', kind: 'person' as const, maxRowsPerUnit: m };
  const run = (x: typeof d, seed: string) => {
    const rng = aesCtrRandom(seed);
    const mask = new Int32Array(NW);
    const total = new Float64Array(NW);
    const a = new Float64Array(NW);
    for (let i = 0; i < NW; i++) {
      const p = protectDp([x.tab], plan, unit, rng, { selection: [x.sel] }).tables[0]!;
      const dim = p.plan.dimensions[0]!;
      const codes = new Set(dim.nodes.slice(0, dim.leafCount).map((n) => n.code));
      mask[i] = maskOf(codes);
      total[i] = p.cells[dim.total!]!.value!;
      const ai = dim.nodes.findIndex((n) => n.code === 'A');
      a[i] = ai >= 0 ? p.cells[ai]!.value! : -1;
    }
    return { mask, total, a };
  };
  const r0 = run(d, 'whole D');
  const r1 = run(dPrime, "whole D'");
  const evs = [
    ...events(r0.mask, r1.mask),
    ...thresholdEvents(r0.total, r1.total, [tau + 55, tau + 58, tau + 60, tau + 62, tau + 65]),
    ...thresholdEvents(r0.a, r1.a, [0, tau - 3, tau, tau + 3]),
  ];
  const b = epsilonLowerBound(evs, NW, NW, deltaSel, ALPHA);
  results.push(`whole dp step (Laplace, claim (1, ${deltaSel})): lower bound ${b.epsilon.toFixed(3)} (${b.event})`);
  t.ok(b.epsilon <= 1, `lower bound ${b.epsilon} (${b.event}) <= 1`);
  t.ok(b.epsilon > 0.2, 'the events see the privacy loss (the test is not vacuous)');
});
