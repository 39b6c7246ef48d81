/**
 * The contract gate of the on-demand table route (issue 20): `authorise` before a table is computed, `recordUse`
 * after it was served (`cancel` when it was not).
 *
 * authorise(actor, dataset, query, cells, dpCost?)
 *   1. the caller's contracts for the dataset; the one in force now (time: CONTRACT_NONE, CONTRACT_NOT_STARTED,
 *      CONTRACT_EXPIRED);
 *   2. form and level (boundaries.ts), from the query's shape and the dataset's public schema only;
 *   3. scale, in ONE transaction under the contract's lock (a transaction-scoped advisory lock on its id): the use so
 *      far (reserved and used rows), plus this table, against tables and cells per UTC day (429 with Retry-After until
 *      midnight UTC) and in total, and the dp cost against the contract's share; for a dp cost also the dataset's
 *      ledger under the dataset row's lock (what is spent, plus what other contracts hold reserved, plus this), as the
 *      release approvals do. The same transaction inserts the reservation row, so two requests racing for the last
 *      table of the day are serialised: the second sees the first's reservation and is refused.
 * recordUse(auth, cells, dpCost?)
 *   marks the reservation used with what was actually taken: a cached answer still counts as a table taken, with no
 *   dp cost (the route passes none); a computed dp answer is charged to the contract's share (the usage row) AND to
 *   the dataset's ledger (a budget_ledger row without release, `created_by` = `contract:<id>`), with its audit row
 *   `contract.use`, all in one transaction.
 * cancel(auth)
 *   gives a reservation back when nothing was served (the computation failed). A reservation never recorded nor
 *   cancelled (a crash in between) keeps counting: the gate fails closed.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { ApiError } from '../errors.ts';
import { writeAudit, type Actor } from '../store/audit.ts';
import { ledgerSpent } from '../store/ledger.ts';
import type { Database } from '../store/schema.ts';
import {
  applicable,
  checkForm,
  checkLevel,
  checkPopulation,
  refusal,
  type ContractRow,
  type GateQuery,
  type GateSchema,
} from './boundaries.ts';
import type { ContractTerms } from './terms.ts';

export type { GateQuery, GateSchema } from './boundaries.ts';

/** What a dp table costs, in the ledger's units (zCDP rho; pure epsilon, null or absent when not pure). */
export interface DpCost {
  readonly rho?: number | null | undefined;
  readonly epsilon?: number | null | undefined;
}

/** A table the gate let through: the reservation `recordUse` or `cancel` settles. */
export interface Authorised {
  /** The contract the table is taken under (the route's cache is per contract). */
  readonly contractId: string;
  readonly usage: string;
  readonly key: string;
  readonly dataset: string;
  readonly cells: number;
  readonly dpCost: DpCost | null;
}

export interface ContractGate {
  authorise(actor: Actor, datasetId: string, query: GateQuery, cells: number, dpCost?: DpCost): Promise<Authorised>;
  recordUse(auth: Authorised, cells: number, dpCost?: DpCost): Promise<void>;
  cancel(auth: Authorised): Promise<void>;
}

export interface GateOptions {
  readonly db: Kysely<Database>;
  /** The clock contracts and days are judged by. */
  readonly now: () => Date;
  /** The dataset's public schema (levels of dimensions and codes); null when unknown. */
  readonly schema?: (datasetId: string) => Promise<GateSchema | null>;
  /** A PROTECTED figure of the population a filter keeps (never an exact count); see boundaries.ts. */
  readonly population?: (
    datasetId: string,
    filter: Readonly<Record<string, readonly string[]>>,
  ) => Promise<number | null>;
}

/** Slack for sums of decimal budgets. */
const EPS = 1e-12;

export const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

function secondsToMidnight(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

/** The caller's contracts for a dataset, newest first. */
async function contractsOf(db: Kysely<Database>, key: string, dataset: string): Promise<ContractRow[]> {
  const rows = await db
    .selectFrom('table_contracts')
    .select(['id', 'terms', 'starts_at', 'ends_at'])
    .where('key_id', '=', key)
    .where('dataset_id', '=', dataset)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    terms: r.terms as unknown as ContractTerms,
    startsAt: new Date(r.starts_at),
    endsAt: new Date(r.ends_at),
  }));
}

export interface UseSoFar {
  readonly tablesToday: number;
  readonly cellsToday: number;
  readonly tablesTotal: number;
  readonly cellsTotal: number;
  readonly rho: number;
  readonly epsilon: number;
}

