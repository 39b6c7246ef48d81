import t from 'tap';
import seedrandom from 'seedrandom';
import { protectSdc } from '../../engine/sdc/protect.ts';
import { auditPattern } from '../../engine/sdc/audit.ts';
import { buildCellSystem } from '../../engine/sdc/relations.ts';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { heuristicSuppression } from '../../engine/sdc/heuristic.ts';
import { optimalSuppression } from '../../engine/sdc/optimal.ts';
import type { ExactTable, SdcPlan } from '../../engine/types.ts';
import {
  SHARED,
  cats,
  codesOf,
  hasShared,
  makeTable,
  microdata1,
  readCsv,
  sdcPlan,
  sdcTableNumber,
  sumMeasure,
  secondaryInputOf,
} from './helpers.ts';

const skip = hasShared ? false : 'needs ../shared/data (sdcTable microdata)';
const suppressedNumbers = (tab: ExactTable, cells: readonly { value: number | null }[]): number[] =>
  cells.flatMap((c, i) => (c.value === null ? [sdcTableNumber(tab, codesOf(tab, i))] : [])).sort((a, b) => a - b);

t.test('sdcTable reference: single primary (A, female) gets the rectangle 5, 6, 11, 12', { skip }, async (t) => {
  const tab = microdata1(sumMeasure);
  for (const method of ['optimal', 'heuristic'] as const) {
    const r = await protectSdc(
      [tab],
      sdcPlan({ minFrequency: 3, secondary: { method, cost: 'value', timeLimitSeconds: 20 } }),
    );
    t.same(
      suppressedNumbers(tab, r.tables[0]!.cells),
      [5, 6, 11, 12],
      `${method}: sdcTable's OPT / HITAS / HYPERCUBE pattern`,
    );
    t.equal(r.report.auditPasses, true);
    t.equal(r.report.tables[0]!.secondary, 3);
    const prim = r.tables[0]!.cells.filter((c) => c.conf === 'A');
    t.equal(prim.length, 1);
    t.equal(r.tables[0]!.cells.filter((c) => c.conf === 'D').length, 3);
    if (method === 'optimal') t.equal(r.report.optimalFinished, true);
  }
  // Unity costs: every rectangle costs the same; the optimum has 4 cells.
  const u = await protectSdc(
    [tab],
    sdcPlan({ minFrequency: 3, secondary: { method: 'optimal', cost: 'unity', timeLimitSeconds: 20 } }),
  );
  t.equal(u.tables[0]!.cells.filter((c) => c.value === null).length, 4);
});

t.test('microdata1 count table, frequency rule maxN = 3: 1 primary + 3 secondary', { skip }, async (t) => {
  const tab = microdata1();
  const r = await protectSdc(
    [tab],
    sdcPlan({ minFrequency: 4, secondary: { method: 'optimal', cost: 'frequency', timeLimitSeconds: 20 } }),
  );
  t.equal(r.report.tables[0]!.primaryTotal, 1);
  t.equal(r.report.tables[0]!.secondary, 3);
  // Published values are exact counts; suppressed values are null.
  const published = r.tables[0]!.cells.filter((c) => c.value !== null);
  t.equal(published.length, 15 - 4);
  t.ok(
    published.every((c, i) => Number.isInteger(c.value) && c.conf === 'F' && c.obs === 'A'),
    String(published.length),
  );
});

function microdata2(): ExactTable {
  const rows = readCsv(`${SHARED}sdctable/csv/microdata2.csv`);
  const eco = [...new Set(rows.map((r) => r.ecoNew!))].sort();
  const letters = [...new Set(eco.map((e) => e[0]!))].sort();
  return makeTable(
    'md2',
    [
      { name: 'region', categories: cats('R1', 'R2') },
      { name: 'gender', categories: cats('m', 'f') },
      {
        name: 'ecoNew',
        categories: cats(...eco),
        hierarchy: letters.map((l) => ({ code: l, label: l, children: eco.filter((e) => e[0] === l) })),
      },
    ],
    rows.map((r) => ({ codes: [r.region!, r.gender!, r.ecoNew!], value: Number(r.numVal) })),
  );
}

