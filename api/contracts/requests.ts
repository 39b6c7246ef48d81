/**
 * Access requests, in order (issue 20, item 1): a researcher asks for a dataset's table service (purpose, requested
 * terms, duration); an officer approves it, which creates the table contract (with the requested terms or narrower
 * ones, never wider), or refuses it with a reason. Each step is one transaction with its audit row
 * (`access.request`, `access.approve`, `access.refuse`), so a step without its trace never happens; the database
 * refuses a second decision on one request (migration 006's trigger).
 *
 * Only a dataset registered under the cell key method or differential privacy offers tables on demand: suppression
 * is not safe against ad-hoc overlapping tables, so a request for an sdc dataset is refused at once.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { ApiError } from '../errors.ts';
import { writeAudit, type Actor } from '../store/audit.ts';
import { ledgerSpent } from '../store/ledger.ts';
import type { Database } from '../store/schema.ts';
import { checkTerms, widenings, type ContractTerms } from './terms.ts';

const DAY_MS = 86_400_000;
/** Longest contract a request may ask for (ten years). */
export const MAX_DURATION_DAYS = 3660;

export interface NewAccessRequest {
  readonly dataset: string;
  readonly purpose: string;
  readonly terms: unknown;
  readonly durationDays: number;
}

export type RequestStatus = 'pending' | 'approved' | 'refused';

export interface AccessRequestView {
  readonly id: string;
  readonly key: string;
  readonly keyName: string;
  readonly dataset: string;
  readonly purpose: string;
  readonly terms: ContractTerms;
  readonly durationDays: number;
  readonly status: RequestStatus;
  readonly reason: string | null;
  readonly contract: string | null;
  readonly createdAt: string;
  readonly decidedAt: string | null;
  readonly decidedBy: string | null;
}

export interface Approval {
  /** Narrowed terms (default: as requested). */
  readonly terms?: unknown;
  /** Start (default: now) and end (default: start + the requested duration; never later). */
  readonly start?: string;
  readonly end?: string;
  readonly reason?: string;
}

const newId = (prefix: string): string => `${prefix}_${randomBytes(8).toString('hex')}`;

function dateOf(s: string, path: string): Date {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new ApiError('BAD_REQUEST', `${path}: ${JSON.stringify(s)} is not a date-time`);
  return d;
}

/** A researcher's request; the dataset must be registered under ckm or dp, and a dp share only for a dp dataset. */
export async function createAccessRequest(
  db: Kysely<Database>,
  actor: Actor,
  r: NewAccessRequest,
): Promise<AccessRequestView> {
  if (actor.role !== 'researcher') throw new ApiError('FORBIDDEN', 'only a researcher key requests table access');
  const terms = checkTerms(r.terms);
  if (r.purpose.trim() === '') throw new ApiError('BAD_REQUEST', '/purpose: state what the tables are for');
  if (!Number.isInteger(r.durationDays) || r.durationDays < 1 || r.durationDays > MAX_DURATION_DAYS)
    throw new ApiError('BAD_REQUEST', `/durationDays: a whole number of days from 1 to ${MAX_DURATION_DAYS}`);
  return db.transaction().execute(async (tx) => {
    const ds = await tx.selectFrom('datasets').select(['id', 'regime']).where('id', '=', r.dataset).executeTakeFirst();
    if (!ds || ds.regime === null)
      throw new ApiError('DATASET_NOT_FOUND', `/dataset: no registered dataset ${JSON.stringify(r.dataset)}`);
    if (ds.regime === 'sdc')
      throw new ApiError(
        'BAD_REQUEST',
        `/dataset: ${r.dataset} is published under suppression (sdc), which is not safe against ad-hoc overlapping tables: it offers no tables on demand`,
      );
    if (terms.scale.dpShare && ds.regime !== 'dp')
      throw new ApiError(
        'BAD_REQUEST',
        `/terms/scale/dpShare: ${r.dataset} is not a dp dataset; ask for no budget share`,
      );
    const id = newId('ar');
    await tx
      .insertInto('access_requests')
      .values({
        id,
        key_id: actor.caller,
        dataset_id: r.dataset,
        purpose: r.purpose,
        terms: JSON.stringify(terms),
        duration_days: r.durationDays,
      })
      .execute();
    await writeAudit(tx, {
      actor,
      action: 'access.request',
      target: id,
      outcome: 'ok',
      detail: { dataset: r.dataset, durationDays: r.durationDays, terms },
    });
    return (await listAccessRequests(tx, { id }))[0]!;
  });
}

export async function listAccessRequests(
  db: Kysely<Database>,
  q: { readonly id?: string; readonly key?: string; readonly status?: RequestStatus },
): Promise<AccessRequestView[]> {
  let s = db
    .selectFrom('access_requests as r')
    .innerJoin('api_keys as k', 'k.id', 'r.key_id')
    .selectAll('r')
    .select('k.name as key_name');
  if (q.id !== undefined) s = s.where('r.id', '=', q.id);
  if (q.key !== undefined) s = s.where('r.key_id', '=', q.key);
  if (q.status !== undefined) s = s.where('r.status', '=', q.status);
  const rows = await s.orderBy('r.created_at', 'desc').orderBy('r.id').limit(1000).execute();
  return rows.map((r) => ({
    id: r.id,
    key: r.key_id,
    keyName: r.key_name,
    dataset: r.dataset_id,
    purpose: r.purpose,
    terms: r.terms as unknown as ContractTerms,
    durationDays: r.duration_days,
    status: r.status,
    reason: r.reason,
    contract: r.contract_id,
    createdAt: new Date(r.created_at).toISOString(),
    decidedAt: r.decided_at ? new Date(r.decided_at).toISOString() : null,
    decidedBy: r.decided_by,
  }));
}

