import t from 'tap';
import seedrandom from 'seedrandom';
import { benchPlan, generateTable } from '../../bench/sdc-bench.ts';
import { auditPattern } from '../../engine/sdc/audit.ts';
import { cheapestWitness, regionSizes, SMALL_REGION_CELLS } from '../../engine/sdc/cheapest-witness.ts';
import { heuristicSuppression } from '../../engine/sdc/heuristic.ts';
import { highsRuntime } from '../../engine/sdc/highs.ts';
import { isEmptyCell } from '../../engine/sdc/problem.ts';
import { protectSdc } from '../../engine/sdc/protect.ts';
import { checkWitnessOf } from '../../engine/sdc/witness-check.ts';
import type { ExactTable } from '../../engine/types.ts';
import { cats, makeTable, sdcPlan, secondaryInputOf } from './helpers.ts';

/**
 * A sparse count table (5 x 4 x 5 leaves, all margins: 180 cells) from 300 persons, skewed so that some interior
 * cells are empty: with minimum frequency 3, 36 cells are sensitive. The heuristic before the empty-cell rule hid 2
 * empty cells as secondaries here (24 secondaries); with the rule it hides none (25).
 */
function sparseTable(sizes = [5, 4, 5], persons = 300, seed = 'sparse-empty'): ExactTable {
  const rng = seedrandom(seed);
  const specs = sizes.map((n, d) => ({
    name: `d${d}`,
    categories: cats(...Array.from({ length: n }, (_, i) => `c${d}_${i}`)),
  }));
  const rows = Array.from({ length: persons }, () => ({
    codes: sizes.map((n, d) => `c${d}_${Math.floor(rng() ** 1.5 * n)}`),
    value: 1,
  }));
  return makeTable('sparse', specs, rows);
}

t.test('empty cells are never secondary suppressions; the pattern passes the full audit', async (t) => {
  const tab = sparseTable();
  const plan = sdcPlan({ minFrequency: 3, secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: 60 } });
  const input = secondaryInputOf(tab, plan);
  const { sys } = input;
  let empty = 0;
  for (let c = 0; c < sys.cellCount; c++) if (isEmptyCell(sys, c)) empty++;
  t.ok(empty >= 10, `the table has empty cells (${empty} of ${sys.cellCount})`);
  const res = await heuristicSuppression(input, { cleanupSeconds: 20 });
  let secondaries = 0;
  let emptySecondaries = 0;
  res.suppressed.forEach((v, c) => {
    if (!v || input.primary[c]) return;
    secondaries++;
    if (isEmptyCell(sys, c)) emptySecondaries++;
  });
  t.ok(secondaries > 0, `the pattern needs secondaries (${secondaries})`);
  t.equal(emptySecondaries, 0, 'no empty cell hidden as a secondary (published as 0)');
  const audit = await auditPattern(sys, res.suppressed, input.sensitive, { singletons: true });
  t.equal(audit.passes, true, 'exact audit (LP for every sensitive cell) passes');
  t.equal(audit.singletons.length, 0);
});

t.test('zeroCells: suppress keeps empty cells hidden as primaries', async (t) => {
  const tab = sparseTable();
  const plan = sdcPlan({
    minFrequency: 3,
    zeroCells: 'suppress',
    secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: 60 },
  });
  const input = secondaryInputOf(tab, plan);
  const res = await heuristicSuppression(input, { cleanupSeconds: 5 });
  let hiddenEmpty = 0;
  for (let c = 0; c < input.sys.cellCount; c++) if (isEmptyCell(input.sys, c) && res.suppressed[c]) hiddenEmpty++;
  t.ok(hiddenEmpty > 0, `empty primaries stay suppressed (${hiddenEmpty})`);
});

t.test('the cheapest-witness LP tries a small region first; its witness is exact', async (t) => {
  // 4 dimensions of 5-6 nodes (600 cells): the small region (4 nodes per dimension) does not cover the table.
  const tab = sparseTable([4, 3, 4, 3], 400);
  const plan = sdcPlan({ minFrequency: 3 });
  const input = secondaryInputOf(tab, plan);
  const { sys } = input;
  const s = input.sensitive.find((x) => sys.value[x.id]! >= 2 && sys.owners[x.id]!.length > 0)!;
  const sizes = regionSizes(sys, [tab], s.id);
  t.equal(sizes[0], SMALL_REGION_CELLS);
  t.ok(sizes.length >= 2, 'a larger region follows when the small one holds no witness');
  t.same(
    regionSizes(secondaryInputOf(sparseTable(), plan).sys, [sparseTable()], 0),
    [SMALL_REGION_CELLS],
    'a table the small region covers gets one LP',
  );
  const sup = Uint8Array.from(input.primary);
  const costOf = (c: number): number => (sup[c] ? 0 : isEmptyCell(sys, c) ? Infinity : 1);
  const w = cheapestWitness(sys, [tab], sup, s.id, 1, 1, costOf, await highsRuntime(), SMALL_REGION_CELLS);
  t.ok(w, 'a witness in the small region');
  for (const c of w!.added) sup[c] = 1;
  t.equal(checkWitnessOf(sys, sup, w!.witness, s.id, 1), true, 'an alternative table moving the cell up by 1');
  t.equal(
    w!.added.some((c) => isEmptyCell(sys, c)),
    false,
    'no empty cell among the cells it adds',
  );
});

t.test(
  'a sparse 4-dimension bench table ends within its time limit with an audited pattern or the coarse fallback',
  async (t) => {
    await highsRuntime(); // the wasm runtime loads once per process: not part of the run's time
    // bench/sdc-bench.ts's generator: 980 cells, 357 sensitive (36%), most interior cells empty.
    const { table } = generateTable('1k', '42', 4, 'sparse');
    const limit = 20;
    const started = Date.now();
    const r = await protectSdc([table], benchPlan('heuristic', limit));
    const seconds = (Date.now() - started) / 1000;
    t.ok(seconds <= limit * 1.1 + 1, `ended in ${seconds} s (limit ${limit} s)`);
    t.equal(r.report.auditPasses, true, 'the final audit passed');
    const g = r.report.groups![0]!;
    t.comment(g.coarse ? `coarse fallback: ${g.coarse.description}` : `heuristic pattern, ${g.secondary} secondaries`);
    const cells = r.tables[0]!.cells;
    t.equal(
      cells.every((c, i) => c.conf === 'F' || c.conf === 'D' || c.value === null || table.cells[i]!.units === 0),
      true,
      'every primary hidden',
    );
    // Empty cells only as the last resorts' third cells or widenings (problem.ts, isEmptyCell).
    t.comment(
      `empty cells hidden as secondaries: ${cells.filter((c, i) => c.conf === 'D' && table.cells[i]!.units === 0).length}`,
    );
  },
);
