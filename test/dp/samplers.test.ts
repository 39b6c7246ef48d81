import t from 'tap';
import {
  rational,
  rationalAtLeast,
  sampleBernoulli,
  sampleBernoulliExp,
  makeGeometric,
  makeDiscreteLaplace,
  makeDiscreteGaussian,
  sampleDiscreteLaplaceNumber,
  sampleDiscreteGaussianNumber,
  ratToNumber,
  type Rational,
} from '../../engine/dp/index.ts';
import { seededRandom } from '../../engine/random.ts';
import { binomialZ, chiSquareGof, gaussPmf, laplacePmf, tally, varianceZ } from './stats-helpers.ts';

const N = 100_000;

t.test('Bernoulli(exp(-gamma)) frequencies match exp(-gamma) (k-loop and gamma > 1)', async (t) => {
  const rng = seededRandom('bern-exp');
  const gammas: Rational[] = [
    rational(0n),
    rational(3n, 10n),
    rational(1n),
    rational(3n, 2n),
    rational(37n, 10n),
    rational(1n << 40n, 3n << 38n) /* 4/3 with big den */,
    rational((1n << 35n) + 1n, (1n << 36n) + 7n) /* ~1/2, BigInt path */,
    rational(5n * (1n << 34n) + 3n, (1n << 36n) + 1n) /* ~1.25, BigInt path */,
  ];
  for (const g of gammas) {
    const q = Math.exp(-ratToNumber(g));
    let k = 0;
    for (let i = 0; i < N; i++) if (sampleBernoulliExp(rng, g)) k++;
    if (q === 1) t.equal(k, N, 'exp(-0) = 1: always true');
    else
      t.ok(
        Math.abs(binomialZ(k, N, q)) < 4.5,
        `gamma=${g.num}/${g.den}: freq ${(k / N).toFixed(4)} vs ${q.toFixed(4)}`,
      );
  }
  t.throws(() => sampleBernoulliExp(rng, { num: -1n, den: 1n }), /gamma >= 0/);
});

t.test('Bernoulli(p) for rational p', async (t) => {
  const rng = seededRandom('bern');
  for (const p of [rational(1n, 3n), rational(999n, 1000n), rational((1n << 70n) / 7n, 1n << 70n)]) {
    let k = 0;
    for (let i = 0; i < N; i++) if (sampleBernoulli(rng, p)) k++;
    t.ok(Math.abs(binomialZ(k, N, ratToNumber(p))) < 4.5, `p=${ratToNumber(p)}`);
  }
  t.throws(() => sampleBernoulli(rng, rational(3n, 2n)), /\[0, 1\]/);
});

t.test('geometric: chi-square against (1-q) q^y and the mean', async (t) => {
  const rng = seededRandom('geom');
  // scale 1, 7/2, 20, and one with numerator > 2^32 (BigInt path), scale ~ 10.
  for (const scale of [rational(1n), rational(7n, 2n), rational(20n), rational(10n ** 12n, 10n ** 11n + 1n)]) {
    const s = ratToNumber(scale);
    const q = Math.exp(-1 / s);
    const g = makeGeometric(scale);
    const counts = tally(() => Number(g(rng)), N);
    const hi = Math.ceil(40 * s) + 20;
    const res = chiSquareGof(counts, (y) => (y < 0 ? 0 : (1 - q) * q ** y), 0, hi);
    t.ok(res.pass, `scale ${s.toFixed(4)}: chi2 ${res.stat.toFixed(1)} <= ${res.critical.toFixed(1)} (df ${res.df})`);
    let mean = 0;
    for (const [x, c] of counts) mean += x * c;
    mean /= N;
    const theory = q / (1 - q);
    const sd = Math.sqrt(q) / (1 - q);
    t.ok(Math.abs(mean - theory) < (4.5 * sd) / Math.sqrt(N), `mean ${mean.toFixed(3)} vs ${theory.toFixed(3)}`);
  }
});