t.test('microdata2 region x gender x ecoNew (grouped by first letter), maxN = 3', { skip }, async (t) => {
  const tab = microdata2();
  const plan = sdcPlan({ minFrequency: 4, secondary: { method: 'optimal', cost: 'unity', timeLimitSeconds: 30 } });
  // Without the singleton rule (sdcTable has none): 9 primaries, the best pattern adds 11.
  const r = await protectSdc([tab], plan, { singletonRule: false });
  t.equal(r.report.tables[0]!.primaryTotal, 9);
  if (r.report.optimalFinished) t.equal(r.report.tables[0]!.secondary, 11, 'optimal pattern adds 11 cells');
  else t.ok(r.report.tables[0]!.secondary >= 11, 'time limit hit: heuristic pattern');
  // With the singleton rule the optimum can only cost more, and still passes the audit.
  const s = await protectSdc([tab], plan);
  t.ok(s.report.tables[0]!.secondary >= r.report.tables[0]!.secondary);
  t.equal(s.report.auditPasses, true);
  const h = await protectSdc([tab], { ...plan, secondary: { ...plan.secondary, method: 'heuristic' } });
  t.equal(h.report.auditPasses, true);
  t.ok(
    h.report.tables[0]!.secondary >= s.report.tables[0]!.secondary || !s.report.optimalFinished,
    'optimal never worse than the heuristic',
  );
});

/** A random 30 x 20 table with a two-level hierarchy on both dimensions, sums with a few dominant contributors. */
function randomTable(seed: string, nRows = 30, nCols = 20): ExactTable {
  const rng = seedrandom(seed);
  const rCodes = Array.from({ length: nRows }, (_, i) => `r${String(i).padStart(2, '0')}`);
  const cCodes = Array.from({ length: nCols }, (_, i) => `c${String(i).padStart(2, '0')}`);
  const group = (codes: string[], size: number, p: string) =>
    Array.from({ length: Math.ceil(codes.length / size) }, (_, g) => ({
      code: `${p}${g}`,
      label: `${p}${g}`,
      children: codes.slice(g * size, g * size + size),
    }));
  const rows: { codes: string[]; value: number }[] = [];
  for (const r of rCodes)
    for (const c of cCodes) {
      const n = Math.floor(rng() * rng() * 12);
      for (let u = 0; u < n; u++)
        rows.push({ codes: [r, c], value: 1 + Math.floor(rng() * (rng() < 0.05 ? 2000 : 100)) });
    }
  return makeTable(
    'rnd',
    [
      { name: 'row', categories: cats(...rCodes), hierarchy: group(rCodes, 6, 'R') },
      { name: 'col', categories: cats(...cCodes), hierarchy: group(cCodes, 5, 'C') },
    ],
    rows,
    sumMeasure,
  );
}

t.test('heuristic on a random 30x20 hierarchical table passes the audit', async (t) => {
  const tab = randomTable('sdc-heuristic-1');
  const plan: SdcPlan = sdcPlan({
    minFrequency: 3,
    dominance: [{ n: 1, k: 85 }],
    pPercent: 10,
    // The search and audit of the lone-cell rule (insiders are test/sdc/insiders*.test.ts's subject); its insider report
    // runs until the time limit (about 25 s of this table at 60 s).
    secondary: { method: 'auto', cost: 'value', timeLimitSeconds: 15, insiders: 'lone-cell' },
  });
  // ~ 1.5-3 s on a laptop-class machine (measured, not asserted).
  const r = await protectSdc([tab], plan);
  t.equal(r.report.method, 'heuristic', 'auto picks the heuristic for 37 x 25 = 925 cells');
  t.equal(r.report.auditPasses, true);
  const rep = r.report.tables[0]!;
  t.ok(rep.primaryTotal > 20, `many primaries (${rep.primaryTotal})`);
  t.ok(rep.sensitive.every((c) => c.passes));
  // Independent re-audit of the published pattern.
  const sys = buildCellSystem([tab]);
  const p = applyPrimaryRules(tab, plan);
  const suppressed = Uint8Array.from(r.tables[0]!.cells, (c) => (c.value === null ? 1 : 0));
  const sens = p.cells.flatMap((c, i) => (c.unsafe ? [{ id: i, upper: c.upper, lower: c.lower }] : []));
  t.ok(
    sens.every((s) => suppressed[s.id]),
    'every primary is suppressed',
  );
  t.equal((await auditPattern(sys, suppressed, sens)).passes, true);
  // Primary statuses carried through; secondary cells are 'D'.
  t.ok(r.tables[0]!.cells.every((c) => (c.value === null) === (c.conf !== 'F')));
});

