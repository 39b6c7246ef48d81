/**
 * Holding level: with `unit.holding`, dominance / p% / (p,q) judge contributions summed per holding (enterprise
 * group); the frequency rule still counts distinct units.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validatePolicy, planPolicy } from '../../engine/policy/index.ts';
import type { PolicyDoc } from '../../engine/policy/policy-doc.ts';
import { csvSource } from '../../engine/source/index.ts';
import { aggregateSql } from '../../engine/source/sql-source.ts';
import { applyPrimaryRules } from '../../engine/sdc/index.ts';
import { cellIndex } from '../../engine/types.ts';
import type { Plan } from '../../engine/types.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-holding-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// Sector A: e1 (40) and e2 (35) belong to holding H1, e3 (25) to H2; e1 has two rows (20 + 20).
// Sector B: five independent enterprises of 20.
const CSV = `ent,grp,sector,turnover
e1,H1,A,20
e2,H1,A,35
e3,H2,A,25
e1,H1,A,20
b1,G1,B,20
b2,G2,B,20
b3,G3,B,20
b4,G4,B,20
b5,G5,B,20
`;

function plan(holding: boolean, csv = CSV, unitColumn = true): Plan {
  const file = path.join(tmp, `m${Math.random().toString(36).slice(2)}.csv`);
  writeFileSync(file, csv);
  const doc = {
    id: 'h',
    version: '1',
    release: { title: 'h', audience: 'public' },
    dataset: {
      id: 'h',
      source: { kind: 'csv', path: file },
      unit: {
        kind: 'enterprise',
        ...(unitColumn ? { column: 'ent', maxRowsPerUnit: 5 } : {}),
        ...(holding ? { holding: 'grp' } : {}),
      },
      columns: [
        { name: 'ent', type: 'string' },
        { name: 'grp', type: 'string' },
        {
          name: 'sector',
          type: 'categorical',
          categories: [
            { code: 'A', label: 'A' },
            { code: 'B', label: 'B' },
          ],
        },
        { name: 'turnover', type: 'integer' },
      ],
    },
    tables: [
      {
        id: 'turnover',
        title: 't',
        dimensions: ['sector'],
        measure: { kind: 'sum', column: 'turnover', bounds: [0, 1000] },
      },
    ],
    protection: { regime: 'sdc', rules: { minFrequency: { n: 3 }, dominance: [{ n: 1, k: 60 }], pPercent: { p: 20 } } },
  };
  const v = validatePolicy(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return planPolicy(v.policy, { policyPath: path.join(tmp, 'p.json'), policySha256: '0' });
}

const key = new Uint8Array(32).fill(7);

t.test('top contributions are per holding; units stay distinct units', async (t) => {
  const unitLevel = (await csvSource().aggregate(plan(false), { boundingKey: key })).tables[0]!;
  const holdingLevel = (await csvSource().aggregate(plan(true), { boundingKey: key })).tables[0]!;
  const a = cellIndex(unitLevel.plan.dimensions, [0]);
  t.same(unitLevel.cells[a]!.top, [40, 35, 25], 'per unit: e1 = 20 + 20, e2, e3');
  t.same(holdingLevel.cells[a]!.top, [75, 25], 'per holding: H1 = 40 + 35, H2');
  t.equal(holdingLevel.cells[a]!.units, 3, 'the frequency rule still sees 3 enterprises');
  t.equal(holdingLevel.cells[a]!.sum, 100);
  const total = cellIndex(unitLevel.plan.dimensions, [2]);
  t.same(holdingLevel.cells[total]!.top, [75, 25, 20, 20], 'the total aggregates holdings across sectors too');

  // (1, 60) dominance: 40 of 100 is safe per unit, 75 of 100 is not per holding.
  const p = plan(true).protection;
  if (p.regime !== 'sdc') throw new Error('sdc');
  const perUnit = applyPrimaryRules(unitLevel, p).cells[a]!;
  const perHolding = applyPrimaryRules(holdingLevel, p).cells[a]!;
  t.notOk(perUnit.rules.includes('dominance'));
  t.ok(perHolding.rules.includes('dominance'));
  t.equal(perHolding.status, 'O');
  // p% with p = 20: per unit X - x1 - x2 = 25 >= 8 (safe); per holding 0 < 15 (unsafe).
  t.notOk(perUnit.rules.includes('p-percent'));
  t.ok(perHolding.rules.includes('p-percent'));
  t.equal(
    applyPrimaryRules(holdingLevel, p).cells[cellIndex(unitLevel.plan.dimensions, [1])]!.unsafe,
    false,
    'sector B (5 groups) is safe',
  );
});

t.test('each row its own unit: holdings still group rows', async (t) => {
  const tab = (await csvSource().aggregate(plan(true, CSV, false), { boundingKey: key })).tables[0]!;
  t.same(tab.cells[0]!.top, [75, 25]);
  t.equal(tab.cells[0]!.units, 4, 'four rows, four units');
});

t.test('bad holdings are refused clearly', async (t) => {
  const two = `${CSV}e3,H1,B,5\n`;
  await t.rejects(csvSource().aggregate(plan(true, two), { boundingKey: key }), {
    code: 'ROW_INVALID',
    message: /unit "e3" belongs to two holdings/,
  });
  const empty = `${CSV}e9,,B,5\n`;
  await t.rejects(csvSource().aggregate(plan(true, empty), { boundingKey: key }), {
    code: 'ROW_INVALID',
    message: /missing holding/,
  });
  const doc = {
    id: 'h',
    version: '1',
    release: { title: 'h', audience: 'public' },
    dataset: {
      id: 'h',
      source: { kind: 'csv', path: 'x.csv' },
      unit: { kind: 'enterprise', holding: 'nope' },
      columns: [{ name: 'a', type: 'categorical', categories: [{ code: 'x', label: 'x' }] }],
    },
    tables: [{ id: 't', title: 't', dimensions: ['a'], measure: { kind: 'count' } }],
    protection: { regime: 'sdc', rules: { minFrequency: { n: 3 } } },
  } as unknown as PolicyDoc;
  const r = validatePolicy(doc);
  t.notOk(r.ok);
  if (!r.ok)
    t.match(
      r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'),
      /\/dataset\/unit\/holding: holding column "nope" is not a declared column/,
    );
  // SQL sources refuse a holding column for now (before touching the database).
  const exec = {
    flavor: 'postgres' as const,
    query: async () => {
      throw new Error('must not run');
    },
  };
  await t.rejects(
    aggregateSql(plan(true), { boundingKey: key }, exec, { sql: 'x' } as never, {
      kind: 'postgres',
      name: 'x',
      bytes: 0,
      sha256: '',
      where: 'x',
    }),
    { code: 'USAGE', message: /csv source only/ },
  );
});
