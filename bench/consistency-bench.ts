/**
 * Consistency post-processing (engine/dp/consistency.ts) on synthetic count tables of a few hundred to a few
 * thousand cells: the whole hook (fit, controlled rounding, 199-replicate accuracy simulation) per table, and the
 * inconsistency of the noisy table before. Run: npm run bench:consistency. Prints figures; asserts nothing.
 */
import { additivity } from '../engine/dp/consistency-fit.ts';
import { makeConsistent } from '../engine/dp/consistency.ts';
import { makeDiscreteLaplace, rational } from '../engine/dp/index.ts';
import { buildDimension } from '../engine/policy/dimension.ts';
import { seededRandom } from '../engine/random.ts';
import { highsRuntime } from '../engine/sdc/highs.ts';
import type { DimensionPlan, TablePlan } from '../engine/types.ts';

const cats = (n: number, p: string) => Array.from({ length: n }, (_, i) => ({ code: `${p}${i}`, label: `${p}${i}` }));
const grouped = (n: number, g: number, p: string) =>
  buildDimension({
    name: p,
    categories: cats(n, p),
    hierarchy: Array.from({ length: Math.ceil(n / g) }, (_, k) => ({
      code: `${p}G${k}`,
      label: `${p} group ${k}`,
      children: Array.from({ length: Math.min(g, n - k * g) }, (_, j) => `${p}${k * g + j}`),
    })),
  });

const cases: [string, DimensionPlan[], number][] = [
  ['1 hierarchy, 288 leaves', [grouped(288, 12, 'a')], 40],
  ['2-d: 40 x 20, both hierarchical', [grouped(40, 8, 'a'), grouped(20, 5, 'b')], 40],
  ['2-d: 40 x 20, small counts', [grouped(40, 8, 'a'), grouped(20, 5, 'b')], 2],
  [
    '3-d: 40 x 20 x 3',
    [grouped(40, 8, 'a'), grouped(20, 5, 'b'), buildDimension({ name: 'c', categories: cats(3, 'c') })],
    20,
  ],
];
const highs = await highsRuntime();
const rng = seededRandom('bench');
const noise = makeDiscreteLaplace(rational(4n));
for (const [name, dims, mean] of cases) {
  const table: TablePlan = {
    id: 't',
    title: 't',
    description: '',
    dimensions: dims,
    measure: { kind: 'count' },
    budgetShare: 1,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const add = additivity(dims);
  const truth = new Float64Array(add.n);
  let k = 0;
  for (let i = 0; i < add.n; i++) if (add.leaf[i]) truth[i] = (k++ * 7919) % (2 * mean + 1);
  for (let r = 0; r < add.sumCell.length; r++) {
    let s = 0;
    for (let j = add.starts[r]!; j < add.starts[r + 1]!; j++) s += truth[add.children[j]!]!;
    truth[add.sumCell[r]!] = s;
  }
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