/** The pending request, locked for this transaction (404 when absent, 409 when already decided). */
async function pendingRequest(tx: Kysely<Database>, id: string) {
  const r = await tx.selectFrom('access_requests').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!r) throw new ApiError('ACCESS_REQUEST_NOT_FOUND', `no access request ${JSON.stringify(id)}`);
  if (r.status !== 'pending')
    throw new ApiError('INVALID_STATE', `access request ${id} is already ${r.status}`, { status: r.status });
  return r;
}

/** The contract's time: start and end, within the requested duration. */
function contractTime(a: Approval, durationDays: number, now: Date): { start: Date; end: Date } {
  const start = a.start !== undefined ? dateOf(a.start, '/start') : now;
  const latest = new Date(start.getTime() + durationDays * DAY_MS);
  const end = a.end !== undefined ? dateOf(a.end, '/end') : latest;
  if (end.getTime() <= start.getTime()) throw new ApiError('BAD_REQUEST', '/end: must be after the start');
  if (end.getTime() > latest.getTime())
    throw new ApiError(
      'BAD_REQUEST',
      `/end: ${end.toISOString()} is beyond the requested ${durationDays} days from the start (${latest.toISOString()})`,
    );
  return { start, end };
}

/** A dp share no larger than what is left of the dataset's budget (a larger one could never be used). */
async function checkShare(tx: Kysely<Database>, dataset: string, terms: ContractTerms): Promise<void> {
  const share = terms.scale.dpShare;
  if (!share) return;
  const ds = await tx
    .selectFrom('datasets')
    .select(['total_rho', 'total_epsilon'])
    .where('id', '=', dataset)
    .executeTakeFirstOrThrow();
  const spent = (await ledgerSpent(tx, [dataset])).get(dataset)!;
  for (const [k, left] of [
    ['rho', ds.total_rho - spent.rho],
    ['epsilon', ds.total_epsilon - spent.epsilon],
  ] as const) {
    const want = share[k];
    if (want !== undefined && want > left + 1e-12)
      throw new ApiError(
        'BUDGET_EXCEEDED',
        `/terms/scale/dpShare/${k}: ${want} is more than the ${Math.max(0, left)} left of dataset ${dataset}'s budget`,
        { dataset },
      );
  }
}

/** Approve a pending request: creates its contract with the requested terms or narrower ones. */
export async function approveAccessRequest(
  db: Kysely<Database>,
  id: string,
  actor: Actor,
  a: Approval,
  now: Date,
): Promise<{ request: AccessRequestView; contract: string }> {
  return db.transaction().execute(async (tx) => {
    const r = await pendingRequest(tx, id);
    const asked = r.terms as unknown as ContractTerms;
    const terms = a.terms === undefined ? asked : checkTerms(a.terms);
    const wide = widenings(asked, terms);
    if (wide.length > 0)
      throw new ApiError(
        'BAD_REQUEST',
        `an approval may only narrow the requested terms; wider at ${wide.join(', ')}`,
        {
          problems: wide.map((path) => ({ path, message: 'wider than requested' })),
        },
      );
    const { start, end } = contractTime(a, r.duration_days, now);
    await checkShare(tx, r.dataset_id, terms);
    const key = await tx.selectFrom('api_keys').select('revoked_at').where('id', '=', r.key_id).executeTakeFirst();
    if (!key || key.revoked_at !== null)
      throw new ApiError('INVALID_STATE', `the requesting key ${r.key_id} is revoked: refuse the request instead`);
    const contract = newId('tc');
    await tx
      .insertInto('table_contracts')
      .values({
        id: contract,
        request_id: id,
        key_id: r.key_id,
        dataset_id: r.dataset_id,
        terms: JSON.stringify(terms),
        starts_at: start,
        ends_at: end,
        created_by: actor.caller,
      })
      .execute();
    const narrowed = JSON.stringify(terms) !== JSON.stringify(asked) || a.end !== undefined || a.start !== undefined;
    await tx
      .updateTable('access_requests')
      .set({
        status: 'approved',
        contract_id: contract,
        reason: a.reason ?? null,
        decided_at: sql<Date>`now()`,
        decided_by: actor.caller,
      })
      .where('id', '=', id)
      .execute();
    await writeAudit(tx, {
      actor,
      action: 'access.approve',
      target: id,
      outcome: 'ok',
      detail: {
        contract,
        key: r.key_id,
        dataset: r.dataset_id,
        narrowed,
        terms,
        start: start.toISOString(),
        end: end.toISOString(),
        reason: a.reason ?? null,
      },
    });
    return { request: (await listAccessRequests(tx, { id }))[0]!, contract };
  });
}

/** Refuse a pending request; the reason is required and shown to the researcher. */
export async function refuseAccessRequest(
  db: Kysely<Database>,
  id: string,
  actor: Actor,
  reason: string,
): Promise<AccessRequestView> {
  if (reason.trim() === '') throw new ApiError('BAD_REQUEST', '/reason: a refusal states its reason');
  return db.transaction().execute(async (tx) => {
    const r = await pendingRequest(tx, id);
    await tx
      .updateTable('access_requests')
      .set({ status: 'refused', reason, decided_at: sql<Date>`now()`, decided_by: actor.caller })
      .where('id', '=', id)
      .execute();
    await writeAudit(tx, {
      actor,
      action: 'access.refuse',
      target: id,
      outcome: 'ok',
      detail: { key: r.key_id, dataset: r.dataset_id, reason },
    });
    return (await listAccessRequests(tx, { id }))[0]!;
  });
}
