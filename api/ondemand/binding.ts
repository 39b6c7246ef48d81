/**
 * Tables on demand keep "a dataset is registered, not named" (ARCHITECTURE.md section 7): the microdata the secure
 * zone holds for a dataset is bound to that dataset in the store, exactly as a release binds its input
 * (api/store/publish-checks.ts `bindInput`, table dataset_inputs): the same SHA-256 of the file's bytes (computed by
 * the engine's CSV source, engine/ondemand/resident.ts), the same primary key and ON CONFLICT path, so a first binding
 * is race-safe against a concurrent release or table. Without it an officer could register the same microdata again
 * as dataset B and serve it on demand: a fresh ckm key and dp ledger, and the differencing and budget guarantees gone.
 *
 * When: at the first table asked of a dataset (POST /v1/datasets/{id}/tables), after the query is checked against the
 * schema and BEFORE the contract gate: a refused dataset reserves nothing, computes nothing (not even the gate's
 * population figure), is charged nothing and caches nothing. Not at serve start-up: the worker reads the microdata
 * only when a table needs it (a 1,000,000-row file takes seconds), a dataset may be registered after the server
 * started (its binding needs the datasets row), and the file may be replaced while serving (the zone then refuses a
 * computation from rows it was not bound for: ON_DEMAND_INPUT_CHANGED; the kept fingerprint is forgotten and the
 * next request binds the new input). The schema route reads no microdata and binds nothing.
 *
 * Disclosure: the refusal (409 ON_DEMAND_INPUT_BOUND) goes to a researcher, who may not see the other dataset; it
 * names neither that dataset nor the fingerprint (a release refusal, INPUT_OTHER_DATASET, names both, but it answers
 * an officer who publishes). The audit row of the refused request records the other dataset for officers.
 */
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { ApiError } from '../errors.ts';
import { bindInput } from '../store/publish-checks.ts';
import type { Database } from '../store/schema.ts';
import type { SecureZone } from './client.ts';

export interface InputBinding {
  /** The input fingerprint bound to `datasetId` (bound now on first use); ON_DEMAND_INPUT_BOUND if another has it. */
  bind(req: FastifyRequest, datasetId: string): Promise<string>;
  /** Forget a dataset's kept fingerprint (the zone holds other rows now): the next `bind` asks the zone again. */
  forget(datasetId: string): void;
}

export function inputBinding(db: Kysely<Database>, zone: SecureZone, resolve: (e: unknown) => Error): InputBinding {
  // A binding never changes (dataset_inputs is append-only), so a dataset's bound fingerprint is kept: a later table
  // costs no call to the zone; the zone still checks every computation against it.
  const bound = new Map<string, string>();
  return {
    async bind(req, datasetId) {
      const kept = bound.get(datasetId);
      if (kept !== undefined) return kept;
      const input = await zone.input(datasetId).catch((e: unknown) => Promise.reject(resolve(e)));
      const boundTo = await bindInput(db, input, datasetId, `ondemand:${req.actor.caller}`);
      if (boundTo !== datasetId) {
        req.auditDetail = { ...req.auditDetail, inputBoundTo: boundTo };
        throw new ApiError(
          'ON_DEMAND_INPUT_BOUND',
          `dataset ${datasetId} offers no tables on demand: its microdata is already bound to another registered dataset (one dataset per input, so a new name is not a new budget); an officer can serve it under that dataset`,
          { dataset: datasetId },
        );
      }
      if (bound.size < 10_000) bound.set(datasetId, input);
      return input;
    },
    forget: (datasetId) => void bound.delete(datasetId),
  };
}