/** Tables, cells and dp cost a contract has taken or holds reserved (today and in total); `db` may be a transaction. */
export async function useSoFar(db: Kysely<Database>, contract: string, day: string): Promise<UseSoFar> {
  const r = await sql<Record<keyof UseSoFar, string | number>>`SELECT
        count(*) FILTER (WHERE day = ${day}) AS "tablesToday",
        coalesce(sum(cells) FILTER (WHERE day = ${day}), 0) AS "cellsToday",
        count(*) AS "tablesTotal", coalesce(sum(cells), 0) AS "cellsTotal",
        coalesce(sum(rho), 0)::float8 AS rho, coalesce(sum(epsilon), 0)::float8 AS epsilon
      FROM contract_usage WHERE contract_id = ${contract} AND state <> 'cancelled'`.execute(db);
  const x = r.rows[0]!;
  return {
    tablesToday: Number(x.tablesToday),
    cellsToday: Number(x.cellsToday),
    tablesTotal: Number(x.tablesTotal),
    cellsTotal: Number(x.cellsTotal),
    rho: Number(x.rho),
    epsilon: Number(x.epsilon),
  };
}

async function lockContract(tx: Transaction<Database>, contract: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(${`statguard.contract:${contract}`}))`.execute(tx);
}

function checkScale(c: ContractRow, used: UseSoFar, cells: number, cost: DpCost | null, now: Date): void {
  const s = c.terms.scale;
  const wait = secondsToMidnight(now);
  const over = (term: string, what: string, status?: number): ApiError =>
    refusal('CONTRACT_SCALE', `scale.${term}`, c.id, `${what} (contract ${c.id})`, status, {
      ...(status === 429 ? { retryAfter: wait } : {}),
    });
  if (used.tablesTotal + 1 > s.tablesTotal) throw over('tablesTotal', `all ${s.tablesTotal} tables were taken`);
  if (used.cellsTotal + cells > s.cellsTotal)
    throw over('cellsTotal', `${cells} cells would pass the total of ${s.cellsTotal} (${used.cellsTotal} taken)`);
  if (used.tablesToday + 1 > s.tablesPerDay)
    throw over('tablesPerDay', `all ${s.tablesPerDay} tables of today (UTC) were taken`, 429);
  if (used.cellsToday + cells > s.cellsPerDay)
    throw over('cellsPerDay', `${cells} cells would pass today's ${s.cellsPerDay} (${used.cellsToday} taken)`, 429);
  if (!cost) return;
  // A share limits each quantity it states (at least one); without a share no dp table may be charged.
  if (!s.dpShare) throw over('dpShare', "the contract has no share of the dataset's privacy budget");
  for (const k of ['rho', 'epsilon'] as const) {
    const want = cost[k] ?? 0;
    const share = s.dpShare[k];
    if (want > 0 && share !== undefined && used[k] + want > share + EPS)
      throw over(`dpShare.${k}`, `a ${k} of ${want} would pass the contract's share of ${share} (${used[k]} spent)`);
  }
}

/** The dataset's ledger can take `cost` on top of what it holds and what other contracts hold reserved. */
async function checkLedger(tx: Transaction<Database>, dataset: string, cost: DpCost): Promise<void> {
  const ds = await tx
    .selectFrom('datasets')
    .select(['total_rho', 'total_epsilon'])
    .where('id', '=', dataset)
    .forUpdate()
    .executeTakeFirst();
  if (!ds) throw new ApiError('DATASET_NOT_FOUND', `no dataset ${JSON.stringify(dataset)}`);
  const spent = (await ledgerSpent(tx, [dataset])).get(dataset)!;
  const held = await sql<{ rho: number; epsilon: number }>`SELECT coalesce(sum(u.rho), 0)::float8 AS rho,
        coalesce(sum(u.epsilon), 0)::float8 AS epsilon FROM contract_usage u
        JOIN table_contracts c ON c.id = u.contract_id WHERE c.dataset_id = ${dataset} AND u.state = 'reserved'`.execute(
    tx,
  );
  const h = held.rows[0]!;
  for (const [k, total] of [
    ['rho', ds.total_rho],
    ['epsilon', ds.total_epsilon],
  ] as const) {
    const want = cost[k] ?? 0;
    if (want > 0 && spent[k] + Number(h[k]) + want > total + EPS)
      throw new ApiError('BUDGET_EXCEEDED', `a ${k} of ${want} would exceed dataset ${dataset}'s total budget`, {
        dataset,
      });
  }
}

const costOf = (c: DpCost | undefined): DpCost | null =>
  c && ((c.rho ?? 0) > 0 || (c.epsilon ?? 0) > 0) ? { rho: c.rho ?? 0, epsilon: c.epsilon ?? 0 } : null;

