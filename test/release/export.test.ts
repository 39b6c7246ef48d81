/**
 * `statguard export` (issue 19, formats outside the API): a release directory written by the engine (seeded example
 * policies: sdc with suppressed cells, dp with accuracy) exported as xlsx and as Parquet holds exactly the cells of
 * its JSON-stat files (read by jsonstat-toolkit): every table a sheet (and the Notes sheet) or a Parquet file. A
 * tampered directory is refused by the strict reader and nothing is written; an existing output is replaced only
 * with --force, and only when it is an earlier export of the same format.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DuckDBInstance } from '@duckdb/node-api';
import { runRelease } from '../../engine/pipeline.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { writeRelease } from '../../engine/release/write.ts';
import { cli } from '../robustness/lib/harness.ts';
import { fromJsonStat, fromParquet, fromXlsxSheet, xlsxSheets } from './read-back.ts';

const home = await mkdtemp(path.join(os.tmpdir(), 'sg-export-'));
const duck = await DuckDBInstance.create(':memory:');
const conn = await duck.connect();
t.teardown(async () => {
  conn.closeSync();
  duck.closeSync();
  await rm(home, { recursive: true, force: true });
});

for (const policy of ['tiny-sdc', 'acs-tx-dp-laplace']) {
  t.test(`${policy}: xlsx and Parquet exports hold the JSON-stat files' cells`, async (t) => {
    const plan = await loadPolicy(path.resolve('policies', `${policy}.json`));
    const run = await runRelease(plan, { seed: 'export-seed' });
    const dir = path.join(home, policy);
    const manifest = await writeRelease(run.content, dir);
    const files = await Promise.all(
      manifest.tables.map(async (e) => ({
        id: e.id,
        dims: run.content.tables.find((x) => x.plan.id === e.id)!.plan.dimensions.map((d) => d.name),
        cells: fromJsonStat(JSON.parse(await readFile(path.join(dir, e.files.jsonstat.path), 'utf8'))).cells,
      })),
    );
    t.ok(
      files.some((f) => f.cells.some((c) => c.value === null || c.halfWidth95 !== null)),
      'suppressed or noisy',
    );

    const xlsx = path.join(home, `${policy}.xlsx`);
    const x = await cli(['export', dir, '--format', 'xlsx', '--out', xlsx, '--release-id', `${policy}-v1`]);
    t.equal(x.code, 0, x.err);
    t.match(x.out, `${files.length} table(s)`);
    const sheets = await xlsxSheets(await readFile(xlsx));
    t.same([...sheets.keys()], [...files.map((f) => f.id), 'Notes'], 'every table a sheet, then Notes');
    for (const f of files) t.same(fromXlsxSheet(sheets.get(f.id)!, f.dims.length).cells, f.cells, `${f.id}: xlsx`);
    const notes = sheets.get('Notes')!;
    t.same(notes.find((r) => r[0] === 'Release id')?.[1], `${policy}-v1`);
    t.same(notes.find((r) => r[0] === 'Guarantee')?.[1], manifest.guarantee.statement);

    const out = path.join(home, `${policy}-parquet`);
    const p = await cli(['export', dir, '--format', 'parquet', '--out', out, '--json']);
    t.equal(p.code, 0, p.err);
    const res = JSON.parse(p.out) as { files: string[]; release: string };
    t.equal(res.release, policy, 'default release id: the directory name');
    t.same((await readdir(out)).sort(), files.map((f) => `${f.id}.parquet`).sort());
    for (const f of files) {
      const pq = await fromParquet(
        conn,
        await readFile(path.join(out, `${f.id}.parquet`)),
        home,
        `${policy}-${f.id}`,
        f.dims,
      );
      t.same(pq.cells, f.cells, `${f.id}: parquet`);
      t.equal(pq.kv['statguard.regime'], manifest.regime);
    }
  });
}

t.test('a tampered directory is refused, nothing written; replacing needs --force and an earlier export', async (t) => {
  const dir = path.join(home, 'tiny-sdc');
  const bad = path.join(home, 'tampered');
  await mkdir(bad);
  for (const n of await readdir(dir)) await writeFile(path.join(bad, n), await readFile(path.join(dir, n)));
  const csv = (await readdir(bad)).find((n) => n.endsWith('.csv'))!;
  const text = await readFile(path.join(bad, csv), 'utf8');
  await writeFile(path.join(bad, csv), text.replace(/,F,/, ',D,'));
  const target = path.join(home, 'tampered.xlsx');
  const r = await cli(['export', bad, '--format', 'xlsx', '--out', target]);
  t.equal(r.code, 1);
  t.match(r.err, /RELEASE_INVALID/);
  t.notOk((await readdir(home)).includes('tampered.xlsx'), 'no output');
  t.notOk(
    (await readdir(home)).some((n) => n.includes('.partial-')),
    'no partial output',
  );

  const again = await cli(['export', dir, '--format', 'parquet', '--out', path.join(home, 'tiny-sdc-parquet')]);
  t.equal(again.code, 1);
  t.match(again.err, /OUTPUT_EXISTS.*--force/);
  const forced = await cli([
    'export',
    dir,
    '--format',
    'parquet',
    '--out',
    path.join(home, 'tiny-sdc-parquet'),
    '--force',
  ]);
  t.equal(forced.code, 0, 'an earlier Parquet export is replaced with --force');
  const folder = await cli(['export', dir, '--format', 'xlsx', '--out', dir, '--force']);
  t.equal(folder.code, 1, 'a release directory is never replaced by an export');
  t.match(folder.err, /not a file/);
  t.ok((await readdir(dir)).includes('manifest.json'), 'the directory is untouched');
  const usage = await cli(['export', dir, '--format', 'csv', '--out', target]);
  t.equal(usage.code, 2);
  t.match(usage.err, /--format must be one of xlsx, parquet/);
});
