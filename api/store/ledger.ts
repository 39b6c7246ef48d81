/**
 * What datasets have spent: the sums of their budget-ledger entries.
 *
 * The one place the ledger is summed, for the approval and draft checks
 * (called with their transaction, after the dataset row is locked, so the sum
 * sees every committed entry), the officer routes and previews. A dataset
 * without entries has spent 0 (as `coalesce(sum(...), 0)`).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface Spent {
  readonly rho: number;
  readonly epsilon: number;
}

/** Spending of each given dataset (every id is in the map); `db` may be a transaction. */
export async function ledgerSpent(db: Kysely<Database>, datasetIds: readonly string[]): Promise<Map<string, Spent>> {
  const out = new Map<string, Spent>(datasetIds.map((id) => [id, { rho: 0, epsilon: 0 }]));
  if (datasetIds.length === 0) return out;
  const rows = await db
    .selectFrom('budget_ledger')
    .select([
      'dataset_id',
      sql<number>`coalesce(sum(rho), 0)::float8`.as('rho'),
      sql<number>`coalesce(sum(epsilon), 0)::float8`.as('epsilon'),
    ])
    .where('dataset_id', 'in', datasetIds)
    .groupBy('dataset_id')
    .execute();
  for (const r of rows) out.set(r.dataset_id, { rho: Number(r.rho), epsilon: Number(r.epsilon) });
  return out;
}
