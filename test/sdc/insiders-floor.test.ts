// Issue 21, a false refusal under the default insider model: the five-enterprise turnover table of
// test/robustness/bad-input.test.ts (policies/tiny-sdc.json's rules) ended in AUDIT_FAILED "computable by a single
// contributor: (N, _T)" under `insiders: 'singletons'`. The contributor of (N, B) = 900 knows region N's total is at
// least 900 whatever is published (it holds its own 900 and the other contributions are non-negative), while N's p%
// protection asked the interval to reach 885.5: no pattern, not even every cell hidden, could give that, so the search
// found nothing to add. The insider's requirement is now capped at its a priori floor (insider-cover.ts,
// insiderTargets), as the public requirement is capped at the a priori bounds. The released pattern is attacked here
// independently (HiGHS on CPLEX LP text built from the published table and the microdata, not the engine's model).
import t from 'tap';
import { highsRuntime } from '../../engine/sdc/highs.ts';
import { containingCells, insiderTargets } from '../../engine/sdc/insider-cover.ts';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { buildCellSystem, protectSdc } from '../../engine/sdc/index.ts';
import { cellCoords, cellIndex } from '../../engine/types.ts';
import type { ExactTable, ProtectedTable, SdcPlan } from '../../engine/types.ts';
import { cats, makeTable, sdcPlan } from './helpers.ts';

/** ent, region, sector, turnover (tenths: one decimal) — the clean rows of the bad-input corpus. */
const ROWS = [
  { ent: 'e01', codes: ['N', 'A'], value: 1205 },
  { ent: 'e02', codes: ['N', 'B'], value: 9000 },
  { ent: 'e03', codes: ['S', 'A'], value: 3000 },
  { ent: 'e04', codes: ['S', 'B'], value: 4500 },
  { ent: 'e05', codes: ['W', 'C'], value: 800 },
];
const TOTAL = '_T';

function turnover(): ExactTable {
  return makeTable(
    'turnover',
    [
      { name: 'region', categories: cats('N', 'S', 'W'), totalCode: TOTAL },
      { name: 'sector', categories: cats('A', 'B', 'C'), totalCode: TOTAL },
    ],
    ROWS,
    { kind: 'sum', column: 'turnover', lower: 0, upper: 1_000_000, decimals: 1 },
  );
}

/** policies/tiny-sdc.json's rules; `insiders` absent = the default ('singletons'). */
const plan = (method: 'auto' | 'optimal' | 'heuristic', insiders?: 'lone-cell'): SdcPlan =>
  sdcPlan({
    minFrequency: 3,
    dominance: [
      { n: 1, k: 85 },
      { n: 2, k: 90 },
    ],
    pPercent: 15,
    secondary: { method, cost: 'unity', timeLimitSeconds: 30, ...(insiders ? { insiders } : {}) },
  });

const codesOf = (tab: ExactTable, i: number): string[] =>
  cellCoords(tab.plan.dimensions, i).map((n, d) => tab.plan.dimensions[d]!.nodes[n]!.code);
const at = (tab: ExactTable, r: string, s: string): number => {
  const dims = tab.plan.dimensions;
  return cellIndex(
    dims,
    [r, s].map((c, d) => dims[d]!.nodes.findIndex((n) => n.code === c)),
  );
};
/** The enterprises in a cell, from the microdata. */
const unitsOf = (tab: ExactTable, i: number): Set<string> => {
  const codes = codesOf(tab, i);
  return new Set(ROWS.filter((r) => r.codes.every((c, d) => codes[d] === TOTAL || codes[d] === c)).map((r) => r.ent));
};

interface Attack {
  readonly cell: string;
  readonly min: number;
  readonly max: number;
  readonly needUp: number;
  readonly needDown: number;
  readonly disclosed: boolean;
}

/**
 * Insider `u`'s attack on every sensitive cell of another enterprise: unknowns = the hidden cells but u (a constant:
 * its contributor knows it), every row and column adds up, cells in [0, grand total]. The cell must not be exact and
 * its interval must reach value + U (capped at the grand total) and value - L, or, when the cell holds u's cell, the
 * insider's a priori floor (u's value: what it knows with nothing published) when that is higher.
 */
