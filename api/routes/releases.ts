/**
 * Public release routes (every caller; what a caller sees follows access.ts):
 *
 *   GET /v1/releases        releases visible to the caller, paged
 *   GET /v1/releases/{id}   a release: status, public manifest, tables and their categories
 *
 * A release the caller may not see does not exist for it (404); tables
 * outside a researcher's contract are left out of the list and the metadata
 * (titles and ids included). An expired release (store/expiry.ts) answers 410
 * RELEASE_EXPIRED with its date; lists leave it out for researchers and
 * anonymous callers (nothing of it is served any more) and show it to
 * officers and reviewers marked `expired: true` (they manage it).
 */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { publicManifest, type Manifest } from '../../engine/release/manifest.ts';
import { canSeeTable, isStaff } from '../access.ts';
import type { PluginOptions } from '../context.ts';
import { labelIn, measureIn, releaseLanguages, resolveLang } from '../metadata.ts';
import { langProperty } from '../metadata-schemas.ts';
import { errors, idParams, pageQuery } from '../schemas.ts';
import { todayUtc } from '../store/expiry.ts';
import type { StoredDimension } from '../store/schema.ts';
import { SUMMARY_COLUMNS, summary, tablesOf, visibleReleaseRow } from './views.ts';

export async function releaseRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.get(
    '/releases',
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
      const contracts = await ctx.callers.contractsOf(actor);
      let base = db.selectFrom('releases');
      if (!isStaff(actor)) {
        base = base.where('status', 'in', ['published', 'withdrawn']).where((eb) => {
          const ids = [...contracts.keys()];
          return ids.length > 0
            ? eb.or([eb('audience', '=', 'public'), eb('id', 'in', ids)])
            : eb('audience', '=', 'public');
        });
        // Expired: `expires` (YYYY-MM-DD) before today (UTC); ISO dates compare as text.
        const today = todayUtc(ctx.now());
        base = base.where((eb) => eb.or([eb('expires', 'is', null), eb('expires', '>=', today)]));
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
        items: rows.map((r) =>
          summary(
            r,
            (tables.get(r.id) ?? []).filter((t) => canSeeTable(actor, contracts, r, t.id)),
            ctx.now(),
          ),
        ),
        total: Number(count.n),
        limit: q.limit,
        offset: q.offset,
      };
    },
  );

  app.get(
    '/releases/:id',
    {
      config: { audit: 'release.read' },
      schema: {
        summary:
          'A release: its status, the public part of its manifest (regime, guarantee, budget, methods) and its tables with their categories',
        tags: ['releases'],
        params: idParams,
        // Other parameters are ignored, as before lang existed.
        querystring: { type: 'object', properties: { lang: langProperty } },
        response: { 200: { $ref: 'ReleaseDetail#' }, ...errors(400, 401, 404, 410, 429) },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const { row, contracts } = await visibleReleaseRow(db, req.actor, id, ctx.now());
      const trows = await db
        .selectFrom('release_tables')
        .select(['table_id', 'title', 'description', 'measure', 'privacy', 'cell_count', 'suppressed', 'dimensions'])
        .where('release_id', '=', id)
        .orderBy('position')
        .execute();
      const visible = trows.filter((t) => canSeeTable(req.actor, contracts, row, t.table_id));
      const manifest = publicManifest(row.manifest as unknown as Manifest);
      const lang = resolveLang(releaseLanguages(manifest), (req.query as { lang?: string }).lang);
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
          measure: measureIn(t.measure, lang),
          cells: t.cell_count,
          suppressed: t.suppressed,
          privacy: t.privacy,
          dimensions: (t.dimensions as StoredDimension[]).map((d) => ({
            name: d.name,
            label: labelIn(d, lang),
            categories: d.nodes.map((n) => ({
              code: n.code,
              label: labelIn(n, lang),
              parent: n.parent === null ? null : d.nodes[n.parent]!.code,
            })),
          })),
        })),
      };
    },
  );
}
