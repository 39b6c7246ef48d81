/**
 * Shared set-up of the request-approve-use-expire cycle tests (not a test file; test/api/ondemand-cycle.test.ts and
 * test/web/builder-browser.test.ts): a store with the on-demand datasets registered (census under ckm and dp), the
 * secure zone forked as the server forks it, the REAL contract gate over the zone's public schema, and the app
 * over both, judged by a clock the test moves. The zone can be told to fail its next computation (the gate's
 * reservation must then be given back).
 */
import type { FastifyInstance } from 'fastify';
import { build } from '../../api/app.ts';
import { gateSchemaOf, makeContractGate } from '../../api/contracts/index.ts';
import { forkSecureZone, SecureZoneError, type SecureZone } from '../../api/ondemand/client.ts';
import type { Actor } from '../../api/store/audit.ts';
import type { Store } from '../../api/store/db.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { createKey } from '../../api/store/keys.ts';
import { dpPolicyFile } from '../ondemand/api-helpers.ts';
import { ONDEMAND_POLICY } from '../ondemand/helpers.ts';
import { openPgliteStore } from './pglite-template.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

export const CKM = 'synthetic-census-5000';
export const DP = 'synthetic-census-dp';

export interface CycleApp {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly clock: { now: Date };
  /** Set to make the zone's next computation fail (ON_DEMAND_UNAVAILABLE). */
  readonly faults: { failNext: boolean; computed: number };
  readonly keys: { researcher: string; researcherId: string; officer: string };
  close(): Promise<void>;
}

export async function cycleApp(seed = 'cycle'): Promise<CycleApp> {
  const store = await openPgliteStore();
  const db = store.db;
  await createDataset(db, { id: CKM, title: 'Census', regime: 'ckm', demo: true }, system);
  await createDataset(db, { id: DP, title: 'Census dp', regime: 'dp', demo: true }, system);
  const r = await createKey(db, 'researcher', 'Rex', system);
  const officer = (await createKey(db, 'officer', 'Olga', system)).key;
  const clock = { now: new Date() };
  const faults = { failNext: false, computed: 0 };
  const real = forkSecureZone({ policies: [ONDEMAND_POLICY, await dpPolicyFile()], seed });
  const zone: SecureZone = {
    schema: (id) => real.schema(id),
    input: (id) => real.input(id),
    compute: (id, q, input) => {
      if (faults.failNext) {
        faults.failNext = false;
        return Promise.reject(new SecureZoneError({ code: 'ON_DEMAND_UNAVAILABLE', message: 'worker down' }));
      }
      faults.computed++;
      return real.compute(id, q, input);
    },
    close: () => real.close(),
  };
  const gate = makeContractGate({
    db,
    now: () => clock.now,
    schema: async (id) => gateSchemaOf(await zone.schema(id)),
  });
  const app = await build({
    store,
    config: { rateLimit: null },
    logger: false,
    now: () => clock.now,
    onDemand: { zone, gate },
  });
  return {
    app,
    store,
    clock,
    faults,
    keys: { researcher: r.key, researcherId: r.id, officer },
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}
