/**
 * Tables on demand (issue 20): `GET /v1/datasets/{id}/schema` (the declared schema a researcher builds a query from)
 * and `POST /v1/datasets/{id}/tables` (one table, computed in the secure zone and protected on the fly).
 *
 * Order of a POST: role (researcher), body limit and parse, the dataset's registered regime (sdc: 409
 * ON_DEMAND_NOT_OFFERED), the query against the public schema (400 QUERY_INVALID listing every problem with its JSON
 * path), its cell count from the schema alone, the microdata's input bound to this dataset (409
 * ON_DEMAND_INPUT_BOUND when another registered dataset holds it: ondemand/binding.ts), the contract gate's
 * `authorise` (its 403/429 naming the term), then
 * the cache per contract and query or the secure zone (its failure: the gate's `cancel`), then `recordUse` (every answer counts; dp is charged only on
 * a computed answer), then the rendering with the published tables' formatters (json, csv, jsonstat), audited as
 * `ondemand.table` like other reads (no audit row, no data). The API process holds no microdata: it only talks to
 * the worker (api/ondemand/client.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PluginOptions } from '../context.ts';
import { ApiError } from '../errors.ts';
import { errors } from '../schemas.ts';
import { guardRoles } from '../hooks.ts';
import { render } from '../query.ts';
import type { ServedTable } from '../cache.ts';
import { SecureZoneError, type OnDemandResult, type PublicSchema } from '../ondemand/client.ts';
import { canonicalQuery, OnDemandCache, type CachedAnswer } from '../ondemand/cache.ts';
import type { DpCost } from '../ondemand/gate.ts';
import type { OnDemandService } from '../ondemand/service.ts';
import { inputBinding } from '../ondemand/binding.ts';
import { cellCount, validateQuery, type OnDemandFormat, type OnDemandQuery } from '../../engine/ondemand/index.ts';

export type { OnDemandService };

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

const querySchema = {
  type: 'object',
  description:
    'An on-demand query: `dimensions` (1 to maxDimensions of the schema, each { name, level? }: level 0 is the total only, 1 the first hierarchy level, ...; omitted = the finest categories; margins are always included), `measure` ("count" or a declared measure), `filter` (optional: per dimension not in the table, the codes of the population kept), `format` (json, csv or jsonstat; default json).',
  required: ['dimensions', 'measure'],
  properties: {
    dimensions: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, level: { type: 'integer' } },
      },
    },
    measure: { type: 'string' },
    filter: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    format: { type: 'string', enum: ['json', 'csv', 'jsonstat'] },
  },
} as const;

/** Secure-zone failures as problems: refusals keep their code and path, faults say nothing of their cause. */
function zoneError(e: unknown): ApiError {
  if (!(e instanceof SecureZoneError)) return e instanceof ApiError ? e : new ApiError('INTERNAL', 'on-demand failed');
  const i = e.info;
  if (i.code === 'QUERY_INVALID') return new ApiError('QUERY_INVALID', i.message, { errors: i.details ?? [] });
  if (i.code === 'ON_DEMAND_NOT_OFFERED') return new ApiError('ON_DEMAND_NOT_OFFERED', i.message);
  if (i.code === 'ON_DEMAND_TIMEOUT' || i.code === 'ON_DEMAND_UNAVAILABLE' || i.code === 'ON_DEMAND_INPUT_CHANGED')
    return new ApiError('ON_DEMAND_UNAVAILABLE', i.message);
  return new ApiError('INTERNAL', 'the secure zone could not compute the table');
}

const CONTENT: Record<OnDemandFormat, string> = {
  json: 'application/json',
  csv: 'text/csv',
  jsonstat: 'application/json',
};

