/**
 * Differencing and averaging attacks on tables on demand (issue 20, item 4), ckm regime, fixed seeds (deterministic).
 * The attacker builds overlapping ad-hoc tables and subtracts them; the exact counts (computed here from the fixture
 * file, as only the secure zone could) measure what the attack gains. Under the cell key method every cell's value
 * is a fixed function of its contributors, so a cell reached by any route has its one perturbed value: differencing
 * estimates a cell no better than its own published value, and averaging returns that one value.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadPolicy } from '../../engine/policy/index.ts';
import { computeOnDemand } from '../../engine/ondemand/compute.ts';
import { loadResident } from '../../engine/ondemand/resident.ts';
import { onDemandOf, type OnDemandQuery } from '../../engine/ondemand/query.ts';
import type { ProtectedTable } from '../../engine/types.ts';
import { AREAS } from '../../bench/generate.ts';
import { ONDEMAND_POLICY } from './helpers.ts';

/** Exact person counts by region and sex (the truth the attacker is after). */
function exactCounts(): Map<string, number> {
  const lines = readFileSync('fixtures/synthetic/census-5000.csv', 'utf8').trim().split('\n').slice(1);
  const out = new Map<string, number>();
  for (const l of lines) {
    const f = l.split(',');
    for (const k of [`${f[2]}|${f[3]}`, `${f[2]}|_T`]) out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

function valueAt(table: ProtectedTable, codes: readonly string[]): number {
  const dims = table.plan.dimensions;
  let idx = 0;
  codes.forEach((c, d) => {
    idx = idx * dims[d]!.nodes.length + dims[d]!.nodes.findIndex((n) => n.code === c);
  });
  return table.cells[idx]!.value!;
}

const SEXES = ['1', '2', '_T'];

t.test('ckm differencing: filters differing by one category, and a table and its sub-table', async (t) => {
  const plan = onDemandOf(await loadPolicy(ONDEMAND_POLICY));
  const data = await loadResident(plan, 'differencing');
  const run = (q: OnDemandQuery): Promise<ProtectedTable> => computeOnDemand(plan, data, q).then((r) => r.table);
  const exact = exactCounts();
  const full = await run({ dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' });

  // Attack 1: for every region, its area's regions minus that region, by sex; difference = the region's cells.
  let diffSq = 0;
  let directSq = 0;
  let exactHits = 0;
  let n = 0;
  for (const area of AREAS.filter((a) => a.children.length > 1)) {
    const all = await run({ dimensions: [{ name: 'sex' }], measure: 'count', filter: { region: area.children } });
    for (const r of area.children) {
      const rest = area.children.filter((x) => x !== r);
      const minus = await run({ dimensions: [{ name: 'sex' }], measure: 'count', filter: { region: rest } });
      for (const s of SEXES) {
        const truth = exact.get(`${r}|${s}`)!;
        const estimate = valueAt(all, [s]) - valueAt(minus, [s]);
        diffSq += (estimate - truth) ** 2;
        directSq += (valueAt(full, [r, s]) - truth) ** 2;
        if (estimate === truth) exactHits++;
        n++;
      }
    }
  }
  const diffMse = diffSq / n;
  const directMse = directSq / n;
  t.comment(
    `one-category differencing over ${n} cells: MSE ${diffMse.toFixed(2)} vs the published cell's ${directMse.toFixed(2)}; exact ${exactHits}`,
  );
  t.ok(directMse > 0.5, 'the published cells are perturbed (variance about V = 1.5)');
  t.ok(diffMse >= directMse, 'differencing estimates a cell no better than its own published value');
  t.ok(exactHits / n < 0.5, `differencing recovers few cells exactly (${exactHits} of ${n})`);

  // Attack 2: a table and its sub-table (one sex): every cell of the sub-table is the table's own cell.
  for (const s of ['1', '2']) {
    const sub = await run({ dimensions: [{ name: 'region' }], measure: 'count', filter: { sex: [s] } });
    const same = sub.plan.dimensions[0]!.nodes.every(
      (node) => valueAt(sub, [node.code]) === valueAt(full, [node.code, s]),
    );
    t.ok(same, `the sub-table for sex ${s} repeats the table's cells: nothing new to subtract`);
  }
  // Margins do not add up exactly, so a total minus its published children does not disclose a child either.
  let marginExact = 0;
  for (const r of AREAS.flatMap((a) => a.children)) {
    const fromMargin = valueAt(full, [r, '_T']) - valueAt(full, [r, '2']);
    if (fromMargin === exact.get(`${r}|1`)) marginExact++;
  }
  t.ok(marginExact < 40, `total minus sibling recovers few cells exactly (${marginExact} of 50)`);
});

t.test('ckm averaging: 200 repeated queries of one cell return one value', async (t) => {
  const plan = onDemandOf(await loadPolicy(ONDEMAND_POLICY));
  const data = await loadResident(plan, 'averaging');
  const exact = exactCounts();
  // A cell whose perturbation is not zero, so averaging to the truth would show.
  const full = (
    await computeOnDemand(plan, data, { dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' })
  ).table;
  const target = AREAS.flatMap((a) => a.children).find((r) => valueAt(full, [r, '1']) !== exact.get(`${r}|1`))!;
  t.ok(target, 'some cell is perturbed');
  const area = AREAS.find((a) => a.children.includes(target))!;
  const values = new Set<number>();
  let sum = 0;
  for (let i = 0; i < 200; i++) {
    // Different routes to the same cell: the filter, the crossed table, other dimensions beside it.
    const route = i % 4;
    const q: OnDemandQuery =
      route === 0
        ? { dimensions: [{ name: 'sex' }], measure: 'count', filter: { region: [target] } }
        : route === 1
          ? { dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' }
          : route === 2
            ? {
                dimensions: [{ name: 'sex' }, { name: 'region' }],
                measure: 'count',
                filter: { marital: ['1', '2', '3', '4', '5', '6'] },
              }
            : { dimensions: [{ name: 'region' }], measure: 'count', filter: { sex: ['1'] } };
    const table = (await computeOnDemand(plan, data, q, { seed: `noise-${i}` })).table;
    const v =
      route === 0
        ? valueAt(table, ['1'])
        : route === 1
          ? valueAt(table, [target, '1'])
          : route === 2
            ? valueAt(table, ['1', target])
            : valueAt(table, [target]);
    values.add(v);
    sum += v;
  }
  t.equal(values.size, 1, `200 queries of (${target}, sex 1) by four routes: one value`);
  t.equal(sum / 200, [...values][0], 'the average is that value');
  t.not(sum / 200, exact.get(`${target}|1`), 'not the exact count: averaging gains nothing');
  t.ok(area, 'cell of a declared area');
});
