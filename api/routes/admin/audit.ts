/**
 * GET /v1/admin/audit (officer, reviewer): the audit log, newest first, with
 * filters; queued rows are committed first so the answer is complete.
 * POST /v1/admin/audit/verify and GET /v1/admin/audit/checkpoint (officer): the
 * hash chains of the log and the ledger (store/chain.ts), so that `statguard
 * audit verify|checkpoint` works while the server holds the store.
 */
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../../context.ts';
import { errors, pageQuery } from '../../schemas.ts';
import { queryAudit } from '../../store/audit.ts';
import { CHAINS, CHECKPOINT_FORMAT, checkpoint, parseCheckpoint, verifyChains } from '../../store/chain.ts';
import { ApiError } from '../../errors.ts';

const head = {
  type: 'object',
  required: ['count', 'hash'],
  additionalProperties: false,
  properties: { count: { type: 'integer', minimum: 0 }, hash: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
};
const checkpointSchema = {
  type: 'object',
  required: ['format', 'at', 'chains'],
  properties: {
    format: { type: 'string', enum: [CHECKPOINT_FORMAT] },
    at: { type: 'string' },
    chains: {
      type: 'object',
      required: [...CHAINS],
      properties: Object.fromEntries(CHAINS.map((c) => [c, head])),
    },
  },
};
const reportSchema = {
  type: 'object',
  required: ['ok', 'chains'],
  properties: {
    ok: { type: 'boolean' },
    chains: {
      type: 'array',
      items: {
        type: 'object',
        required: ['chain', 'count', 'head', 'broken'],
        properties: {
          chain: { type: 'string' },
          count: { type: 'integer' },
          head: { type: 'string' },
          broken: {
            type: ['object', 'null'],
            required: ['rowId', 'seq', 'problem'],
            properties: {
              rowId: { type: ['string', 'null'] },
              seq: { type: ['integer', 'null'] },
              problem: { type: 'string' },
            },
          },
        },
      },
    },
  },
};

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

  app.post(
    '/audit/verify',
    {
      config: { audit: 'audit.verify', roles: ['officer'] },
      schema: {
        summary:
          'Verify the hash chains of the audit log and the budget ledger, optionally against a checkpoint (officer)',
        tags: ['officer'],
        body: { type: 'object', additionalProperties: false, properties: { checkpoint: checkpointSchema } },
        response: { 200: reportSchema, ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      await ctx.audit.flush();
      const body = (req.body ?? {}) as { checkpoint?: unknown };
      let cp = null;
      if (body.checkpoint !== undefined) {
        try {
          cp = parseCheckpoint(JSON.stringify(body.checkpoint), 'body.checkpoint');
        } catch (e) {
          throw new ApiError('BAD_REQUEST', (e as Error).message);
        }
      }
      return verifyChains(db, cp);
    },
  );

  app.get(
    '/audit/checkpoint',
    {
      config: { audit: 'audit.checkpoint', roles: ['officer'] },
      schema: {
        summary: 'The verified heads (row count and hash) of the audit and ledger hash chains (officer)',
        tags: ['officer'],
        response: { 200: checkpointSchema, ...errors(401, 403, 409, 429) },
      },
    },
    async () => {
      await ctx.audit.flush();
      return checkpoint(db);
    },
  );
}
