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
 * wall clock. The worker starts on the first request; `zone.close()` (the app's onClose) stops it.
 */
export function onDemandService(db: Kysely<Database>, policies: readonly string[]): OnDemandService {
  const zone = forkSecureZone({ policies });
  const gate = makeContractGate({
    db,
    now: () => new Date(),
    schema: async (id) => gateSchemaOf(await zone.schema(id)),
    population: filteredPopulation(zone),
  });
  return { zone, gate };
}

/**
 * A contract's minimum population (boundaries.ts) judged on a PROTECTED figure, never an exact count: under the cell
 * key method, the published total of the filtered population, i.e. the total cell of a one-dimension table at level 0
 * under the filter. That is the value the researcher could take as a table anyway (the same cell has the same value in
 * every query), so the decision reveals nothing more. Under dp a noisy count would spend budget: null, and the gate
 * refuses filtered tables of a contract with a minimum (fail closed).
 */
export function filteredPopulation(
  zone: SecureZone,
): (datasetId: string, filter: Readonly<Record<string, readonly string[]>>) => Promise<number | null> {
  // The same filter always gives the same figure (fixed record keys), so it is kept: a cached table is not slowed by
  // a computation in the worker (at most POPULATIONS_KEPT filters, the oldest dropped first).
  const kept = new Map<string, number | null>();
  return async (datasetId, filter) => {
    const key = JSON.stringify([
      datasetId,
      Object.keys(filter)
        .sort()
        .map((k) => [k, [...filter[k]!].sort()]),
    ]);
    if (kept.has(key)) return kept.get(key)!;
    const schema = await zone.schema(datasetId);
    if (schema.regime !== 'ckm') return null;
    const free = schema.dimensions.find((d) => !(d.name in filter));
    if (!free) return null;
    const r = await zone.compute(datasetId, { dimensions: [{ name: free.name, level: 0 }], measure: 'count', filter });
    const total = r.table.cells.at(-1)?.value;
    const n = typeof total === 'number' ? total : null;
    if (kept.size >= POPULATIONS_KEPT) kept.delete(kept.keys().next().value!);
    kept.set(key, n);
    return n;
  };
}

const POPULATIONS_KEPT = 1000;
