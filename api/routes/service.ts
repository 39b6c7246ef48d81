/**
 * Service routes (every caller): GET /v1/config (the published limits) and
 * GET /v1/policy-schema (the JSON Schema of policy files).
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../context.ts';
import { ApiError } from '../errors.ts';
import { sendProblem } from '../hooks.ts';
import { FORMATS } from '../query.ts';
import { errors } from '../schemas.ts';

export async function serviceRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  app.get(
    '/config',
    {
      schema: {
        summary: 'Service limits',
        tags: ['service'],
        response: {
          200: {
            type: 'object',
            required: ['maxCells', 'rateLimit', 'formats'],
            properties: {
              maxCells: { type: 'integer', description: 'Largest number of cells one table query may return' },
              rateLimit: {
                type: ['object', 'null'],
                properties: { perSecond: { type: 'number' }, burst: { type: 'integer' } },
                description: 'Token bucket per API key (per client address when anonymous); null when unlimited',
              },
              formats: { type: 'array', items: { type: 'string' } },
            },
          },
          ...errors(401, 429),
        },
      },
    },
    async () => ({ maxCells: ctx.config.maxCells, rateLimit: ctx.config.rateLimit, formats: [...FORMATS] }),
  );

  app.get(
    '/policy-schema',
    {
      schema: {
        summary: 'The JSON Schema of statguard policy files',
        tags: ['service'],
        response: {
          200: {
            description: 'JSON Schema (draft 2020-12)',
            content: { 'application/schema+json': { schema: { type: 'object', additionalProperties: true } } },
          },
          ...errors(401, 404, 429),
        },
      },
    },
    async (_req, reply) => {
      let text: string;
      try {
        text = await readFile(ctx.policySchemaPath, 'utf8');
        JSON.parse(text);
      } catch {
        return sendProblem(reply, new ApiError('NOT_FOUND', 'the policy schema is not available on this server'));
      }
      return reply.type('application/schema+json; charset=utf-8').send(text);
    },
  );
}
