/**
 * Cross-release disclosure control at the store (issue 16, finding 3): an sdc release is approved only when the secure
 * zone audited it together with every release of its dataset that is or was published.
 *
 * Guarantee: `unaudited` names each release of the dataset (published or withdrawn, sdc) whose manifest digest is
 * missing from the release's signed `audit.linked` list. The list is part of the signed manifest, so only the secure
 * zone (which holds the microdata and ran the joint audit) can state it. The decision rests on that list alone; the
 * cells named are a diagnosis the store can make from published cells only (a cell suppressed there and published
 * here, or published in both with other values: a correction), never a value.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database, StoredCells, StoredDimension } from './schema.ts';

/** Cells of a comparison named per missing release, at most this many in all. */
const MAX_NAMED = 12;

interface StoredTable {
  readonly table_id: string;
  readonly dimensions: readonly StoredDimension[];
  readonly cells: StoredCells;
}

/** A published release the new one was not audited against, with the cells a comparison of the two exposes. */
export interface Unaudited {
  readonly release: string;
  /** `table "t" cell (a, b): suppressed there, published here` or `... published there with another value`. */
  readonly cells: readonly string[];
  /** All such cells (named or not). */
  readonly exposed: number;
}

/** The linked manifest digests a stored manifest lists (`audit.linked[].manifestSha256`). */
function linkedDigests(manifest: unknown): Set<string> {
  const audit = (manifest as { audit?: { linked?: unknown } } | null)?.audit;
  const linked = Array.isArray(audit?.linked) ? (audit.linked as { manifestSha256?: unknown }[]) : [];
  return new Set(linked.map((l) => l.manifestSha256).filter((s): s is string => typeof s === 'string'));
}

/**
 * The releases of the dataset that are or were published (sdc) and that release `id` (an sdc draft with its signed
 * manifest) was not audited against; empty when it covers them all.
 */
export async function unaudited(
  db: Kysely<Database> | Transaction<Database>,
  r: { readonly id: string; readonly dataset_id: string; readonly regime: string; readonly manifest: unknown },
): Promise<Unaudited[]> {
  if (r.regime !== 'sdc') return [];
  const linked = linkedDigests(r.manifest);
  const published = await db
    .selectFrom('releases')
    .select(['id', 'manifest_sha256'])
    .where('dataset_id', '=', r.dataset_id)
    .where('regime', '=', 'sdc')
    .where('status', 'in', ['published', 'withdrawn'])
    .where('id', '<>', r.id)
    .orderBy('approved_at')
    .orderBy('id')
    .execute();
  const missing = published.filter((p) => !linked.has(p.manifest_sha256));
  if (missing.length === 0) return [];
  const mine = await tablesOf(db, r.id);
  const out: Unaudited[] = [];
  let named = 0;
  for (const m of missing) {
    const exposed = compare(mine, await tablesOf(db, m.id));
    out.push({ release: m.id, cells: exposed.slice(0, Math.max(0, MAX_NAMED - named)), exposed: exposed.length });
    named += Math.min(exposed.length, MAX_NAMED - named);
  }
  return out;
}

/** The refusal's message: which releases were not linked, and the cells a comparison exposes (never a value). */
export function unauditedMessage(id: string, datasetId: string, missing: readonly Unaudited[]): string {
  const parts = missing.map((m) => {
    const cells =
      m.exposed === 0
        ? 'no cell differs directly, but the linked audit may find cells that combining the two discloses'
        : `${m.cells.join('; ')}${m.exposed > m.cells.length ? `; and ${m.exposed - m.cells.length} more cell(s)` : ''}`;
    return `release ${m.release} (${cells})`;
  });
  return (
    `release ${id} was not audited against ${missing.length} release(s) of dataset ${datasetId} that are or were published: ${parts.join('; ')}. ` +
    'Run `statguard release` again (it reads the published releases from the store and protects against them) and publish the new directory.'
  );
}

async function tablesOf(db: Kysely<Database> | Transaction<Database>, id: string): Promise<StoredTable[]> {
  return (await db
    .selectFrom('release_tables')
    .select(['table_id', 'dimensions', 'cells'])
    .where('release_id', '=', id)
    .orderBy('position')
    .execute()) as unknown as StoredTable[];
}

