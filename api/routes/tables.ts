/**
 * Public table data: GET /v1/releases/{id}/tables/{table} with dimension
 * selections and a format (json, csv, jsonstat, sdmx-csv, xlsx, parquet).
 *
 * The release's status and the caller's visibility are checked against the
 * store (through the short-lived status cache) before the rendered-response
 * cache is used; a withdrawn or expired release's data is never served
 * (410 RELEASE_WITHDRAWN / RELEASE_EXPIRED, in every format), and a
 * selection over the published cell limit is refused (403 CELL_LIMIT).
 */
import type { FastifyInstance } from 'fastify';
import { canSee, canSeeTable, notFound } from '../access.ts';
import { cachedResponse, languagesOf, localized, parsedQuery } from '../cache.ts';
import type { PluginOptions } from '../context.ts';
import { ApiError } from '../errors.ts';
import { resolveLang } from '../metadata.ts';
import { langProperty } from '../metadata-schemas.ts';
import {
  BINARY_FORMATS,
  countCells,
  EXTENSIONS,
  FORMATS,
  parseSelection,
  queryKey,
  render,
  type Format,
} from '../query.ts';
import { RenderLimit } from '../render-limit.ts';
import { errors } from '../schemas.ts';
import { expiredError, isExpired } from '../store/expiry.ts';

export async function tableRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;
  // xlsx and Parquet renderings of this app (cache misses only): api/render-limit.ts.
  const binary = new RenderLimit();

  app.get(
    '/releases/:id/tables/:table',
    {
      config: { audit: 'table.read' },
      schema: {
        summary: 'Table data with dimension selections',
        description:
          'Select categories with one parameter per dimension holding comma-separated codes (`?region=N,S1&sex=1`); a dimension left out means all of its categories (totals included). ' +
          'format: json (default), csv, jsonstat (JSON-stat 2.0), sdmx-csv (SDMX-CSV 2.0), xlsx (a sheet of the cells with codes, labels, flags and accuracy, and a Notes sheet), parquet (typed columns, release id and regime in the key-value metadata). ' +
          'labels=both adds labels (json; sdmx-csv writes every component and code as "ID: name"); csv, jsonstat, xlsx and parquet always carry codes and labels. ' +
          "lang: the labels' language in every format (default: the release policy's first language; GET .../metadata lists them). " +
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
            lang: langProperty,
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
              'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': {
                schema: { type: 'string', format: 'binary' },
              },
              'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...errors(400, 401, 403, 404, 410, 429, 503),
        },
      },
    },
    async (req, reply) => {
      const { id, table } = req.params as { id: string; table: string };
      const q = req.query as Record<string, string> & { format: Format; labels: 'code' | 'both'; lang?: string };
      const row = await ctx.releaseInfo(id);
      const contracts = await ctx.callers.contractsOf(req.actor);
      if (!row || !canSee(req.actor, contracts, row)) throw notFound(id);
      if (isExpired(row.expires, ctx.now())) {
        ctx.invalidate(id);
        throw expiredError(id, row.expires);
      }
      // A withdrawn release stays listed, but its data is no longer served.
      if (row.status === 'withdrawn') {
        ctx.invalidate(id);
        throw new ApiError('RELEASE_WITHDRAWN', `release ${id} was withdrawn; its data is no longer served`, {
          release: id,
        });
      }
      const served = await ctx.cache.get(id);
      const found = served.get(table);
      if (!found || !canSeeTable(req.actor, contracts, row, table))
        throw new ApiError('TABLE_NOT_FOUND', `release ${id} has no table ${JSON.stringify(table)}`, {
          release: id,
          table,
        });
      // Labels in the requested language (400 UNKNOWN_LANGUAGE naming the release's languages); codes never change.
      const t = localized(found, resolveLang(languagesOf(found), q.lang));
      // Parsing, counting and the cell limit depend only on the query string (and the table): done once per query.
      const at = req.url.indexOf('?');
      const pq = parsedQuery(t, at < 0 ? '' : req.url.slice(at + 1), () => {
        const selection = parseSelection(t, q);
        const cells = countCells(t, selection);
        if (cells > ctx.config.maxCells)
          throw new ApiError(
            'CELL_LIMIT',
            `the selection returns ${cells} cells; the limit is ${ctx.config.maxCells} (narrow the selection)`,
            { cells, maxCells: ctx.config.maxCells },
          );
        // Only json and sdmx-csv depend on `labels`: the other formats share one cached rendering.
        const labelsKey = q.format === 'json' || q.format === 'sdmx-csv' ? q.labels : 'both';
        return { selection, cells, key: queryKey(q.format, labelsKey, selection) };
      });
      req.auditDetail = { format: q.format, cells: pq.cells };
      const sel = pq.selection;
      const out = await cachedResponse(t, pq.key, () =>
        BINARY_FORMATS.has(q.format)
          ? binary.run(() => render(t, id, q.format, q.labels, sel))
          : render(t, id, q.format, q.labels, sel),
      );
      if (q.format !== 'json' && q.format !== 'jsonstat')
        reply.header(
          'content-disposition',
          `${BINARY_FORMATS.has(q.format) ? 'attachment' : 'inline'}; filename="${fileName(id, table)}.${EXTENSIONS[q.format]}"`,
        );
      // Every format points to the table's metadata (notes, methods, units), which CSV and SDMX-CSV cannot carry:
      // RFC 8288 `describedby`, as CSV on the Web does.
      reply.header(
        'link',
        `</v1/releases/${encodeURIComponent(id)}/tables/${encodeURIComponent(table)}/metadata>; rel="describedby"; type="application/json"`,
      );
      return reply.type(out.type).send(out.body);
    },
  );
}

/** A file name for Content-Disposition: release and table ids, with anything outside [A-Za-z0-9._-] replaced. */
function fileName(id: string, table: string): string {
  return `${id}-${table}`.replace(/[^A-Za-z0-9._-]/g, '_');
}
