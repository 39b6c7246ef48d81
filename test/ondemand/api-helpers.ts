/** The on-demand route under test: a store with the registered datasets, a counting secure zone and a test gate. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { build } from '../../api/app.ts';
import { ApiError } from '../../api/errors.ts';
import { forkSecureZone, type SecureZone } from '../../api/ondemand/client.ts';
import type { Authorised, ContractGate, DpCost } from '../../api/ondemand/gate.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { createKey } from '../../api/store/keys.ts';
import type { Store } from '../../api/store/db.ts';
import type { OnDemandQuery } from '../../engine/ondemand/query.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { ONDEMAND_POLICY, dpDoc } from './helpers.ts';
import { generateCensus } from '../../bench/generate.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

/** A gate that lets every researcher through (contract = caller), refuses more than `maxDims` dimensions, and records. */
export class TestGate implements ContractGate {
  readonly used: { contractId: string; cells: number; dpCost: DpCost | undefined }[] = [];
  readonly asked: { dataset: string; cells: number; dpCost: DpCost | undefined }[] = [];
  constructor(private readonly maxDims = 3) {}
  async authorise(
    actor: Actor,
    dataset: string,
    q: OnDemandQuery,
    cells: number,
    dpCost?: DpCost,
  ): Promise<Authorised> {
    this.asked.push({ dataset, cells, dpCost });
    if (q.dimensions.length > this.maxDims)
      throw new ApiError('FORBIDDEN', `the contract allows ${this.maxDims} dimensions`, {
        term: 'level.maxDimensions',
      });
    return { contractId: `contract-of-${actor.caller}` };
  }
  async recordUse(auth: Authorised, cells: number, dpCost?: DpCost): Promise<void> {
    this.used.push({ contractId: auth.contractId, cells, dpCost });
  }
  readonly cancelled: string[] = [];
  async cancel(auth: Authorised): Promise<void> {
    this.cancelled.push(auth.contractId);
  }
}

/** A secure zone that counts the tables it computed. */
export function counting(zone: SecureZone): SecureZone & { computed: number } {
  const z = {
    computed: 0,
    schema: (id: string) => zone.schema(id),
    input: (id: string) => zone.input(id),
    compute: (id: string, q: unknown, input?: string) => {
      z.computed++;
      return zone.compute(id, q, input);
    },
    close: () => zone.close(),
  };
  return z;
}

/**
 * The dp variant of the census on-demand policy, written to a temporary file. Its dataset has microdata of its own, a
 * census generated like the fixture (bench/generate.ts) with another seed: the store binds a microdata file to one
 * dataset (api/ondemand/binding.ts), so the dp dataset cannot serve the file the ckm dataset serves. Generated, not
 * copied: the test process (the API process of test/ondemand/separation.test.ts) never reads a microdata file.
 */
export async function dpPolicyFile(epsilon = 0.5): Promise<string> {
  const doc = dpDoc(epsilon) as unknown as { dataset: { id: string; source: { path: string } } };
  doc.dataset.id = 'synthetic-census-dp';
  const dir = mkdtempSync(join(tmpdir(), 'ondemand-dp-'));
  doc.dataset.source.path = join(dir, 'census-dp-5000.csv');
  await generateCensus({ rows: 5000, seed: 'census-dp', out: doc.dataset.source.path });
  const file = join(dir, 'census-ondemand-dp.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

export const CENSUS_CSV = resolve('fixtures/synthetic/census-5000.csv');

export interface OnDemandApp {
  app: FastifyInstance;
  store: Store;
  gate: TestGate;
  zone: SecureZone & { computed: number };
  keys: { researcher: string; researcherId: string; other: string; officer: string };
}

export async function onDemandApp(
  opts: { seed?: string; maxDims?: number; dpRegisteredAs?: 'ckm' | 'dp'; dpPolicy?: string } = {},
): Promise<OnDemandApp> {
  const store = await openPgliteStore();
  const db = store.db;
  await createDataset(db, { id: 'synthetic-census-5000', title: 'Census', regime: 'ckm', demo: true }, system);
  const dpRegime = opts.dpRegisteredAs ?? 'dp';
  await createDataset(db, { id: 'synthetic-census-dp', title: 'Census dp', regime: dpRegime, demo: true }, system);
  await createDataset(db, { id: 'tiny-sdc', title: 'Tiny', regime: 'sdc', demo: true }, system);
  const r = await createKey(db, 'researcher', 'Rex', system);
  const keys = {
    researcher: r.key,
    researcherId: r.id,
    other: (await createKey(db, 'researcher', 'Ruth', system)).key,
    officer: (await createKey(db, 'officer', 'Olga', system)).key,
  };
  const gate = new TestGate(opts.maxDims);
  const zone = counting(
    forkSecureZone({
      policies: [ONDEMAND_POLICY, opts.dpPolicy ?? (await dpPolicyFile())],
      seed: opts.seed ?? 'route-test',
    }),
  );
  const app = await build({ store, config: { rateLimit: null }, logger: false, onDemand: { zone, gate } });
  return { app, store, gate, zone, keys };
}

export async function post(app: FastifyInstance, dataset: string, key: string | undefined, body: unknown) {
  return await app.inject({
    method: 'POST',
    url: `/v1/datasets/${dataset}/tables`,
    headers: key ? { authorization: `Bearer ${key}` } : {},
    payload: body as Record<string, unknown>,
  });
}

export const readPolicy = (): unknown => JSON.parse(readFileSync(ONDEMAND_POLICY, 'utf8'));
