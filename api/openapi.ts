/**
 * The OpenAPI 3.1 document of the routes (collected by @fastify/swagger from
 * their schemas, in registration order), served at /openapi.json, and the
 * Swagger UI at /docs. Registered before the routes, so that it sees them.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ENGINE_VERSION } from '../engine/version.ts';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'statguard publication API',
        version: ENGINE_VERSION,
        description:
          'Protected statistics published by statguard. Suppressed cells are null with their SDMX CONF_STATUS; noisy (differentially private) cells carry OBS_STATUS E and their accuracy. ' +
          'Authenticate with `Authorization: Bearer <key>`; without it you are anonymous. Errors are application/problem+json with a stable `code`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }, {}],
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
