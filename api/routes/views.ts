/** Mapping of store rows to API documents (public fields only). */
import type { Kysely } from 'kysely';
import { canSee, contractsOf, notFound, type Contracts } from '../access.ts';
import type { Actor } from '../store/audit.ts';
import { isExpired, refuseExpired } from '../store/expiry.ts';
import type { Database, ReleaseRow } from '../store/schema.ts';

type SummaryRow = Pick<
  ReleaseRow,
  | 'id'
  | 'policy_id'
  | 'policy_version'
  | 'version'
  | 'title'
  | 'status'
  | 'regime'
  | 'audience'
  | 'demo'
  | 'expires'
  | 'dataset_id'
  | 'created_at'
  | 'approved_at'
  | 'withdrawn_at'
  | 'withdraw_reason'
  | 'supersedes'
  | 'superseded_by'
>;

export const SUMMARY_COLUMNS = [
  'id',
  'policy_id',
  'policy_version',
  'version',
  'title',
  'status',
  'regime',
  'audience',
  'demo',
  'expires',
  'dataset_id',
  'created_at',
  'approved_at',
  'withdrawn_at',
  'withdraw_reason',
  'supersedes',
  'superseded_by',
] as const;

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

export interface TableBrief {
  id: string;
  title: string;
  cells: number;
  suppressed: number;
}

export function summary(r: SummaryRow, tables: readonly TableBrief[], now: Date = new Date()): Record<string, unknown> {
  return {
    id: r.id,
    policyId: r.policy_id,
    policyVersion: r.policy_version,
    version: r.version,
    title: r.title,
    status: r.status,
    regime: r.regime,
    audience: r.audience,
    demo: r.demo,
    expires: r.expires,
    expired: isExpired(r.expires, now),
    datasetId: r.dataset_id,
    createdAt: iso(r.created_at),
    approvedAt: iso(r.approved_at),
    withdrawnAt: iso(r.withdrawn_at),
    withdrawReason: r.withdraw_reason,
    supersedes: r.supersedes,
    supersededBy: r.superseded_by,
    tables,
  };
}

export async function tablesOf(db: Kysely<Database>, ids: readonly string[]): Promise<Map<string, TableBrief[]>> {
  const out = new Map<string, TableBrief[]>(ids.map((i) => [i, []]));
  if (ids.length === 0) return out;
  const rows = await db
    .selectFrom('release_tables')
    .select(['release_id', 'table_id', 'title', 'cell_count', 'suppressed'])
    .where('release_id', 'in', ids)
    .orderBy('release_id')
    .orderBy('position')
    .execute();
  for (const r of rows)
    out.get(r.release_id)?.push({ id: r.table_id, title: r.title, cells: r.cell_count, suppressed: r.suppressed });
  return out;
}

/**
 * A release's summary row and manifest as `actor` may see it: 404 for an absent release or one they may not read
 * (the same answer), 410 when expired. Also returns the actor's contracts (for the tables they may see).
 */
export async function visibleReleaseRow(db: Kysely<Database>, actor: Actor, id: string, now: Date) {
  const row = await db
    .selectFrom('releases')
    .select([...SUMMARY_COLUMNS, 'manifest'])
    .where('id', '=', id)
    .executeTakeFirst();
  const contracts: Contracts = await contractsOf(db, actor);
  if (!row || !canSee(actor, contracts, row)) throw notFound(id);
  refuseExpired(id, row.expires, now);
  return { row, contracts };
}
