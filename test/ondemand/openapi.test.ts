/** The on-demand routes in the OpenAPI document: Redocly's recommended ruleset finds nothing, 401 declared. */
import { createConfig, lintFromString } from '@redocly/openapi-core';
import t from 'tap';
import { build } from '../../api/app.ts';
import type { SecureZone } from '../../api/ondemand/client.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { TestGate } from './api-helpers.ts';

t.test('POST /v1/datasets/{id}/tables and GET .../schema are documented and lint clean', async (t) => {
  const store = await openPgliteStore();
  const zone: SecureZone = {
    schema: () => Promise.reject(new Error('not used')),
    input: () => Promise.reject(new Error('not used')),
    compute: () => Promise.reject(new Error('not used')),
    close: async () => {},
  };
  const app = await build({
    store,
    logger: false,
    config: { rateLimit: null },
    onDemand: { zone, gate: new TestGate() },
  });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  const r = await app.inject({ url: '/openapi.json' });
  const doc = JSON.parse(r.body) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
  };
  const post = doc.paths['/v1/datasets/{id}/tables']?.post;
  t.ok(post, 'POST documented');
  t.ok(post?.requestBody, 'with its body schema');
  t.ok(post?.responses['400'] && post.responses['409'] && post.responses['401'], '400, 409 and 401 documented');
  t.ok(doc.paths['/v1/datasets/{id}/schema']?.get, 'GET schema documented');
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source: r.body, absoluteRef: 'openapi.json', config });
  t.same(
    problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`),
    [],
    'no problem reported',
  );
});
