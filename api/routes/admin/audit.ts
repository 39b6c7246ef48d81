/**
 * GET /v1/admin/audit (officer, reviewer): the audit log, newest first, with
 * filters; buffered rows are flushed first so the answer is complete.
 */
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../../context.ts';
import { errors, pageQuery } from '../../schemas.ts';
import { queryAudit } from '../../store/audit.ts';

export async function adminAuditRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.get(
    '/audit',
    {
      config: { audit: 'audit.query', roles: ['officer', 'reviewer'] },
      schema: {
        summary: 'Query the audit log, newest first (officer, reviewer)',
        tags: ['officer'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...pageQuery,
            caller: { type: 'string' },
            action: { type: 'string' },
            target: { type: 'string' },
            outcome: { type: 'string', enum: ['ok', 'denied', 'error'] },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'total'],
            properties: {
              total: { type: 'integer' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'at', 'caller', 'role', 'action', 'target', 'outcome', 'status'],
                  properties: {
                    id: { type: 'string' },
                    at: { type: 'string', format: 'date-time' },
                    caller: { type: 'string' },
                    role: { type: 'string' },
                    action: { type: 'string' },
                    target: { type: ['string', 'null'] },
                    outcome: { type: 'string' },
                    status: { type: ['integer', 'null'] },
                    detail: { type: ['object', 'null'], additionalProperties: true },
                  },
                },
              },
            },
          },
          ...errors(400, 401, 403, 429),
        },
      },
    },
    async (req) => {
      await ctx.audit.flush();
      return queryAudit(db, req.query as Record<string, never>);
    },
  );
}
