/**
 * Open domains where the data is read: the CSV stream and the SQL pushdown sources (PGlite, DuckDB) collect the same
 * candidates of an open column (codes met, minus empty, missing codes and the total code, sorted) and return identical
 * exact tables over them, the selection query included; a row holding the total code `_T` is an invalid row
 * ("unknown category") on every path.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { PGlite } from '@electric-sql/pglite';
import { emptyPgliteDataDir } from '../api/pglite-template.ts';
import { csvSource, duckdbSource, pgliteSource } from '../../engine/source/index.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { selectionTables } from '../../engine/policy/open-domain.ts';
import type { AggregateResult } from '../../engine/source/index.ts';
import type { Plan } from '../../engine/types.ts';
import { tempDir } from '../tmp-dir.ts';
import { KEY, expectedCells, loadTable, readCsv, withSource } from './helpers.ts';

const pglite = new PGlite({ loadDataDir: await emptyPgliteDataDir() });
t.teardown(() => pglite.close());

const dir = tempDir('sg-open-sql-');
const rows = ['hid,region,occupation'];
// Households of 1-3 persons (maxRowsPerUnit 2: bounding trims some), codes with spaces, accents and a missing code.
const occ = ['clerk', 'nurse', 'teacher', 'Bäcker', 'sea captain', 'N/A', '_T', 'luthier'];
for (let h = 1; h <= 60; h++)
  for (let p = 0; p < 1 + (h % 3); p++) rows.push(`h${h},${h % 2 ? 'N' : 'S'},${occ[(h * 7 + p * 3) % occ.length]}`);
writeFileSync(path.join(dir, 'people.csv'), rows.join('\n') + '\n');
writeFileSync(
  path.join(dir, 'policy.json'),
  JSON.stringify({
    id: 'open-sql',
    version: '1.0.0',
    release: { title: 'open', audience: 'public', demo: true },
    dataset: {
      id: 'people',
      source: { kind: 'csv', path: 'people.csv' },
      unit: { kind: 'household', column: 'hid', maxRowsPerUnit: 2 },
      onInvalidRow: 'drop',
      columns: [
        { name: 'hid', type: 'string' },
        {
          name: 'region',
          type: 'categorical',
          categories: [
            { code: 'N', label: 'North' },
            { code: 'S', label: 'South' },
          ],
        },
        { name: 'occupation', type: 'categorical', domain: 'open', missingValues: ['N/A'] },
      ],
    },
    tables: [
      { id: 'occ-region', title: 'o', dimensions: ['occupation', 'region'], measure: { kind: 'count' } },
      { id: 'occ', title: 'o', dimensions: [{ column: 'occupation', total: false }], measure: { kind: 'count' } },
    ],
    protection: {
      regime: 'dp',
      mechanism: 'discrete-laplace',
      budget: { epsilon: 1 },
      partitionSelection: { delta: 1e-7, threshold: 'minimum', weight: 0.5 },
    },
  }),
);
const declared = await loadPolicy(path.join(dir, 'policy.json'));
const plan: Plan = { ...declared, tables: [...declared.tables, ...selectionTables(declared)] };

const codesOf = (r: AggregateResult): string[][] =>
  r.tables.map((x) => {
    const d = x.plan.dimensions[0]!;
    return d.nodes.slice(0, d.leafCount).map((n) => n.code);
  });

t.test('csv, PGlite and DuckDB: the same candidates and identical tables', async (t) => {
  const want = await csvSource().aggregate(plan, { boundingKey: KEY });
  const candidates = ['Bäcker', 'clerk', 'luthier', 'nurse', 'sea captain', 'teacher'].sort();
  t.same(codesOf(want), [candidates, candidates, candidates], 'sorted, without N/A and _T');
  t.equal(want.tables[2]!.plan.id, '_select_occupation');
  t.equal(want.tables[2]!.plan.dimensions[0]!.total, null, 'the selection query has no total');
  t.ok(want.stats.dropReasons['unknown category']! > 0, 'rows holding _T are invalid');
  t.equal(declared.protection.regime === 'dp' && declared.protection.partitionSelection!.share, 0.5 / 2.5);

  const { header, rows: recs } = await readCsv(path.join(dir, 'people.csv'));
  await loadTable(pglite, 'micro', header, recs, { kind: 'pglite' });
  const sql = {
    pglite: await pgliteSource({ db: pglite }).aggregate(
      withSource(plan, { kind: 'postgres', table: 'micro', schema: null, connection: null, rowNumberColumn: '_line' }),
      { boundingKey: KEY },
    ),
    duckdb: await duckdbSource().aggregate(
      withSource(plan, { kind: 'csv-duckdb', path: path.join(dir, 'people.csv'), delimiter: ',', header: true }),
      { boundingKey: KEY },
    ),
  };
  for (const [name, got] of Object.entries(sql)) {
    t.same(codesOf(got), codesOf(want), `${name}: same candidates`);
    t.same(expectedCells(plan, got.tables), expectedCells(plan, want.tables), `${name}: same cells`);
    t.same(got.stats.dropReasons, want.stats.dropReasons, `${name}: same drops`);
  }
});
