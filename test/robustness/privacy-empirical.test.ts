/**
 * Issue 6.8: empirical privacy check.
 *
 * For each mechanism (discrete Laplace, discrete Gaussian) and for the whole
 * DP protection step (protectDp on two neighbouring exact tables that differ
 * by one unit contributing the maximum allowed rows and values), draw
 * N = 100,000 outputs on each neighbour (seeded: an AES-CTR keystream, lib/stream.ts), count a family of events
 * fixed in advance (thresholds on the output or on a privacy-loss statistic),
 * and turn the counts into a lower confidence bound on epsilon with
 * Clopper-Pearson intervals and a Bonferroni correction (lib/epsilon.ts).
 * The bound must not exceed the claimed epsilon (pure DP) or, for zCDP, the
 * epsilon implied by rho at each delta of a grid including the stated one.
 * The same procedure with half the noise (scale / 2, sigma / 2) must exceed
 * the claim: that shows the test has the power to catch a broken mechanism.
 */
import t from 'tap';
import jStat from 'jstat';
import { cpLower, cpUpper, epsilonLowerBound, thresholdEvents } from './lib/epsilon.ts';
import { aesCtrRandom } from './lib/stream.ts';
import {
  makeDiscreteGaussian,
  makeDiscreteLaplace,
  protectDp,
  zcdpToApproxDp,
  type IntegerSampler,
} from '../../engine/dp/index.ts';
import { rationalFromNumber } from '../../engine/dp/rational.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import type {
  DimensionPlan,
  DpPlan,
  ExactCell,
  ExactTable,
  MeasurePlan,
  TablePlan,
  UnitPlan,
} from '../../engine/types.ts';
import { cellCoords, cellCount } from '../../engine/types.ts';

const N = 100_000;
/** Family-wise error level of each bound (Bonferroni over events, directions and deltas). */
const ALPHA = 1e-3;
const results: string[] = [];

t.test('Clopper-Pearson bounds (jstat beta quantile) agree with closed forms', async (t) => {
  // k = 0: upper = 1 - alpha^(1/n); k = n: lower = alpha^(1/n); Beta(a, 1) quantile = p^(1/a); Beta(1, b) = 1 - (1-p)^(1/b).
  for (const n of [10, 1000, 100_000]) {
    for (const a of [0.05, 1e-3, 1e-6]) {
      t.ok(
        Math.abs(cpUpper(0, n, a) - (1 - a ** (1 / n))) < 1e-9 * Math.max(1, n * (1 - a ** (1 / n))),
        `k=0 n=${n} alpha=${a}`,
      );
      t.ok(Math.abs(cpLower(n, n, a) - a ** (1 / n)) < 1e-9, `k=n n=${n} alpha=${a}`);
    }
  }
  for (const [p, a] of [
    [0.3, 5],
    [0.001, 7],
    [0.9, 2.5],
  ] as const) {
    t.ok(Math.abs(jStat.beta.inv(p, a, 1) - p ** (1 / a)) < 1e-9, `Beta(${a},1) quantile`);
    t.ok(Math.abs(jStat.beta.inv(p, 1, a) - (1 - (1 - p) ** (1 / a))) < 1e-9, `Beta(1,${a}) quantile`);
  }
  // Inverse check on a large, skewed case: cdf(inv(p)) = p.
  for (const [k, n] of [
    [3, 100_000],
    [1234, 100_000],
    [50_000, 100_000],
    [99_990, 100_000],
  ] as const) {
    const lo = cpLower(k, n, 1e-4);
    t.ok(Math.abs(jStat.beta.cdf(lo, k, n - k + 1) - 1e-4) < 1e-7, `cdf(inv) k=${k}`);
    t.ok(lo < k / n && cpUpper(k, n, 1e-4) > k / n, `bounds bracket k/n for k=${k}`);
  }
});

/** n draws of shift + noise. */
function draws(sample: IntegerSampler, seed: string, shift: number): Float64Array {
  const rng = aesCtrRandom(seed);
  const out = new Float64Array(N);
  for (let i = 0; i < N; i++) out[i] = shift + Number(sample(rng));
  return out;
}

function range(from: number, to: number, step = 1): number[] {
  const out: number[] = [];
  for (let x = from; x <= to + 1e-9; x += step) out.push(Number(x.toFixed(6)));
  return out;
}

