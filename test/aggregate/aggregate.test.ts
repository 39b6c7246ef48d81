import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import seedrandom from 'seedrandom';
import { csvSource } from '../../engine/source/index.ts';
import { Aggregator, ContributionBounder, makeRecordLayout } from '../../engine/aggregate/index.ts';
import { StatguardError } from '../../engine/errors.ts';
import { TOP_K, cellCoords } from '../../engine/types.ts';
import type { ExactCell, Plan, TablePlan } from '../../engine/types.ts';
import { COLUMNS, DERIVED, HEADER, KEY, makePlan, randomRows, table, regionDim } from '../source/plan-fixture.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-agg-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const write = (rows: string[]): string => {
  const f = path.join(dir, `f${n++}.csv`);
  fs.writeFileSync(f, [HEADER, ...rows].join('\n') + '\n');
  return f;
};

/* ---------------- naive reference (independent: Maps, node leaf sets) ---------------- */

/** Value of a row for a dimension variable (raw column or derived), as a category code. */
function codeOf(row: Record<string, string>, name: string): string {
  const d = DERIVED.find((x) => x.name === name);
  if (!d) return row[name]!;
  if (d.bins) {
    const v = Number(row[d.from]);
    return d.bins.find((b) => v >= b.min && v <= b.max)!.code;
  }
  return d.map![row[d.from]!]!;
}

/** round(v * 10^d) half away from zero, for values with at most 2 decimals. */
function scaled(raw: string, d: number): number {
  const v = Number(raw) * 10 ** d;
  return Math.sign(v) * Math.floor(Math.abs(v) + 0.5 + 1e-9) + 0;
}

function reference(
  tp: TablePlan,
  rows: Record<string, string>[],
  unitOf: (r: Record<string, string>, i: number) => string,
): ExactCell[] {
  const dims = tp.dimensions;
  const total = dims.reduce((a, d) => a * d.nodes.length, 1);
  const out: ExactCell[] = [];
  for (let c = 0; c < total; c++) {
    const coords = cellCoords(dims, c);
    const per = new Map<string, { rows: number; sum: number }>();
    rows.forEach((r, i) => {
      const inCell = dims.every((dim, d) => {
        const node = dim.nodes[coords[d]!]!;
        return node.leaves.some((l) => dim.nodes[l]!.code === codeOf(r, dim.name));
      });
      if (!inCell) return;
      let v = 1;
      if (tp.measure.kind !== 'count') {
        if (r[tp.measure.column] === 'N') return;
        v = Math.min(tp.measure.upper, Math.max(tp.measure.lower, scaled(r[tp.measure.column]!, tp.measure.decimals)));
      }
      const u = unitOf(r, i);
      const e = per.get(u) ?? { rows: 0, sum: 0 };
      e.rows++;
      e.sum += v;
      per.set(u, e);
    });
    const contribs = [...per.values()].map((e) => (tp.measure.kind === 'count' ? 1 : e.sum)).sort((a, b) => b - a);
    out.push({
      units: per.size,
      rows: [...per.values()].reduce((a, e) => a + e.rows, 0),
      sum: contribs.reduce((a, b) => a + b, 0),
      top: contribs.slice(0, TOP_K),
    });
  }
  return out;
}

const parseRows = (rows: string[]): Record<string, string>[] => {
  const names = HEADER.split(',');
  return rows.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i]!, v])));
};

