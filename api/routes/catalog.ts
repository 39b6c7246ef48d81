/**
 * GET /v1/catalog: a DCAT-AP catalogue of the published releases as JSON-LD, for data portals to harvest.
 *
 * One dcat:Catalog (title, description, publisher from the configuration `catalog`), one dcat:Dataset per
 * published, unexpired release the caller may see (dct:identifier, title, description, issued and modified = its
 * approval, publisher, themes of its policy if any, contact point, access rights, the releases it replaces or is
 * replaced by) and one dcat:Distribution per table and format (accessURL and downloadURL: the data route with
 * `format=`; mediaType: the IANA media type IRI of the format). An anonymous caller (a portal's harvester) sees public
 * releases only; a researcher also those of its active contracts; drafts and withdrawn releases never appear (they
 * are not data anyone can download). Links are absolute: the configured public URL (`servers[0]`), or this request's
 * own origin when that is relative. Paged with limit/offset; `hydra:view` names the next page while there is one.
 * Audited as `catalog.read`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import type { Manifest } from '../../engine/release/manifest.ts';
import { canSeeTable, isStaff, type Contracts } from '../access.ts';
import type { ApiConfig } from '../config.ts';
import type { PluginOptions } from '../context.ts';
import { releaseLanguages } from '../metadata.ts';
import { CONTENT_TYPES, FORMATS } from '../query.ts';
import { errors, pageQuery } from '../schemas.ts';
import { todayUtc } from '../store/expiry.ts';
import type { ReleaseRow } from '../store/schema.ts';
import { tablesOf, type TableBrief } from './views.ts';

export const JSON_LD_TYPE = 'application/ld+json; charset=utf-8';

export const DCAT_CONTEXT = {
  dcat: 'http://www.w3.org/ns/dcat#',
  dct: 'http://purl.org/dc/terms/',
  foaf: 'http://xmlns.com/foaf/0.1/',
  vcard: 'http://www.w3.org/2006/vcard/ns#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  hydra: 'http://www.w3.org/ns/hydra/core#',
  owl: 'http://www.w3.org/2002/07/owl#',
} as const;

const ACCESS_RIGHTS = 'http://publications.europa.eu/resource/authority/access-right/';
const LANGUAGE_AUTHORITY = 'http://publications.europa.eu/resource/authority/language/';

/** ISO 639-1 -> the EU language authority's code (ISO 639-3 style), for dct:language; other languages are left out. */
const EU_LANGUAGES: Readonly<Record<string, string>> = {
  en: 'ENG',
  fr: 'FRA',
  de: 'DEU',
  es: 'SPA',
  it: 'ITA',
  nl: 'NLD',
  pt: 'POR',
  sv: 'SWE',
  da: 'DAN',
  fi: 'FIN',
  pl: 'POL',
  nb: 'NOB',
  nn: 'NNO',
  cy: 'CYM',
  ga: 'GLE',
};

function languagesOf(m: Manifest): { '@id': string }[] {
  const codes = releaseLanguages(m).map((l) => EU_LANGUAGES[l.split('-')[0]!.toLowerCase()]);
  return [...new Set(codes.filter((c): c is string => c !== undefined))].map((c) => iri(`${LANGUAGE_AUTHORITY}${c}`));
}

/** Absolute base of the API's links: the configured public URL, resolved against the request's origin. */
export function baseUrl(config: Pick<ApiConfig, 'servers'>, req: FastifyRequest): string {
  const origin = `${req.protocol}://${req.host}/`;
  const href = new URL(config.servers[0]?.url ?? '/', origin).href;
  return href.replace(/\/+$/, '');
}

type CatalogRow = Pick<
  ReleaseRow,
  'id' | 'title' | 'audience' | 'approved_at' | 'version' | 'supersedes' | 'superseded_by' | 'manifest'
>;

const dateTime = (d: Date | null) => (d ? { '@value': new Date(d).toISOString(), '@type': 'xsd:dateTime' } : undefined);
const iri = (u: string) => ({ '@id': u });

function publisher(config: ApiConfig['catalog']) {
  return {
    '@type': 'foaf:Agent',
    'foaf:name': config.publisher,
    ...(config.homepage ? { 'foaf:homepage': iri(config.homepage) } : {}),
  };
}

