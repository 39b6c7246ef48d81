/**
 * Consistency post-processing (engine/dp/consistency.ts) on synthetic count tables of a few hundred to a few
 * thousand cells: the whole hook (fit, controlled rounding, 199-replicate accuracy simulation) per table, and the
 * inconsistency of the noisy table before. Run: npm run bench:consistency. Prints figures; asserts nothing. Accuracy
 * over seeded releases (consistency error before and after, coverage): npm run bench:dp-accuracy.
 */
import { additivity } from '../engine/dp/consistency-fit.ts';
import { makeConsistent } from '../engine/dp/consistency.ts';
import { makeDiscreteLaplace, rational } from '../engine/dp/index.ts';
import { seededRandom } from '../engine/random.ts';
import { highsRuntime } from '../engine/sdc/highs.ts';
import type { DimensionPlan } from '../engine/types.ts';
import { additiveTruth, flat, grouped, tablePlan } from './dp-tables.ts';

const cases: [string, DimensionPlan[], number][] = [
  ['1 hierarchy, 288 leaves', [grouped(288, 12, 'a')], 40],
  ['2-d: 40 x 20, both hierarchical', [grouped(40, 8, 'a'), grouped(20, 5, 'b')], 40],
  ['2-d: 40 x 20, small counts', [grouped(40, 8, 'a'), grouped(20, 5, 'b')], 2],
  ['3-d: 40 x 20 x 3', [grouped(40, 8, 'a'), grouped(20, 5, 'b'), flat(3, 'c')], 20],
];
const highs = await highsRuntime();
const rng = seededRandom('bench');
const noise = makeDiscreteLaplace(rational(4n));
for (const [name, dims, mean] of cases) {
  const table = tablePlan(dims);
  const add = additivity(dims);
  const truth = additiveTruth(dims, (k) => (k * 7919) % (2 * mean + 1));
  const draw = () => Number(noise(rng));
  const noisy = Array.from(truth, (v) => v + draw());
  const t0 = performance.now();
  const out = makeConsistent({
    table,
    noisy,
    draw,
    nonNegative: true,
    unit: 1,
    scale: 4,
    noiseSd: 5.6,
    halfWidth95: 12,
    highs,
  });
  const ms = performance.now() - t0;
  console.log(
    `${name}: ${add.n} cells, ${ms.toFixed(0)} ms (fit ${out.report.fit}, rounding ${out.report.rounding}), inconsistency before ${out.report.maxInconsistencyBefore}, mean half-width ${(out.accuracy.reduce((s, a) => s + a.halfWidth95, 0) / add.n).toFixed(1)}`,
  );
}
