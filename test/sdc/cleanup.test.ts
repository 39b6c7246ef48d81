import t from 'tap';
import { fileURLToPath } from 'node:url';
import { auditPattern } from '../../engine/sdc/audit.ts';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { protectSdc } from '../../engine/sdc/protect.ts';
import { buildCellSystem } from '../../engine/sdc/relations.ts';
import { cellCosts } from '../../engine/sdc/problem.ts';
import type { SecondaryInput } from '../../engine/sdc/problem.ts';
import { heuristicSuppression } from '../../engine/sdc/heuristic.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { sourceFor } from '../../engine/source/index.ts';
import type { ExactTable, SdcPlan } from '../../engine/types.ts';
import { cats, makeTable, sdcPlan } from './helpers.ts';

/** Secondary-suppression input of one table, from its primary rules (ids = the table's cell indices). */
function inputOf(tab: ExactTable, plan: SdcPlan): SecondaryInput {
  const sys = buildCellSystem([tab]);
  const p = applyPrimaryRules(tab, plan);
  const primary = Uint8Array.from(p.cells, (c) => (c.unsafe ? 1 : 0));
  const sensitive = p.cells.flatMap((c, i) => (c.unsafe ? [{ id: i, upper: c.upper, lower: c.lower }] : []));
  return {
    sys,
    tables: [tab],
    sensitive,
    primary,
    never: new Uint8Array(sys.cellCount),
    cost: cellCosts(sys, plan.secondary.cost),
  };
}

/**
 * 6 rows in two groups (A = r1+r2+r3, B = r4+r5+r6, total T) x 3 columns with a total; count table, every cell
 * 5 units except the primaries (2 units, below minFrequency 3).
 * By hand (unity cost): a primary p is a leaf, so it lies in exactly two relations, its group's column relation and its
 * row's total relation; each needs a second suppressed cell (else p is determined), and each of those two cells needs
 * a partner in its own other relation, which a fourth cell closes at the least: the optimum for one primary is a
 * 2 x 2 rectangle inside its group, 3 secondaries. Two primaries in different groups and columns share no relation
 * and no rectangle cell can serve both (a rectangle stays inside a group and a rectangle of cells in different
 * groups is not closed), so 6 secondaries.
 */
function handTable(primaries: readonly [string, string][]): ExactTable {
  const rowsCodes = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
  const cols = ['c1', 'c2', 'c3'];
  const rows: { codes: string[]; value: number }[] = [];
  for (const r of rowsCodes)
    for (const c of cols) {
      const n = primaries.some(([pr, pc]) => pr === r && pc === c) ? 2 : 5;
      for (let u = 0; u < n; u++) rows.push({ codes: [r, c], value: 1 });
    }
  return makeTable(
    'hand',
    [
      {
        name: 'row',
        categories: cats(...rowsCodes),
        hierarchy: [
          { code: 'A', label: 'A', children: ['r1', 'r2', 'r3'] },
          { code: 'B', label: 'B', children: ['r4', 'r5', 'r6'] },
        ],
      },
      { name: 'col', categories: cats(...cols) },
    ],
    rows,
  );
}

const countSecondary = (input: SecondaryInput, sup: Uint8Array): number =>
  sup.reduce((n, v, i) => n + (v && !input.primary[i] ? 1 : 0), 0);