function checkNumbers(cells: number, cost: DpCost | null): void {
  if (!Number.isSafeInteger(cells) || cells < 0)
    throw new ApiError('BAD_REQUEST', `cells: ${cells} is not a cell count`);
  for (const k of ['rho', 'epsilon'] as const) {
    const v = cost?.[k] ?? 0;
    if (!Number.isFinite(v) || v < 0) throw new ApiError('BAD_REQUEST', `dpCost.${k}: ${v} is not a privacy cost`);
  }
}

/** The query's shape as stored with its use: what was taken, never a value. */
function shapeOf(q: GateQuery): Record<string, unknown> {
  return {
    dimensions: q.dimensions.map((d) => ({ name: d.name, ...(d.level !== undefined ? { level: d.level } : {}) })),
    measure: q.measure,
    ...(q.filter ? { filter: q.filter } : {}),
    format: q.format ?? 'json',
  };
}

export function makeContractGate(o: GateOptions): ContractGate {
  const { db } = o;
  return {
    async authorise(actor, datasetId, query, cells, dpCost) {
      const cost = costOf(dpCost);
      checkNumbers(cells, cost);
      const now = o.now();
      const contracts = actor.role === 'anonymous' ? [] : await contractsOf(db, actor.caller, datasetId);
      const c = applicable(contracts, now);
      checkForm(c, query);
      checkLevel(c, query, o.schema ? await o.schema(datasetId) : null);
      await checkPopulation(c, query, o.population ? (f) => o.population!(datasetId, f) : null);
      const day = utcDay(now);
      const usage = await db.transaction().execute(async (tx) => {
        if (cost) await checkLedger(tx, datasetId, cost); // dataset row first, then the contract: one lock order
        await lockContract(tx, c.id);
        checkScale(c, await useSoFar(tx, c.id, day), cells, cost, now);
        const row = await tx
          .insertInto('contract_usage')
          .values({
            contract_id: c.id,
            day,
            state: 'reserved',
            cells,
            rho: cost?.rho ?? 0,
            epsilon: cost?.epsilon ?? 0,
            query: JSON.stringify(shapeOf(query)),
          })
          .returning(sql<string>`id::text`.as('id'))
          .executeTakeFirstOrThrow();
        return row.id;
      });
      return { contractId: c.id, usage, key: actor.caller, dataset: datasetId, cells, dpCost: cost };
    },

    async recordUse(auth, cells, dpCost) {
      const cost = costOf(dpCost);
      checkNumbers(cells, cost);
      // What was checked is the most that may be recorded: more cells or budget than reserved passed no check.
      if (
        cells > auth.cells ||
        (cost?.rho ?? 0) > (auth.dpCost?.rho ?? 0) + EPS ||
        (cost?.epsilon ?? 0) > (auth.dpCost?.epsilon ?? 0) + EPS
      )
        throw new ApiError(
          'INVALID_STATE',
          `use ${auth.usage} of contract ${auth.contractId}: more than was authorised`,
        );
      await db.transaction().execute(async (tx) => {
        if (cost) await tx.selectFrom('datasets').select('id').where('id', '=', auth.dataset).forUpdate().execute();
        await lockContract(tx, auth.contractId);
        const r = await tx
          .updateTable('contract_usage')
          .set({ state: 'used', cells, rho: cost?.rho ?? 0, epsilon: cost?.epsilon ?? 0, recorded_at: new Date() })
          .where('id', '=', auth.usage)
          .where('contract_id', '=', auth.contractId)
          .where('state', '=', 'reserved')
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1)
          throw new ApiError('INVALID_STATE', `use ${auth.usage} of contract ${auth.contractId} is not reserved`);
        if (cost)
          await tx
            .insertInto('budget_ledger')
            .values({
              dataset_id: auth.dataset,
              release_id: null,
              rho: cost.rho ?? 0,
              epsilon: cost.epsilon ?? null,
              created_by: `contract:${auth.contractId}`,
            })
            .execute();
        await writeAudit(tx, {
          actor: { caller: auth.key, role: 'researcher' },
          action: 'contract.use',
          target: auth.contractId,
          outcome: 'ok',
          detail: { use: auth.usage, dataset: auth.dataset, cells, dp: cost },
        });
      });
    },

    async cancel(auth) {
      await db.transaction().execute(async (tx) => {
        await lockContract(tx, auth.contractId);
        const r = await tx
          .updateTable('contract_usage')
          .set({ state: 'cancelled', rho: 0, epsilon: 0, recorded_at: new Date() })
          .where('id', '=', auth.usage)
          .where('state', '=', 'reserved')
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) === 1)
          await writeAudit(tx, {
            actor: { caller: auth.key, role: 'researcher' },
            action: 'contract.cancel',
            target: auth.contractId,
            outcome: 'ok',
            detail: { use: auth.usage, dataset: auth.dataset },
          });
      });
    },
  };
}
