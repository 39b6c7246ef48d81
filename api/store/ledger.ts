/**
 * What datasets have spent: the sums of their budget-ledger entries, and what approving a release charges.
 *
 * `ledgerSpent` is the one place the ledger is summed, for the approval and draft checks (called with their
 * transaction, after the dataset row is locked, so the sum sees every committed entry), the officer routes and
 * previews. A dataset without entries has spent 0 (as `coalesce(sum(...), 0)`).
 *
 * `approvalCharge` is the one rule for what an approval charges (issue 16, "every draw is spent"): the release's own
 * cost, raised so that the dataset's ledger reaches at least the cumulative spend its manifest states (`spend`: every
 * real draw of the dataset so far in the secure zone's draw log, this one included, published or not). Draws that
 * were never published are thus charged with the next approval of the dataset, in that release's ledger entry (one
 * entry per published release; the audit row names the part for unpublished draws). The ledger never goes down: a
 * cumulative spend below what the ledger already holds (releases approved out of order) charges the release's own
 * cost only. The caller checks the raised charge against the dataset's total, so an approval that would carry the
 * ledger past it is refused.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { ReleaseCost } from './budget.ts';
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

/** Slack for sums of decimal budgets. */
const EPS = 1e-12;

/** What an approval charges: a ledger cost, and the part of it for draws that were never published (or null). */
export interface Charge extends ReleaseCost {
  readonly unpublished: Spent | null;
}

/** The cumulative spend a stored manifest states, or null when it states none (sdc, seeded, older manifests). */
export function statedSpend(manifest: unknown): Spent | null {
  const s = (manifest as { spend?: unknown } | null)?.spend as { rho?: unknown; epsilon?: unknown } | null | undefined;
  if (s === null || s === undefined || typeof s !== 'object') return null;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  return ok(s.rho) && ok(s.epsilon) ? { rho: s.rho, epsilon: s.epsilon } : null;
}

/** The release's own cost raised so the ledger (`spent`) reaches the cumulative `spend` (pure function). */
export function chargeWithDraws(cost: ReleaseCost, spend: Spent | null, spent: Spent): Charge {
  if (spend === null) return { ...cost, unpublished: null };
  const rho = Math.max(cost.rho, spend.rho - spent.rho);
  const eps = Math.max(cost.epsilon ?? 0, spend.epsilon - spent.epsilon);
  const epsilon = cost.epsilon === null && eps <= EPS ? null : eps;
  const extra = { rho: rho - cost.rho, epsilon: (epsilon ?? 0) - (cost.epsilon ?? 0) };
  const raised = extra.rho > EPS || extra.epsilon > EPS;
  return raised ? { rho, epsilon, unpublished: extra } : { ...cost, unpublished: null };
}

/**
 * What approving release `releaseId` charges its dataset's ledger (`spent`: the ledger's sum, read under the dataset
 * row lock in the same transaction): its own `cost` raised to the cumulative spend its manifest states.
 */
export async function approvalCharge(
  tx: Transaction<Database>,
  releaseId: string,
  cost: ReleaseCost,
  spent: { readonly spentRho: number; readonly spentEpsilon: number },
): Promise<Charge> {
  const row = await tx.selectFrom('releases').select('manifest').where('id', '=', releaseId).executeTakeFirstOrThrow();
  const manifest = typeof row.manifest === 'string' ? (JSON.parse(row.manifest) as unknown) : row.manifest;
  return chargeWithDraws(cost, statedSpend(manifest), { rho: spent.spentRho, epsilon: spent.spentEpsilon });
}
