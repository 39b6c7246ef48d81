/**
 * Dataset routes (under /v1/admin): registering a dataset (officer; the store never creates one on first sight),
 * datasets with their regime and their total and spent privacy budget, a dataset's ledger (officer, reviewer), and
 * setting a dataset's total budget (officer). Changes are audited inside their own transaction.
 */
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../../context.ts';
import { ApiError } from '../../errors.ts';
import { budgetSchema, errors, idParams, listOf } from '../../schemas.ts';
import { publishedHistory } from '../../store/cross-release.ts';
import { createDataset } from '../../store/datasets.ts';
import { ledgerSpent } from '../../store/ledger.ts';
import { budgetState, setDatasetBudget } from '../../store/releases.ts';

export async function adminDatasetRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.get(
    '/datasets',
    {
      config: { audit: 'dataset.list', roles: ['officer', 'reviewer'] },
      schema: {
        summary: 'Datasets with their total and spent privacy budget (officer, reviewer)',
        tags: ['officer'],
        response: {
          200: listOf({
            type: 'object',
            required: ['id', 'budget'],
            properties: {
              id: { type: 'string' },
              title: { type: ['string', 'null'] },
              regime: { type: ['string', 'null'] },
              demo: { type: 'boolean' },
              budget: budgetSchema,
            },
          }),
          ...errors(401, 403, 429),
        },
      },
    },
    async (req) => {
      const rows = await db
        .selectFrom('datasets')
        .select(['id', 'title', 'regime', 'demo', 'total_rho', 'total_epsilon'])
        .orderBy('id')
        .execute();
      const spent = await ledgerSpent(
        db,
        rows.map((r) => r.id),
      );
      return {
        items: rows.map((r) => ({
          id: r.id,
          title: r.title,
          regime: r.regime,
          demo: r.demo,
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
    '/datasets/:id/ledger',
    {
      config: { audit: 'dataset.ledger', roles: ['officer', 'reviewer'] },
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
                    release: {
                      type: ['string', 'null'],
                      description: 'The release charged; null for an on-demand dp table (`by` is `contract:<id>`)',
                    },
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
    '/datasets/:id/budget',
    {
      config: { audit: 'dataset.set-budget', roles: ['officer'] },
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
        response: { 200: budgetSchema, ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const b = req.body as { rho?: number; epsilon?: number };
      const r = await setDatasetBudget(db, id, b, req.actor);
      req.auditDone = true;
      return r;
    },
  );
}

/** Registering a dataset (officer): the store never creates one on first sight. */
export async function adminDatasetCreateRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.post(
    '/datasets',
    {
      config: { audit: 'dataset.create', roles: ['officer'] },
      schema: {
        summary: 'Register a dataset (officer): the regime it is published under, its total budget, demo or not',
        tags: ['officer'],
        body: {
          type: 'object',
          required: ['id', 'title', 'regime'],
          additionalProperties: false,
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 200 },
            title: { type: 'string', minLength: 1, maxLength: 500 },
            regime: { type: 'string', enum: ['sdc', 'dp', 'ckm'] },
            rho: { type: 'number', minimum: 0 },
            epsilon: { type: 'number', minimum: 0 },
            demo: { type: 'boolean' },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['id', 'title', 'regime', 'demo', 'totalRho', 'totalEpsilon'],
            properties: {
              id: { type: 'string' },
              title: { type: 'string' },
              regime: { type: 'string' },
              demo: { type: 'boolean' },
              totalRho: { type: 'number' },
              totalEpsilon: { type: 'number' },
            },
          },
          ...errors(400, 401, 403, 409, 429),
        },
      },
    },
    async (req, reply) => {
      const b = req.body as {
        id: string;
        title: string;
        regime: string;
        rho?: number;
        epsilon?: number;
        demo?: boolean;
      };
      const r = await createDataset(db, b, req.actor);
      req.auditDone = true;
      return reply.code(201).send(r.dataset);
    },
  );

  app.get(
    '/datasets/:id/published',
    {
      config: { audit: 'dataset.published', roles: ['officer'] },
      schema: {
        summary:
          'Every release of a dataset that is or was published, with its published cells (officer): what `statguard release` audits a new sdc release against',
        tags: ['officer'],
        params: idParams,
        response: { 200: listOf(historyEntrySchema), ...errors(401, 403, 404, 429) },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const known = await db.selectFrom('datasets').select('id').where('id', '=', id).executeTakeFirst();
      if (!known) throw new ApiError('DATASET_NOT_FOUND', `no dataset ${JSON.stringify(id)}`, { dataset: id });
      return { items: await publishedHistory(db, id) };
    },
  );
}

const nodeSchema = {
  type: 'object',
  required: ['code', 'label', 'parent'],
  properties: { code: { type: 'string' }, label: { type: 'string' }, parent: { type: ['integer', 'null'] } },
} as const;

/** One release of `GET /v1/admin/datasets/{id}/published`: the public cells of its tables (null: suppressed). */
const historyEntrySchema = {
  type: 'object',
  required: ['id', 'manifestSha256', 'regime', 'status', 'tables'],
  properties: {
    id: { type: 'string' },
    manifestSha256: { type: 'string' },
    regime: { type: 'string' },
    status: { type: 'string' },
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'measure', 'dimensions', 'value', 'conf'],
        properties: {
          id: { type: 'string' },
          measure: { type: 'object', additionalProperties: true },
          dimensions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'label', 'nodes'],
              properties: {
                name: { type: 'string' },
                label: { type: 'string' },
                nodes: { type: 'array', items: nodeSchema },
              },
            },
          },
          value: { type: 'array', items: { type: ['number', 'null'] } },
          conf: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
} as const;
