/**
 * Consistent DP tables (issue 18, first part): least-squares fit, controlled rounding, simulated accuracy, the noisy
 * measurement file, and the exact values read once only.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { main, type Io } from '../../cli/main.ts';
import { additivity, maxInconsistency, projectConsistent } from '../../engine/dp/consistency-fit.ts';
import { protectDp } from '../../engine/dp/index.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import { seededRandom } from '../../engine/random.ts';
import { parseRelease } from '../../engine/release/index.ts';
import { highsRuntime } from '../../engine/sdc/highs.ts';
import { dpPlan } from './dp-plan.ts';
import type { DimensionPlan, DpPlan, ExactCell, ExactTable, MeasurePlan, TablePlan } from '../../engine/types.ts';
import { tempDir } from '../tmp-dir.ts';

const cats = (codes: string[]) => codes.map((c) => ({ code: c, label: `label ${c}` }));
const region = buildDimension({
  name: 'region',
  categories: cats(['N1', 'N2', 'S1', 'S2', 'S3']),
  hierarchy: [
    { code: 'N', label: 'North', children: ['N1', 'N2'] },
    { code: 'S', label: 'South', children: ['S1', 'S2', 'S3'] },
  ],
});
const sex = buildDimension({ name: 'sex', categories: cats(['M', 'F']) });
const age = buildDimension({ name: 'age', categories: cats(['Y', 'O']), total: false });

const plan = (extra: Partial<DpPlan> = {}): DpPlan => dpPlan({ consistency: 'hierarchical', ...extra });
const UNIT = { column: null, kind: 'person' as const, maxRowsPerUnit: 1 };

function tablePlan(dims: DimensionPlan[], measure: MeasurePlan = { kind: 'count' }): TablePlan {
  return {
    id: 'tab',
    title: 'tab',
    description: '',
    dimensions: dims,
    measure,
    budgetShare: 1,
    neverSuppress: [],
    alwaysSuppress: [],
  };
}

/** An exact table from leaf values (every aggregate the sum of its leaves), cells behind counting getters. */
function exactTable(tp: TablePlan, leaf: (i: number) => number, reads: { n: number }): ExactTable {
  const add = additivity(tp.dimensions);
  const v = new Float64Array(add.n);
  let k = 0;
  for (let i = 0; i < add.n; i++) if (add.leaf[i]) v[i] = leaf(k++);
  for (let r = 0; r < add.sumCell.length; r++) {
    let s = 0;
    for (let j = add.starts[r]!; j < add.starts[r + 1]!; j++) s += v[add.children[j]!]!;
    v[add.sumCell[r]!] = s;
  }
  const cells = Array.from(v, (x): ExactCell => {
    const read = (): number => {
      reads.n++;
      return x;
    };
    return {
      get units() {
        return read();
      },
      get sum() {
        return read();
      },
      get rows(): number {
        throw new Error('rows read');
      },
      get top(): number[] {
        throw new Error('top read');
      },
    };
  });
  return { kind: 'exact', plan: tp, cells };
}

t.test('the projection is the least-squares consistent table', async (t) => {
  const dims = [region, sex];
  const add = additivity(dims);
  const rng = seededRandom('proj');
  const y = Array.from({ length: add.n }, () => rng.bytes(1)[0]! - 100);
  t.ok(maxInconsistency(y, add) > 1, 'the noisy table does not add up');
  const x = projectConsistent(y, dims);
  t.ok(maxInconsistency(x, add) < 1e-9, 'the projection adds up');
  const again = projectConsistent(x, dims);
  t.ok(
    again.every((v, i) => Math.abs(v - x[i]!) < 1e-9),
    'idempotent',
  );
  // Residual orthogonal to every consistent table: for each leaf cell, the residuals of the cells it is counted in sum to 0.
  const rNodes = region.nodes;
  const under = (node: number, leaf: number): boolean => rNodes[node]!.leaves.includes(leaf);
  for (let a = 0; a < region.leafCount; a++)
    for (let b = 0; b < sex.leafCount; b++) {
      let s = 0;
      for (let i = 0; i < rNodes.length; i++)
        for (let j = 0; j < sex.nodes.length; j++)
          if (under(i, a) && sex.nodes[j]!.leaves.includes(b))
            s += y[i * sex.nodes.length + j]! - x[i * sex.nodes.length + j]!;
      t.ok(Math.abs(s) < 1e-9, `residual orthogonal to leaf (${a}, ${b})`);
    }
});

t.test('consistent counts and sums: non-negative integers that add up; exact values read once', async (t) => {
  const highs = await highsRuntime();
  for (const [name, dims, measure] of [
    ['counts region x sex', [region, sex], { kind: 'count' }],
    ['counts region x sex x age (no total)', [region, sex, age], { kind: 'count' }],
    ['sums region x sex', [region, sex], { kind: 'sum', column: 'inc', lower: 0, upper: 50, decimals: 0 }],
  ] as [string, DimensionPlan[], MeasurePlan][]) {
    const tp = tablePlan(dims, measure);
    const reads = { n: 0 };
    const exact = exactTable(tp, (i) => (i % 3) * 4, reads);
    const res = protectDp([exact], plan(), UNIT, seededRandom(`c-${name}`), { highs });
    const out = res.tables[0]!;
    const values = out.cells.map((c) => c.value!);
    t.equal(
      reads.n,
      exact.cells.length,
      `${name}: each exact cell read once (the noise add), never in the post-processing`,
    );
    t.ok(
      values.every((v) => Number.isInteger(v) && v >= 0),
      `${name}: non-negative integers`,
    );
    t.equal(maxInconsistency(values, additivity(dims)), 0, `${name}: every total is the sum of its children`);
    const acc = res.accounting.tables[0]!.consistency!;
    t.equal(acc.method, 'hierarchical');
    t.equal(acc.rounding, 'controlled');
    t.ok(out.cells.every((c) => c.accuracy!.halfWidth95 >= 0 && Number.isFinite(c.accuracy!.noiseSd)));
    t.equal(out.consistent!.measurements.values.length, exact.cells.length, 'noisy measurements kept');
  }
});

