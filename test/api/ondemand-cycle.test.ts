/**
 * The request-approve-use-expire cycle of tables on demand through the API only (issue 20), on the real route, the
 * real contract gate and the forked secure zone: no contract (CONTRACT_NONE); a researcher requests access; the
 * officer narrows and approves; the researcher sees the approval and takes tables within the terms; level and form
 * refusals name their term and take nothing; a failed computation gives its reservation back (the gate's cancel); a
 * cached answer still counts; the daily limit refuses (429, Retry-After); after the end nothing is served
 * (CONTRACT_EXPIRED) and the usage says expired. Under dp the computed table is charged to the contract's share and to
 * the dataset's ledger.
 */
import t from 'tap';
import { ledgerSpent } from '../../api/store/ledger.ts';
import { CKM, cycleApp, DP } from './ondemand-contract-app.ts';

type Limit = { term: string; used: number; limit: number; remaining: number };

t.test('request, approve (narrowed), use, limits, expire: through the API', async (t) => {
  const w = await cycleApp();
  t.teardown(() => w.close());
  const call = async (method: 'GET' | 'POST', url: string, key: string, body?: unknown) => {
    const r = await w.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: r.statusCode, body: r.json(), headers: r.headers };
  };
  const rex = w.keys.researcher;
  const table = (ds: string, q: unknown) => call('POST', `/v1/datasets/${ds}/tables`, rex, q);
  const q = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };

  const none = await table(CKM, q);
  t.equal(none.status, 403);
  t.match(none.body, { code: 'CONTRACT_NONE' }, 'no contract, no table');

  const schema = await call('GET', `/v1/datasets/${CKM}/schema`, rex);
  t.equal(schema.status, 200, 'the declared schema is readable before any contract');
  const region = schema.body.dimensions.find((d: { name: string }) => d.name === 'region');
  t.ok(region.levels >= 2, 'region has a level below the first');

  const asked = {
    scale: { tablesPerDay: 5, cellsPerDay: 1000, tablesTotal: 10, cellsTotal: 10000 },
    level: { variables: { region: {}, sex: {}, age_band: {} }, maxDimensions: 3 },
    form: { measures: ['count'], formats: ['json', 'csv'] },
  };
  const req = await call('POST', '/v1/access-requests', rex, {
    dataset: CKM,
    purpose: 'ageing',
    terms: asked,
    durationDays: 2,
  });
  t.equal(req.status, 201, JSON.stringify(req.body));
  t.equal(req.body.status, 'pending');
  const pending = await table(CKM, q);
  t.match(pending.body, { code: 'CONTRACT_NONE' }, 'a pending request opens nothing');

  const narrowed = {
    ...asked,
    scale: { ...asked.scale, tablesPerDay: 2 },
    level: { variables: { region: { maxLevel: 1 }, sex: {} }, maxDimensions: 2 },
  };
  const wider = await call('POST', `/v1/admin/access-requests/${req.body.id}/approve`, w.keys.officer, {
    terms: { ...narrowed, scale: { ...narrowed.scale, tablesPerDay: 50 } },
  });
  t.equal(wider.status, 400, 'an approval never grants more than was asked');
  const ok = await call('POST', `/v1/admin/access-requests/${req.body.id}/approve`, w.keys.officer, {
    terms: narrowed,
  });
  t.equal(ok.status, 200, JSON.stringify(ok.body));
  const contract: string = ok.body.contract;
  const mine = await call('GET', '/v1/access-requests', rex);
  t.match(mine.body.items[0], { id: req.body.id, status: 'approved', contract }, 'the researcher sees the approval');

  const usage = async (): Promise<{ status: string; limits: Limit[] }> =>
    (await call('GET', `/v1/contracts/${contract}/usage`, rex)).body;
  const used = async (term: string): Promise<number> => (await usage()).limits.find((l) => l.term === term)!.used;

  const first = await table(CKM, q);
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.ok(first.body.cells.length > 0 && first.body.cells.every((c: { conf: string }) => typeof c.conf === 'string'));
  t.ok(
    first.body.cells.some((c: { halfWidth95?: number }) => typeof c.halfWidth95 === 'number'),
    'cells carry accuracy like published tables',
  );
  t.equal(await used('scale.tablesPerDay'), 1);

  const deep = await table(CKM, { dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' });
  t.equal(deep.status, 403);
  t.match(deep.body, { code: 'CONTRACT_LEVEL', term: 'level.variables.region.maxLevel' }, 'narrowed: regions only');
  const third = await table(CKM, { dimensions: [{ name: 'age_band' }], measure: 'count' });
  t.match(third.body, { code: 'CONTRACT_LEVEL', term: 'level.variables.age_band' }, 'narrowed: age_band dropped');
  const form = await table(CKM, { ...q, format: 'jsonstat' });
  t.match(form.body, { code: 'CONTRACT_FORM', term: 'form.formats' });
  t.equal(await used('scale.tablesPerDay'), 1, 'refusals take nothing');

  w.faults.failNext = true;
  const failed = await table(CKM, { dimensions: [{ name: 'sex' }], measure: 'count' });
  t.equal(failed.status, 503, JSON.stringify(failed.body));
  t.equal(failed.body.code, 'ON_DEMAND_UNAVAILABLE');
  t.equal(await used('scale.tablesPerDay'), 1, 'a failed computation is cancelled: its reservation is given back');

  const computed = w.faults.computed;
  const again = await table(CKM, q);
  t.equal(again.status, 200);
  t.same(again.body.cells, first.body.cells, 'the cached answer');
  t.equal(w.faults.computed, computed, 'not computed again');
  t.equal(await used('scale.tablesPerDay'), 2, 'a cached answer still counts as a table taken');

  const over = await table(CKM, q);
  t.equal(over.status, 429);
  t.match(over.body, { code: 'CONTRACT_SCALE', term: 'scale.tablesPerDay' });
  t.ok(Number(over.headers['retry-after']) > 0, 'Retry-After until the next UTC day');
  const u = await usage();
  t.match(
    u.limits.find((l) => l.term === 'scale.tablesPerDay'),
    { used: 2, limit: 2, remaining: 0 },
  );
  t.equal(u.status, 'active');

  w.clock.now = new Date(w.clock.now.getTime() + 3 * 86_400_000);
  const late = await table(CKM, { dimensions: [{ name: 'sex' }], measure: 'count' });
  t.equal(late.status, 403);
  t.match(late.body, { code: 'CONTRACT_EXPIRED', term: 'time.end' }, 'after the end nothing is served');
  t.equal((await usage()).status, 'expired');
  const cachedLate = await table(CKM, q);
  t.match(cachedLate.body, { code: 'CONTRACT_EXPIRED' }, 'not even a cached answer');

  // dp: a computed table is charged to the contract's share and to the dataset's ledger; a cached one is not.
  w.clock.now = new Date();
  const dreq = await call('POST', '/v1/access-requests', rex, {
    dataset: DP,
    purpose: 'dp',
    terms: { ...narrowed, scale: { ...narrowed.scale, dpShare: { rho: 1 } } },
    durationDays: 2,
  });
  t.equal(dreq.status, 201, JSON.stringify(dreq.body));
  const dok = await call('POST', `/v1/admin/access-requests/${dreq.body.id}/approve`, w.keys.officer, {});
  t.equal(dok.status, 200, JSON.stringify(dok.body));
  const before = (await ledgerSpent(w.store.db, [DP])).get(DP)?.rho ?? 0;
  t.equal((await table(DP, q)).status, 200);
  const after = (await ledgerSpent(w.store.db, [DP])).get(DP)!.rho;
  t.ok(after > before, `the dataset's ledger is charged (${before} -> ${after})`);
  t.equal((await table(DP, q)).status, 200);
  t.equal((await ledgerSpent(w.store.db, [DP])).get(DP)!.rho, after, 'a cached dp answer costs nothing more');
  const du = (await call('GET', `/v1/contracts/${dok.body.contract}/usage`, rex)).body as { limits: Limit[] };
  const share = du.limits.find((l) => l.term.startsWith('scale.dpShare'));
  t.ok(share && share.used > 0 && Math.abs(share.used - (after - before)) < 1e-12, 'the share is charged the same');
});