t.test('discrete Laplace: chi-square against the exact pmf and variance 2q/(1-q)^2', async (t) => {
  const rng = seededRandom('dlap');
  for (const scale of [
    rational(1n, 2n),
    rational(2n),
    rational(10n, 3n),
    rational(50n),
    rational(10n ** 12n, 10n ** 11n + 1n),
    rationalAtLeast(7.3),
  ]) {
    const s = ratToNumber(scale);
    const lap = makeDiscreteLaplace(scale);
    const counts = tally(() => Number(lap(rng)), N);
    const lim = Math.ceil(40 * s) + 20;
    const pmf = laplacePmf(s);
    const res = chiSquareGof(counts, pmf, -lim, lim);
    t.ok(res.pass, `scale ${s.toFixed(4)}: chi2 ${res.stat.toFixed(1)} <= ${res.critical.toFixed(1)} (df ${res.df})`);
    const v = varianceZ(counts, pmf, -lim, lim);
    const q = Math.exp(-1 / s);
    t.ok(
      Math.abs(v.theoryVar - (2 * q) / (1 - q) ** 2) < 1e-6 * v.theoryVar,
      'closed-form variance equals the pmf sum',
    );
    t.ok(Math.abs(v.z) < 4.5, `variance ${v.sampleVar.toFixed(2)} vs ${v.theoryVar.toFixed(2)} (z ${v.z.toFixed(2)})`);
  }
});

t.test('discrete Gaussian: chi-square against the normalised pmf and variance from the pmf', async (t) => {
  const rng = seededRandom('dgauss');
  for (const s2 of [
    rational(1n, 2n),
    rational(2n),
    rational(97n, 10n),
    rational(400n),
    rational(10n ** 6n),
    rational((1n << 40n) * 3n + 1n, 1n << 40n) /* BigInt gamma */,
  ]) {
    const sigma2 = ratToNumber(s2);
    const gs = makeDiscreteGaussian(s2);
    const counts = tally(() => Number(gs(rng)), N);
    const lim = Math.ceil(10 * Math.sqrt(sigma2)) + 10;
    const pmf = gaussPmf(sigma2);
    const res = chiSquareGof(counts, pmf, -lim, lim);
    t.ok(res.pass, `sigma^2 ${sigma2}: chi2 ${res.stat.toFixed(1)} <= ${res.critical.toFixed(1)} (df ${res.df})`);
    const v = varianceZ(counts, pmf, -lim, lim);
    t.ok(Math.abs(v.z) < 4.5, `variance ${v.sampleVar.toFixed(3)} vs ${v.theoryVar.toFixed(3)} (z ${v.z.toFixed(2)})`);
  }
});

t.test('the distribution tests can fail: wrong samplers are rejected', async (t) => {
  const rng = seededRandom('wrong');
  // Laplace with the scale halved, tested against the pmf of the full scale.
  const half = makeDiscreteLaplace(rational(2n));
  const c1 = tally(() => Number(half(rng)), N);
  const r1 = chiSquareGof(c1, laplacePmf(4), -200, 200);
  t.notOk(r1.pass, `halved scale rejected (chi2 ${r1.stat.toFixed(0)} > ${r1.critical.toFixed(0)})`);
  t.ok(Math.abs(varianceZ(c1, laplacePmf(4), -200, 200).z) > 10, 'variance test rejects it too');
  // Laplace that forgets to reject -0 (zero counted twice): a subtle bug.
  const geo = makeGeometric(rational(3n));
  const noReject = (): number => {
    const y = Number(geo(rng));
    return rng.bytes(1)[0]! & 1 ? -y : y;
  };
  const r2 = chiSquareGof(tally(noReject, N), laplacePmf(3), -150, 150);
  t.notOk(r2.pass, `Laplace without the -0 rejection rejected (chi2 ${r2.stat.toFixed(0)})`);
  // Gaussian with sigma^2 10% too large.
  const wide = makeDiscreteGaussian(rational(11n));
  const r3 = chiSquareGof(
    tally(() => Number(wide(rng)), N),
    gaussPmf(10),
    -60,
    60,
  );
  t.notOk(r3.pass, `Gaussian with sigma^2 11 instead of 10 rejected (chi2 ${r3.stat.toFixed(0)})`);
});

t.test('seeded samplers are reproducible and number conveniences agree', async (t) => {
  const a = seededRandom('rep');
  const b = seededRandom('rep');
  const xs = Array.from({ length: 50 }, () => sampleDiscreteLaplaceNumber(a, rational(5n)));
  const ys = Array.from({ length: 50 }, () => sampleDiscreteLaplaceNumber(b, rational(5n)));
  t.same(xs, ys);
  t.ok(new Set(xs).size > 5, 'not constant');
  const g = sampleDiscreteGaussianNumber(a, rational(4n));
  t.ok(Number.isSafeInteger(g));
  t.throws(() => makeDiscreteLaplace(rational(0n)), /positive rational/);
  t.throws(() => makeDiscreteGaussian({ num: -1n, den: 1n }), /positive rational/);
});