t.test('a noisy threshold is refused with consistency, and needs HiGHS', async (t) => {
  const tp = tablePlan([region]);
  const exact = exactTable(tp, () => 5, { n: 0 });
  const highs = await highsRuntime();
  t.throws(() => protectDp([exact], plan({ noisyThreshold: 3 }), UNIT, seededRandom('x'), { highs }), {
    code: 'POLICY_INVALID',
  });
  t.throws(() => protectDp([exact], plan(), UNIT, seededRandom('x')), { code: 'USAGE' });
});

t.test('coverage of the simulated 95% half-widths after post-processing (400 seeded runs)', async (t) => {
  const highs = await highsRuntime();
  const tp = tablePlan([region]);
  const leaves = [12, 30, 4, 55, 20];
  let covered = 0;
  let cells = 0;
  let before = 0;
  let beforeMax = 0;
  for (let run = 0; run < 400; run++) {
    const exact = exactTable(tp, (i) => leaves[i]!, { n: 0 });
    const truth = exact.cells.map((c) => c.units);
    const res = protectDp([exact], plan({ epsilon: 0.5 }), UNIT, seededRandom(`cov-${run}`), { highs });
    res.tables[0]!.cells.forEach((c, i) => {
      cells++;
      if (Math.abs(c.value! - truth[i]!) <= c.accuracy!.halfWidth95) covered++;
    });
    const b = res.accounting.tables[0]!.consistency!.maxInconsistencyBefore;
    before += b;
    beforeMax = Math.max(beforeMax, b);
  }
  const rate = covered / cells;
  t.comment(
    `coverage ${rate.toFixed(4)} over ${cells} cells; inconsistency before: mean ${(before / 400).toFixed(2)}, max ${beforeMax}; after: 0`,
  );
  t.ok(rate >= 0.94, `coverage ${rate} >= 0.94`);
  t.ok(rate <= 0.995, `coverage ${rate} not trivially wide`);
});

function capture(): Io & { text: () => string } {
  let s = '';
  return { out: (x) => void (s += x), err: (x) => void (s += x), isTty: false, text: () => s };
}

t.test('a consistent release adds up in JSON-stat and CSV, and signs its noisy measurement file', async (t) => {
  const home = tempDir('sg-consistency-');
  process.env.STATGUARD_SECURE_DIR = path.join(home, 'secure');
  const out = path.join(home, 'rel');
  const io = capture();
  const code = await main(['release', 'policies/acs-tx-dp-laplace.json', '--out', out, '--seed', 's1'], io);
  t.equal(code, 0, io.text());
  const files = new Map(readdirSync(out).map((f) => [f, readFileSync(path.join(out, f))]));
  const rel = parseRelease(files);
  for (const entry of rel.manifest.tables) {
    const privacy = entry.privacy as { consistency?: { maxInconsistencyBefore: number } };
    if (entry.measure.kind === 'mean') continue;
    t.ok(entry.files.noisy, `${entry.id}: noisy measurement file in the manifest`);
    t.comment(`${entry.id}: inconsistency before ${privacy.consistency!.maxInconsistencyBefore}, after 0`);
    const js = JSON.parse(files.get(entry.files.jsonstat.path)!.toString());
    t.match(js.note[0], /every total equals the sum of its children/);
    const ids: string[] = js.id;
    const size: number[] = js.size;
    const value: number[] = js.value;
    // Every total = sum of its children, along every dimension, for every combination of the others.
    const stride = size.map((_, d) => size.slice(d + 1).reduce((a, b) => a * b, 1));
    let checked = 0;
    ids.forEach((id, d) => {
      const cat = js.dimension[id].category;
      const pos = new Map<string, number>(cat.index.map((c: string, i: number) => [c, i]));
      for (const [parent, kids] of Object.entries(cat.child ?? {}) as [string, string[]][]) {
        for (let c = 0; c < value.length; c++) {
          if (Math.floor(c / stride[d]!) % size[d]! !== pos.get(parent)) continue;
          const s = kids.reduce((a, k) => a + value[c + (pos.get(k)! - pos.get(parent)!) * stride[d]!]!, 0);
          t.equal(value[c], s, `${entry.id}: ${parent} = sum of children at ${c}`) || process.exit(1);
          checked++;
        }
      }
    });
    t.ok(checked > 0);
    t.ok(
      value.every((v) => Number.isInteger(v) && v >= 0),
      `${entry.id}: non-negative integers`,
    );
    // The CSV carries the same values in the same order.
    const csv = files.get(entry.files.csv.path)!.toString().trim().split('\n').slice(1);
    const vcol = 2 * ids.length;
    t.same(
      csv.map((l) => Number(l.split(',')[vcol])),
      value,
      `${entry.id}: CSV values are the JSON-stat values`,
    );
  }
  // A changed noisy measurement file is refused (it is named and hashed by the manifest, so signed).
  const noisyName = rel.manifest.tables.find((x) => x.files.noisy)!.files.noisy!.path;
  writeFileSync(
    path.join(out, noisyName),
    files
      .get(noisyName)!
      .toString()
      .replace(/\n(.*?),/, '\n$1x,'),
  );
  const changed = new Map(readdirSync(out).map((f) => [f, readFileSync(path.join(out, f))]));
  t.throws(() => parseRelease(changed), /noisy|SHA-256|bytes/);
});