t.test('aggregation equals a naive reference (hierarchy, totals, several rows per unit)', async (t) => {
  const rows = randomRows(seedrandom('ref'), 60);
  const f = write(rows);
  const recs = parseRows(rows);
  // m = 10 >= any household size (<= 6): nothing removed by bounding, so the reference sees every row.
  const byHousehold = await csvSource().aggregate(makePlan({ path: f, m: 10 }), { boundingKey: KEY });
  t.equal(byHousehold.stats.rowsRemovedByBounding, 0);
  t.equal(byHousehold.stats.units, 60);
  for (const tab of byHousehold.tables)
    t.same(
      tab.cells,
      reference(tab.plan, recs, (r) => r.hh!),
      `unit = household: ${tab.plan.id}`,
    );
  t.ok(
    byHousehold.tables[1]!.cells.some((c) => c.top.length === TOP_K && c.units > TOP_K),
    'some cells have more than TOP_K contributors',
  );

  const byRow = await csvSource().aggregate(makePlan({ path: f, unit: null }), { boundingKey: KEY });
  t.equal(byRow.stats.units, rows.length);
  for (const tab of byRow.tables)
    t.same(
      tab.cells,
      reference(tab.plan, recs, (_r, i) => String(i)),
      `row as unit: ${tab.plan.id}`,
    );

  // Clamped values: per kept row and distinct clamp spec.
  let clamped = 0;
  for (const r of recs) {
    if (r.income === 'N') continue;
    const v0 = scaled(r.income!, 0);
    if (v0 < -1000 || v0 > 50000) clamped++;
    const v2 = scaled(r.income!, 2);
    if (v2 < 0 || v2 > 4_000_000) clamped++;
  }
  t.ok(clamped > 0);
  t.equal(byHousehold.stats.valuesClamped, clamped, 'clamped values counted');

  // The ancestor-walk path (no precomputed cell lists) gives the same cells.
  const plan = makePlan({ path: f, m: 10 });
  const layout = makeRecordLayout(plan);
  const direct = new Aggregator(layout, { maxComboEntries: 0 });
  const bounder = new ContributionBounder(layout, { unitColumn: 'hh', maxRowsPerUnit: 10, key: KEY }, direct);
  const cats = new Int32Array(layout.variables.length);
  const meas = new Float64Array(layout.measureSources.length);
  for (const r of recs) {
    layout.variables.forEach((v, i) => {
      cats[i] = v.codes.indexOf(codeOf(r, v.name));
    });
    layout.measureSources.forEach((s, i) => {
      meas[i] = r[s.column] === 'N' ? NaN : scaled(r[s.column]!, s.decimals);
    });
    bounder.add(r.hh!, cats, meas);
  }
  bounder.finish();
  t.same(
    direct.finish().map((x) => x.cells),
    byHousehold.tables.map((x) => x.cells),
    'ancestor walk equals precomputed lists',
  );
});

function shuffle<T>(a: T[], rng: () => number): T[] {
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [b[i], b[j]] = [b[j]!, b[i]!];
  }
  return b;
}

t.test('bounding: at most m rows per unit, independent of row order, chosen by the key', async (t) => {
  const rows = randomRows(seedrandom('bound'), 80);
  // Add exact duplicate rows inside some households: still distinguishable, still order-free.
  const withDup = [...rows, ...rows.filter((_, i) => i % 7 === 0)];
  const recs = parseRows(withDup);
  const f = write(withDup);
  const m = 2;
  // A table of households' regions: every household lives in one region, so rows per region = sum of min(n_u, m).
  const tables: TablePlan[] = [...makePlan({ path: f }).tables, table('region_only', [regionDim()], { kind: 'count' })];
  const plan = (p: string): Plan => makePlan({ path: p, m, tables });
  const a = await csvSource().aggregate(plan(f), { boundingKey: KEY });
  const sizes = new Map<string, { n: number; region: string }>();
  for (const r of recs) {
    const e = sizes.get(r.hh!) ?? { n: 0, region: r.region! };
    e.n++;
    sizes.set(r.hh!, e);
  }
  const keptTotal = [...sizes.values()].reduce((s, e) => s + Math.min(e.n, m), 0);
  t.equal(a.stats.rowsAfterBounding, keptTotal, 'rows kept = sum of min(n_u, m)');
  t.equal(a.stats.rowsRemovedByBounding, withDup.length - keptTotal);
  const regionTable = a.tables.find((x) => x.plan.id === 'region_only')!;
  const regionNodes = regionTable.plan.dimensions[0]!.nodes;
  for (let l = 0; l < regionTable.plan.dimensions[0]!.leafCount; l++) {
    const want = [...sizes.values()]
      .filter((e) => e.region === regionNodes[l]!.code)
      .reduce((s, e) => s + Math.min(e.n, m), 0);
    t.equal(regionTable.cells[l]!.rows, want, `rows in ${regionNodes[l]!.code}`);
  }
  for (const tab of a.tables)
    for (const c of tab.cells) t.ok(c.rows <= m * c.units, 'no cell has more than m rows per unit');

  for (const seed of ['s1', 's2', 's3']) {
    const g = write(shuffle(withDup, seedrandom(seed)));
    const b = await csvSource().aggregate(plan(g), { boundingKey: KEY });
    t.same(
      b.tables.map((x) => x.cells),
      a.tables.map((x) => x.cells),
      `shuffled rows (${seed}): identical tables`,
    );
  }
  const other = await csvSource().aggregate(plan(f), { boundingKey: new Uint8Array(32).fill(9) });
  t.equal(other.stats.rowsAfterBounding, keptTotal);
  t.notSame(
    other.tables.map((x) => x.cells),
    a.tables.map((x) => x.cells),
    'another key keeps another subset',
  );
  await t.rejects(
    csvSource().aggregate(plan(f), { boundingKey: new Uint8Array(4) }),
    { code: 'USAGE' },
    'short key refused',
  );
});

