/**
 * Exact noise samplers benchmark (npm run bench:samplers): discrete Laplace and discrete Gaussian samples per
 * second at moderate scales, drawing from node:crypto (what a real release uses) and from the seeded test source.
 * Printed, not asserted: speed is measured here, never in a unit test.
 *
 *   npm run bench:samplers -- [--samples 200000]
 */
import { makeDiscreteGaussian, makeDiscreteLaplace, rational } from '../engine/dp/index.ts';
import { cryptoRandom, seededRandom } from '../engine/random.ts';

const i = process.argv.indexOf('--samples');
const n = i >= 0 ? Number(process.argv[i + 1]) : 200_000;
const samplers = [
  ['discrete Laplace, scale 100', makeDiscreteLaplace(rational(100n))],
  ['discrete Gaussian, sigma^2 10,000', makeDiscreteGaussian(rational(10_000n))],
] as const;
for (const [source, rng] of [
  ['node:crypto', cryptoRandom()],
  ['seeded (tests only)', seededRandom('bench')],
] as const) {
  for (const [name, sample] of samplers) {
    for (let k = 0; k < 1000; k++) sample(rng); // warm-up
    const t0 = performance.now();
    for (let k = 0; k < n; k++) sample(rng);
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `${name.padEnd(34)} ${source.padEnd(20)} ${Math.round(n / secs)
        .toLocaleString('en')
        .padStart(10)} samples/s`,
    );
  }
}