t.test('discrete Laplace: estimated epsilon <= claimed; half the noise is caught', async (t) => {
  for (const { delta1, epsilon } of [
    { delta1: 1, epsilon: 1 },
    { delta1: 2, epsilon: 0.5 },
  ]) {
    const b = delta1 / epsilon; // scale t = Delta1 / epsilon gives epsilon-DP
    const thresholds = range(-Math.ceil(5 * b), Math.ceil(5 * b) + delta1, Math.max(1, Math.floor(b / 2)));
    const run = (scale: number, tag: string) => {
      const s = makeDiscreteLaplace(rationalFromNumber(scale));
      const t0 = draws(s, `lap-${tag}-${scale}-D`, 0);
      const t1 = draws(s, `lap-${tag}-${scale}-D'`, delta1); // neighbour: the query moves by its full sensitivity
      return epsilonLowerBound(thresholdEvents(t0, t1, thresholds), N, N, 0, ALPHA);
    };
    const ok = run(b, 'ok');
    const broken = run(b / 2, 'broken');
    results.push(
      `discrete Laplace (Delta1=${delta1}, claimed epsilon=${epsilon}): lower bound ${ok.epsilon.toFixed(3)}; half noise ${broken.epsilon.toFixed(3)}`,
    );
    t.ok(
      ok.epsilon <= epsilon,
      `correct: lower bound ${ok.epsilon.toFixed(4)} <= claimed ${epsilon} (event ${ok.event})`,
    );
    t.ok(
      ok.epsilon > 0.75 * epsilon,
      `the test is sharp: the bound reaches ${((100 * ok.epsilon) / epsilon).toFixed(0)}% of the claim`,
    );
    t.ok(
      broken.epsilon > epsilon,
      `half the noise is caught: ${broken.epsilon.toFixed(4)} > ${epsilon} (event ${broken.event})`,
    );
  }
});

/** Delta grid for zCDP claims: the stated delta and larger ones (rho-zCDP implies (eps(rho, delta), delta)-DP for every delta). */
function zcdpCheck(
  stated: number,
  rho: number,
  bound: (delta: number, alpha: number) => number,
): { worstExcess: number; rows: string[] } {
  const deltas = [...new Set([stated, 1e-4, 1e-3, 1e-2, 5e-2, 0.1])];
  const rows: string[] = [];
  let worst = -Infinity;
  for (const delta of deltas) {
    const claim = zcdpToApproxDp(rho, delta);
    const est = bound(delta, ALPHA / deltas.length);
    worst = Math.max(worst, est - claim);
    rows.push(`delta=${delta}: bound ${est.toFixed(3)} vs eps(rho,delta) ${claim.toFixed(3)}`);
  }
  return { worstExcess: worst, rows };
}

t.test(
  'discrete Gaussian: estimated epsilon <= eps(rho, delta) on a delta grid; half the noise is caught',
  async (t) => {
    const delta2 = 1;
    const rho = 0.5;
    const stated = 1e-6;
    const sigma2 = (delta2 * delta2) / (2 * rho); // rho = Delta2^2 / (2 sigma^2)
    const thresholds = range(-6, 7);
    const run = (s2: number, tag: string) => {
      const s = makeDiscreteGaussian(rationalFromNumber(s2));
      const ev = thresholdEvents(draws(s, `gau-${tag}-D`, 0), draws(s, `gau-${tag}-D'`, delta2), thresholds);
      return zcdpCheck(stated, rho, (delta, alpha) => epsilonLowerBound(ev, N, N, delta, alpha).epsilon);
    };
    const ok = run(sigma2, 'ok');
    const broken = run(sigma2 / 4, 'broken');
    results.push(
      `discrete Gaussian (Delta2=1, rho=${rho}): max(bound - eps(rho,delta)) ${ok.worstExcess.toFixed(3)}; half noise ${broken.worstExcess.toFixed(3)}`,
    );
    t.ok(ok.worstExcess <= 0, `correct: never above the claim (${ok.rows.join('; ')})`);
    t.ok(broken.worstExcess > 0, `half the noise is caught (${broken.rows.join('; ')})`);
  },
);

/* ------------------------------------------------------------------ */
/* Whole DP protection step on neighbouring exact tables               */
/* ------------------------------------------------------------------ */

const region = buildDimension({
  name: 'region',
  categories: [
    { code: 'R1', label: 'R1' },
    { code: 'R2', label: 'R2' },
    { code: 'R3', label: 'R3' },
  ],
});
const sex = buildDimension({
  name: 'sex',
  categories: [
    { code: 'M', label: 'M' },
    { code: 'F', label: 'F' },
  ],
});
const DIMS: readonly DimensionPlan[] = [region, sex];