t.test('spill to disk gives the same tables as in memory and cleans up', async (t) => {
  const rows = shuffle(randomRows(seedrandom('spill'), 300), seedrandom('x'));
  const f = write(rows);
  const spillDirs = () => fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith('statguard-spill-')).length;
  const before = spillDirs();
  const mem = await csvSource().aggregate(makePlan({ path: f, m: 2 }), { boundingKey: KEY });
  for (const max of [50, 7, 1]) {
    const sp = await csvSource().aggregate(makePlan({ path: f, m: 2 }), { boundingKey: KEY, maxBufferedUnits: max });
    t.same(
      sp.tables.map((x) => x.cells),
      mem.tables.map((x) => x.cells),
      `maxBufferedUnits ${max}: same tables`,
    );
    t.same({ ...sp.stats }, { ...mem.stats }, 'same stats');
  }
  t.equal(spillDirs(), before, 'temporary files removed');

  // The spill path is really taken, and files are removed after an error too.
  const plan = makePlan({ path: f, m: 2 });
  const layout = makeRecordLayout(plan);
  const b = new ContributionBounder(
    layout,
    { unitColumn: 'hh', maxRowsPerUnit: 2, key: KEY, maxBufferedUnits: 3 },
    new Aggregator(layout),
  );
  const cats = new Int32Array(layout.variables.length);
  const meas = new Float64Array(layout.measureSources.length);
  for (let i = 0; i < 10; i++) b.add(`u${i}`, cats, meas);
  t.ok(b.spilled, 'spilled');
  t.ok(spillDirs() > before, 'spill directory exists while running');
  b.dispose();
  t.equal(spillDirs(), before, 'dispose removes the spill directory');
  const bad = write([...rows.slice(0, 200), 'p,hx,R9,1,1,1,1,x']);
  await t.rejects(csvSource().aggregate(makePlan({ path: bad }), { boundingKey: KEY, maxBufferedUnits: 5 }), {
    code: 'ROW_INVALID',
  });
  t.equal(spillDirs(), before, 'removed after an error');
});

t.test('sums that could leave the exact integer range are refused', async (t) => {
  const f = write(['p1,h1,R1,1,30,1,5,x', 'p2,h1,R1,1,30,1,6,x']);
  const big = 2 ** 52;
  const tables = [table('big', [regionDim()], { kind: 'sum', column: 'income', lower: -big, upper: big, decimals: 0 })];
  await t.rejects(csvSource().aggregate(makePlan({ path: f, tables }), { boundingKey: KEY }), {
    code: 'ARITHMETIC_OVERFLOW',
  });
  const ok = await csvSource().aggregate(
    makePlan({
      path: f,
      tables: [table('small', [regionDim()], { kind: 'sum', column: 'income', lower: 0, upper: 100, decimals: 0 })],
    }),
    { boundingKey: KEY },
  );
  t.equal(ok.tables[0]!.cells[0]!.sum, 11);
  t.same(ok.tables[0]!.cells[0]!.top, [11], 'one household: its two rows summed into one contribution');
});

t.test('plan inconsistencies are POLICY_INVALID', async (t) => {
  const f = write(['p1,h1,R1,1,30,1,5,x']);
  const cols = COLUMNS.map((c) => (c.name === 'income' ? { ...c, type: 'string' as const } : c));
  await t.rejects(csvSource().aggregate(makePlan({ path: f, columns: cols }), { boundingKey: KEY }), StatguardError);
  await t.rejects(csvSource().aggregate(makePlan({ path: f, columns: cols }), { boundingKey: KEY }), {
    code: 'POLICY_INVALID',
  });
});
