/**
 * Issue 19, "More formats": every format holds the same values and flags. Real releases of the example policies
 * (seeded; two sdc releases with suppressed cells, two dp releases with accuracy, one of them consistent) are rendered
 * through the API's own `render` (the function that serves every format) for the whole table and for a selection
 * holding a suppressed cell, then read back with independent readers (read-back.ts): fast-csv for CSV and SDMX-CSV,
 * jsonstat-toolkit for JSON-stat, read-excel-file for xlsx, DuckDB read_parquet for Parquet. Each is compared with the
 * JSON format cell by cell: codes, labels, value (null when suppressed), CONF_STATUS, OBS_STATUS, noise SD and 95%
 * half-width.
 *
 * No leak: the exact value of every suppressed cell (captured from the aggregation) is searched in every output: the
 * raw bytes of every format (as text; for Parquet also as float64 / int64 little-endian), the decompressed XML parts
 * of the xlsx (exceljs's fixed theme aside), and everything DuckDB decodes from the Parquet file (cells, schema,
 * key-value metadata, column statistics).
 * A number is searched only when it is distinctive (4 significant digits or more) and not legitimately public (a
 * published value, code, label or manifest number of any of these releases); the same scan must find a published
 * distinctive value in every format, so it is known to see inside each of them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ServedTable } from '../../api/cache.ts';
import { render, type Format } from '../../api/query.ts';
import { tableMeta } from '../../api/store/reconstruct.ts';
import { releaseCapturingExact } from './capture.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { forEachSelected, tableNotes, type Selection } from '../../engine/release/formats.ts';
import { renderRelease } from '../../engine/release/write.ts';
import { flagText, STYLED_CELLS, toXlsx } from '../../engine/release/xlsx.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import { cellCount, strides, type ProtectedTable, type TablePlan } from '../../engine/types.ts';
import { distinctive, numbersIn } from '../robustness/lib/harness.ts';
import {
  fromCsv,
  fromJson,
  fromJsonStat,
  fromParquet,
  fromSdmxCsv,
  fromXlsxSheet,
  unzipTexts,
  xlsxSheets,
  type Cell,
} from './read-back.ts';

const POLICIES = ['tiny-sdc', 'acs-ma-sdc', 'acs-tx-dp-laplace', 'pums-dp'];
const SEED = 'round-trip-seed';

interface Released {
  readonly policy: string;
  readonly releaseId: string;
  readonly regime: string;
  readonly guarantee: string;
  readonly served: ServedTable[];
  /** Distinctive exact values of suppressed cells -> where. */
  readonly secrets: Map<number, string>;
}

async function release(policy: string, legit: Set<number>): Promise<Released> {
  const plan = await loadPolicy(path.resolve('policies', `${policy}.json`));
  const { run, exact } = await releaseCapturingExact(plan, SEED);
  const { manifest } = renderRelease(run.content);
  for (const n of numbersIn(JSON.stringify(manifest))) legit.add(n);
  const secrets = new Map<number, string>();
  const served = run.content.tables.map((table: ProtectedTable, i) => {
    for (const d of table.plan.dimensions)
      for (const n of d.nodes) for (const x of numbersIn(`${n.code} ${n.label}`)) legit.add(x);
    const m = table.plan.measure;
    const div = m.kind === 'count' ? 1 : 10 ** m.decimals;
    table.cells.forEach((c, k) => {
      if (c.value !== null) legit.add(c.value);
      for (const a of [c.accuracy?.noiseSd, c.accuracy?.halfWidth95]) if (a !== undefined) legit.add(a);
      if (c.value !== null) return;
      const e = exact[i]!.cells[k]!;
      const where = `${policy}/${table.plan.id} cell ${k} (suppressed)`;
      for (const v of [e.units, e.sum / div, ...(m.kind === 'mean' && e.units > 0 ? [e.sum / div / e.units] : [])])
        if (distinctive(v)) secrets.set(v, where);
    });
    return {
      table,
      meta: tableMeta(manifest, manifest.tables[i]!.privacy),
      codeIndex: table.plan.dimensions.map((d) => new Map(d.nodes.map((n, j) => [n.code, j]))),
      responses: new Map(),
    };
  });
  return {
    policy,
    releaseId: `${policy}-v1`,
    regime: manifest.regime,
    guarantee: manifest.guarantee.statement,
    served,
    secrets,
  };
}

