import t from 'tap';
import { onDemandApp, post } from './api-helpers.ts';

t.test('POST /v1/datasets/{id}/tables and GET .../schema', async (t) => {
  const { app, store, gate, zone, keys } = await onDemandApp();
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  const ds = 'synthetic-census-5000';
  const get = (url: string, key?: string) =>
    app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  const schema = await get(`/v1/datasets/${ds}/schema`, keys.researcher);
  t.equal(schema.statusCode, 200);
  t.equal(schema.json().regime, 'ckm');
  t.equal((await get(`/v1/datasets/${ds}/schema`)).statusCode, 401, 'anonymous: 401');

  const q = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };
  const first = await post(app, ds, keys.researcher, q);
  t.equal(first.statusCode, 200, first.body);
  const body = first.json();
  t.equal(body.cells.length, 27);
  t.same(body.dimensions[0].codes, ['A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'A8', '_T']);
  t.ok(body.cells.every((c: { conf: string; obs: string }) => c.conf === 'F' && c.obs === 'E'));
  t.ok(
    body.cells.every((c: { halfWidth95?: number }) => typeof c.halfWidth95 === 'number'),
    'accuracy as published',
  );
  t.equal(zone.computed, 1);
  t.same(gate.used, [{ contractId: `contract-of-${keys.researcherId}`, cells: 27, dpCost: undefined }]);

  const again = await post(app, ds, keys.researcher, {
    ...q,
    dimensions: [
      { name: 'region', level: 1 },
      { name: 'sex', level: 1 },
    ],
  });
  t.same(again.json().cells, body.cells, 'the same table (explicit finest level) from the cache');
  t.equal(zone.computed, 1, 'served from the cache');
  t.equal(gate.used.length, 2, 'a cached answer still counts as a table taken');
  const other = await post(app, ds, keys.other, q);
  t.equal(zone.computed, 2, 'the cache is per contract');
  t.same(other.json().cells, body.cells, 'ckm: another researcher gets the same values');

  const csv = await post(app, ds, keys.researcher, { ...q, format: 'csv' });
  t.equal(csv.statusCode, 200);
  t.match(csv.headers['content-type'], /text\/csv/);
  t.match(csv.body.split('\n')[0], /region/);
  const js = await post(app, ds, keys.researcher, { ...q, format: 'jsonstat' });
  t.equal(js.json().class, 'dataset');
  t.same(js.json().size, [9, 3]);

  const bad = await post(app, ds, keys.researcher, { dimensions: [{ name: 'region', level: 7 }], measure: 'median' });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().code, 'QUERY_INVALID');
  t.same(
    bad.json().errors.map((e: { path: string }) => e.path),
    ['/dimensions/0/level', '/measure'],
  );
  const typed = await post(app, ds, keys.researcher, { dimensions: 'region', measure: 'count' });
  t.equal(typed.statusCode, 400, 'a body of the wrong shape');
  t.match(typed.json().detail, /dimensions/, 'names the property');
  const over = await post(app, ds, keys.researcher, {
    dimensions: [{ name: 'region' }, { name: 'sex' }, { name: 'marital' }, { name: 'education' }],
    measure: 'count',
  });
  t.equal(over.statusCode, 400, 'more dimensions than the schema allows');

  const sdc = await post(app, 'tiny-sdc', keys.researcher, q);
  t.equal(sdc.statusCode, 409);
  t.equal(sdc.json().code, 'ON_DEMAND_NOT_OFFERED');
  t.match(sdc.json().detail, /suppression is not safe against ad-hoc overlapping tables/);
  t.equal((await post(app, ds, keys.officer, q)).statusCode, 403, 'officers do not take tables on demand');
  t.equal((await post(app, ds, undefined, q)).statusCode, 401);
  const huge = await post(app, ds, keys.researcher, { ...q, filter: { marital: Array(5000).fill('1') } });
  t.equal(huge.statusCode, 413, 'small body limit');

  const rows = await store.db
    .selectFrom('audit_log')
    .select(['action', 'target', 'status', 'detail'])
    .where('action', '=', 'ondemand.table')
    .execute();
  t.ok(rows.length >= 5, 'every request audited');
  const ok = rows.filter((r) => r.status === 200);
  t.match(ok[0]!.detail, { dimensions: ['region@1', 'sex'], measure: 'count', cells: 27, cached: false });
  t.match(ok[1]!.detail, { cached: true });
  const values = new Set(body.cells.map((c: { value: number }) => String(c.value)).filter((v: string) => v.length > 2));
  for (const r of rows)
    for (const v of values) t.notOk(JSON.stringify(r.detail).includes(`:${v}`), 'no cell value in the audit detail');
});

t.test('a dataset registered under one regime is not served by an on-demand policy of another', async (t) => {
  // The dp policy's dataset registered under ckm (an officer's slip, or a rename to reach a second regime).
  const { app, store, keys } = await onDemandApp({ dpRegisteredAs: 'ckm' });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  const r = await post(app, 'synthetic-census-dp', keys.researcher, {
    dimensions: [{ name: 'sex' }],
    measure: 'count',
  });
  t.equal(r.statusCode, 409, r.body);
  t.equal(r.json().code, 'ON_DEMAND_NOT_OFFERED');
  t.match(r.json().detail, /registered under ckm, but its on-demand policy protects by dp/);
  const schema = await app.inject({
    url: '/v1/datasets/synthetic-census-dp/schema',
    headers: { authorization: `Bearer ${keys.researcher}` },
  });
  t.equal(schema.statusCode, 409, 'nor is its schema offered');
});
