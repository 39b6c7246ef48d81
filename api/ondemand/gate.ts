/**
 * The contract gate an on-demand table passes (shared design of issue 20; owner of the real one: api/contracts/).
 * This file states the interface the route calls, so the route and its tests stand alone until the contracts module
 * is merged; the real gate implements the same two calls.
 *
 * `authorise` finds the caller's active contract for the dataset and checks its four boundaries (scale, level, form,
 * time), throwing an ApiError (403, or 429 for scale per day) whose `code` names the term; `recordUse` records what
 * was taken: every answer counts as a table taken (cached ones too), dp is charged only on a computed answer;
 * `cancel` gives the reservation back when nothing was served (the secure zone failed to compute the table).
 */
import type { Actor } from '../store/audit.ts';
import type { OnDemandQuery } from '../../engine/ondemand/index.ts';

/** What a query costs under dp (the dataset's ledger units: rho, and epsilon for pure dp). */
export interface DpCost {
  readonly rho: number;
  readonly epsilon: number | null;
}

/** A caller's authorisation for one query: at least the contract it is taken under (the cache is per contract). */
export interface Authorised {
  readonly contractId: string;
}

export interface ContractGate {
  authorise(actor: Actor, datasetId: string, query: OnDemandQuery, cells: number, dpCost?: DpCost): Promise<Authorised>;
  recordUse(auth: Authorised, cells: number, dpCost?: DpCost): Promise<void>;
  cancel(auth: Authorised): Promise<void>;
}