/** Node 0 and the last node of every dimension, plus the coordinates of the first suppressed cell (if any). */
function selectionWithSuppressed(table: ProtectedTable): Selection {
  const dims = table.plan.dimensions;
  const st = strides(dims);
  const hidden = table.cells.findIndex((c) => c.value === null);
  return dims.map((d, k) => {
    const picks = new Set([0, d.nodes.length - 1]);
    if (hidden >= 0) picks.add(Math.floor(hidden / st[k]!) % d.nodes.length);
    return [...picks].sort((a, b) => a - b);
  });
}

const asText = (b: string | Buffer): string => (typeof b === 'string' ? b : b.toString('latin1'));

/** Little-endian encodings of a number as a Parquet file stores it (DOUBLE, INT64: the types of its numbers). */
function binaryForms(v: number): Buffer[] {
  const out: Buffer[] = [];
  const f = Buffer.alloc(8);
  f.writeDoubleLE(v);
  out.push(f);
  if (Number.isSafeInteger(v)) {
    const i = Buffer.alloc(8);
    i.writeBigInt64LE(BigInt(v));
    out.push(i);
  }
  return out;
}

const duck = await DuckDBInstance.create(':memory:');
const conn = await duck.connect();
const dir = await mkdtemp(path.join(os.tmpdir(), 'sg-round-trip-'));
t.teardown(async () => {
  conn.closeSync();
  duck.closeSync();
  await rm(dir, { recursive: true, force: true });
});

const legit = new Set<number>();
const releases: Released[] = [];
for (const p of POLICIES) releases.push(await release(p, legit));
for (const r of releases) for (const v of legit) r.secrets.delete(v);

t.test('the releases under test have suppressed cells, distinctive secrets, and dp accuracy', async (t) => {
  const tables = releases.flatMap((r) => r.served);
  t.comment(
    `${releases.length} releases, ${tables.length} tables, ${tables.reduce((n, s) => n + s.table.cells.length, 0)} cells ` +
      `(${tables.reduce((n, s) => n + s.table.cells.filter((c) => c.value === null).length, 0)} suppressed); ` +
      `${releases.reduce((n, r) => n + r.secrets.size, 0)} distinctive exact values of suppressed cells searched`,
  );
  const sdc = releases.filter((r) => r.regime === 'sdc');
  const dp = releases.filter((r) => r.regime === 'dp');
  t.ok(
    sdc.every((r) => r.served.some((s) => s.table.cells.some((c) => c.value === null))),
    'sdc: suppressed cells',
  );
  t.ok(
    sdc.reduce((n, r) => n + r.secrets.size, 0) >= 5,
    `sdc: distinctive exact values of suppressed cells to search (${sdc.map((r) => r.secrets.size).join(', ')})`,
  );
  t.ok(
    // Quantile cells state no half-width (engine/dp/quantile.ts: the manifest gives their rank bound).
    dp.every((r) =>
      r.served.every(
        (s) => s.table.plan.measure.kind === 'quantile' || s.table.cells.every((c) => c.accuracy !== null),
      ),
    ),
    'dp: accuracy on every cell of every count, sum and mean table',
  );
  t.ok(
    dp.some((r) => r.served.some((s) => s.table.cells.some((c) => c.value !== null && !Number.isInteger(c.value)))),
    'dp: some non-integer values (means, sums)',
  );
});

/** Everything a leak scan sees in one output, as text. */
async function scanTexts(format: Format, body: string | Buffer, name: string, dims: string[]): Promise<string[]> {
  // xlsx: its raw bytes (the zip: names, and any part stored uncompressed) and every decompressed part but the theme
  // (exceljs's fixed boilerplate of colours and tints, no data; its numbers such as 15000 coincide with round sums).
  if (format === 'xlsx')
    return [
      asText(body),
      ...[...unzipTexts(body as Buffer)].filter(([name]) => !name.startsWith('xl/theme/')).map(([, text]) => text),
    ];
  if (format !== 'parquet') return [asText(body)];
  const p = await fromParquet(conn, body as Buffer, dir, `${name}-scan`, dims);
  const meta = (await conn.runAndReadAll(`SELECT * FROM parquet_metadata($1)`, [p.file])).getRowObjectsJS();
  const js = (x: unknown): string => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  return [asText(body), js(p.cells), js(p.kv), js(p.types), js(meta)];
}

