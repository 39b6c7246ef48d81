/**
 * The OpenAPI 3.1 document of the routes (collected by @fastify/swagger from
 * their schemas, in registration order), served at /openapi.json, and the
 * Swagger UI at /docs. Registered before the routes, so that it sees them.
 *
 * The document passes Redocly's recommended ruleset with no error and no warning (test/api/openapi-lint.test.ts):
 * `servers` come from the configuration (default the relative "/", so the document works behind any host), every
 * operation gets a stable `operationId` derived from its method and path, and every 401 declares the
 * `WWW-Authenticate` header it carries (schemas.ts `errors`, hooks.ts `sendProblem`).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ENGINE_VERSION } from '../engine/version.ts';
import type { ApiConfig } from './config.ts';

/** `GET /v1/releases/:id/tables/:table` (or `{id}`) -> `getReleasesByIdTablesByTable` (the /v1 prefix dropped). */
export function operationId(method: string, url: string): string {
  const words = url
    .replace(/^\/v1\//, '/')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => (/^[:{]/.test(s) ? `by-${s.replace(/[:{}]/g, '')}` : s))
    .flatMap((s) => s.split(/[^A-Za-z0-9]+/))
    .filter((w) => w !== '');
  return [method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
}

export async function registerOpenApi(app: FastifyInstance, config: Pick<ApiConfig, 'servers'>): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'statguard publication API',
        version: ENGINE_VERSION,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
        description:
          'Protected statistics published by statguard. Suppressed cells are null with their SDMX CONF_STATUS; noisy (differentially private) cells carry OBS_STATUS E and their accuracy. ' +
          'Authenticate with `Authorization: Bearer <key>`; without it you are anonymous (a 401 names the scheme in `WWW-Authenticate`). Errors are application/problem+json with a stable `code`. ' +
          'Labels follow `lang=` on every table and metadata route (default: the release policy’s first language).',
      },
      servers: config.servers.map((s) => ({ ...s })),
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }, {}],
    },
    transform: ({ schema, url, route }) => {
      if (!schema || (schema as { hide?: boolean }).hide) return { schema, url };
      const method = Array.isArray(route.method) ? route.method[0]! : route.method;
      return { schema: { ...schema, operationId: operationId(method, url) } as typeof schema, url };
    },
    refResolver: {
      buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('application/json').send(JSON.stringify(app.swagger())),
  );
}
