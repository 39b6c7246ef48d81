/**
 * Metadata routes (every caller; what a caller sees follows access.ts, as for the data):
 *
 *   GET /v1/releases/{id}/codelists                  codelists of every table of the release (PxWeb API v2 style)
 *   GET /v1/releases/{id}/codelists/{codelist}       one of them (a dimension name)
 *   GET /v1/datasets/{id}/codelists                  the same for the newest release of a dataset the caller sees
 *   GET /v1/releases/{id}/tables/{table}/codelists   codelists of one table
 *   GET /v1/releases/{id}/tables/{table}/metadata    dimensions, measure, unit, notes, methods, contact, dates
 *   GET /v1/releases/{id}/tables/{table}/structure   SDMX-JSON 2.0 structure message (dataflow, DSD, codelists)
 *
 * A release the caller may not see does not exist (404 RELEASE_NOT_FOUND, as for its data), nor does a table
 * outside a researcher's contract (404 TABLE_NOT_FOUND); an expired release is 410. A withdrawn release keeps its
 * metadata (as GET /v1/releases/{id} does; its status and reason are shown). Every request is audited (route config
 * `audit`) like the data routes. `lang=` chooses the labels' language (api/metadata.ts). Built from the stored
 * structure only: no cell is read.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { publicManifest, type Manifest } from '../../engine/release/manifest.ts';
import { canSeeTable, isStaff } from '../access.ts';
import type { AppContext, PluginOptions } from '../context.ts';
import { ApiError } from '../errors.ts';
import {
  mergeCodelists,
  measureOf,
  notesOf,
  releaseLanguages,
  resolveLang,
  structureOf,
  type TableRow,
} from '../metadata.ts';
import { codelistsSchema, langQuery, tableMetadataSchema } from '../metadata-schemas.ts';
import { errors } from '../schemas.ts';
import { todayUtc } from '../store/expiry.ts';
import type { StoredDimension } from '../store/schema.ts';
import { visibleReleaseRow } from './views.ts';

const tableParams = {
  type: 'object',
  required: ['id', 'table'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 200 },
    table: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export const SDMX_STRUCTURE_TYPE = 'application/vnd.sdmx.structure+json; version=2.0.0; charset=utf-8';

/** The release as the caller may see it (404 otherwise, 410 when expired), with its visible tables (no cells). */
async function visible(ctx: AppContext, req: FastifyRequest, id: string, only?: string) {
  const db = ctx.store.db;
  const { row, contracts } = await visibleReleaseRow(db, req.actor, id, ctx.now());
  let q = db
    .selectFrom('release_tables')
    .select(['table_id', 'title', 'description', 'measure', 'privacy', 'dimensions', 'cell_count', 'suppressed'])
    .where('release_id', '=', id);
  if (only !== undefined) q = q.where('table_id', '=', only);
  const rows = await q.orderBy('position').execute();
  const tables: TableRow[] = rows
    .filter((t) => canSeeTable(req.actor, contracts, row, t.table_id))
    .map((t) => ({ ...t, dimensions: t.dimensions as StoredDimension[] }));
  if (only !== undefined && tables.length === 0)
    throw new ApiError('TABLE_NOT_FOUND', `release ${id} has no table ${JSON.stringify(only)}`, {
      release: id,
      table: only,
    });
  const manifest = publicManifest(row.manifest as unknown as Manifest);
  return { row, manifest, tables, languages: releaseLanguages(manifest) };
}

/** The newest release of a dataset the caller sees (published, unexpired; drafts too for staff), or 404. */
async function newestOf(ctx: AppContext, req: FastifyRequest, dataset: string): Promise<string> {
  const contracts = await ctx.callers.contractsOf(req.actor);
  let q = ctx.store.db.selectFrom('releases').select('id').where('dataset_id', '=', dataset);
  if (!isStaff(req.actor)) {
    const ids = [...contracts.keys()];
    q = q
      .where('status', '=', 'published')
      .where((eb) =>
        ids.length > 0 ? eb.or([eb('audience', '=', 'public'), eb('id', 'in', ids)]) : eb('audience', '=', 'public'),
      )
      .where((eb) => eb.or([eb('expires', 'is', null), eb('expires', '>=', todayUtc(ctx.now()))]));
  } else q = q.where('status', '<>', 'withdrawn');
  const r = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').executeTakeFirst();
  if (!r)
    throw new ApiError('DATASET_NOT_FOUND', `no release of dataset ${JSON.stringify(dataset)} is visible to you`, {
      dataset,
    });
  return r.id;
}

/** The metadata document of one table (the release as `visible` returns it). */
function tableMetadata(
  { row, manifest, tables, languages }: Awaited<ReturnType<typeof visible>>,
  req: FastifyRequest,
  id: string,
  table: string,
): Record<string, unknown> {
  const language = resolveLang(languages, (req.query as { lang?: string }).lang);
  req.auditDetail = { lang: language };
  const t = tables[0]!;
  const lists = mergeCodelists([t], language);
  const base = `/v1/releases/${encodeURIComponent(id)}/tables/${encodeURIComponent(table)}`;
  return {
    release: id,
    table,
    title: t.title,
    description: t.description,
    language,
    languages,
    status: row.status,
    dimensions: lists.map((cl) => ({
      name: cl.id,
      label: cl.label,
      codes: cl.values.length,
      leaves: cl.values.filter((v) => v.leaf).length,
      levels: Math.max(...cl.values.map((v) => v.level)) + 1,
      total: cl.values.find((v) => v.parent === null && !v.leaf)?.code ?? null,
    })),
    measures: [measureOf(t.measure, manifest.dataset.unit.kind, language)],
    unit: { kind: manifest.dataset.unit.kind, maxRowsPerUnit: manifest.dataset.unit.maxRowsPerUnit },
    cells: t.cell_count,
    suppressed: t.suppressed,
    notes: notesOf(t, manifest.regime),
    methods: {
      regime: manifest.regime,
      guarantee: manifest.guarantee.statement,
      methods: [...manifest.methods],
      randomness: manifest.randomness.source,
      privacy: t.privacy,
    },
    contact: manifest.release.contact,
    dates: {
      created: manifest.createdAt,
      published: row.approved_at ? new Date(row.approved_at).toISOString() : null,
      expires: row.expires,
      withdrawn: row.withdrawn_at ? new Date(row.withdrawn_at).toISOString() : null,
      withdrawReason: row.withdraw_reason,
    },
    links: {
      data: base,
      codelists: `${base}/codelists`,
      structure: `${base}/structure`,
    },
  };
}

