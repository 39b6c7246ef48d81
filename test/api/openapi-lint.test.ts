/**
 * The OpenAPI document passes Redocly's recommended ruleset (an independent linter) with no problem at all, has
 * `servers` (configurable, default the relative "/"), and every 401 both declares and carries WWW-Authenticate.
 */
import { createConfig, lintFromString } from '@redocly/openapi-core';
import t from 'tap';
import { build } from '../../api/app.ts';
import { operationId } from '../../api/openapi.ts';
import { openPgliteStore } from './pglite-template.ts';

const store = await openPgliteStore();
t.teardown(() => store.close());

type Doc = {
  servers?: { url: string }[];
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, { headers?: object }> }>>;
};

t.test('Redocly recommended: no error, no warning', async (t) => {
  const app = await build({ store, logger: false, config: { rateLimit: null } });
  t.teardown(() => app.close());
  const r = await app.inject({ url: '/openapi.json' });
  t.equal(r.statusCode, 200);
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source: r.body, absoluteRef: 'openapi.json', config });
  t.same(
    problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`),
    [],
    'no problem reported',
  );
  const doc = JSON.parse(r.body) as Doc;
  t.same(doc.servers, [{ url: '/', description: 'This server' }], 'default server: relative "/"');
  const ids = new Set<string>();
  let operations = 0;
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      operations++;
      t.ok(op.operationId && !ids.has(op.operationId), `${method} ${p}: unique operationId ${op.operationId}`);
      ids.add(op.operationId!);
      t.ok(op.responses['401'], `${method} ${p} documents 401 (any route answers a bad key with 401)`);
      t.ok(
        (op.responses['401']?.headers as Record<string, unknown> | undefined)?.['WWW-Authenticate'],
        `${method} ${p}: its 401 declares WWW-Authenticate`,
      );
    }
  }
  t.ok(operations > 20, `${operations} operations checked`);
});

t.test('servers from the configuration', async (t) => {
  const servers = [{ url: 'https://stats.example.org/api', description: 'public zone' }];
  const app = await build({ store, logger: false, config: { rateLimit: null, servers } });
  t.teardown(() => app.close());
  const doc = JSON.parse((await app.inject({ url: '/openapi.json' })).body) as Doc;
  t.same(doc.servers, servers);
});

t.test('every 401 carries WWW-Authenticate', async (t) => {
  const app = await build({ store, logger: false, config: { rateLimit: null } });
  t.teardown(() => app.close());
  const bad = { authorization: 'Bearer sg_nope_nope' };
  for (const [method, url] of [
    ['GET', '/v1/releases'],
    ['GET', '/v1/releases/x/tables/y'],
    ['GET', '/v1/config'],
    ['GET', '/v1/admin/drafts'],
    ['POST', '/v1/previews'],
  ] as const) {
    const r = await app.inject({ method, url, headers: bad });
    t.equal(r.statusCode, 401, `${method} ${url} with a bad key`);
    t.equal(r.headers['www-authenticate'], 'Bearer realm="statguard"', `${method} ${url}: WWW-Authenticate`);
  }
  // Anonymous on a guarded route: 401 too, with the header.
  const r = await app.inject({ url: '/v1/admin/drafts' });
  t.equal(r.statusCode, 401);
  t.equal(r.headers['www-authenticate'], 'Bearer realm="statguard"');
});

t.test('operationId is derived from method and path', async (t) => {
  t.equal(operationId('GET', '/v1/releases/{id}/tables/{table}'), 'getReleasesByIdTablesByTable');
  t.equal(operationId('POST', '/v1/admin/signing-keys/{id}/revoke'), 'postAdminSigningKeysByIdRevoke');
});
