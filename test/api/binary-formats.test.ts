/**
 * Issue 19, "More formats", through the API: format=xlsx and format=parquet of a published release (dp, with
 * suppressed cells and accuracy) are served with their content type and an attachment file name, read back (xlsx by
 * read-excel-file, Parquet by DuckDB) to the same cells as format=json; a withdrawn release and a selection over the
 * cell limit are refused as problem+json in these formats too (no file name, no bytes of the table); the OpenAPI
 * document lists both formats and their media types.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DuckDBInstance } from '@duckdb/node-api';
import { build } from '../../api/app.ts';
import { RenderLimit } from '../../api/render-limit.ts';
import type { Actor } from '../../api/store/audit.ts';
import { fromJson, fromParquet, fromXlsxSheet, xlsxSheets } from '../release/read-back.ts';
import { dialects } from './dialects.ts';
import { seedReleases } from './fixtures.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const PARQUET = 'application/vnd.apache.parquet';

const duck = await DuckDBInstance.create(':memory:');
const conn = await duck.connect();
const dir = await mkdtemp(path.join(os.tmpdir(), 'sg-binary-formats-'));
t.teardown(async () => {
  conn.closeSync();
  duck.closeSync();
  await rm(dir, { recursive: true, force: true });
});

for (const d of dialects()) {
  t.test(`xlsx and parquet through the API on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const { pub, gone } = await seedReleases(store.db, system, 'a coding error in the source');
    const app = await build({ store, config: { rateLimit: null } });
    const small = await build({ store, config: { rateLimit: null, maxCells: 4 } });
    t.teardown(async () => {
      await app.close();
      await small.close();
    });

    // Once (on PGlite, as before: the links do not depend on the store), on an app of its own: every format here is
    // a fresh rendering, not one the response cache holds from the tests below.
    if (d.name === 'pglite')
      t.test('every format links to the table metadata, whose notes are the table notes', async (t) => {
        const linked = await build({ store, config: { rateLimit: null } });
        t.teardown(() => linked.close());
        const list = JSON.parse((await linked.inject({ url: `/v1/releases/${pub}` })).body) as {
          tables: { id: string }[];
        };
        const table = list.tables[0]!.id;
        for (const format of ['json', 'csv', 'sdmx-csv', 'jsonstat', 'xlsx', 'parquet']) {
          const r = await linked.inject({ url: `/v1/releases/${pub}/tables/${table}?format=${format}` });
          t.equal(r.statusCode, 200, format);
          const m = /^<([^>]+)>; rel="describedby"; type="application\/json"$/.exec(String(r.headers.link));
          t.ok(m, `${format}: Link rel=describedby (${r.headers.link})`);
          const meta = await linked.inject({ url: m![1]! });
          t.equal(meta.statusCode, 200, `${format}: the linked metadata answers`);
          t.ok(Array.isArray(JSON.parse(meta.body).notes), 'with its notes');
        }
      });

    for (const q of ['', '?region=N1,N2,S1&sex=2']) {
      t.test(`pop${q || ' (whole table)'}: the same cells as format=json`, async (t) => {
        const base = `/v1/releases/${pub}/tables/pop${q}${q ? '&' : '?'}`;
        const ref = fromJson((await app.inject({ url: `${base}format=json&labels=both` })).body);
        t.ok(
          ref.some((c) => c.value === null) && ref.some((c) => c.halfWidth95 !== null),
          'suppressed and noisy cells',
        );

        const x = await app.inject({ url: `${base}format=xlsx` });
        t.equal(x.statusCode, 200);
        t.equal(x.headers['content-type'], XLSX);
        t.equal(x.headers['content-disposition'], `attachment; filename="${pub}-pop.xlsx"`);
        const sheets = await xlsxSheets(x.rawPayload);
        t.same([...sheets.keys()], ['pop', 'Notes']);
        t.same(fromXlsxSheet(sheets.get('pop')!, 2).cells, ref, 'xlsx cells');
        const again = await app.inject({ url: `${base}format=xlsx&labels=code` });
        t.ok(again.rawPayload.equals(x.rawPayload), 'served again from the response cache (labels do not matter)');

        const p = await app.inject({ url: `${base}format=parquet` });
        t.equal(p.statusCode, 200);
        t.equal(p.headers['content-type'], PARQUET);
        t.equal(p.headers['content-disposition'], `attachment; filename="${pub}-pop.parquet"`);
        const pq = await fromParquet(conn, p.rawPayload, dir, `pop${q ? '-sel' : ''}`, ['region', 'sex']);
        t.same(pq.cells, ref, 'parquet cells');
        t.equal(pq.kv['statguard.release'], pub);
        t.equal(pq.kv['statguard.regime'], 'dp');
      });
    }

    t.test('refusals are problem+json in the binary formats too', async (t) => {
      for (const f of ['xlsx', 'parquet']) {
        const w = await app.inject({ url: `/v1/releases/${gone}/tables/pop?format=${f}` });
        t.equal(w.statusCode, 410, `${f}: withdrawn`);
        t.equal(w.headers['content-type'], 'application/problem+json; charset=utf-8');
        t.equal(w.headers['content-disposition'], undefined, `${f}: no file name on a refusal`);
        const big = await small.inject({ url: `/v1/releases/${pub}/tables/pop?format=${f}` });
        t.equal(big.statusCode, 403, `${f}: over the cell limit`);
        t.equal(JSON.parse(big.body).code, 'CELL_LIMIT');
      }
    });

    t.test('a burst of xlsx and Parquet queries: each built, or refused with 503 RENDER_BUSY', async (t) => {
      const selections = ['N1', 'N2', 'S1', 'N', '_T', 'N1,N2', 'N1,S1', 'N2,S1', 'N,S1', 'N1,N2,S1'];
      const replies = await Promise.all(
        selections.flatMap((r) =>
          ['xlsx', 'parquet'].map((f) => app.inject({ url: `/v1/releases/${pub}/tables/pop?region=${r}&format=${f}` })),
        ),
      );
      const busy = replies.filter((x) => x.statusCode === 503);
      t.equal(busy.length + replies.filter((x) => x.statusCode === 200).length, replies.length, 'only 200 or 503');
      for (const b of busy) {
        t.equal(JSON.parse(b.body).code, 'RENDER_BUSY');
        t.equal(b.headers['retry-after'], '2');
      }
      t.comment(`${busy.length} of ${replies.length} refused as busy`);
      t.ok(replies.length - busy.length >= 5, 'one running and four waiting are always served');
    });

    t.test('OpenAPI: the format enum and the media types', async (t) => {
      const oa = JSON.parse((await app.inject({ url: '/openapi.json' })).body);
      const op = oa.paths['/v1/releases/{id}/tables/{table}'].get;
      const format = op.parameters.find((p: { name: string }) => p.name === 'format');
      t.same(format.schema.enum, ['json', 'csv', 'jsonstat', 'sdmx-csv', 'xlsx', 'parquet']);
      const content = op.responses['200'].content;
      t.same(content[XLSX].schema, { type: 'string', format: 'binary' });
      t.same(content[PARQUET].schema, { type: 'string', format: 'binary' });
    });
  });
}

t.test('RenderLimit: one at a time, the queue waiting in order, the next refused before any work', async (t) => {
  const limit = new RenderLimit(1, 2);
  const order: string[] = [];
  let release!: () => void;
  const first = limit.run(async () => {
    order.push('first');
    await new Promise<void>((r) => (release = r));
  });
  const second = limit.run(async () => void order.push('second'));
  const third = limit.run(async () => void order.push('third'));
  let ran = false;
  await t.rejects(
    limit.run(async () => {
      ran = true;
    }),
    { code: 'RENDER_BUSY', extra: { retryAfter: 2 } },
  );
  t.notOk(ran, 'the refused rendering never ran');
  t.same(order, ['first'], 'the others wait');
  release();
  await Promise.all([first, second, third]);
  t.same(order, ['first', 'second', 'third'], 'then run in arrival order');
  await limit.run(async () => void order.push('after'));
  t.same(order.at(-1), 'after', 'the slots are all given back');
  // A rendering that throws gives its slot back too.
  await t.rejects(
    limit.run(async () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  await limit.run(async () => void order.push('again'));
  t.same(order.at(-1), 'again');
});