export async function metadataRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const codelists = async (req: FastifyRequest, id: string, only?: string) => {
    const { tables, languages } = await visible(ctx, req, id, only);
    const language = resolveLang(languages, (req.query as { lang?: string }).lang);
    req.auditDetail = { lang: language };
    return { release: id, language, languages, codelists: mergeCodelists(tables, language) };
  };
  const codelistDoc = {
    description: 'Codelists: every code of each dimension (leaves, hierarchy levels, total) in node order',
    tags: ['metadata'],
    querystring: langQuery,
  };

  app.get(
    '/releases/:id/codelists',
    {
      config: { audit: 'codelist.read' },
      schema: {
        summary: 'Codelists of every table of a release (PxWeb API v2 style)',
        ...codelistDoc,
        params: idParams,
        response: { 200: codelistsSchema, ...errors(400, 401, 404, 410, 429) },
      },
    },
    async (req) => codelists(req, (req.params as { id: string }).id),
  );

  app.get(
    '/releases/:id/codelists/:codelist',
    {
      config: { audit: 'codelist.read' },
      schema: {
        summary: 'One codelist of a release (PxWeb API v2 /codelists/{id} style): a dimension by name',
        ...codelistDoc,
        params: {
          type: 'object',
          required: ['id', 'codelist'],
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 200 },
            codelist: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        response: { 200: codelistsSchema, ...errors(400, 401, 404, 410, 429) },
      },
    },
    async (req) => {
      const { id, codelist } = req.params as { id: string; codelist: string };
      req.auditTarget = `${id}/codelists/${codelist}`;
      const all = await codelists(req, id);
      const one = all.codelists.filter((c) => c.id === codelist);
      if (one.length === 0)
        throw new ApiError(
          'CODELIST_NOT_FOUND',
          `release ${id} has no codelist ${JSON.stringify(codelist)}; its codelists are ${all.codelists.map((c) => c.id).join(', ')}`,
          { release: id, codelist },
        );
      return { ...all, codelists: one };
    },
  );

  app.get(
    '/datasets/:id/codelists',
    {
      config: { audit: 'codelist.read' },
      schema: {
        summary: 'Codelists of the newest release of a dataset visible to the caller',
        ...codelistDoc,
        params: idParams,
        response: { 200: codelistsSchema, ...errors(400, 401, 404, 429) },
      },
    },
    async (req) => {
      const dataset = (req.params as { id: string }).id;
      req.auditTarget = `dataset:${dataset}`;
      return { dataset, ...(await codelists(req, await newestOf(ctx, req, dataset))) };
    },
  );

  app.get(
    '/releases/:id/tables/:table/codelists',
    {
      config: { audit: 'codelist.read' },
      schema: {
        summary: 'Codelists of one table',
        ...codelistDoc,
        params: tableParams,
        response: { 200: codelistsSchema, ...errors(400, 401, 404, 410, 429) },
      },
    },
    async (req) => {
      const { id, table } = req.params as { id: string; table: string };
      return codelists(req, id, table);
    },
  );

  app.get(
    '/releases/:id/tables/:table/metadata',
    {
      config: { audit: 'metadata.read' },
      schema: {
        summary: 'Table metadata: dimensions, measure and unit, notes, methods, contact and release dates',
        tags: ['metadata'],
        params: tableParams,
        querystring: langQuery,
        response: { 200: tableMetadataSchema, ...errors(400, 401, 404, 410, 429) },
      },
    },
    async (req) => {
      const { id, table } = req.params as { id: string; table: string };
      return tableMetadata(await visible(ctx, req, id, table), req, id, table);
    },
  );

  app.get(
    '/releases/:id/tables/:table/structure',
    {
      config: { audit: 'structure.read' },
      schema: {
        summary: 'SDMX structure of a table: SDMX-JSON 2.0 structure message (dataflow, DSD, codelists)',
        description:
          'The dataflow is the STRUCTURE_ID of the table in SDMX-CSV; dimensions and codes are those of the data; attributes OBS_STATUS, CONF_STATUS, NOISE_SD and HALF_WIDTH_95 (every SDMX-CSV column is a component).',
        tags: ['metadata'],
        params: tableParams,
        querystring: langQuery,
        response: {
          200: {
            description: 'SDMX-JSON 2.0 structure message',
            content: {
              'application/vnd.sdmx.structure+json': { schema: { type: 'object', additionalProperties: true } },
            },
          },
          ...errors(400, 401, 404, 410, 429),
        },
      },
    },
    async (req, reply) => {
      const { id, table } = req.params as { id: string; table: string };
      const { manifest, tables, languages } = await visible(ctx, req, id, table);
      const language = resolveLang(languages, (req.query as { lang?: string }).lang);
      req.auditDetail = { lang: language };
      const doc = structureOf(tables[0]!, manifest, language);
      return reply.type(SDMX_STRUCTURE_TYPE).send(JSON.stringify(doc));
    },
  );
}
