/**
 * The secure zone of tables on demand: a separate process (forked by api/ondemand/client.ts) that holds the on-demand
 * policies, the microdata (read into memory by resident.ts), the record keys and the randomness. The API process
 * sends queries and gets protected tables back; it never opens a microdata file or source itself.
 *
 * Start: `process.argv[2]` is a JSON object `{ "policies": [paths], "seed"?: string }`. A seed (tests, demos) is
 * refused unless every policy is a demo (`release.demo`); with it, keys and noise are reproducible and every result
 * says `randomness: "seeded"`.
 * Messages in: `{ id, op: "schema" | "input" | "compute", dataset, query?, input? }`; out: `{ id, ok: true, result }`
 * or `{ id, ok: false, error: { code, message, path?, details? } }`; once started, `{ ready: true, datasets }` (or
 * `{ ready: false, error }` and exit 1). Errors name what is wrong and where, never a protected value (engine/errors.ts).
 *
 * Input fingerprint: `input` answers `{ sha256 }`, the SHA-256 of the microdata the worker holds (read in if needed),
 * computed by the engine's CSV source as a release computes its manifest's `input.sha256`; the API binds it to the
 * dataset before the first table (api/ondemand/binding.ts). It has an operation of its own rather than a field of the
 * schema answer: the schema is public and declared-only (GET /v1/datasets/{id}/schema serves it as is) and is kept for
 * the worker's life, while the fingerprint is of the data and changes when the file does. A `compute` carrying
 * `input` is refused (ON_DEMAND_INPUT_CHANGED) before anything is computed or drawn when the rows held are no longer
 * that input (the file was replaced after the binding): no table leaves from microdata the store did not bind.
 */
import { StatguardError } from '../errors.ts';
import { loadPolicy } from '../policy/index.ts';
import type { Plan } from '../types.ts';
import { computeOnDemand } from './compute.ts';
import { onDemandOf, publicSchema } from './query.ts';
import { ResidentCache } from './resident.ts';

export interface WorkerConfig {
  readonly policies: readonly string[];
  readonly seed?: string;
}

export interface WorkerRequest {
  readonly id: number;
  readonly op: 'schema' | 'input' | 'compute';
  readonly dataset: string;
  readonly query?: unknown;
  /** compute: the input fingerprint the API bound (the rows held must still be that input). */
  readonly input?: string;
}

export interface WorkerError {
  readonly code: string;
  readonly message: string;
  readonly path?: string;
  readonly details?: readonly { readonly path?: string; readonly message: string }[];
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WorkerError };

/** The secure zone's state: plans by dataset id, resident rows, a query counter for seeded noise. */
export class SecureZoneState {
  private queries = 0;
  private readonly resident: ResidentCache;
  constructor(
    readonly plans: ReadonlyMap<string, Plan>,
    private readonly seed?: string,
  ) {
    this.resident = new ResidentCache(seed);
  }

  static async load(cfg: WorkerConfig): Promise<SecureZoneState> {
    const plans = new Map<string, Plan>();
    for (const p of cfg.policies) {
      const plan = await loadPolicy(p);
      onDemandOf(plan);
      if (cfg.seed !== undefined && !plan.release.demo)
        throw new StatguardError('USAGE', `a seed is for demo datasets only; ${p} is not a demo`, { file: p });
      if (plans.has(plan.dataset.id))
        throw new StatguardError('USAGE', `two on-demand policies for dataset ${plan.dataset.id}`, { file: p });
      plans.set(plan.dataset.id, plan);
    }
    return new SecureZoneState(plans, cfg.seed);
  }

  private planOf(dataset: string): Plan {
    const plan = this.plans.get(dataset);
    if (plan === undefined)
      throw new StatguardError(
        'ON_DEMAND_NOT_OFFERED',
        `dataset ${JSON.stringify(dataset)} offers no tables on demand`,
      );
    return plan;
  }

  async handle(req: WorkerRequest): Promise<unknown> {
    const plan = this.planOf(req.dataset);
    if (req.op === 'schema') return publicSchema(plan);
    if (req.op !== 'compute' && req.op !== 'input')
      throw new StatguardError('USAGE', `unknown operation ${JSON.stringify(req.op)}`);
    const data = await this.resident.get(onDemandOf(plan));
    if (req.op === 'input') return { sha256: data.inputSha256 };
    if (req.input !== undefined && req.input !== data.inputSha256)
      throw new StatguardError(
        'ON_DEMAND_INPUT_CHANGED',
        `the microdata of dataset ${JSON.stringify(req.dataset)} changed since its input was bound; ask again`,
      );
    const seed = this.seed === undefined ? undefined : `${this.seed}:${++this.queries}`;
    return computeOnDemand(plan, data, req.query, { seed });
  }
}

export function errorOf(e: unknown): WorkerError {
  if (e instanceof StatguardError)
    return {
      code: e.code,
      message: e.message,
      ...(e.where.path !== undefined ? { path: e.where.path } : {}),
      ...(e.details.length > 0 ? { details: e.details.map((d) => ({ path: d.path, message: d.message })) } : {}),
    };
  // Anything else is a fault of the secure zone: its text stays here (it could quote anything).
  process.stderr.write(`statguard on-demand worker: ${(e as Error).stack ?? String(e)}\n`);
  return { code: 'ON_DEMAND_FAILED', message: 'the secure zone could not compute the table' };
}

async function main(): Promise<void> {
  const send = (m: unknown): void => void process.send!(m);
  let state: SecureZoneState;
  try {
    state = await SecureZoneState.load(JSON.parse(process.argv[2] ?? '{}') as WorkerConfig);
  } catch (e) {
    send({ ready: false, error: errorOf(e) });
    process.exitCode = 1;
    process.disconnect();
    return;
  }
  process.on('message', (req: WorkerRequest) => {
    state.handle(req).then(
      (result) => send({ id: req.id, ok: true, result }),
      (e: unknown) => send({ id: req.id, ok: false, error: errorOf(e) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ ready: true, datasets: [...state.plans.keys()] });
}

if (process.send !== undefined) void main();
