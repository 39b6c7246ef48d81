import t from 'tap';
import {
  zcdpToApproxDp,
  zcdpEpsilonAt,
  pureDpToRho,
  rhoFromDiscreteGaussian,
  epsilonFromDiscreteLaplace,
  discreteLaplaceHalfWidth,
  discreteLaplaceVariance,
  discreteLaplacePmf,
  discreteGaussianHalfWidth,
  discreteGaussianVariance,
  discreteGaussianPmf,
  discreteGaussianCdfAbs,
} from '../../engine/dp/index.ts';
import { gaussPmf, laplacePmf } from './stats-helpers.ts';

/** delta implied at epsilon by rho-zCDP (CKS Cor. 13), minimised over a fine grid of alpha (independent of the engine's search). */
function deltaAt(rho: number, eps: number): number {
  let best = Infinity;
  for (let x = -10; x <= 10; x += 0.0005) {
    const a = 1 + Math.exp(x);
    const d = Math.exp((a - 1) * (a * rho - eps) + a * Math.log1p(-1 / a) - Math.log(a - 1));
    best = Math.min(best, d);
  }
  return best;
}

t.test('zCDP to (epsilon, delta): rho = 2.556 gives epsilon ~ 17.14 at delta = 1e-10', async (t) => {
  const eps = zcdpToApproxDp(2.556, 1e-10);
  t.ok(Math.abs(eps - 17.14) < 0.01, `epsilon ${eps}`);
  // Consistency with the delta formula: at this epsilon, delta is (just) 1e-10.
  const d = deltaAt(2.556, eps);
  t.ok(Math.abs(d / 1e-10 - 1) < 1e-3, `delta at epsilon: ${d}`);
  t.ok(deltaAt(2.556, eps - 0.1) > 1.2e-10, 'a smaller epsilon would need a larger delta');
  // Better than the classical bound, monotone in rho and delta.
  t.ok(eps < 2.556 + 2 * Math.sqrt(2.556 * Math.log(1e10)));
  t.ok(zcdpToApproxDp(0.5, 1e-6) < zcdpToApproxDp(1, 1e-6));
  t.ok(zcdpToApproxDp(1, 1e-9) > zcdpToApproxDp(1, 1e-6));
  t.equal(zcdpToApproxDp(0, 1e-6), 0);
  for (const [rho, delta] of [
    [0.01, 1e-6],
    [0.1, 1e-8],
    [10, 1e-5],
  ] as const) {
    const e = zcdpToApproxDp(rho, delta);
    t.ok(Math.abs(deltaAt(rho, e) / delta - 1) < 2e-3, `rho ${rho}, delta ${delta}: epsilon ${e.toFixed(4)} is tight`);
    t.ok(e <= zcdpEpsilonAt(rho, delta, 2) + 1e-12, 'never above a valid alpha');
  }
  t.throws(() => zcdpToApproxDp(1, 0), /delta/);
  t.throws(() => zcdpToApproxDp(-1, 1e-6), /rho/);
});

t.test('pure epsilon and mechanism costs', async (t) => {
  t.equal(pureDpToRho(1), 0.5);
  t.equal(pureDpToRho(0.2), 0.020000000000000004);
  t.equal(rhoFromDiscreteGaussian(2, 4), 0.5);
  t.equal(epsilonFromDiscreteLaplace(12, 24), 0.5);
  t.throws(() => pureDpToRho(-1));
});

function bruteHalfWidth(pmf: (x: number) => number, level: number): number {
  let acc = pmf(0);
  let w = 0;
  while (acc < level) {
    w++;
    acc += 2 * pmf(w);
  }
  return w;
}

t.test('discrete Laplace accuracy: half-width and variance from the pmf', async (t) => {
  let prev = -1;
  for (const s of [0.05, 0.3, 1, 2.5, 7, 24, 100, 1234.5]) {
    const pmf = laplacePmf(s);
    const w = discreteLaplaceHalfWidth(s);
    t.equal(w, bruteHalfWidth(pmf, 0.95), `scale ${s}: w = ${w}`);
    t.ok(w >= prev, 'monotone in scale');
    prev = w;
    t.ok(Math.abs(discreteLaplacePmf(s, 3) / pmf(3) - 1) < 1e-12, 'pmf');
    let v = 0;
    for (let x = -Math.ceil(60 * s) - 20; x <= Math.ceil(60 * s) + 20; x++) v += x * x * pmf(x);
    t.ok(Math.abs(discreteLaplaceVariance(s) / v - 1) < 1e-9, `variance ${v}`);
  }
  t.equal(discreteLaplaceHalfWidth(0.01), 0, 'tiny scale: noise is 0 with probability > 0.95');
  t.ok(discreteLaplaceHalfWidth(10, 0.99) > discreteLaplaceHalfWidth(10, 0.95));
});

t.test('discrete Gaussian accuracy: half-width and variance from the pmf', async (t) => {
  let prev = -1;
  for (const s2 of [0.1, 0.5, 2, 9.7, 100, 2500, 1e6]) {
    const pmf = gaussPmf(s2);
    const w = discreteGaussianHalfWidth(s2);
    t.equal(w, bruteHalfWidth(pmf, 0.95), `sigma^2 ${s2}: w = ${w}`);
    t.ok(w >= prev, 'monotone in scale');
    prev = w;
    t.ok(Math.abs(discreteGaussianPmf(s2)(2) / pmf(2) - 1) < 1e-12);
    if (s2 <= 2500) {
      let v = 0;
      const m = Math.ceil(15 * Math.sqrt(s2)) + 10;
      for (let x = -m; x <= m; x++) v += x * x * pmf(x);
      t.ok(Math.abs(discreteGaussianVariance(s2) / v - 1) < 1e-9, `variance ${discreteGaussianVariance(s2)} vs ${v}`);
    }
  }
  // Small sigma: the variance is visibly below sigma^2 (the pmf sum matters).
  t.ok(discreteGaussianVariance(0.1) < 0.02, 'sigma^2 = 0.1: variance ~0.013');
  // Large sigma (Poisson summation / Euler-Maclaurin branch) agrees with direct sums at the crossover.
  const s = 1e6;
  const direct = discreteGaussianCdfAbs(s * s, 1.96 * s);
  const em = discreteGaussianCdfAbs((s + 1) * (s + 1), 1.96 * (s + 1));
  t.ok(Math.abs(direct - em) < 1e-9, `cdf at 1.96 sigma: direct ${direct} vs Euler-Maclaurin ${em}`);
  const wBig = discreteGaussianHalfWidth(4e12);
  t.ok(wBig >= 1.959963 * 2e6 && wBig <= 1.959965 * 2e6 + 1, `sigma = 2e6: w = ${wBig}`);
  t.ok(discreteGaussianHalfWidth(4.0001e12) >= wBig, 'monotone in the large-sigma branch');
});
