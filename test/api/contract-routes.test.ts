/**
 * The access-request and contract routes (issue 20) through app.inject: the request -> approve (narrowed) -> use ->
 * expire cycle, refusal with a reason, who may see what (own vs any), problem+json errors, the usage page's figures
 * against every limit, the officers' supervision view, and the routes in the OpenAPI document.
 */
import path from 'node:path';
import t from 'tap';
import { build } from '../../api/app.ts';
import { makeContractGate, type GateQuery } from '../../api/contracts/gate.ts';
import { createKey } from '../../api/store/keys.ts';
import { openPgliteStore } from './pglite-template.ts';
import { OFFICER, registerDatasets, researcher, TERMS } from './contracts-helpers.ts';

const Q: GateQuery = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };

t.test('access requests and contracts over HTTP', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  const db = store.db;
  await registerDatasets(db);
  let clock = new Date('2026-12-07T10:00:00Z');
  const app = await build({
    store,
    config: { rateLimit: null },
    policySchemaPath: path.resolve('policies/policy.schema.json'),
    logger: false,
    now: () => clock,
  });
  t.teardown(() => app.close());
  const officer = (await createKey(db, 'officer', 'Olga', OFFICER)).key;
  const rae = await researcher(db, 'Rae');
  const sam = await researcher(db, 'Sam');
  const call = async (method: 'GET' | 'POST', url: string, key?: string, body?: unknown) => {
    const r = await app.inject({
      method,
      url,
      headers: key ? { authorization: `Bearer ${key}` } : {},
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: r.statusCode, type: String(r.headers['content-type']), body: JSON.parse(r.body || 'null') };
  };

  const req = await call('POST', '/v1/access-requests', rae.key, {
    dataset: 'people',
    purpose: 'regional ageing study',
    terms: TERMS,
    durationDays: 30,
  });
  t.equal(req.status, 201);
  t.equal(req.body.status, 'pending');
  const id = req.body.id as string;

  t.test('who may do what', async (t) => {
    const me = await call('GET', '/v1/me', rae.key);
    t.same(me.body, { key: rae.actor.caller, name: 'Rae', role: 'researcher' }, 'GET /v1/me names the key and role');
    t.equal((await call('GET', '/v1/me')).status, 401);
    t.equal((await call('POST', '/v1/access-requests', undefined, {})).status, 401, 'anonymous: 401');
    const asOfficer = await call('POST', '/v1/access-requests', officer, {
      dataset: 'people',
      purpose: 'x',
      terms: TERMS,
      durationDays: 1,
    });
    t.equal(asOfficer.status, 403, 'requests are for researchers');
    t.match(asOfficer.type, /application\/problem\+json/);
    t.equal((await call('GET', '/v1/admin/access-requests', rae.key)).status, 403, 'researchers do not approve');
    t.equal((await call('POST', `/v1/admin/access-requests/${id}/approve`, rae.key, {})).status, 403);
    const bad = await call('POST', '/v1/access-requests', rae.key, {
      dataset: 'people',
      purpose: 'x',
      terms: { ...TERMS, form: { measures: ['count'], formats: ['xml'] } },
      durationDays: 1,
    });
    t.equal(bad.status, 400);
    t.equal(bad.body.code, 'BAD_REQUEST');
    t.match(bad.body.detail, /terms\/form\/formats\/0/, 'the problem names the JSON path');
    const sdc = await call('POST', '/v1/access-requests', rae.key, {
      dataset: 'firms',
      purpose: 'x',
      terms: TERMS,
      durationDays: 1,
    });
    t.equal(sdc.status, 400);
    t.match(sdc.body.detail, /suppression .* not safe against ad-hoc overlapping tables/);
  });

  t.test('lists: own for researchers, all for officers', async (t) => {
    const own = await call('GET', '/v1/access-requests', rae.key);
    t.same(
      own.body.items.map((r: { id: string }) => r.id),
      [id],
    );
    t.same((await call('GET', '/v1/access-requests', sam.key)).body.items, [], 'not the others');
    const pending = await call('GET', '/v1/admin/access-requests?status=pending', officer);
    t.ok(pending.body.items.some((r: { id: string; keyName: string }) => r.id === id && r.keyName === 'Rae'));
  });

  let contract = '';
  t.test('approve narrowed; refuse needs a reason', async (t) => {
    const wider = await call('POST', `/v1/admin/access-requests/${id}/approve`, officer, {
      terms: { ...TERMS, scale: { ...TERMS.scale, tablesTotal: 50 } },
    });
    t.equal(wider.status, 400);
    t.match(wider.body.detail, /\/terms\/scale\/tablesTotal/);
    const narrowed = { ...TERMS, scale: { ...TERMS.scale, tablesPerDay: 2 } };
    const ok = await call('POST', `/v1/admin/access-requests/${id}/approve`, officer, {
      terms: narrowed,
      end: '2026-12-17T10:00:00Z',
      reason: 'two tables a day, ten days',
    });
    t.equal(ok.status, 200);
    t.equal(ok.body.request.status, 'approved');
    contract = ok.body.contract;
    const again = await call('POST', `/v1/admin/access-requests/${id}/refuse`, officer, { reason: 'late' });
    t.equal(again.status, 409, 'decided once');
    t.equal(again.body.code, 'INVALID_STATE');
    const other = await call('POST', '/v1/access-requests', sam.key, {
      dataset: 'people',
      purpose: 'curiosity',
      terms: TERMS,
      durationDays: 3,
    });
    const noReason = await call('POST', `/v1/admin/access-requests/${other.body.id}/refuse`, officer, {});
    t.equal(noReason.status, 400, 'a refusal needs a reason');
    const refused = await call('POST', `/v1/admin/access-requests/${other.body.id}/refuse`, officer, {
      reason: 'purpose not stated',
    });
    t.equal(refused.body.status, 'refused');
    const seen = (await call('GET', '/v1/access-requests', sam.key)).body.items[0];
    t.same([seen.status, seen.reason], ['refused', 'purpose not stated'], 'the researcher sees the status and reason');
    t.equal((await call('POST', '/v1/admin/access-requests/ar_nope/approve', officer, {})).status, 404);
  });

  t.test('use, usage page, supervision, expiry', async (t) => {
    const gate = makeContractGate({ db, now: () => clock });
    const a = await gate.authorise(rae.actor, 'people', Q, 12);
    await gate.recordUse(a, 12);
    const usage = await call('GET', `/v1/contracts/${contract}/usage`, rae.key);
    t.equal(usage.status, 200);
    const lim = Object.fromEntries(
      usage.body.limits.map((l: { term: string; used: number; limit: number }) => [l.term, [l.used, l.limit]]),
    );
    t.same(lim, {
      'scale.tablesPerDay': [1, 2],
      'scale.cellsPerDay': [12, 100],
      'scale.tablesTotal': [1, 5],
      'scale.cellsTotal': [12, 400],
    });
    t.same(usage.body.closest, { term: 'scale.tablesPerDay', fraction: 0.5 });
    t.equal(usage.body.recent[0].cells, 12);
    t.same(usage.body.recent[0].query.dimensions, Q.dimensions, 'what was taken');
    t.equal((await call('GET', `/v1/contracts/${contract}/usage`, sam.key)).status, 404, "not another's contract");
    t.equal((await call('GET', `/v1/contracts/${contract}/usage`, officer)).status, 200, 'officers see any');
    t.equal((await call('GET', `/v1/contracts/tc_nope/usage`, officer)).body.code, 'CONTRACT_NOT_FOUND');
    const own = await call('GET', '/v1/contracts', rae.key);
    t.same(
      own.body.items.map((c: { id: string }) => c.id),
      [contract],
    );
    const sup = await call('GET', '/v1/admin/contracts?status=active', officer);
    t.equal(sup.status, 200);
    t.same(
      sup.body.items.map((c: { id: string; keyName: string; lastUse: string }) => [c.id, c.keyName, c.lastUse]),
      [[contract, 'Rae', usage.body.recent[0].at]],
      'who took what, when',
    );
    clock = new Date('2026-12-17T10:00:00Z');
    const expired = await gate.authorise(rae.actor, 'people', Q, 1).catch((e: { code: string }) => e.code);
    t.equal(expired, 'CONTRACT_EXPIRED', 'nothing is served after the end');
    t.equal((await call('GET', `/v1/contracts/${contract}/usage`, rae.key)).body.status, 'expired');
    t.same((await call('GET', '/v1/admin/contracts?status=active', officer)).body.items, []);
  });

  t.test('audited and documented', async (t) => {
    const actions = (await db.selectFrom('audit_log').select('action').execute()).map((r) => r.action);
    for (const a of [
      'access.request',
      'access.approve',
      'access.refuse',
      'access.list',
      'access.list-own',
      'contract.use',
      'contract.usage',
      'contract.supervise',
    ])
      t.ok(actions.includes(a), `${a} audited`);
    const doc = (await call('GET', '/openapi.json')).body;
    for (const p of [
      '/v1/access-requests',
      '/v1/contracts',
      '/v1/contracts/{id}/usage',
      '/v1/admin/access-requests',
      '/v1/admin/access-requests/{id}/approve',
      '/v1/admin/access-requests/{id}/refuse',
      '/v1/admin/contracts',
    ])
      t.ok(doc.paths[p], `${p} in the OpenAPI document`);
  });
});
