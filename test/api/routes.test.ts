import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createKey, revokeKey } from '../../api/store/keys.ts';
import { createContract } from '../../api/store/releases.ts';
import { dialects } from './dialects.ts';
import { FIXTURE_DATASETS, makeRelease, seedReleases } from './fixtures.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

for (const d of dialects()) {
  t.test(`routes on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;
    const { pub, restricted, draft, gone } = await seedReleases(db, system, 'a coding error in the source');
    const keys = {
      officer: (await createKey(db, 'officer', 'Olga', system)).key,
      reviewer: (await createKey(db, 'reviewer', 'Rita', system)).key,
      researcher: await createKey(db, 'researcher', 'Rex', system),
      expired: await createKey(db, 'researcher', 'Ed', system),
      nocontract: (await createKey(db, 'researcher', 'Nora', system)).key,
      revoked: await createKey(db, 'researcher', 'Vic', system),
    };
    await createContract(
      db,
      {
        keyId: keys.researcher.id,
        releaseId: restricted,
        tables: null,
        expiresAt: new Date(Date.now() + 86400e3).toISOString(),
      },
      system,
    );
    await createContract(
      db,
      {
        keyId: keys.expired.id,
        releaseId: restricted,
        tables: null,
        expiresAt: new Date(Date.now() - 1000).toISOString(),
      },
      system,
    );
    await revokeKey(db, keys.revoked.id, system);
    const schemaPath = path.resolve('policies/policy.schema.json');
    const app = await build({ store, config: { rateLimit: null }, policySchemaPath: schemaPath });
    t.teardown(() => app.close());
    const auth = (k?: string) => (k ? { authorization: `Bearer ${k}` } : {});
    const get = (url: string, k?: string) => app.inject({ url, headers: auth(k) });
    const json = (r: { body: string }) => JSON.parse(r.body);
    const listIds = async (k?: string) =>
      json(await get('/v1/releases', k))
        .items.map((x: { id: string }) => x.id)
        .sort();

    t.test('visibility per role', async (t) => {
      t.same(await listIds(), [gone, pub].sort(), 'anonymous: public published and withdrawn only');
      t.same(await listIds(keys.nocontract), [gone, pub].sort(), 'researcher without contract: same');
      t.same(await listIds(keys.expired.key), [gone, pub].sort(), 'expired contract hides the release');
      t.same(await listIds(keys.researcher.key), [gone, pub, restricted].sort(), 'active contract shows it');
      t.same(await listIds(keys.officer), [draft, gone, pub, restricted].sort(), 'officer sees drafts');
      t.same(await listIds(keys.reviewer), [draft, gone, pub, restricted].sort(), 'reviewer sees drafts');
      for (const [who, k] of [
        ['anonymous', undefined],
        ['no contract', keys.nocontract],
        ['expired', keys.expired.key],
      ] as const) {
        for (const url of [
          `/v1/releases/${restricted}`,
          `/v1/releases/${restricted}/tables/pop`,
          `/v1/releases/${draft}`,
          `/v1/releases/${draft}/tables/pop`,
        ]) {
          const r = await get(url, k);
          t.equal(r.statusCode, 404, `${who}: ${url} does not exist`);
          t.equal(json(r).code, 'RELEASE_NOT_FOUND');
        }
      }
      t.equal(
        (await get(`/v1/releases/${restricted}/tables/pop`, keys.researcher.key)).statusCode,
        200,
        'contract researcher reads the table',
      );
      t.equal(
        (await get(`/v1/releases/${draft}/tables/pop`, keys.researcher.key)).statusCode,
        404,
        'drafts never for researchers',
      );
      t.equal(
        (await get(`/v1/releases/${draft}/tables/pop`, keys.reviewer)).statusCode,
        200,
        'reviewer previews a draft',
      );
      t.equal((await get('/v1/releases/never-was')).statusCode, 404);
      const page = json(await get('/v1/releases?limit=1&offset=1', keys.officer));
      t.equal(page.items.length, 1);
      t.equal(page.total, 4);
      t.equal(json(await get('/v1/releases?status=draft')).total, 0, 'anonymous filtering for drafts finds none');
    });

    t.test('release detail: public manifest only', async (t) => {
      const r = await get(`/v1/releases/${pub}`);
      t.equal(r.statusCode, 200);
      const b = json(r);
      t.equal(b.release.status, 'published');
      t.equal(b.manifest.regime, 'dp');
      t.equal(b.manifest.budget.rho, 0.5);
      t.notOk('internal' in b.manifest, 'no internal part');
      t.notMatch(r.body, /secret\/microdata|4242/, 'no internal counts or paths anywhere');
      t.same(b.tables[0].dimensions[0].categories.slice(0, 2), [
        { code: 'N1', label: 'North, one', parent: 'N' },
        { code: 'N2', label: 'North two', parent: 'N' },
      ]);
    });

    t.test('withdrawn release: listed as withdrawn, data no longer served', async (t) => {
      const item = json(await get('/v1/releases')).items.find((x: { id: string }) => x.id === gone);
      t.equal(item.status, 'withdrawn');
      t.equal(item.withdrawReason, 'a coding error in the source');
      const r = await get(`/v1/releases/${gone}/tables/pop?format=csv`);
      t.equal(r.statusCode, 410);
      t.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
      t.equal(json(r).code, 'RELEASE_WITHDRAWN');
    });

    t.test('a suppressed cell is null with its status in every format', async (t) => {
      const base = `/v1/releases/${pub}/tables/pop?region=N1,N2&sex=2`;
      const j = json(await get(`${base}&format=json&labels=both`));
      t.same(
        j.cells.map((c: { key: string[]; value: unknown; conf: string }) => [c.key.join(':'), c.value, c.conf]),
        [
          ['N1:2', null, 'A'],
          ['N2:2', null, 'D'],
        ],
      );
      t.same(j.cells[0].labels, ['North, one', 'Female']);
      const csv = (await get(`${base}&format=csv`)).body.trimEnd().split('\n');
      t.same(csv.slice(1), ['N1,"North, one",2,Female,,A,A,,', 'N2,North two,2,Female,,D,A,,']);
      const js = json(await get(`${base}&format=jsonstat`));
      t.same(js.value, [null, null]);
      t.same(js.status, { 0: 'A', 1: 'D' });
      t.same(js.extension.statguard.confStatus, ['A', 'D']);
      const sdmx = await get(`${base}&format=sdmx-csv`);
      t.match(sdmx.headers['content-type'], /application\/vnd\.sdmx\.data\+csv/);
      t.same(sdmx.body.trimEnd().split('\n').slice(1), [
        'dataflow,STATGUARD:POP(1.0),I,N1,2,,A,A,,',
        'dataflow,STATGUARD:POP(1.0),I,N2,2,,A,D,,',
      ]);
      // Noisy cells carry accuracy.
      const noisy = json(await get(`/v1/releases/${pub}/tables/pop?region=S1&sex=1`));
      t.same(noisy.cells[0], { key: ['S1', '1'], value: 106, conf: 'F', obs: 'E', noiseSd: 1.5, halfWidth95: 3 });
      // Whole table equals the release file byte for byte (same formatter).
      const full = await get(`/v1/releases/${pub}/tables/pop?format=csv`);
      const dir = (await makeRelease({ policyId: 'pub', rho: 0.5 })).dir;
      t.equal(full.body, await readFile(path.join(dir, 'pop.csv'), 'utf8'));
    });

    t.test('selection errors are problem+json naming what is wrong', async (t) => {
      const cases: [string, number, string, RegExp][] = [
        ['?regio=N', 400, 'UNKNOWN_DIMENSION', /regio/],
        ['?region=N1,XX', 400, 'UNKNOWN_CODE', /XX/],
        ['?region=', 400, 'BAD_SELECTION', /empty/],
        ['?region=N1,,N2', 400, 'BAD_SELECTION', /empty/],
        ['?region=N1,N1', 400, 'BAD_SELECTION', /twice/],
        ['?region=N1&region=N2', 400, 'BAD_SELECTION', /repeated/],
        ['?format=xml', 400, 'BAD_REQUEST', /format/],
      ];
      for (const [q, status, code, re] of cases) {
        const r = await get(`/v1/releases/${pub}/tables/pop${q}`);
        t.equal(r.statusCode, status, q);
        t.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
        const p = json(r);
        t.equal(p.code, code, q);
        t.match(p.detail, re, q);
        t.equal(p.status, status);
      }
      const nt = await get(`/v1/releases/${pub}/tables/nope`);
      t.equal(nt.statusCode, 404);
      t.equal(json(nt).code, 'TABLE_NOT_FOUND');
      t.equal(json(await get('/v1/releases?limit=0')).code, 'BAD_REQUEST');
      t.equal(json(await get('/nothing')).code, 'NOT_FOUND');
    });

    t.test('credentials: wrong key is 401, never anonymous', async (t) => {
      for (const h of [
        'Bearer nonsense',
        'Basic abc',
        `Bearer ${keys.officer.slice(0, -1)}x`,
        `Bearer ${keys.revoked.key}`,
        'Bearer sg_0123456789abcdef_' + 'A'.repeat(43),
      ]) {
        const r = await app.inject({ url: `/v1/releases/${pub}`, headers: { authorization: h } });
        t.equal(r.statusCode, 401, h.slice(0, 20));
        t.equal(json(r).code, 'UNAUTHORIZED');
      }
    });

    t.test('officer and reviewer routes', async (t) => {
      const post = (url: string, k: string | undefined, payload?: unknown) =>
        app.inject({
          method: 'POST',
          url,
          headers: auth(k),
          ...(payload !== undefined ? { payload: payload as object } : {}),
        });
      t.equal((await get('/v1/admin/drafts')).statusCode, 401, 'anonymous');
      t.equal((await get('/v1/admin/drafts', keys.researcher.key)).statusCode, 403, 'researcher');
      t.same(
        json(await get('/v1/admin/drafts', keys.reviewer)).items.map((x: { id: string }) => x.id),
        [draft],
      );
      t.equal(
        json(await post(`/v1/admin/releases/${draft}/approve`, keys.reviewer)).code,
        'FORBIDDEN',
        'reviewers do not approve',
      );
      const ap = await post(`/v1/admin/releases/${draft}/approve`, keys.officer);
      t.equal(ap.statusCode, 200);
      t.equal(json(ap).status, 'published');
      t.equal(json(await post(`/v1/admin/releases/${draft}/approve`, keys.officer)).code, 'INVALID_STATE');
      t.equal(json(await post('/v1/admin/releases/nope/approve', keys.officer)).code, 'RELEASE_NOT_FOUND');
      // Withdraw evicts cached data immediately.
      t.equal((await get(`/v1/releases/${draft}/tables/pop`)).statusCode, 200);
      t.equal(
        (await post(`/v1/admin/releases/${draft}/withdraw`, keys.officer, {})).statusCode,
        400,
        'reason required',
      );
      t.equal(
        (await post(`/v1/admin/releases/${draft}/withdraw`, keys.officer, { reason: 'superseded by a correction' }))
          .statusCode,
        200,
      );
      t.equal((await get(`/v1/releases/${draft}/tables/pop`)).statusCode, 410);
      const ds = json(await get('/v1/admin/datasets', keys.reviewer));
      // The registered fixture datasets (test/api/fixtures.ts); the two that hold releases:
      t.same(
        ds.items.filter((x: { id: string }) => x.id === 'census' || x.id === 'census-sdc'),
        [
          {
            id: 'census',
            title: 'Fixture census',
            regime: 'dp',
            demo: false,
            budget: { totalRho: 5, totalEpsilon: 10, spentRho: 0.5, spentEpsilon: 0 },
          },
          {
            id: 'census-sdc',
            title: 'Fixture census-sdc',
            regime: 'sdc',
            demo: false,
            budget: { totalRho: 5, totalEpsilon: 10, spentRho: 0, spentEpsilon: 0 },
          },
        ],
      );
      t.same(
        ds.items.map((x: { id: string }) => x.id),
        FIXTURE_DATASETS.map((x) => x.id).sort(),
        'only registered datasets exist',
      );
      const led = json(await get('/v1/admin/datasets/census/ledger', keys.officer));
      t.equal(led.entries.length, 1, 'census (dp) holds the one dp release');
      t.equal(
        json(await get('/v1/admin/datasets/census-sdc/ledger', keys.officer)).entries.length,
        3,
        'census-sdc holds the three approved sdc releases',
      );
      t.equal(led.entries.find((e: { release: string }) => e.release === pub).rho, 0.5);
      t.equal(json(await get('/v1/admin/datasets/nope/ledger', keys.officer)).code, 'DATASET_NOT_FOUND');
      const put = await app.inject({
        method: 'PUT',
        url: '/v1/admin/datasets/census/budget',
        headers: auth(keys.officer),
        payload: { rho: 0.25 },
      });
      t.equal(json(put).totalRho, 0.25);
      const put2 = await app.inject({
        method: 'PUT',
        url: '/v1/admin/datasets/census/budget',
        headers: auth(keys.reviewer),
        payload: { rho: 9 },
      });
      t.equal(put2.statusCode, 403);
      // Upload a release directory as JSON; over budget now -> warning; approval refused.
      const { dir } = await makeRelease({ policyId: 'upload', rho: 1 });
      const files: Record<string, string> = {};
      for (const f of await readdir(dir)) files[f] = await readFile(path.join(dir, f), 'utf8');
      const up = await post('/v1/admin/releases', keys.officer, { files });
      t.equal(up.statusCode, 201);
      t.match(json(up).warning, /exceeds/);
      t.equal(json(await post(`/v1/admin/releases/${json(up).id}/approve`, keys.officer)).code, 'BUDGET_EXCEEDED');
      const broken = { ...files, 'pop.csv': `${files['pop.csv']}x` };
      t.equal(json(await post('/v1/admin/releases', keys.officer, { files: broken })).code, 'RELEASE_INVALID');
      // Keys and contracts.
      const nk = await post('/v1/admin/keys', keys.officer, { role: 'researcher', name: 'New' });
      t.equal(nk.statusCode, 201);
      const newKey = json(nk);
      t.equal(json(await get(`/v1/releases/${restricted}`, newKey.key)).code, 'RELEASE_NOT_FOUND');
      const c = await post('/v1/admin/contracts', keys.officer, {
        key: newKey.id,
        release: restricted,
        tables: ['pop'],
        expires: new Date(Date.now() + 3600e3).toISOString(),
      });
      t.equal(c.statusCode, 201);
      t.equal(
        (await get(`/v1/releases/${restricted}/tables/pop`, newKey.key)).statusCode,
        200,
        'new contract grants access',
      );
      t.equal(
        json(
          await post('/v1/admin/contracts', keys.officer, {
            key: newKey.id,
            release: restricted,
            tables: ['zzz'],
            expires: new Date().toISOString(),
          }),
        ).code,
        'TABLE_NOT_FOUND',
      );
    });

    t.test('audit log: reads, denials and changes leave a row', async (t) => {
      await get(`/v1/releases/${pub}/tables/pop?region=N1`, keys.researcher.key);
      await get(`/v1/releases/${restricted}`);
      await app.inject({ url: '/v1/releases', headers: { authorization: 'Bearer bad' } });
      const a = json(await get(`/v1/admin/audit?target=${pub}/pop&limit=5`, keys.reviewer));
      t.equal(a.items[0].caller, keys.researcher.id);
      t.equal(a.items[0].action, 'table.read');
      t.equal(a.items[0].outcome, 'ok');
      t.equal(a.items[0].detail.cells, 3);
      // Anonymous refusals are counted per address, route and minute: written when the minute closes (here: now).
      await app.statguard.denials.flush();
      const denied = json(await get('/v1/admin/audit?outcome=denied&target=/v1/releases/:id', keys.officer));
      t.ok(
        denied.items.some(
          (x: { caller: string; status: number; detail: { count: number; sample: string } }) =>
            x.caller === 'anonymous' && x.status === 404 && x.detail.count >= 1 && x.detail.sample === restricted,
        ),
        'hidden release request counted as denied (route pattern, the id as sample)',
      );
      const unauth = json(await get('/v1/admin/audit?outcome=denied&action=release.list', keys.officer));
      t.ok(
        unauth.items.some((x: { status: number; caller: string }) => x.status === 401 && x.caller === 'anonymous'),
        'bad credentials audited',
      );
      const approve = json(await get('/v1/admin/audit?action=release.approve', keys.officer));
      t.ok(approve.items.length >= 4);
      t.equal(
        approve.items.filter((x: { outcome: string }) => x.outcome === 'ok').length,
        4,
        'successful approvals once each (written in their transaction)',
      );
      t.equal(json(await get('/v1/admin/audit', keys.researcher.key)).code, 'FORBIDDEN');
      t.notMatch(JSON.stringify(a), /987654321/);
    });

    t.test('config, policy schema, docs', async (t) => {
      t.same(json(await get('/v1/config')), {
        maxCells: 100000,
        rateLimit: null,
        formats: ['json', 'csv', 'jsonstat', 'sdmx-csv', 'xlsx', 'parquet'],
      });
      const ps = await get('/v1/policy-schema');
      t.equal(ps.statusCode, 200);
      t.equal(json(ps).$schema !== undefined, true);
      const oa = json(await get('/openapi.json'));
      t.equal(oa.openapi, '3.1.0');
      for (const p of [
        '/v1/releases',
        '/v1/releases/{id}',
        '/v1/releases/{id}/tables/{table}',
        '/v1/config',
        '/v1/policy-schema',
        '/v1/admin/drafts',
        '/v1/admin/releases/{id}/approve',
        '/v1/admin/releases/{id}/withdraw',
        '/v1/admin/datasets/{id}/ledger',
        '/v1/admin/audit',
      ]) {
        t.ok(oa.paths[p], `documented: ${p}`);
      }
      t.equal((await get('/docs/')).statusCode, 200);
    });

    t.test('cell limit 403, rate limit 429, public zone has no officer routes', async (t) => {
      const small = await build({
        store,
        config: { maxCells: 6, rateLimit: { perSecond: 0.01, burst: 2 } },
        public: true,
      });
      t.teardown(() => small.close());
      const r1 = await small.inject({ url: `/v1/releases/${pub}/tables/pop` });
      t.equal(r1.statusCode, 403);
      t.equal(JSON.parse(r1.body).code, 'CELL_LIMIT');
      t.match(JSON.parse(r1.body).detail, /15 cells; the limit is 6/);
      t.equal(
        (await small.inject({ url: `/v1/releases/${pub}/tables/pop?sex=1` })).statusCode,
        200,
        '5 x 1 cells is within the limit',
      );
      const r3 = await small.inject({ url: '/v1/admin/drafts', headers: auth(keys.officer) });
      t.equal(r3.statusCode, 404, 'no officer routes in the public zone');
      const r4 = await small.inject({ url: '/v1/config' });
      t.equal(r4.statusCode, 429);
      t.equal(JSON.parse(r4.body).code, 'RATE_LIMITED');
      t.ok(Number(r4.headers['retry-after']) > 0);
      const other = await small.inject({ url: '/v1/config', headers: auth(keys.nocontract) });
      t.equal(other.statusCode, 200, 'buckets are per caller');
    });
  });
}