export async function onDemandRoutes(
  app: FastifyInstance,
  { ctx, service }: PluginOptions & { service: OnDemandService },
): Promise<void> {
  guardRoles(app);
  const binding = inputBinding(ctx.store.db, service.zone, zoneError);
  const caches = new Map<string, OnDemandCache>();
  // The forked zone asks the worker for a dataset's schema once (ondemand/client.ts).
  const schemaOf = (id: string): Promise<PublicSchema> =>
    service.zone.schema(id).catch((e: unknown) => Promise.reject(zoneError(e)));
  /** The registered regime (sdc refused); a dataset the store does not know is refused like one without a policy. */
  // A registered dataset's regime never changes (store/datasets.ts), so a found one is kept (bounded).
  const regimes = new Map<string, string>();
  const checkRegime = async (id: string): Promise<void> => {
    const known = regimes.get(id);
    const row =
      known !== undefined
        ? { regime: known }
        : await ctx.store.db.selectFrom('datasets').select(['regime']).where('id', '=', id).executeTakeFirst();
    if (row?.regime && known === undefined && regimes.size < 10_000) regimes.set(id, row.regime);
    if (row?.regime === 'sdc')
      throw new ApiError(
        'ON_DEMAND_NOT_OFFERED',
        `dataset ${id} is registered under suppression (sdc): suppression is not safe against ad-hoc overlapping tables`,
        { dataset: id },
      );
    if (!row || row.regime === null)
      throw new ApiError('ON_DEMAND_NOT_OFFERED', `dataset ${id} is not registered for tables on demand`, {
        dataset: id,
      });
    // One regime per dataset (store/datasets.ts): the on-demand policy must protect by the regime it was registered
    // under, or its tables would mix two guarantees (and dp charges) on one dataset.
    const served = (await schemaOf(id)).regime;
    if (served !== row.regime)
      throw new ApiError(
        'ON_DEMAND_NOT_OFFERED',
        `dataset ${id} is registered under ${row.regime}, but its on-demand policy protects by ${served}`,
        { dataset: id },
      );
  };

  app.get(
    '/datasets/:id/schema',
    {
      config: { audit: 'ondemand.schema', roles: ['researcher', 'officer', 'reviewer'] },
      schema: {
        summary: 'Declared schema of a dataset offering tables on demand',
        description:
          'Dimensions (names, labels, hierarchy levels, codes with their level and parent), measures, regime, the largest table (maxCells) and the most dimensions crossed at once; under dp what each table costs. Declared facts only: nothing here is computed from the microdata.',
        tags: ['on demand'],
        params: idParams,
        response: {
          200: {
            description: 'The public schema',
            content: { 'application/json': { schema: { type: 'object', additionalProperties: true } } },
          },
          ...errors(401, 403, 409, 429, 503),
        },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      await checkRegime(id);
      return schemaOf(id);
    },
  );

  app.post(
    '/datasets/:id/tables',
    {
      config: { audit: 'ondemand.table', roles: ['researcher'] },
      bodyLimit: ctx.config.requestBodyLimit,
      schema: {
        summary: 'A table on demand, computed in the secure zone and protected on the fly',
        description:
          "Cross the declared dimensions at any hierarchy level with a declared measure (GET /v1/datasets/{id}/schema), within the caller's contract. The table is computed from the microdata in the secure zone and protected by the dataset's on-demand regime: ckm (the same cell has the same value in every query, for every researcher) or dp (each computed table charged to the contract's share and the dataset's ledger). Answers are cached per contract and query (a cached answer counts as a table taken, without a new dp charge). Formats: json, csv, jsonstat, with the flags and accuracy of published tables. 400 QUERY_INVALID lists every problem with its JSON path; 409 ON_DEMAND_NOT_OFFERED for a dataset under suppression (sdc); 409 ON_DEMAND_INPUT_BOUND when its microdata is bound to another registered dataset (one dataset per input); 403/429 from the contract naming the term.",
        tags: ['on demand'],
        params: idParams,
        body: querySchema,
        response: {
          200: {
            description: 'The protected table',
            content: {
              'application/json': { schema: { type: 'object', additionalProperties: true } },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...errors(400, 401, 403, 409, 413, 429, 503),
        },
      },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      await checkRegime(id);
      const schema = await schemaOf(id);
      const problems = validateQuery(schema, req.body);
      if (problems.length > 0)
        throw new ApiError(
          'QUERY_INVALID',
          `the query does not fit the schema of ${id}: ${problems.map((p) => `${p.path || '/'}: ${p.message}`).join('; ')}`,
          { errors: problems },
        );
      const q = req.body as OnDemandQuery;
      const cells = cellCount(schema, q);
      const dpCost: DpCost | undefined = schema.costPerQuery ? costOf(schema.costPerQuery) : undefined;
      // The microdata is bound to this dataset before anything is reserved or computed (ondemand/binding.ts).
      const input = await binding.bind(req, id);
      const auth = await service.gate.authorise(req.actor, id, q, cells, dpCost);
      const key = `${auth.contractId}\u0000${input}\u0000${canonicalQuery(schema, q)}`;
      let cache = caches.get(id);
      if (!cache) caches.set(id, (cache = new OnDemandCache()));
      let answer = cache.get(key);
      const cached = answer !== undefined;
      if (!answer) {
        // Nothing served: the reservation is given back (a failed cancel keeps it counting: fail closed).
        const result = await service.zone.compute(id, q, input).catch(async (e: unknown) => {
          if (e instanceof SecureZoneError && e.info.code === 'ON_DEMAND_INPUT_CHANGED') binding.forget(id);
          await service.gate.cancel(auth).catch(() => undefined);
          return Promise.reject(zoneError(e));
        });
        answer = { result, rendered: new Map() };
        cache.set(key, answer, schema.cacheEntries);
      }
      // Every answer counts as a table taken; dp only when this request computed (drew) it.
      await service.gate.recordUse(auth, cells, cached ? undefined : dpCost);
      const format = q.format ?? 'json';
      auditQuery(req, q, { cells, format, cached, contract: auth.contractId });
      const out = await renderAnswer(answer, schema, format, ctx.now());
      reply.header('cache-control', 'private, no-store');
      if (format === 'csv')
        reply.header('content-disposition', `inline; filename="${id.replace(/[^A-Za-z0-9._-]/g, '_')}-on-demand.csv"`);
      return reply.type(out.type).send(out.body);
    },
  );
}

function costOf(c: { readonly rho: number | null; readonly epsilon: number | null }): DpCost {
  return c.rho !== null ? { rho: c.rho, epsilon: null } : { rho: (c.epsilon! * c.epsilon!) / 2, epsilon: c.epsilon };
}

/** The audit row names what was asked (dimensions, levels, measure, filter codes) and how much, never a value. */
function auditQuery(req: FastifyRequest, q: OnDemandQuery, extra: Record<string, unknown>): void {
  req.auditDetail = {
    dimensions: q.dimensions.map((d) => (d.level === undefined ? d.name : `${d.name}@${d.level}`)),
    measure: q.measure,
    ...(q.filter ? { filter: q.filter } : {}),
    ...extra,
  };
}

async function renderAnswer(
  answer: CachedAnswer,
  schema: PublicSchema,
  format: OnDemandFormat,
  now: Date,
): Promise<{ body: string | Buffer; type: string }> {
  const hit = answer.rendered.get(format);
  if (hit) return hit;
  const r: OnDemandResult = answer.result;
  const served: ServedTable = {
    table: r.table,
    meta: {
      releaseTitle: `${schema.title} (table on demand)`,
      source: 'statguard tables on demand',
      updated: now.toISOString(),
      privacy: {
        regime: r.regime,
        guarantee: r.guarantee,
        randomness: r.randomness,
        ...(r.cost ? { budget: r.cost } : {}),
      },
    },
    codeIndex: [],
    responses: new Map(),
  };
  const sel = r.table.plan.dimensions.map(() => undefined);
  const out = await render(served, `${schema.dataset}/on-demand`, format, 'both', sel);
  const res = { body: out.body, type: format === 'csv' ? 'text/csv; charset=utf-8' : CONTENT[format] };
  answer.rendered.set(format, res);
  return res;
}