async function insiderAttack(tab: ExactTable, hidden: (i: number) => boolean, u: number): Promise<Attack[]> {
  const highs = await highsRuntime();
  const dims = tab.plan.dimensions;
  const exact = (i: number): number => tab.cells[i]!.sum;
  const grand = exact(at(tab, TOTAL, TOTAL));
  const unknown = (i: number): boolean => hidden(i) && i !== u;
  const rels: string[] = [];
  for (let d = 0; d < 2; d++)
    for (let o = 0; o < dims[1 - d]!.nodes.length; o++) {
      const cell = (n: number): number => cellIndex(dims, d === 0 ? [n, o] : [o, n]);
      const parts = [cell(dims[d]!.total!), ...dims[d]!.nodes.flatMap((n, k) => (n.leaf ? [cell(k)] : []))];
      let rhs = 0;
      const lhs: string[] = [];
      parts.forEach((c, k) => {
        const coef = k === 0 ? 1 : -1;
        if (unknown(c)) lhs.push(`${coef > 0 ? '+' : '-'} x${c}`);
        else rhs -= coef * exact(c);
      });
      if (lhs.length > 0) rels.push(` r${rels.length}: ${lhs.join(' ')} = ${rhs}`);
    }
  const vars = tab.cells.flatMap((_, i) => (unknown(i) ? [i] : []));
  const bounds = vars.map((i) => ` 0 <= x${i} <= ${grand}`);
  const primary = applyPrimaryRules(tab, plan('auto')).cells;
  const mine = [...unitsOf(tab, u)][0]!;
  const uCodes = codesOf(tab, u);
  const out: Attack[] = [];
  for (const v of vars) {
    const p = primary[v]!;
    const units = unitsOf(tab, v);
    if (!p.unsafe || (units.size === 1 && units.has(mine))) continue;
    const solve = (sense: 'Minimize' | 'Maximize'): number => {
      const sol = highs.solve([sense, ` obj: x${v}`, 'Subject To', ...rels, 'Bounds', ...bounds, 'End'].join('\n'));
      if (sol.Status !== 'Optimal') throw new Error(`attack LP: ${sol.Status}`);
      return sol.ObjectiveValue;
    };
    const min = solve('Minimize');
    const max = solve('Maximize');
    const holdsU = codesOf(tab, v).every((c, d) => c === TOTAL || c === uCodes[d]);
    const needUp = Math.min(exact(v) + p.upper, grand);
    const needDown = Math.max(exact(v) - p.lower, holdsU ? exact(u) : 0);
    const tol = 1e-6 * (exact(v) + p.upper);
    const disclosed = max - min <= tol || max < needUp - tol || min > needDown + tol;
    out.push({ cell: `(${codesOf(tab, v).join(', ')})`, min, max, needUp, needDown, disclosed });
  }
  return out;
}

/** Every hidden one-unit cell's contributor attacks the published table; returns the insiders and attacks. */
async function attackAll(tab: ExactTable, pub: ProtectedTable): Promise<{ insiders: number; attacks: Attack[] }> {
  const hidden = (i: number): boolean => pub.cells[i]!.value === null;
  const insiders = tab.cells.flatMap((c, i) => (c.units === 1 && hidden(i) ? [i] : []));
  const attacks = (await Promise.all(insiders.map((u) => insiderAttack(tab, hidden, u)))).flat();
  return { insiders: insiders.length, attacks };
}

t.test(
  'the insider floor is a priori: with every cell hidden, (N, B)’s contributor still knows N >= 900',
  async (t) => {
    const tab = turnover();
    const u = at(tab, 'N', 'B');
    const n = at(tab, 'N', TOTAL);
    const all = await insiderAttack(tab, () => true, u);
    const north = all.find((a) => a.cell === `(N, ${TOTAL})`)!;
    t.equal(north.min, 9000, 'the insider’s lower bound of N is its own 900, the grand total hidden too');
    const p = applyPrimaryRules(tab, plan('auto')).cells[n]!;
    t.ok(tab.cells[n]!.sum - p.lower < 9000, `N's public protection asks for ${tab.cells[n]!.sum - p.lower} (< 9000)`);
    // The engine's requirement against that insider is the floor; against the other contributor of N, or an insider
    // outside N, it is the public one.
    const sys = buildCellSystem([tab]);
    const s = { id: n, upper: p.upper, lower: p.lower };
    t.equal(insiderTargets(sys, s, u, containingCells(sys, u)).needDown, 9000, '(N, B) contains in N: floor 900');
    const e01 = at(tab, 'N', 'A');
    t.equal(insiderTargets(sys, s, e01, containingCells(sys, e01)).needDown, 10205 - p.lower, '(N, A): public target');
    const e03 = at(tab, 'S', 'A');
    t.equal(insiderTargets(sys, s, e03, containingCells(sys, e03)).needDown, 10205 - p.lower, '(S, A): public target');
    t.notOk(containingCells(sys, e03).has(n), '(S, A) is not in N');
  },
);

for (const method of ['auto', 'heuristic'] as const)
  t.test(
    `default insiders ('singletons'), ${method}: the table is released, and no insider learns another's cell`,
    async (t) => {
      const tab = turnover();
      const r = await protectSdc([tab], plan(method));
      const pub = r.tables[0]!;
      t.equal(r.report.insiders.model, 'singletons');
      t.equal(r.report.insiders.complete, true);
      t.same(r.report.insiders.exposures, [], 'the reviewer report lists nothing an insider learns');
      t.equal(pub.cells[at(tab, TOTAL, TOTAL)]!.value, 1850.5, 'the grand total is published');
      const { insiders, attacks } = await attackAll(tab, pub);
      t.ok(insiders >= 5, `${insiders} insiders (hidden one-unit cells)`);
      t.ok(attacks.length >= 20, `${attacks.length} insider/cell pairs attacked`);
      for (const a of attacks)
        t.notOk(a.disclosed, `${a.cell} in [${a.min}, ${a.max}] reaches [${a.needDown}, ${a.needUp}]`);
    },
  );

t.test("lone-cell: the reviewer report no longer lists the floor as an insider's finding", async (t) => {
  const r = await protectSdc([turnover()], plan('auto', 'lone-cell'));
  t.same(r.report.insiders.exposures, [], 'N >= 900 is what (N, B)’s contributor knew before any release');
});
