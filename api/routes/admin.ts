/**
 * Officer and reviewer routes (secure zone; not registered with --public).
 * Reviewers read (drafts, ledger, audit); officers also act (publish,
 * approve, withdraw, budgets, contracts, keys). Every route is audited; the
 * changing ones write their audit row inside their own transaction.
 */
import type { FastifyInstance } from 'fastify';
import { requireRole } from '../access.ts';
import type { AppContext } from '../app.ts';
import { ApiError } from '../errors.ts';
import { errors, pageQuery } from '../schemas.ts';
import { queryAudit } from '../store/audit.ts';
import { createKey } from '../store/keys.ts';
import { ledgerSpent } from '../store/ledger.ts';
import { parseRelease } from '../store/release-dir.ts';
import {
  approveRelease,
  budgetState,
  createContract,
  setDatasetBudget,
  storeDraft,
  withdrawRelease,
} from '../store/releases.ts';
import { SUMMARY_COLUMNS, summary, tablesOf } from './views.ts';

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;
const budgetSchema = {
  type: 'object',
  required: ['totalRho', 'totalEpsilon', 'spentRho', 'spentEpsilon'],
  properties: {
    totalRho: { type: 'number' },
    totalEpsilon: { type: 'number' },
    spentRho: { type: 'number' },
    spentEpsilon: { type: 'number' },
  },
} as const;