/** One release as a dcat:Dataset with a distribution per table and format. */
function dataset(base: string, r: CatalogRow, tables: readonly TableBrief[], config: ApiConfig['catalog']) {
  const m = r.manifest as unknown as Manifest;
  const lang = releaseLanguages(m)[0]!;
  const text = (s: string) => ({ '@value': s, '@language': lang });
  const url = `${base}/v1/releases/${encodeURIComponent(r.id)}`;
  const themes = Array.isArray(m.release.themes) ? m.release.themes : [];
  return {
    '@id': url,
    '@type': 'dcat:Dataset',
    'dct:identifier': r.id,
    'dct:title': text(r.title),
    'dct:description': text(m.release.description || r.title),
    'dct:issued': dateTime(r.approved_at),
    'dct:modified': dateTime(r.approved_at),
    'dct:publisher': publisher(config),
    'dct:accessRights': iri(`${ACCESS_RIGHTS}${r.audience === 'public' ? 'PUBLIC' : 'RESTRICTED'}`),
    'owl:versionInfo': String(r.version),
    'dct:language': languagesOf(m),
    ...(themes.length > 0 ? { 'dcat:theme': themes.map(iri) } : {}),
    ...(m.release.contact ? { 'dcat:contactPoint': { '@type': 'vcard:Kind', 'vcard:fn': m.release.contact } } : {}),
    ...(r.supersedes ? { 'dct:replaces': iri(`${base}/v1/releases/${encodeURIComponent(r.supersedes)}`) } : {}),
    ...(r.superseded_by
      ? { 'dct:isReplacedBy': iri(`${base}/v1/releases/${encodeURIComponent(r.superseded_by)}`) }
      : {}),
    'dcat:distribution': tables.flatMap((t) =>
      FORMATS.map((f) => {
        const access = `${url}/tables/${encodeURIComponent(t.id)}?format=${f}`;
        return {
          '@id': `${url}#${encodeURIComponent(t.id)}-${f}`,
          '@type': 'dcat:Distribution',
          'dct:title': text(`${t.title} (${f})`),
          'dcat:accessURL': iri(access),
          'dcat:downloadURL': iri(access),
          'dcat:mediaType': iri(`http://www.iana.org/assignments/media-types/${CONTENT_TYPES[f].split(';')[0]}`),
        };
      }),
    ),
  };
}

export async function catalogRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;
  app.get(
    '/catalog',
    {
      config: { audit: 'catalog.read' },
      schema: {
        summary: 'DCAT-AP catalogue of the published releases (JSON-LD), for data portals to harvest',
        tags: ['metadata'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...pageQuery, limit: { ...pageQuery.limit, default: 500 } },
        },
        response: {
          200: {
            description: 'dcat:Catalog with a dcat:Dataset per release',
            content: { 'application/ld+json': { schema: { type: 'object', additionalProperties: true } } },
          },
          ...errors(400, 401, 429),
        },
      },
    },
    async (req, reply) => {
      const { limit, offset } = req.query as { limit: number; offset: number };
      const contracts: Contracts = await ctx.callers.contractsOf(req.actor);
      let q = db
        .selectFrom('releases')
        .where('status', '=', 'published')
        .where((eb) => eb.or([eb('expires', 'is', null), eb('expires', '>=', todayUtc(ctx.now()))]));
      if (!isStaff(req.actor)) {
        const ids = [...contracts.keys()];
        q = q.where((eb) =>
          ids.length > 0 ? eb.or([eb('audience', '=', 'public'), eb('id', 'in', ids)]) : eb('audience', '=', 'public'),
        );
      }
      const [rows, count] = await Promise.all([
        q
          .select(['id', 'title', 'audience', 'approved_at', 'version', 'supersedes', 'superseded_by', 'manifest'])
          .orderBy('approved_at', 'desc')
          .orderBy('id')
          .limit(limit)
          .offset(offset)
          .execute(),
        q.select(sql<string>`count(*)::text`.as('n')).executeTakeFirstOrThrow(),
      ]);
      const tables = await tablesOf(
        db,
        rows.map((r) => r.id),
      );
      const base = baseUrl(ctx.config, req);
      const self = `${base}/v1/catalog`;
      const total = Number(count.n);
      req.auditDetail = { count: rows.length };
      const doc = {
        '@context': DCAT_CONTEXT,
        '@id': self,
        '@type': 'dcat:Catalog',
        'dct:title': ctx.config.catalog.title,
        'dct:description': ctx.config.catalog.description,
        'dct:publisher': publisher(ctx.config.catalog),
        'dcat:dataset': rows.map((r) =>
          dataset(
            base,
            r,
            (tables.get(r.id) ?? []).filter((t) => canSeeTable(req.actor, contracts, r, t.id)),
            ctx.config.catalog,
          ),
        ),
        ...(offset + rows.length < total
          ? {
              'hydra:view': {
                '@id': `${self}?limit=${limit}&offset=${offset}`,
                '@type': 'hydra:PartialCollectionView',
                'hydra:next': iri(`${self}?limit=${limit}&offset=${offset + limit}`),
                'hydra:totalItems': total,
              },
            }
          : {}),
      };
      return reply.type(JSON_LD_TYPE).send(JSON.stringify(doc));
    },
  );
}