const inputOf = secondaryInputOf;

t.test(
  'heuristic from a start pattern: it reuses and trims the given cells, and the result passes the audit',
  async (t) => {
    const tab = randomTable('sdc-start');
    const plan = sdcPlan({
      minFrequency: 3,
      dominance: [{ n: 1, k: 85 }],
      secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: 20 },
    });
    const input = inputOf(tab, plan);
    // A safe pattern plus a fifth of the other cells: safe already, so nothing is added and the extra cells go.
    const safe = await heuristicSuppression(input, { cleanupSeconds: 20 });
    const rng = seedrandom('sdc-start-pattern');
    const start = Uint8Array.from(safe.suppressed);
    for (let c = 0; c < start.length; c++) if (rng() < 0.2) start[c] = 1;
    const r = await heuristicSuppression(input, { cleanupSeconds: 20, start });
    t.equal(r.audit.passes, true, 'the pattern passes the audit');
    t.equal(
      (await auditPattern(input.sys, r.suppressed, input.sensitive)).passes,
      true,
      'and an independent exact audit',
    );
    const n = (a: Uint8Array): number => a.reduce((k, v) => k + v, 0);
    t.ok(
      r.suppressed.every((v, c) => !v || start[c]),
      'nothing outside the (safe) start pattern is added',
    );
    t.ok(
      n(r.suppressed) < n(start),
      `the clean-up published start cells the pattern does not need (${n(r.suppressed)} < ${n(start)})`,
    );
    t.ok(
      input.sensitive.every((x) => r.suppressed[x.id]),
      'every primary stays suppressed',
    );
  },
);

t.test(
  'optimal: the proven lower bound never exceeds the optimum, and an unfinished run still returns a safe pattern',
  async (t) => {
    const tab = randomTable('sdc-bound');
    const plan = sdcPlan({
      minFrequency: 3,
      dominance: [{ n: 1, k: 85 }],
      secondary: { method: 'optimal', cost: 'unity', timeLimitSeconds: 5 },
    });
    const input = inputOf(tab, plan);
    const cost = (a: Uint8Array): number => a.reduce((k, v, c) => k + (v ? input.cost[c]! : 0), 0);
    const proven = { lowerBound: 0 };
    let fellBack = false;
    const r = await optimalSuppression(
      input,
      5,
      async (start) => {
        fellBack = true;
        t.ok(start === undefined || start.length === input.sys.cellCount, 'the fallback gets the last master pattern');
        return heuristicSuppression(input, { cleanupSeconds: 10, ...(start ? { start } : {}) });
      },
      proven,
    );
    t.equal(r.audit.passes, true, 'the pattern passes the audit');
    t.ok(proven.lowerBound > 0, `a bound was proven (${proven.lowerBound})`);
    t.ok(
      proven.lowerBound <= cost(r.suppressed) + 1e-6,
      `bound ${proven.lowerBound} <= cost of a safe pattern ${cost(r.suppressed)}`,
    );
    if (!fellBack) t.equal(proven.lowerBound, cost(r.suppressed), 'finished: the bound is the optimum');
    if (hasShared) {
      // sdcTable's microdata1 (region x gender, unity costs) solves to optimality: 4 cells, and the bound says so.
      const m = inputOf(
        microdata1(sumMeasure),
        sdcPlan({ minFrequency: 3, secondary: { method: 'optimal', cost: 'unity', timeLimitSeconds: 20 } }),
      );
      const done = { lowerBound: 0 };
      const o = await optimalSuppression(
        m,
        20,
        () => {
          throw new Error('no fallback expected');
        },
        done,
      );
      t.equal(o.optimalFinished, true);
      t.equal(done.lowerBound, 4, 'the bound of a finished run is the optimum');
    }
  },
);