export function registerAdminRoutes(app: FastifyInstance, ctx: AppContext): void {
  const db = ctx.store.db;

  app.get(
    '/v1/admin/drafts',
    {
      config: { audit: 'release.list-drafts' },
      schema: {
        summary: 'Drafts awaiting approval (officer, reviewer)',
        tags: ['officer'],
        querystring: { type: 'object', additionalProperties: false, properties: { ...pageQuery } },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'ReleaseSummary#' } } },
          },
          ...errors(401, 403, 429),
        },
      },
    },
    async (req) => {
      requireRole(req.actor, 'officer', 'reviewer');
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
    '/v1/admin/releases',
    {
      config: { audit: 'release.publish' },
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
            required: ['id', 'version', 'warning', 'budget'],
            properties: {
              id: { type: 'string' },
              version: { type: 'integer' },
              warning: { type: ['string', 'null'] },
              budget: budgetSchema,
            },
          },
          ...errors(400, 401, 403, 409, 413, 422, 429),
        },
      },
    },
    async (req, reply) => {
      requireRole(req.actor, 'officer');
      const { files } = req.body as { files: Record<string, string> };
      const rel = parseRelease(new Map(Object.entries(files)));
      const r = await storeDraft(db, rel, req.actor);
      req.auditDone = true;
      return reply.code(201).send({ id: r.id, version: r.version, warning: r.warning, budget: r.budget });
    },
  );

  app.post(
    '/v1/admin/releases/:id/approve',
    {
      config: { audit: 'release.approve' },
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
          ...errors(401, 403, 404, 409, 429),
        },
      },
    },
    async (req) => {
      requireRole(req.actor, 'officer');
      const { id } = req.params as { id: string };
      const r = await approveRelease(db, id, req.actor);
      ctx.invalidate(id);
      if (r.supersedes) ctx.invalidate(r.supersedes);
      req.auditDone = true;
      return { id, status: 'published', supersedes: r.supersedes, budget: r.budget };
    },
  );

  app.post(
    '/v1/admin/releases/:id/withdraw',
    {
      config: { audit: 'release.withdraw' },
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
      requireRole(req.actor, 'officer');
      const { id } = req.params as { id: string };
      await withdrawRelease(db, id, (req.body as { reason: string }).reason, req.actor);
      ctx.invalidate(id);
      req.auditDone = true;
      return { id, status: 'withdrawn' };
    },
  );

  app.get(
    '/v1/admin/datasets',
    {
      config: { audit: 'dataset.list' },
      schema: {
        summary: 'Datasets with their total and spent privacy budget (officer, reviewer)',
        tags: ['officer'],
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'budget'],
                  properties: { id: { type: 'string' }, budget: budgetSchema },
                },
              },
            },
          },
          ...errors(401, 403, 429),
        },
      },
    },
    async (req) => {
      requireRole(req.actor, 'officer', 'reviewer');
      const rows = await db.selectFrom('datasets').select(['id', 'total_rho', 'total_epsilon']).orderBy('id').execute();
      const spent = await ledgerSpent(
        db,
        rows.map((r) => r.id),
      );
      return {
        items: rows.map((r) => ({
          id: r.id,
          budget: {
            totalRho: r.total_rho,
            totalEpsilon: r.total_epsilon,
            spentRho: spent.get(r.id)!.rho,
            spentEpsilon: spent.get(r.id)!.epsilon,
          },
        })),
      };
    },
  );

  app.get(
    '/v1/admin/datasets/:id/ledger',
    {
      config: { audit: 'dataset.ledger' },
      schema: {
        summary: 'Budget ledger of a dataset: what each published release spent (officer, reviewer)',
        tags: ['officer'],
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['dataset', 'budget', 'entries'],
            properties: {
              dataset: { type: 'string' },
              budget: budgetSchema,
              entries: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['release', 'rho', 'epsilon', 'at', 'by'],
                  properties: {
                    release: { type: 'string' },
                    rho: { type: 'number' },
                    epsilon: { type: ['number', 'null'] },
                    at: { type: 'string', format: 'date-time' },
                    by: { type: 'string' },
                  },
                },
              },
            },
          },
          ...errors(401, 403, 404, 429),
        },
      },
    },
    async (req) => {
      requireRole(req.actor, 'officer', 'reviewer');
      const { id } = req.params as { id: string };
      const ds = await db.selectFrom('datasets').select('id').where('id', '=', id).executeTakeFirst();
      if (!ds) throw new ApiError('DATASET_NOT_FOUND', `no dataset ${JSON.stringify(id)}`);
      const entries = await db
        .selectFrom('budget_ledger')
        .select(['release_id', 'rho', 'epsilon', 'created_at', 'created_by'])
        .where('dataset_id', '=', id)
        .orderBy('id')
        .execute();
      return {
        dataset: id,
        budget: await budgetState(db, id),
        entries: entries.map((e) => ({
          release: e.release_id,
          rho: e.rho,
          epsilon: e.epsilon,
          at: new Date(e.created_at).toISOString(),
          by: e.created_by,
        })),
      };
    },
  );

  app.put(
    '/v1/admin/datasets/:id/budget',
    {
      config: { audit: 'dataset.set-budget' },
      schema: {
        summary: 'Set the total privacy budget of a dataset (officer)',
        tags: ['officer'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { rho: { type: 'number', minimum: 0 }, epsilon: { type: 'number', minimum: 0 } },
        },
        response: { 200: budgetSchema, ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      requireRole(req.actor, 'officer');
      const { id } = req.params as { id: string };
      const b = req.body as { rho?: number; epsilon?: number };
      const r = await setDatasetBudget(db, id, b, req.actor);
      req.auditDone = true;
      return r;
    },
  );

  app.get(
    '/v1/admin/audit',
    {
      config: { audit: 'audit.query' },
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
      requireRole(req.actor, 'officer', 'reviewer');
      await ctx.audit.flush();
      return queryAudit(db, req.query as Record<string, never>);
    },
  );

  app.post(
    '/v1/admin/contracts',
    {
      config: { audit: 'contract.create' },
      schema: {
        summary: 'Grant a researcher key access to a contract release, or some of its tables, until a date (officer)',
        tags: ['officer'],
        body: {
          type: 'object',
          required: ['key', 'release', 'expires'],
          additionalProperties: false,
          properties: {
            key: { type: 'string' },
            release: { type: 'string' },
            tables: { type: 'array', items: { type: 'string' }, minItems: 1 },
            expires: { type: 'string', format: 'date-time' },
          },
        },
        response: {
          201: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
          ...errors(400, 401, 403, 404, 429),
        },
      },
    },
    async (req, reply) => {
      requireRole(req.actor, 'officer');
      const b = req.body as { key: string; release: string; tables?: string[]; expires: string };
      const r = await createContract(
        db,
        { keyId: b.key, releaseId: b.release, tables: b.tables ?? null, expiresAt: b.expires },
        req.actor,
      );
      req.auditDone = true;
      return reply.code(201).send(r);
    },
  );

  app.post(
    '/v1/admin/keys',
    {
      config: { audit: 'key.create' },
      schema: {
        summary: 'Create an API key (officer); the key is in this response only',
        tags: ['officer'],
        body: {
          type: 'object',
          required: ['role', 'name'],
          additionalProperties: false,
          properties: {
            role: { type: 'string', enum: ['officer', 'reviewer', 'researcher'] },
            name: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['id', 'key', 'role', 'name'],
            properties: {
              id: { type: 'string' },
              key: { type: 'string' },
              role: { type: 'string' },
              name: { type: 'string' },
            },
          },
          ...errors(400, 401, 403, 429),
        },
      },
    },
    async (req, reply) => {
      requireRole(req.actor, 'officer');
      const b = req.body as { role: string; name: string };
      const r = await createKey(db, b.role, b.name, req.actor);
      req.auditDone = true;
      return reply.code(201).send(r);
    },
  );
}
