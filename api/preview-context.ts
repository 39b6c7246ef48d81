/**
 * What a preview needs from the publication store, read without changing it:
 * the dataset's ledger state and the tables of the releases already published
 * from the same dataset (for the combination check). Plain SELECTs, no lock,
 * no transaction, no insert: a preview never changes the store or the ledger.
 *
 * Read in two steps so that the API's preview worker (preview-worker.ts) gets
 * plain rows from the main thread and rebuilds the engine tables itself:
 * `readPreviewRows` (store) then `previewContextFromRows` (no store).
 */
import type { Kysely } from 'kysely';
import type { LedgerState, PublishedRelease } from '../engine/preview/index.ts';
import { DEFAULT_TOTAL_EPSILON, DEFAULT_TOTAL_RHO } from './store/budget.ts';
import { ledgerSpent } from './store/ledger.ts';
import { protectedTable } from './store/reconstruct.ts';
import type { Database, StoredCells, StoredDimension } from './store/schema.ts';

export interface PreviewContext {
  readonly ledger: LedgerState;
  readonly published: PublishedRelease[];
}

/** A published table as stored (plain data: it crosses to a worker thread). */
export interface PublishedTableRow {
  readonly table_id: string;
  readonly title: string;
  readonly description: string;
  readonly measure: Record<string, unknown>;
  readonly dimensions: StoredDimension[];
  readonly privacy: Record<string, unknown> | null;
  readonly cells: StoredCells;
}

export interface PreviewRows {
  readonly ledger: LedgerState;
  readonly published: { readonly id: string; readonly tables: PublishedTableRow[] }[];
}

export async function readPreviewContext(db: Kysely<Database>, datasetId: string): Promise<PreviewContext> {
  return previewContextFromRows(await readPreviewRows(db, datasetId));
}

export async function readPreviewRows(db: Kysely<Database>, datasetId: string): Promise<PreviewRows> {
  const ds = await db
    .selectFrom('datasets')
    .select(['total_rho', 'total_epsilon'])
    .where('id', '=', datasetId)
    .executeTakeFirst();
  const spent = (await ledgerSpent(db, [datasetId])).get(datasetId)!;
  // A dataset not yet in the store gets the default totals on its first publication (releases.ts ensureDataset).
  const ledger: LedgerState = {
    totalRho: ds?.total_rho ?? DEFAULT_TOTAL_RHO,
    totalEpsilon: ds?.total_epsilon ?? DEFAULT_TOTAL_EPSILON,
    spentRho: spent.rho,
    spentEpsilon: spent.epsilon,
  };
  const rels = await db
    .selectFrom('releases')
    .select('id')
    .where('dataset_id', '=', datasetId)
    .where('status', '=', 'published')
    .orderBy('id')
    .execute();
  const published: PreviewRows['published'] = [];
  for (const r of rels) {
    const rows = await db
      .selectFrom('release_tables')
      .selectAll()
      .where('release_id', '=', r.id)
      .orderBy('position')
      .execute();
    published.push({
      id: r.id,
      tables: rows.map((t) => ({
        table_id: t.table_id,
        title: t.title,
        description: t.description,
        measure: t.measure,
        dimensions: t.dimensions as StoredDimension[],
        privacy: t.privacy,
        cells: t.cells as StoredCells,
      })),
    });
  }
  return { ledger, published };
}

export function previewContextFromRows(rows: PreviewRows): PreviewContext {
  return {
    ledger: rows.ledger,
    published: rows.published.map((r) => ({ id: r.id, tables: r.tables.map((t) => protectedTable(t)) })),
  };
}
