/**
 * Researcher routes (public zone): releases, their metadata and table data,
 * service limits and the policy schema.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { publicManifest, type Manifest } from '../../engine/release/manifest.ts';
import { canSee, canSeeTable, contractsOf, isStaff, notFound } from '../access.ts';
import type { AppContext } from '../app.ts';
import { sendProblem } from '../app.ts';
import { cachedResponse } from '../cache.ts';
import { ApiError } from '../errors.ts';
import { countCells, FORMATS, parseSelection, queryKey, render, type Format } from '../query.ts';
import { errors, pageQuery } from '../schemas.ts';
import type { StoredDimension } from '../store/schema.ts';
import { SUMMARY_COLUMNS, summary, tablesOf } from './views.ts';

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export function registerPublicRoutes(app: FastifyInstance, ctx: AppContext): void {
  const db = ctx.store.db;

  app.get(
    '/v1/releases',
    {
      config: { audit: 'release.list' },
      schema: {
        summary: 'Releases visible to the caller (published and withdrawn; drafts too for officers and reviewers)',
        tags: ['releases'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...pageQuery,
            status: { type: 'string', enum: ['draft', 'published', 'withdrawn'] },
            policy: { type: 'string' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'total', 'limit', 'offset'],
            properties: {
              items: { type: 'array', items: { $ref: 'ReleaseSummary#' } },
              total: { type: 'integer' },
              limit: { type: 'integer' },
              offset: { type: 'integer' },
            },
          },
          ...errors(400, 401, 429),
        },
      },
    },
    async (req) => {
      const q = req.query as { limit: number; offset: number; status?: string; policy?: string };
      const actor = req.actor;
      const contracts = await contractsOf(db, actor);
      let base = db.selectFrom('releases');
      if (!isStaff(actor)) {
        base = base.where('status', 'in', ['published', 'withdrawn']).where((eb) => {
          const ids = [...contracts.keys()];
          return ids.length > 0
            ? eb.or([eb('audience', '=', 'public'), eb('id', 'in', ids)])
            : eb('audience', '=', 'public');
        });
      }
      if (q.status) base = base.where('status', '=', q.status as 'draft');
      if (q.policy) base = base.where('policy_id', '=', q.policy);
      const [rows, count] = await Promise.all([
        base
          .select([...SUMMARY_COLUMNS])
          .orderBy('created_at', 'desc')
          .orderBy('id')
          .limit(q.limit)
          .offset(q.offset)
          .execute(),
        base.select(sql<string>`count(*)::text`.as('n')).executeTakeFirstOrThrow(),
      ]);
      const tables = await tablesOf(
        db,
        rows.map((r) => r.id),
      );
      req.auditDetail = { count: rows.length };
      return {
        items: rows.map((r) => summary(r, tables.get(r.id) ?? [])),
        total: Number(count.n),
        limit: q.limit,
        offset: q.offset,
      };
    },
  );

  app.get(
    '/v1/releases/:id',
    {
      config: { audit: 'release.read' },
      schema: {
        summary:
          'A release: its status, the public part of its manifest (regime, guarantee, budget, methods) and its tables with their categories',
        tags: ['releases'],
        params: idParams,
        response: { 200: { $ref: 'ReleaseDetail#' }, ...errors(401, 404, 429) },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const row = await db
        .selectFrom('releases')
        .select([...SUMMARY_COLUMNS, 'manifest'])
        .where('id', '=', id)
        .executeTakeFirst();
      const contracts = await contractsOf(db, req.actor);
      if (!row || !canSee(req.actor, contracts, row)) throw notFound(id);
      const trows = await db
        .selectFrom('release_tables')
        .select(['table_id', 'title', 'description', 'measure', 'privacy', 'cell_count', 'suppressed', 'dimensions'])
        .where('release_id', '=', id)
        .orderBy('position')
        .execute();
      const visible = trows.filter((t) => canSeeTable(req.actor, contracts, row, t.table_id));
      const manifest = publicManifest(row.manifest as unknown as Manifest);
      const shownIds = new Set(visible.map((t) => t.table_id));
      return {
        release: summary(
          row,
          visible.map((t) => ({ id: t.table_id, title: t.title, cells: t.cell_count, suppressed: t.suppressed })),
        ),
        // Public part only (publicManifest drops `internal`); tables outside the caller's contract are left out.
        manifest: { ...manifest, tables: manifest.tables.filter((t) => shownIds.has(t.id)) },
        tables: visible.map((t) => ({
          id: t.table_id,
          title: t.title,
          description: t.description,
          measure: t.measure,
          cells: t.cell_count,
          suppressed: t.suppressed,
          privacy: t.privacy,
          dimensions: (t.dimensions as StoredDimension[]).map((d) => ({
            name: d.name,
            label: d.label,
            categories: d.nodes.map((n) => ({
              code: n.code,
              label: n.label,
              parent: n.parent === null ? null : d.nodes[n.parent]!.code,
            })),
          })),
        })),
      };
    },
  );

  app.get(
    '/v1/releases/:id/tables/:table',
    {
      config: { audit: 'table.read' },
      schema: {
        summary: 'Table data with dimension selections',
        description:
          'Select categories with one parameter per dimension holding comma-separated codes (`?region=N,S1&sex=1`); a dimension left out means all of its categories (totals included). ' +
          'format: json (default), csv, jsonstat (JSON-stat 2.0), sdmx-csv (SDMX-CSV 2.0). labels=both adds labels (json, sdmx-csv); csv and jsonstat always carry codes and labels. ' +
          'A suppressed cell is null (empty in CSV) with its CONF_STATUS in every format. More cells than GET /v1/config maxCells: 403 CELL_LIMIT.',
        tags: ['releases'],
        params: {
          type: 'object',
          required: ['id', 'table'],
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 200 },
            table: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        querystring: {
          type: 'object',
          properties: {
            format: { type: 'string', enum: [...FORMATS], default: 'json' },
            labels: { type: 'string', enum: ['code', 'both'], default: 'code' },
          },
          additionalProperties: {
            anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
            description: 'dimension name = comma-separated category codes',
          },
        },
        response: {
          200: {
            description: 'The selected cells',
            content: {
              'application/json': {
                schema: {
                  oneOf: [
                    { $ref: 'TableData#' },
                    {
                      type: 'object',
                      description: 'JSON-stat 2.0 dataset (format=jsonstat)',
                      additionalProperties: true,
                    },
                  ],
                },
              },
              'text/csv': { schema: { type: 'string' } },
              'application/vnd.sdmx.data+csv': { schema: { type: 'string' } },
            },
          },
          ...errors(400, 401, 403, 404, 410, 429),
        },
      },
    },
    async (req, reply) => {
      const { id, table } = req.params as { id: string; table: string };
      const q = req.query as Record<string, string> & { format: Format; labels: 'code' | 'both' };
      const row = await ctx.releaseInfo(id);
      const contracts = await contractsOf(db, req.actor);
      if (!row || !canSee(req.actor, contracts, row)) throw notFound(id);
      // A withdrawn release stays listed, but its data is no longer served.
      if (row.status === 'withdrawn') {
        ctx.invalidate(id);
        throw new ApiError('RELEASE_WITHDRAWN', `release ${id} was withdrawn; its data is no longer served`, {
          release: id,
        });
      }
      const served = await ctx.cache.get(id);
      const t = served.get(table);
      if (!t || !canSeeTable(req.actor, contracts, row, table))
        throw new ApiError('TABLE_NOT_FOUND', `release ${id} has no table ${JSON.stringify(table)}`, {
          release: id,
          table,
        });
      const sel = parseSelection(t, q);
      const n = countCells(t, sel);
      if (n > ctx.config.maxCells)
        throw new ApiError(
          'CELL_LIMIT',
          `the selection returns ${n} cells; the limit is ${ctx.config.maxCells} (narrow the selection)`,
          { cells: n, maxCells: ctx.config.maxCells },
        );
      req.auditDetail = { format: q.format, cells: n };
      const out = cachedResponse(t, queryKey(q.format, q.labels, sel), () => render(t, id, q.format, q.labels, sel));
      if (q.format === 'csv' || q.format === 'sdmx-csv')
        reply.header('content-disposition', `inline; filename="${id}-${table}.csv"`);
      return reply.type(out.type).send(out.body);
    },
  );

  app.get(
    '/v1/config',
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
    '/v1/policy-schema',
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