for (const r of releases) {
  t.test(`${r.policy}: every format reads back to the JSON cells; no suppressed value in any byte`, async (t) => {
    for (const s of r.served) {
      const id = s.table.plan.id;
      const dims = s.table.plan.dimensions.map((d) => d.name);
      for (const [selName, sel] of [
        ['whole table', s.table.plan.dimensions.map(() => undefined)],
        ['selection', selectionWithSuppressed(s.table)],
      ] as const) {
        const what = `${r.policy}/${id} ${selName}`;
        const out = async (f: Format, labels: 'code' | 'both' = 'both') =>
          (await render(s, r.releaseId, f, labels, sel as Selection)).body;
        const ref: Cell[] = fromJson((await out('json')) as string);
        t.ok(ref.length > 0, `${what}: cells`);
        const noLabels = (cells: readonly Cell[]) => cells.map((c) => ({ ...c, labels: [] }));

        t.same(await fromCsv((await out('csv')) as string, dims), ref, `${what}: csv`);
        const sdmx = await fromSdmxCsv((await out('sdmx-csv')) as string, dims);
        t.same(sdmx.cells, ref, `${what}: sdmx-csv labels=both`);
        t.same(
          noLabels((await fromSdmxCsv((await out('sdmx-csv', 'code')) as string, dims)).cells),
          noLabels(ref),
          `${what}: sdmx-csv labels=id`,
        );
        const js = fromJsonStat(JSON.parse((await out('jsonstat')) as string));
        t.same(js.cells, ref, `${what}: json-stat (jsonstat-toolkit)`);
        t.same(
          js.status,
          ref.map((c) => (c.conf !== 'F' ? c.conf : c.obs === 'E' ? 'E' : null)),
          `${what}: json-stat status`,
        );
        const xlsx = (await out('xlsx')) as Buffer;
        const sheets = await xlsxSheets(xlsx);
        const sheet = sheets.get(id.slice(0, 31));
        t.ok(sheet, `${what}: xlsx sheet ${id}`);
        const x = fromXlsxSheet(sheet!, dims.length);
        t.same(x.cells, ref, `${what}: xlsx (read-excel-file)`);
        t.same(
          x.flags,
          ref.map((c) => flagText(c.conf as 'F', c.obs as 'A')),
          `${what}: xlsx readable flags`,
        );
        const pq = await fromParquet(conn, (await out('parquet')) as Buffer, dir, `${r.policy}-${id}`, dims);
        t.same(pq.cells, ref, `${what}: parquet (DuckDB)`);

        // The leak scan, and proof that it sees inside every format.
        const published = ref.map((c) => c.value).find((v): v is number => v !== null && distinctive(v));
        for (const f of ['json', 'csv', 'sdmx-csv', 'jsonstat', 'xlsx', 'parquet'] as const) {
          for (const labels of f === 'sdmx-csv' || f === 'json' ? (['code', 'both'] as const) : (['both'] as const)) {
            const body = await out(f, labels);
            const texts = await scanTexts(f, body, `${r.policy}-${id}-${f}`, dims);
            const found = new Set(texts.flatMap((x) => [...numbersIn(x)]));
            for (const [v, where] of r.secrets)
              if (found.has(v)) t.fail(`${what}: ${f} (labels=${labels}) holds ${where}'s exact value`);
            if (f === 'parquet')
              for (const [v, where] of r.secrets)
                for (const b of binaryForms(v))
                  if (Buffer.from(body as Buffer).includes(b)) t.fail(`${what}: ${f} bytes hold ${where}'s value`);
            if (published !== undefined) t.ok(found.has(published), `${what}: the ${f} scan sees ${published}`);
          }
        }
      }
    }
  });
}

