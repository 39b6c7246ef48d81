/**
 * Hierarchies derived from code prefixes (`hierarchies: { ecoNew: { prefixLengths: [1] } }`), end to end through a
 * policy: sdcTable's microdata2, region x gender x ecoNew grouped by its first letter, frequency rule maxN = 3
 * (unsafe when 0 < units < 4): 9 primaries, the best published pattern adds 11.
 */
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDimension, prefixHierarchy } from '../../engine/policy/dimension.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { csvSource } from '../../engine/source/index.ts';
import { protectSdc } from '../../engine/sdc/index.ts';
import { SHARED } from './helpers.ts';

const md2 = `${SHARED}sdctable/csv/microdata2.csv`;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-prefix-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const cats = (...c: string[]) => c.map((code) => ({ code, label: code }));

t.test('prefix levels: every level is a node with its subtotal', async (t) => {
  const d = buildDimension({
    name: 'nace',
    categories: cats('A011', 'A012', 'A021', 'B051', 'B052'),
    hierarchy: prefixHierarchy(cats('A011', 'A012', 'A021', 'B051', 'B052'), {
      prefixLengths: [1, 3],
      labels: { A: 'Agriculture' },
    }),
  });
  const code = (i: number | null) => (i === null ? null : d.nodes[i]!.code);
  t.same(
    d.nodes.map((n) => [n.code, code(n.parent), n.level]),
    [
      ['A011', 'A01', 3],
      ['A012', 'A01', 3],
      ['A021', 'A02', 3],
      ['B051', 'B05', 3],
      ['B052', 'B05', 3],
      ['A01', 'A', 2],
      ['A02', 'A', 2],
      ['A', '_T', 1],
      ['B05', 'B', 2],
      ['B', '_T', 1],
      ['_T', null, 0],
    ],
  );
  t.equal(d.nodes.find((n) => n.code === 'A')!.label, 'Agriculture');
  t.throws(() => prefixHierarchy(cats('A', 'AB'), { prefixLengths: [1] }), /not longer than the longest prefix/);
  t.throws(() => prefixHierarchy(cats('AB', 'AC', 'A1'), { prefixLengths: [2, 1] }), /strictly increasing/);
  t.throws(
    () => prefixHierarchy(cats('_Tx', '_Ty'), { prefixLengths: [2] }),
    /prefix "_T" equals a category code \(or the total code\)/,
  );
});

t.test(
  'microdata2 through a policy with a prefix hierarchy: 9 primaries + 11 secondary',
  { skip: existsSync(md2) ? false : 'needs ../shared/data (sdcTable microdata2)' },
  async (t) => {
    const policy = {
      id: 'md2',
      version: '1',
      release: { title: 'md2', audience: 'public' },
      dataset: {
        id: 'md2',
        source: { kind: 'csv', path: md2 },
        unit: { kind: 'other' },
        columns: [
          { name: 'region', type: 'categorical', categories: cats('R1', 'R2') },
          { name: 'gender', type: 'categorical', categories: cats('m', 'f') },
          { name: 'ecoNew', type: 'categorical', categories: cats('Ca', 'Cb', 'Cc', 'Da', 'Db', 'Dc') },
          { name: 'numVal', type: 'integer' },
        ],
        hierarchies: { ecoNew: { prefixLengths: [1] } },
      },
      tables: [{ id: 'md2', title: 'md2', dimensions: ['region', 'gender', 'ecoNew'], measure: { kind: 'count' } }],
      protection: {
        regime: 'sdc',
        rules: { minFrequency: { n: 4 } },
        secondary: { method: 'optimal', cost: 'unity', timeLimitSeconds: 30 },
      },
    };
    const file = path.join(tmp, 'md2.json');
    writeFileSync(file, JSON.stringify(policy));
    const plan = await loadPolicy(file);
    const eco = plan.tables[0]!.dimensions[2]!;
    t.same(
      eco.nodes.filter((n) => !n.leaf).map((n) => n.code),
      ['C', 'D', '_T'],
      'levels C and D under the total',
    );
    t.equal(
      plan.tables[0]!.dimensions.reduce((n, d) => n * d.nodes.length, 1),
      3 * 3 * 9,
      'every level in the table',
    );
    const exact = await csvSource().aggregate(plan, { boundingKey: new Uint8Array(32) });
    const tab = exact.tables[0]!;
    // Subtotal C = Ca + Cb + Cc in every (region, gender) cell.
    const idx = (r: number, g: number, e: number) => (r * 3 + g) * 9 + e;
    t.equal(tab.cells[idx(2, 2, 6)]!.units, 18 + 16 + 18, 'C subtotal over the whole table');
    t.equal(tab.cells[idx(2, 2, 8)]!.units, 100);
    if (plan.protection.regime !== 'sdc') throw new Error('sdc');
    // sdcTable has no singleton rule: the reference numbers are without it.
    const r = await protectSdc(exact.tables, plan.protection, { singletonRule: false });
    t.equal(r.report.tables[0]!.primaryTotal, 9, '9 primaries');
    t.equal(r.report.optimalFinished, true);
    t.equal(r.report.tables[0]!.secondary, 11, 'the best pattern adds 11');
    t.equal(r.report.auditPasses, true);
    // Aggregates of the prefix levels are in the audit: some suppressed cell is a level subtotal or they all publish.
    t.equal(r.tables[0]!.cells.filter((c) => c.value === null).length, 20);
  },
);
