import t from 'tap';
import { rationalFromNumber, rationalAtLeast, roundUp, rational, isqrt, ratToNumber } from '../../engine/dp/index.ts';
import { cryptoRandom, seededRandom, uniformBigInt, RandomReader, bitLength } from '../../engine/random.ts';
import { chiSquareCritical } from './stats-helpers.ts';

t.test('sources: kinds, seeds, reproducibility, byte streams', async (t) => {
  const c = cryptoRandom();
  t.equal(c.kind, 'crypto');
  t.equal(c.seed, null);
  t.notSame(Array.from(c.bytes(32)), Array.from(c.bytes(32)), 'crypto bytes differ');
  t.equal(c.bytes(70_000).length, 70_000, 'large requests served');
  const s = seededRandom('abc');
  t.equal(s.kind, 'seeded');
  t.equal(s.seed, 'abc');
  // One stream regardless of how requests are split.
  const one = Array.from(seededRandom('abc').bytes(10));
  const a = seededRandom('abc');
  const split = [...a.bytes(3), ...a.bytes(7)];
  t.same(split, one);
  t.notSame(Array.from(seededRandom('abd').bytes(10)), one, 'other seed, other bytes');
  t.throws(() => seededRandom(''), /non-empty seed/);
});

/** Chi-square of uniform draws over [0, n) binned into k near-equal bins with exact bin probabilities. */
function uniformChi2(
  draw: () => bigint,
  n: bigint,
  k: number,
  samples: number,
): { stat: number; crit: number; outOfRange: number } {
  const obs = new Array<number>(k).fill(0);
  let outOfRange = 0;
  const K = BigInt(k);
  for (let i = 0; i < samples; i++) {
    const x = draw();
    if (x < 0n || x >= n) {
      outOfRange++;
      continue;
    }
    obs[Number((x * K) / n)]!++;
  }
  // Bin j holds x with floor(xk/n) = j, i.e. x in [ceil(jn/k), ceil((j+1)n/k)).
  const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b;
  let stat = 0;
  for (let j = 0; j < k; j++) {
    const size = ceilDiv(BigInt(j + 1) * n, K) - ceilDiv(BigInt(j) * n, K);
    const e = (samples * Number(size)) / Number(n);
    stat += (obs[j]! - e) ** 2 / e;
  }
  return { stat, crit: chiSquareCritical(k - 1), outOfRange };
}

t.test('uniform BigInt sampler: chi-square on non-power-of-two ranges (small, 32-bit, multiword)', async (t) => {
  const rng = seededRandom('uniform');
  const cases: [bigint, number][] = [
    [10n, 10],
    [3n, 3],
    [0x1_0000_0001n, 20],
    [(3n << 40n) + 7n, 30],
    [(5n << 100n) + 12345n, 40],
  ];
  for (const [n, k] of cases) {
    const r = uniformChi2(() => uniformBigInt(rng, n), n, k, 60_000);
    t.equal(r.outOfRange, 0, `n=${n}: nothing outside [0, n)`);
    t.ok(r.stat < r.crit, `n=${n}: chi2 ${r.stat.toFixed(1)} < ${r.crit.toFixed(1)}`);
  }
  // The test can fail: a modulo-biased sampler on n = 3 * 2^30 (bytes mod n) is detected.
  const n = 3n << 30n;
  const reader = new RandomReader(seededRandom('biased'));
  const biased = (): bigint => BigInt(reader.uint32()) % n;
  const r = uniformChi2(biased, n, 3, 60_000);
  t.ok(r.stat > r.crit, `modulo bias detected (chi2 ${r.stat.toFixed(0)})`);
  t.throws(() => uniformBigInt(rng, 0n), />= 1/);
  t.equal(uniformBigInt(rng, 1n), 0n);
});

t.test('rationals: exact conversion, rounding up, isqrt', async (t) => {
  const r = rationalFromNumber(0.1);
  t.equal(r.den, 1n << 55n, 'dyadic denominator');
  t.equal(Number(r.num) / Number(r.den), 0.1, 'exact value of the double');
  t.same(rationalFromNumber(3), { num: 3n, den: 1n });
  t.same(rationalFromNumber(-2.5), { num: -5n, den: 2n });
  const up = rationalAtLeast(0.1, 10);
  t.ok(up.num * r.den >= r.num * up.den, 'rounded up is >= x');
  const D = 1n << 10n;
  t.ok((up.num * D - up.den) * r.den < r.num * up.den * D, 'and less than x + 2^-bits');
  t.same(rationalAtLeast(0.1, 10), rational(103n, 1024n), 'ceil(0.1 * 1024) / 1024');
  t.same(roundUp(rational(24n, 1n)), rational(24n), 'exact multiples unchanged');
  t.same(roundUp(rational(1n, 3n), 4), rational(6n, 16n));
  for (const n of [
    0n,
    1n,
    2n,
    3n,
    4n,
    15n,
    16n,
    17n,
    (1n << 52n) - 1n,
    (1n << 52n) + 5n,
    10n ** 40n,
    10n ** 40n - 1n,
  ]) {
    const s = isqrt(n);
    t.ok(s * s <= n && (s + 1n) * (s + 1n) > n, `isqrt(${n})`);
  }
  t.equal(ratToNumber(rational(10n ** 400n, 3n * 10n ** 399n)), 10 / 3);
  t.equal(bitLength(255n), 8);
  t.equal(bitLength(256n), 9);
  t.equal(bitLength(0n), 0);
});
