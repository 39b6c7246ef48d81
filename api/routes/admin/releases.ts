/**
 * Officer release routes (under /v1/admin): drafts awaiting approval (officer,
 * reviewer), upload a release directory as a draft, approve, withdraw
 * (officer). The changing routes write their audit row inside their own
 * transaction and evict the release from the caches.
 */
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../../context.ts';
import { budgetSchema, errors, idParams, pageQuery, listOf } from '../../schemas.ts';
import { parseRelease } from '../../store/release-dir.ts';
import { approveRelease, storeDraft, withdrawRelease } from '../../store/releases.ts';
import { SUMMARY_COLUMNS, summary, tablesOf } from '../views.ts';

/** What a release costs its dataset's budget. */
const costSchema = {
  type: 'object',
  required: ['rho', 'epsilon'],
  properties: { rho: { type: 'number' }, epsilon: { type: ['number', 'null'] } },
} as const;

export async function adminReleaseRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.get(
    '/drafts',
    {
      config: { audit: 'release.list-drafts', roles: ['officer', 'reviewer'] },
      schema: {
        summary: 'Drafts awaiting approval (officer, reviewer)',
        tags: ['officer'],
        querystring: { type: 'object', additionalProperties: false, properties: { ...pageQuery } },
        response: {
          200: listOf({ $ref: 'ReleaseSummary#' }),
          ...errors(401, 403, 429),
        },
      },
    },
    async (req) => {
      const q = req.query as { limit: number; offset: number };
      const rows = await db
        .selectFrom('releases')
        .select([...SUMMARY_COLUMNS])
        .where('status', '=', 'draft')
        .orderBy('created_at')
        .orderBy('id')
        .limit(q.limit)
        .offset(q.offset)
        .execute();
      const tables = await tablesOf(
        db,
        rows.map((r) => r.id),
      );
      return { items: rows.map((r) => summary(r, tables.get(r.id) ?? [])) };
    },
  );

  app.post(
    '/releases',
    {
      config: { audit: 'release.publish', roles: ['officer'] },
      // The one route with the upload limit; every other route has a few KB (requestBodyLimit).
      bodyLimit: ctx.config.bodyLimit,
      schema: {
        summary: 'Upload a release directory as a draft (officer): its files as name -> content',
        tags: ['officer'],
        body: {
          type: 'object',
          required: ['files'],
          additionalProperties: false,
          properties: {
            files: {
              type: 'object',
              additionalProperties: { type: 'string' },
              description: 'manifest.json and every table file, as text',
            },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['id', 'version', 'warning', 'budget', 'cost'],
            properties: {
              id: { type: 'string' },
              version: { type: 'integer' },
              cost: costSchema,
              warning: { type: ['string', 'null'] },
              budget: budgetSchema,
            },
          },
          ...errors(400, 401, 403, 409, 413, 422, 429),
        },
      },
    },
    async (req, reply) => {
      const { files } = req.body as { files: Record<string, string> };
      const rel = parseRelease(new Map(Object.entries(files)));
      const r = await storeDraft(db, rel, req.actor);
      ctx.invalidate(r.id);
      req.auditDone = true;
      return reply.code(201).send({ id: r.id, version: r.version, warning: r.warning, budget: r.budget, cost: r.cost });
    },
  );

  app.post(
    '/releases/:id/approve',
    {
      config: { audit: 'release.approve', roles: ['officer'] },
      schema: {
        summary: "Publish a draft (officer); refused if it would exceed its dataset's privacy budget",
        tags: ['officer'],
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['id', 'status', 'supersedes', 'budget'],
            properties: {
              id: { type: 'string' },
              status: { type: 'string' },
              supersedes: { type: ['string', 'null'] },
              budget: budgetSchema,
            },
          },
          ...errors(401, 403, 404, 409, 410, 429),
        },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const r = await approveRelease(db, id, req.actor);
      ctx.invalidate(id);
      if (r.supersedes) ctx.invalidate(r.supersedes);
      req.auditDone = true;
      return { id, status: 'published', supersedes: r.supersedes, budget: r.budget };
    },
  );

  app.post(
    '/releases/:id/withdraw',
    {
      config: { audit: 'release.withdraw', roles: ['officer'] },
      schema: {
        summary: 'Withdraw a published release (officer), with a reason shown to researchers',
        tags: ['officer'],
        params: idParams,
        body: {
          type: 'object',
          required: ['reason'],
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: 2000 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['id', 'status'],
            properties: { id: { type: 'string' }, status: { type: 'string' } },
          },
          ...errors(400, 401, 403, 404, 409, 429),
        },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      await withdrawRelease(db, id, (req.body as { reason: string }).reason, req.actor);
      ctx.invalidate(id);
      req.auditDone = true;
      return { id, status: 'withdrawn' };
    },
  );
}