t.test('a clean-up that exposes a singleton far from its removals is repaired, not trusted', async (t) => {
  // Seed found by scanning: here a removal pins a secondary cell by the equalities together, far from the removed
  // cell, leaving a one-unit cell and a primary as the only hidden cells of a relation; the audit after the clean-up
  // catches it and the repair suppresses a third cell.
  const tab = randomTable('scan-34', 18, 15);
  const plan = sdcPlan({
    minFrequency: 3,
    dominance: [{ n: 1, k: 85 }],
    secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: 10 },
  });
  const input = inputOf(tab, plan);
  const r = await heuristicSuppression(input, { cleanupSeconds: 10 });
  t.ok(
    (r.cleanupRepairs ?? 0) > 0,
    `the audit after the clean-up failed and was repaired (${r.cleanupRepairs} rounds)`,
  );
  t.ok((r.cleanupRemoved ?? 0) > 0, `the clean-up's removals were kept (${r.cleanupRemoved} net)`);
  const exact = await auditPattern(input.sys, r.suppressed, input.sensitive, { intervals: 'exact' });
  t.equal(exact.passes, true, 'an independent exact audit passes');
  t.equal(exact.singletons.length, 0, 'no singleton exposure left');
});

t.test('linked tables are protected together', async (t) => {
  const rng = seedrandom('linked');
  const rows = Array.from({ length: 160 }, () => ({
    r: `r${Math.floor(rng() * 5)}`,
    g: rng() < 0.5 ? 'm' : 'f',
    a: `a${Math.floor(rng() * 4)}`,
  }));
  rows.push({ r: 'r0', g: 'f', a: 'a0' });
  const region = { name: 'region', categories: cats('r0', 'r1', 'r2', 'r3', 'r4') };
  const t1 = makeTable(
    'rg',
    [region, { name: 'gender', categories: cats('m', 'f') }],
    rows.map((x) => ({ codes: [x.r, x.g], value: 1 })),
  );
  const t2 = makeTable(
    'ra',
    [region, { name: 'age', categories: cats('a0', 'a1', 'a2', 'a3') }],
    rows.map((x) => ({ codes: [x.r, x.a], value: 1 })),
  );
  const plan = sdcPlan({
    minFrequency: 10,
    secondary: { method: 'heuristic', cost: 'frequency', timeLimitSeconds: 10 },
  });
  const r = await protectSdc([t1, t2], plan);
  t.equal(r.report.auditPasses, true);
  t.equal(r.report.linkGroups, 1);
  // Shared margin cells have the same fate in both tables.
  for (let i = 0; i < 5; i++) {
    const a = r.tables[0]!.cells[i * 3 + 2]!; // (ri, _T) in rg: gender has 3 nodes, total last
    const b = r.tables[1]!.cells[i * 5 + 4]!;
    t.equal(a.value === null, b.value === null, `region r${i} margin consistent`);
  }
  // Each table re-audited together must pass; the optimal method agrees.
  const o = await protectSdc([t1, t2], { ...plan, secondary: { ...plan.secondary, method: 'optimal' } });
  t.equal(o.report.auditPasses, true);
});

t.test('protectSdc refuses bad input', async (t) => {
  await t.rejects(protectSdc([], sdcPlan()), { code: 'EMPTY_INPUT' });
  const tab = makeTable('t', [{ name: 'x', categories: cats('a', 'b') }], [{ codes: ['a'], value: 1 }]);
  const broken: ExactTable = { ...tab, cells: tab.cells.map((c, i) => (i === 2 ? { ...c, units: 5, sum: 5 } : c)) };
  await t.rejects(protectSdc([broken], sdcPlan()), { code: 'SDC_INFEASIBLE', message: /do not add up/ });
});
