/**
 * The secondary-suppression benchmark's generated tables (bench/sdc-bench.ts): the original dense shapes keep their
 * values (earlier figures reproduce), every shape of 2-5 dimensions is additive, and sparse tables are what the
 * benchmark claims: many empty cells and about half of the non-empty cells sensitive.
 */
import t from 'tap';
import { benchPlan, generateTable } from '../../bench/sdc-bench.ts';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { cellCoords } from '../../engine/types.ts';

t.test('original dense shapes keep their seeds and values', async (t) => {
  for (const [size, cells, primaries, total] of [
    ['1k', 1023, 179, 13_917_501],
    ['10k', 11_132, 1133, 66_728_665],
  ] as const) {
    const { table } = generateTable(size, '42');
    const p = applyPrimaryRules(table, benchPlan('heuristic', 30));
    t.equal(table.cells.length, cells, `${size} cells`);
    t.equal(p.cells.filter((c) => c.unsafe).length, primaries, `${size} primaries`);
    t.equal(table.cells.at(-1)!.sum, total, `${size} grand total`);
  }
});

t.test('1k shapes of 2-5 dimensions, dense and sparse: additive, sparse about half sensitive', async (t) => {
  for (const dims of [2, 3, 4, 5])
    for (const density of ['dense', 'sparse'] as const) {
      const label = `1k ${dims}d ${density}`;
      const { table, leafCells } = generateTable('1k', '42', dims, density);
      const d = table.plan.dimensions;
      t.equal(d.length, dims, `${label}: dimensions`);
      t.ok(table.cells.length >= 900 && table.cells.length <= 1100, `${label}: ${table.cells.length} cells`);
      // Grand total (the last cell) equals the sum over the leaf cells, in units and in value.
      let units = 0;
      let sum = 0;
      let leaves = 0;
      table.cells.forEach((c, i) => {
        if (!cellCoords(d, i).every((x, k) => d[k]!.nodes[x]!.leaf)) return;
        leaves++;
        units += c.units;
        sum += c.sum;
      });
      t.equal(leaves, leafCells, `${label}: leaf cells`);
      t.equal(table.cells.at(-1)!.units, units, `${label}: total units = sum over leaves`);
      t.equal(table.cells.at(-1)!.sum, sum, `${label}: total value = sum over leaves`);
      const p = applyPrimaryRules(table, benchPlan('heuristic', 30));
      const nonEmpty = table.cells.filter((c) => c.units > 0).length;
      const sensitive = p.cells.filter((c, i) => c.unsafe && table.cells[i]!.units > 0).length / nonEmpty;
      const empty = 1 - nonEmpty / table.cells.length;
      if (density === 'sparse') {
        t.ok(sensitive > 0.38 && sensitive < 0.55, `${label}: ${(100 * sensitive).toFixed(1)}% of non-empty sensitive`);
        t.ok(empty > 0.15, `${label}: ${(100 * empty).toFixed(1)}% of cells empty`);
      } else {
        t.ok(sensitive < 0.25, `${label}: ${(100 * sensitive).toFixed(1)}% of non-empty sensitive`);
        t.ok(empty < 0.05, `${label}: ${(100 * empty).toFixed(1)}% of cells empty`);
      }
    }
});