/**
 * Cells of the new release's tables that a comparison with an earlier release exposes: the same cell (same dimension
 * names, whatever their order, and the same codes) suppressed there and published here, or published in both with
 * other values. Names only (table, codes, reason).
 */
function compare(mine: readonly StoredTable[], theirs: readonly StoredTable[]): string[] {
  const out: string[] = [];
  for (const a of mine) {
    const names = a.dimensions.map((d) => d.name);
    for (const b of theirs) {
      const order = names.map((n) => b.dimensions.findIndex((d) => d.name === n));
      if (b.dimensions.length !== names.length || order.some((k) => k < 0)) continue;
      const index = b.dimensions.map((d) => new Map(d.nodes.map((n, k) => [n.code, k])));
      forEachCell(a.dimensions, (i, codes) => {
        const here = a.cells.value[i];
        if (here === null || here === undefined) return;
        let j = 0;
        for (let d = 0; d < b.dimensions.length; d++) {
          const pos = order.indexOf(d);
          const k = index[d]!.get(codes[pos]!);
          if (k === undefined) return;
          j = j * b.dimensions[d]!.nodes.length + k;
        }
        const there = b.cells.value[j];
        const where = `table ${JSON.stringify(a.table_id)} cell (${codes.join(', ')})`;
        if (there === null)
          out.push(`${where}: suppressed in table ${JSON.stringify(b.table_id)} there, published here`);
        else if (there !== undefined && there !== here)
          out.push(
            `${where}: published with another value in table ${JSON.stringify(b.table_id)} there (a correction)`,
          );
      });
    }
  }
  return out;
}

/** Every cell of a stored table: its dense index and its codes (first dimension slowest, as the engine orders). */
function forEachCell(dims: readonly StoredDimension[], f: (i: number, codes: readonly string[]) => void): void {
  const sizes = dims.map((d) => d.nodes.length);
  const total = sizes.reduce((n, s) => n * s, 1);
  for (let i = 0; i < total; i++) {
    let rest = i;
    const codes = new Array<string>(dims.length);
    for (let d = dims.length - 1; d >= 0; d--) {
      codes[d] = dims[d]!.nodes[rest % sizes[d]!]!.code;
      rest = Math.floor(rest / sizes[d]!);
    }
    f(i, codes);
  }
}

/** A release of a dataset that is or was published, as `statguard release` links it: what the public has of it. */
export interface PublishedHistoryEntry {
  readonly id: string;
  readonly manifestSha256: string;
  readonly regime: string;
  readonly status: string;
  readonly tables: readonly {
    readonly id: string;
    readonly measure: Record<string, unknown>;
    readonly dimensions: readonly StoredDimension[];
    /** Published values (null: suppressed) and statuses: exactly what the release's public files carry. */
    readonly value: readonly (number | null)[];
    readonly conf: readonly string[];
  }[];
}

/** Every release of the dataset that is or was published (withdrawn ones included), oldest approval first. */
export async function publishedHistory(db: Kysely<Database>, datasetId: string): Promise<PublishedHistoryEntry[]> {
  const rows = await db
    .selectFrom('releases')
    .select(['id', 'manifest_sha256', 'regime', 'status'])
    .where('dataset_id', '=', datasetId)
    .where('status', 'in', ['published', 'withdrawn'])
    .orderBy('approved_at')
    .orderBy('id')
    .execute();
  const out: PublishedHistoryEntry[] = [];
  for (const r of rows) {
    const tables = (await db
      .selectFrom('release_tables')
      .select(['table_id', 'measure', 'dimensions', 'cells'])
      .where('release_id', '=', r.id)
      .orderBy('position')
      .execute()) as unknown as (StoredTable & { measure: Record<string, unknown> })[];
    out.push({
      id: r.id,
      manifestSha256: r.manifest_sha256,
      regime: r.regime,
      status: r.status,
      tables: tables.map((t) => ({
        id: t.table_id,
        measure: t.measure,
        dimensions: t.dimensions,
        value: t.cells.value,
        conf: t.cells.conf,
      })),
    });
  }
  return out;
}
