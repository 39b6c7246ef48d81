/** What the on-demand routes need (routes/ondemand.ts): the secure zone's client and the contract gate. */
import type { Kysely } from 'kysely';
import { gateSchemaOf, makeContractGate } from '../contracts/index.ts';
import type { Database } from '../store/schema.ts';
import { forkSecureZone } from './client.ts';
import type { SecureZone } from './client.ts';
import type { ContractGate } from './gate.ts';

export interface OnDemandService {
  readonly zone: SecureZone;
  readonly gate: ContractGate;
}

/**
 * The service `statguard serve --on-demand <policy>` runs: a secure-zone worker process holding the named on-demand
 * policies' microdata and keys (this process never opens them), and the contract gate over the store, judged by the
 * wall clock. The worker starts on the first request; `zone.close()` (the app's onClose) stops it. No population
 * oracle: a contract with a minimum population refuses filtered tables (fail closed, boundaries.ts).
 */
export function onDemandService(db: Kysely<Database>, policies: readonly string[]): OnDemandService {
  const zone = forkSecureZone({ policies });
  const gate = makeContractGate({
    db,
    now: () => new Date(),
    schema: async (id) => gateSchemaOf(await zone.schema(id)),
  });
  return { zone, gate };
}