t.test('hand-built 2-level table: heuristic + clean-up within 1.5x of the optimum known by hand', async (t) => {
  const plan = sdcPlan({ minFrequency: 3, secondary: { method: 'optimal', cost: 'unity', timeLimitSeconds: 20 } });
  const cases: [[string, string][], number][] = [
    [[['r1', 'c1']], 3],
    [
      [
        ['r1', 'c1'],
        ['r5', 'c2'],
      ],
      6,
    ],
  ];
  for (const [primaries, byHand] of cases) {
    const tab = handTable(primaries);
    const input = inputOf(tab, plan);
    t.equal(input.sensitive.length, primaries.length);
    const opt = await protectSdc([tab], plan);
    t.equal(opt.report.optimalFinished, true);
    t.equal(opt.report.tables[0]!.secondary, byHand, `the MIP finds the optimum known by hand (${byHand})`);
    const raw = await heuristicSuppression(input, { cleanupSeconds: 0 });
    const h = await heuristicSuppression(input, { cleanupSeconds: 20 });
    const n = countSecondary(input, h.suppressed);
    t.ok(n <= 1.5 * byHand, `heuristic + clean-up: ${n} secondaries <= 1.5 x ${byHand}`);
    t.ok(n <= countSecondary(input, raw.suppressed), 'the clean-up never adds a cell');
    t.equal(h.cleanupFinished, true);
    t.ok(primaries.length > 0 && input.sensitive.every((s) => h.suppressed[s.id] === 1), 'primaries stay suppressed');
    t.equal(
      (await auditPattern(input.sys, h.suppressed, input.sensitive)).passes,
      true,
      'independent audit of the cleaned pattern',
    );
  }
});

t.test('clean-up time budget 0 returns the hypercube pattern unchanged, still audited', async (t) => {
  const tab = handTable([
    ['r1', 'c1'],
    ['r5', 'c2'],
  ]);
  const input = inputOf(
    tab,
    sdcPlan({ minFrequency: 3, secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: 20 } }),
  );
  const raw = await heuristicSuppression(input, { cleanupSeconds: 0 });
  t.equal(raw.cleanupRemoved, 0);
  t.equal(raw.audit.passes, true);
});

const policyFile = fileURLToPath(new URL('../../policies/acs-ma-sdc.json', import.meta.url));

t.test('acs-ma-sdc: each link group gets its own method; the income table needs few secondaries', async (t) => {
  const plan = await loadPolicy(policyFile);
  const agg = await sourceFor(plan).aggregate(plan, { boundingKey: new Uint8Array(32) });
  const p = plan.protection;
  if (p.regime !== 'sdc') throw new Error('acs-ma-sdc is an sdc policy');
  const income = agg.tables.findIndex((x) => x.plan.id === 'income-puma-sector');
  t.ok(income >= 0);

  const auto = await protectSdc(agg.tables, { ...p, secondary: { ...p.secondary, method: 'auto' } });
  const groups = auto.report.groups!;
  t.equal(groups.length, auto.report.linkGroups, 'one run per link group');
  const g = groups.find((x) => x.tables.includes('income-puma-sector'))!;
  t.same(g.tables, ['income-puma-sector'], 'the income table (a sum) is its own group');
  t.equal(g.cells, 48);
  t.equal(g.method, 'optimal', 'auto: a 48-cell group gets the MIP whatever the size of the release');
  t.equal(g.optimalFinished, true);
  const optimal = auto.report.tables[income]!.secondary;
  t.equal(g.secondary, optimal);
  t.equal(auto.report.tables[income]!.primaryTotal, 4);

  // The heuristic (hypercubes + clean-up) on the same release: 34 secondaries before the clean-up pass existed.
  const heur = await protectSdc(agg.tables, { ...p, secondary: { ...p.secondary, method: 'heuristic' } });
  const hs = heur.report.tables[income]!.secondary;
  t.equal(heur.report.auditPasses, true);
  t.ok(hs >= optimal, `heuristic (${hs}) never beats the optimum (${optimal})`);
  t.ok(hs <= 8 && hs <= 2 * optimal, `heuristic: ${hs} secondaries of 48 cells (optimum ${optimal})`);
  t.ok(heur.report.groups!.every((x) => x.method === 'heuristic' && (x.sensitive === 0 || x.cleanupFinished === true)));
  // Not every PUMA total is suppressed (the old pattern hid all of them and the grand total).
  const hidden = heur.tables[income]!.cells.filter((c) => c.value === null).length;
  t.equal(hidden, 4 + hs);
});