interface Row {
  readonly unit: string;
  readonly leaves: readonly number[];
  readonly value: number;
}

/** Reference aggregation (per-unit contributions summed first; values clamped to the measure bounds). */
function exact(plan: TablePlan, rows: readonly Row[]): ExactTable {
  const n = cellCount(plan.dimensions);
  const cells: ExactCell[] = [];
  const m = plan.measure;
  for (let i = 0; i < n; i++) {
    const coords = cellCoords(plan.dimensions, i);
    const per = new Map<string, number>();
    let count = 0;
    for (const r of rows) {
      if (!coords.every((c, d) => plan.dimensions[d]!.nodes[c]!.leaves.includes(r.leaves[d]!))) continue;
      const v = m.kind === 'count' ? 1 : Math.min(m.upper, Math.max(m.lower, r.value));
      per.set(r.unit, (per.get(r.unit) ?? 0) + v);
      count++;
    }
    const contributions = [...per.values()].sort((a, b) => b - a);
    cells.push({
      units: per.size,
      rows: count,
      sum: contributions.reduce((a, b) => a + b, 0),
      top: contributions.slice(0, 4),
    });
  }
  return { kind: 'exact', plan, cells };
}

function neighbours(
  measure: MeasurePlan,
  maxValue: number,
  dims: readonly DimensionPlan[] = DIMS,
): { d: ExactTable; d1: ExactTable; plan: TablePlan } {
  const plan: TablePlan = {
    id: 't',
    title: 't',
    description: 't',
    dimensions: dims,
    measure,
    budgetShare: 1,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const base: Row[] = [];
  // 40 units per leaf cell, value 2 each: no cell is near 0 (the clamp at 0 is post-processing anyway).
  for (let r = 0; r < 3; r++)
    for (let s = 0; s < 2; s++)
      for (let u = 0; u < 40; u++) base.push({ unit: `u${r}${s}${u}`, leaves: [r, s].slice(0, dims.length), value: 2 });
  // The extra unit: the maximum of 2 rows, in different leaf cells, each at the top of the value range.
  const extra: Row[] = [
    { unit: 'x', leaves: [0, 0].slice(0, dims.length), value: maxValue },
    { unit: 'x', leaves: [1, 1].slice(0, dims.length), value: maxValue },
  ];
  return { plan, d: exact(plan, base), d1: exact(plan, [...base, ...extra]) };
}

const UNIT: UnitPlan = { column: 'pid', kind: 'person', maxRowsPerUnit: 2 };

/** Published values of every cell of the table over N runs (row-major: run * cells + cell). */
function pipelineRuns(table: ExactTable, plan: DpPlan, seed: string): Float64Array {
  const rng = aesCtrRandom(seed);
  const n = table.cells.length;
  const out = new Float64Array(N * n);
  for (let r = 0; r < N; r++) {
    const res = protectDp([table], plan, UNIT, rng);
    const cells = res.tables[0]!.cells;
    for (let i = 0; i < n; i++) out[r * n + i] = cells[i]!.value!;
  }
  return out;
}

t.test(
  'whole DP step, discrete Laplace count table: estimate <= claimed epsilon; half the noise is caught',
  async (t) => {
    const epsilon = 1;
    const { d, d1 } = neighbours({ kind: 'count' }, 1);
    const n = d.cells.length;
    const diff = d.cells.map((c, i) => d1.cells[i]!.units - c.units);
    const e = d.cells.map((c) => c.units);
    const claimedPlan: DpPlan = {
      regime: 'dp',
      mechanism: 'discrete-laplace',
      epsilon,
      rho: null,
      delta: 0,
      noisyThreshold: null,
      granularityLog2: 0,
    };
    const b = protectDp([d], claimedPlan, UNIT, aesCtrRandom('scale')).accounting.tables[0]!.noiseScale;
    // Privacy-loss statistic of the claimed mechanism: sum over cells of (|o - e| - |o - e - diff|) / b, in [-L, L].
    const stat = (runs: Float64Array): Float64Array => {
      const out = new Float64Array(N);
      for (let r = 0; r < N; r++) {
        let s = 0;
        for (let i = 0; i < n; i++)
          if (diff[i]! !== 0)
            s += (Math.abs(runs[r * n + i]! - e[i]!) - Math.abs(runs[r * n + i]! - e[i]! - diff[i]!)) / b;
        out[r] = s;
      }
      return out;
    };
    const L = diff.reduce((a, x) => a + Math.abs(x), 0) / b;
    const thresholds = range(-8, 8).map((i) => (L * i) / 8 - 1e-9);
    const run = (p: DpPlan, tag: string) =>
      epsilonLowerBound(
        thresholdEvents(stat(pipelineRuns(d, p, `pl-${tag}-D`)), stat(pipelineRuns(d1, p, `pl-${tag}-D'`)), thresholds),
        N,
        N,
        0,
        ALPHA,
      );
    const started = performance.now();
    const ok = run(claimedPlan, 'ok');
    // Half the noise: a release run with twice the budget, checked against the original claim.
    const broken = run({ ...claimedPlan, epsilon: 2 * epsilon }, 'broken');
    results.push(
      `protectDp count table, discrete Laplace (claimed epsilon=${epsilon}, neighbour changes ${diff.filter((x) => x !== 0).length} cells): lower bound ${ok.epsilon.toFixed(3)}; half noise ${broken.epsilon.toFixed(3)} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    t.ok(ok.epsilon <= epsilon, `correct: ${ok.epsilon.toFixed(4)} <= ${epsilon} (${ok.event})`);
    t.ok(
      broken.epsilon > epsilon,
      `half the noise is caught: ${broken.epsilon.toFixed(4)} > ${epsilon} (${broken.event})`,
    );
  },
);

t.test(
  'whole DP step, discrete Gaussian sum table: estimate <= eps(rho, delta); half the noise is caught',
  async (t) => {
    const rho = 0.5;
    const stated = 1e-6;
    const measure: MeasurePlan = { kind: 'sum', column: 'income', lower: 0, upper: 3, decimals: 0 };
    // The extra unit's rows carry 1000, clamped to the upper bound 3: the largest allowed contribution.
    // (Small bounds keep sigma small: protectDp sums the discrete Gaussian pmf for its accuracy figures on every call.)
    const { d, d1 } = neighbours(measure, 1000, [region]); // one dimension: 4 cells keep 400,000 runs fast
    const n = d.cells.length;
    const diff = d.cells.map((c, i) => d1.cells[i]!.sum - c.sum);
    const e = d.cells.map((c) => c.sum);
    const claimedPlan: DpPlan = {
      regime: 'dp',
      mechanism: 'discrete-gaussian',
      epsilon: null,
      rho,
      delta: stated,
      noisyThreshold: null,
      granularityLog2: 0,
    };
    // Privacy-loss statistic of a Gaussian mechanism with equal sigma on every cell: linear in the outputs.
    const stat = (runs: Float64Array): Float64Array => {
      const out = new Float64Array(N);
      for (let r = 0; r < N; r++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += diff[i]! * (runs[r * n + i]! - e[i]!);
        out[r] = s;
      }
      return out;
    };
    const sigma = protectDp([d], claimedPlan, UNIT, aesCtrRandom('scale')).accounting.tables[0]!.noiseScale;
    const shift = diff.reduce((a, x) => a + x * x, 0);
    const sd = sigma * Math.sqrt(shift);
    const thresholds = range(-6, 10).map((i) => (sd * i) / 2);
    const run = (p: DpPlan, tag: string) => {
      const ev = thresholdEvents(
        stat(pipelineRuns(d, p, `pg-${tag}-D`)),
        stat(pipelineRuns(d1, p, `pg-${tag}-D'`)),
        thresholds,
      );
      return zcdpCheck(stated, rho, (delta, alpha) => epsilonLowerBound(ev, N, N, delta, alpha).epsilon);
    };
    const ok = run(claimedPlan, 'ok');
    const broken = run({ ...claimedPlan, rho: 4 * rho }, 'broken'); // sigma / 2
    results.push(
      `protectDp sum table, discrete Gaussian (rho=${rho}): max(bound - eps(rho,delta)) ${ok.worstExcess.toFixed(3)}; half noise ${broken.worstExcess.toFixed(3)}`,
    );
    t.ok(ok.worstExcess <= 0, `correct: never above the claim (${ok.rows.join('; ')})`);
    t.ok(broken.worstExcess > 0, `half the noise is caught (${broken.rows.join('; ')})`);
  },
);

t.teardown(() => {
  // Figures for the README's Guarantees section.
  console.log(
    `# empirical privacy (N=${N} per neighbour, alpha=${ALPHA}):\n${results.map((r) => `#   ${r}`).join('\n')}`,
  );
});
