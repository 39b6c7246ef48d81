/**
 * In-memory cache of reconstructed tables, keyed by release id, and of
 * rendered responses per (table, format, labels, selection).
 *
 * Safety: a release's tables never change once stored (immutable by trigger),
 * so cached tables and rendered responses are always what the store holds.
 * Visibility and status (withdrawn!) are checked against the store on every
 * request BEFORE the cache is consulted, and withdraw also evicts the release,
 * so the cache can never serve withdrawn data.
 */
import type { Kysely } from 'kysely';
import type { Selection, TableMeta } from '../engine/release/formats.ts';
import type { ProtectedTable } from '../engine/types.ts';
import type { Manifest } from '../engine/release/manifest.ts';
import { DEFAULT_LANGUAGE, localizeDimension, releaseLanguages } from './metadata.ts';
import { dimensionPlan, protectedTable, tableMeta } from './store/reconstruct.ts';
import type { Database, StoredCells, StoredDimension } from './store/schema.ts';

/** A rendered response: text, or bytes for the binary formats (xlsx, Parquet). */
export interface Rendered {
  readonly body: string | Buffer;
  readonly type: string;
}

export interface ServedTable {
  readonly table: ProtectedTable;
  readonly meta: TableMeta;
  /** Per dimension: code -> node index. */
  readonly codeIndex: readonly ReadonlyMap<string, number>[];
  /** Rendered responses (bounded LRU). */
  readonly responses: Map<string, Rendered>;
  /** Parsed queries by their raw query string (bounded LRU; a repeated query skips parsing and counting). */
  readonly queries?: Map<string, ParsedQuery>;
  /** The release's label languages, the default (the labels of `table`) first; absent: `en` only. */
  readonly languages?: readonly string[];
  /** The stored dimensions (with their labels per language), from which other languages are rebuilt. */
  readonly stored?: readonly StoredDimension[];
  /** The table in other languages (same cells; `localized`). */
  readonly translations?: Map<string, ServedTable>;
}

/** The languages of a served table's labels, the default first. */
export function languagesOf(t: ServedTable): readonly string[] {
  return t.languages ?? [DEFAULT_LANGUAGE];
}

/**
 * The table with its labels in `lang` (one of `t.languages`): the same cells and codes, the dimension and category
 * labels of that language, and rendered responses of its own. Built once per language and kept with the table.
 */
export function localized(t: ServedTable, lang: string): ServedTable {
  if (!t.stored || !t.translations || lang === languagesOf(t)[0]) return t;
  const hit = t.translations.get(lang);
  if (hit) return hit;
  const dimensions = t.stored.map((d) => dimensionPlan(localizeDimension(d, lang)));
  const m = t.table.plan.measure;
  const measure = m.unitLabels?.[lang] !== undefined ? { ...m, unit: m.unitLabels[lang] } : m;
  const out: ServedTable = {
    ...t,
    table: { ...t.table, plan: { ...t.table.plan, dimensions, measure } },
    responses: new Map(),
    queries: new Map(),
    translations: new Map(),
  };
  t.translations.set(lang, out);
  return out;
}

/** A table query, parsed and checked: its selection, cell count and the key of its rendering in `responses`. */
export interface ParsedQuery {
  readonly selection: Selection;
  readonly cells: number;
  readonly key: string;
}

/**
 * The parsed query for `raw` (a query string), computed by `parse` once (failures are not remembered; nor are query
 * strings longer than MAX_QUERY_KEY, which bounds the memory the LRU holds).
 */
export function parsedQuery(t: ServedTable, raw: string, parse: () => ParsedQuery): ParsedQuery {
  const hit = t.queries?.get(raw);
  if (hit) return hit;
  const q = parse();
  if (t.queries && raw.length <= MAX_QUERY_KEY) {
    t.queries.set(raw, q);
    if (t.queries.size > MAX_QUERIES_PER_TABLE) t.queries.delete(t.queries.keys().next().value!);
  }
  return q;
}

export type ServedRelease = ReadonlyMap<string, ServedTable>;

const MAX_RESPONSES_PER_TABLE = 64;
const MAX_QUERIES_PER_TABLE = 256;
const MAX_QUERY_KEY = 1024;

export class ReleaseCache {
  private readonly entries = new Map<string, Promise<ServedRelease>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly maxReleases = 32,
  ) {}

  get(releaseId: string): Promise<ServedRelease> {
    const hit = this.entries.get(releaseId);
    if (hit) {
      // LRU: move to the end.
      this.entries.delete(releaseId);
      this.entries.set(releaseId, hit);
      return hit;
    }
    const p = this.load(releaseId);
    p.catch(() => this.entries.delete(releaseId));
    this.entries.set(releaseId, p);
    while (this.entries.size > this.maxReleases) this.entries.delete(this.entries.keys().next().value!);
    return p;
  }

  invalidate(releaseId: string): void {
    this.entries.delete(releaseId);
  }

  clear(): void {
    this.entries.clear();
  }

  private async load(releaseId: string): Promise<ServedRelease> {
    const rel = await this.db
      .selectFrom('releases')
      .select('manifest')
      .where('id', '=', releaseId)
      .executeTakeFirstOrThrow();
    const manifest = rel.manifest as unknown as Manifest;
    const rows = await this.db
      .selectFrom('release_tables')
      .selectAll()
      .where('release_id', '=', releaseId)
      .orderBy('position')
      .execute();
    const out = new Map<string, ServedTable>();
    const languages = releaseLanguages(manifest);
    for (const r of rows) {
      const table = protectedTable({
        table_id: r.table_id,
        title: r.title,
        description: r.description,
        measure: r.measure,
        dimensions: r.dimensions as StoredDimension[],
        privacy: r.privacy,
        cells: r.cells as StoredCells,
      });
      out.set(r.table_id, {
        table,
        meta: tableMeta(manifest, r.privacy),
        codeIndex: table.plan.dimensions.map((d) => new Map(d.nodes.map((n, i) => [n.code, i]))),
        responses: new Map(),
        queries: new Map(),
        languages,
        stored: r.dimensions as StoredDimension[],
        translations: new Map(),
      });
    }
    return out;
  }
}

export async function cachedResponse(t: ServedTable, key: string, render: () => Promise<Rendered>): Promise<Rendered> {
  const hit = t.responses.get(key);
  if (hit) return hit;
  const r = await render();
  t.responses.set(key, r);
  if (t.responses.size > MAX_RESPONSES_PER_TABLE) t.responses.delete(t.responses.keys().next().value!);
  return r;
}
