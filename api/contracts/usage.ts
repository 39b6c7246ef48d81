/**
 * A contract's use against its limits (issue 20, item 2): the researcher's usage page and the officers' supervision
 * view across contracts. Read-only; a reservation not yet settled counts as taken (as the gate counts it).
 *
 * Every limit is reported as `{ term, limit, used, remaining, fraction }` (fraction = used / limit, 1 when the limit
 * is 0), so "how close to its limits" a contract is, is `closest`: the largest fraction among its scale terms and the
 * fraction of its time already passed.
 */
import type { Kysely } from 'kysely';
import { ApiError } from '../errors.ts';
import type { Database } from '../store/schema.ts';
import { useSoFar, utcDay } from './gate.ts';
import type { ContractTerms } from './terms.ts';

export interface Limit {
  readonly term: string;
  readonly limit: number;
  readonly used: number;
  readonly remaining: number;
  readonly fraction: number;
}

export interface UseRecord {
  readonly at: string;
  readonly state: 'reserved' | 'used' | 'cancelled';
  readonly cells: number;
  readonly rho: number;
  readonly epsilon: number;
  readonly query: Record<string, unknown>;
}

export interface ContractUsage {
  readonly id: string;
  readonly key: string;
  readonly keyName: string;
  readonly dataset: string;
  readonly request: string;
  readonly status: 'active' | 'not-started' | 'expired';
  readonly start: string;
  readonly end: string;
  readonly terms: ContractTerms;
  readonly day: string;
  readonly limits: readonly Limit[];
  readonly time: { readonly fraction: number; readonly remainingSeconds: number };
  readonly closest: { readonly term: string; readonly fraction: number };
  readonly lastUse: string | null;
  readonly recent: readonly UseRecord[];
}

function limit(term: string, lim: number, used: number): Limit {
  return {
    term,
    limit: lim,
    used,
    remaining: Math.max(0, lim - used),
    fraction: lim > 0 ? used / lim : used > 0 || lim === 0 ? 1 : 0,
  };
}

type ContractJoin = {
  id: string;
  key_id: string;
  key_name: string;
  dataset_id: string;
  request_id: string;
  terms: unknown;
  starts_at: Date;
  ends_at: Date;
};

function contractsQuery(db: Kysely<Database>) {
  return db
    .selectFrom('table_contracts as c')
    .innerJoin('api_keys as k', 'k.id', 'c.key_id')
    .select([
      'c.id',
      'c.key_id',
      'k.name as key_name',
      'c.dataset_id',
      'c.request_id',
      'c.terms',
      'c.starts_at',
      'c.ends_at',
    ]);
}

async function recentUses(db: Kysely<Database>, contract: string, n: number): Promise<UseRecord[]> {
  const rows = await db
    .selectFrom('contract_usage')
    .select(['at', 'state', 'cells', 'rho', 'epsilon', 'query'])
    .where('contract_id', '=', contract)
    .orderBy('id', 'desc')
    .limit(n)
    .execute();
  return rows.map((r) => ({
    at: new Date(r.at).toISOString(),
    state: r.state,
    cells: r.cells,
    rho: r.rho,
    epsilon: r.epsilon,
    query: r.query as Record<string, unknown>,
  }));
}

async function usageOf(db: Kysely<Database>, c: ContractJoin, now: Date, recent: number): Promise<ContractUsage> {
  const terms = c.terms as ContractTerms;
  const day = utcDay(now);
  const u = await useSoFar(db, c.id, day);
  const s = terms.scale;
  const limits = [
    limit('scale.tablesPerDay', s.tablesPerDay, u.tablesToday),
    limit('scale.cellsPerDay', s.cellsPerDay, u.cellsToday),
    limit('scale.tablesTotal', s.tablesTotal, u.tablesTotal),
    limit('scale.cellsTotal', s.cellsTotal, u.cellsTotal),
    ...(s.dpShare?.rho !== undefined ? [limit('scale.dpShare.rho', s.dpShare.rho, u.rho)] : []),
    ...(s.dpShare?.epsilon !== undefined ? [limit('scale.dpShare.epsilon', s.dpShare.epsilon, u.epsilon)] : []),
  ];
  const start = new Date(c.starts_at).getTime();
  const end = new Date(c.ends_at).getTime();
  const t = now.getTime();
  const time = {
    fraction: Math.min(1, Math.max(0, (t - start) / (end - start))),
    remainingSeconds: Math.max(0, Math.round((end - t) / 1000)),
  };
  const closest = limits.reduce((a, l) => (l.fraction > a.fraction ? { term: l.term, fraction: l.fraction } : a), {
    term: 'time.end',
    fraction: time.fraction,
  });
  const uses = await recentUses(db, c.id, recent);
  return {
    id: c.id,
    key: c.key_id,
    keyName: c.key_name,
    dataset: c.dataset_id,
    request: c.request_id,
    status: t < start ? 'not-started' : t >= end ? 'expired' : 'active',
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    terms,
    day,
    limits,
    time,
    closest,
    lastUse: uses[0]?.at ?? null,
    recent: uses,
  };
}

/** One contract's use; `key` restricts it to that researcher's own contracts (404 otherwise, as if absent). */
export async function contractUsage(
  db: Kysely<Database>,
  id: string,
  now: Date,
  key: string | null,
): Promise<ContractUsage> {
  let q = contractsQuery(db).where('c.id', '=', id);
  if (key !== null) q = q.where('c.key_id', '=', key);
  const c = await q.executeTakeFirst();
  if (!c) throw new ApiError('CONTRACT_NOT_FOUND', `no contract ${JSON.stringify(id)}`);
  return usageOf(db, c, now, 50);
}

/** The supervision view: every contract (of a dataset, of a status), closest to its limits first. */
export async function superviseContracts(
  db: Kysely<Database>,
  now: Date,
  f: { readonly dataset?: string | undefined; readonly status?: ContractUsage['status'] | undefined },
): Promise<ContractUsage[]> {
  let q = contractsQuery(db);
  if (f.dataset !== undefined) q = q.where('c.dataset_id', '=', f.dataset);
  const rows = await q.orderBy('c.created_at', 'desc').limit(500).execute();
  const all: ContractUsage[] = [];
  for (const r of rows) all.push(await usageOf(db, r, now, 10));
  return all
    .filter((c) => f.status === undefined || c.status === f.status)
    .sort((a, b) => b.closest.fraction - a.closest.fraction || a.id.localeCompare(b.id));
}

/** The caller's own contracts (researcher), newest first. */
export async function ownContracts(db: Kysely<Database>, key: string, now: Date): Promise<ContractUsage[]> {
  const rows = await contractsQuery(db)
    .where('c.key_id', '=', key)
    .orderBy('c.created_at', 'desc')
    .limit(200)
    .execute();
  const out: ContractUsage[] = [];
  for (const r of rows) out.push(await usageOf(db, r, now, 5));
  return out;
}