t.test(
  'xlsx notes and Parquet metadata: release id, regime, guarantee, legend, notes; typed Parquet columns',
  async (t) => {
    for (const r of releases) {
      for (const s of r.served) {
        const id = s.table.plan.id;
        const dims = s.table.plan.dimensions.map((d) => d.name);
        const all = s.table.plan.dimensions.map(() => undefined);
        const sheets = await xlsxSheets((await render(s, r.releaseId, 'xlsx', 'code', all)).body as Buffer);
        t.same([...sheets.keys()], [id.slice(0, 31), 'Notes'], `${r.policy}/${id}: a table sheet and a Notes sheet`);
        const notes = new Map<string, string[]>();
        for (const row of sheets.get('Notes')!)
          if (typeof row[0] === 'string') notes.set(row[0], [...(notes.get(row[0]) ?? []), String(row[1] ?? '')]);
        t.same(notes.get('Release id'), [r.releaseId]);
        t.same(notes.get('Protection regime'), [r.regime]);
        t.same(notes.get('Guarantee'), [r.guarantee]);
        t.same(notes.get('Note') ?? [], tableNotesOf(s), `${r.policy}/${id}: consistency and bias notes`);
        for (const c of new Set(s.table.cells.map((c) => c.conf)))
          t.ok(notes.has(`CONF_STATUS ${c}`), `${r.policy}/${id}: legend of CONF_STATUS ${c}`);
        for (const o of new Set(s.table.cells.map((c) => c.obs)))
          t.ok(notes.has(`OBS_STATUS ${o}`), `${r.policy}/${id}: legend of OBS_STATUS ${o}`);
        t.equal(
          notes.has('95% half-width'),
          r.regime === 'dp' && s.table.plan.measure.kind !== 'quantile',
          `${r.policy}/${id}: accuracy explained when there is some`,
        );

        const pq = await fromParquet(
          conn,
          (await render(s, r.releaseId, 'parquet', 'code', all)).body as Buffer,
          dir,
          `${r.policy}-${id}-meta`,
          dims,
        );
        t.equal(pq.kv['statguard.release'], r.releaseId);
        t.equal(pq.kv['statguard.regime'], r.regime);
        t.equal(pq.kv['statguard.guarantee'], r.guarantee);
        t.same(JSON.parse(pq.kv['statguard.notes']!), tableNotesOf(s));
        const json = JSON.parse((await render(s, r.releaseId, 'json', 'code', all)).body as string);
        t.same(json.notes ?? [], tableNotesOf(s), `${r.policy}/${id}: the JSON format's notes`);
        const m = s.table.plan.measure;
        t.same(
          pq.types,
          {
            ...Object.fromEntries(
              dims.flatMap((d) => [
                [d, 'BYTE_ARRAY REQUIRED'],
                [`${d}_label`, 'BYTE_ARRAY REQUIRED'],
              ]),
            ),
            value: `${m.kind === 'count' ? 'INT64' : 'DOUBLE'} OPTIONAL`,
            conf_status: 'BYTE_ARRAY REQUIRED',
            obs_status: 'BYTE_ARRAY REQUIRED',
            noise_sd: 'DOUBLE OPTIONAL',
            half_width_95: 'DOUBLE OPTIONAL',
          },
          `${r.policy}/${id}: Parquet column types`,
        );
      }
    }
    // The consistent dp release states its consistency in both.
    const consistent = releases.find((r) => r.policy === 'acs-tx-dp-laplace')!;
    t.match(tableNotesOf(consistent.served[0]!).join(' '), /Consistent table/);
  },
);

function tableNotesOf(s: ServedTable): string[] {
  return tableNotes(s.table, s.meta);
}

t.test('a workbook past STYLED_CELLS (written without styles) reads back the same', async (t) => {
  const cats = (p: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({ code: `${p}${i}`, label: `${p.toUpperCase()} ${i}` }));
  const a = buildDimension({ name: 'area', label: 'Area', categories: cats('a', 150) });
  const b = buildDimension({ name: 'act', label: 'Activity', categories: cats('b', 150) });
  const plan: TablePlan = {
    id: 'big',
    title: 'Big',
    description: '',
    dimensions: [a, b],
    measure: { kind: 'sum', column: 'x', lower: 0, upper: 10, decimals: 1 },
    budgetShare: 1,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const n = cellCount(plan.dimensions);
  t.ok(n > STYLED_CELLS, `${n} cells`);
  const table: ProtectedTable = {
    kind: 'protected',
    plan,
    cells: Array.from({ length: n }, (_, i) =>
      i % 11 === 3
        ? { value: null, conf: 'D', obs: 'A', accuracy: null }
        : { value: 1000.5 + i, conf: 'F', obs: 'E', accuracy: { noiseSd: 2.25, scale: 1, halfWidth95: 4.5 } },
    ),
  };
  const meta = releases[0]!.served[0]!.meta;
  const sheets = await xlsxSheets(await toXlsx([{ table, meta }], { releaseId: 'big-v1' }));
  const back = fromXlsxSheet(sheets.get('big')!, 2).cells;
  t.equal(back.length, n);
  const want: Cell[] = [];
  forEachSelected(table, undefined, (coords, c) =>
    want.push({
      key: coords.map((k, d) => plan.dimensions[d]!.nodes[k]!.code),
      labels: coords.map((k, d) => plan.dimensions[d]!.nodes[k]!.label),
      value: c.value,
      conf: c.conf,
      obs: c.obs,
      noiseSd: c.accuracy?.noiseSd ?? null,
      halfWidth95: c.accuracy?.halfWidth95 ?? null,
    }),
  );
  t.same(back, want, 'every cell');
});
