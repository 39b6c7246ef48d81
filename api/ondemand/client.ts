/**
 * The API's side of the secure zone for tables on demand: a child process (`child_process.fork` of
 * engine/ondemand/worker-main.ts, or of its bundle dist/ondemand-worker.mjs while current) that holds the microdata,
 * record keys and randomness. The API process sends queries and receives protected tables; it never opens a
 * microdata file or source (test/ondemand/separation.test.ts).
 *
 * Failures: an engine refusal comes back as its code, message and JSON path (`SecureZoneError`); a query that takes
 * longer than `timeoutMs` rejects with ON_DEMAND_TIMEOUT (the worker is restarted, its resident data reloaded); a
 * dead worker rejects every pending query with ON_DEMAND_UNAVAILABLE and is started again on the next one.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
// @ts-expect-error plain JavaScript module (bin/ is run by node without a build step)
import { bundleIsCurrent } from '../../bin/bundle.js';
import type {
  OnDemandResult,
  PublicSchema,
  WorkerError,
  WorkerReply,
  WorkerRequest,
} from '../../engine/ondemand/index.ts';

export type { OnDemandResult, PublicSchema };

/** Where the tables on demand are computed. */
export interface SecureZone {
  schema(datasetId: string): Promise<PublicSchema>;
  /** The input fingerprint (SHA-256) of the microdata the zone holds for the dataset (api/ondemand/binding.ts). */
  input(datasetId: string): Promise<string>;
  /** `input`: the fingerprint the store bound; the zone refuses (ON_DEMAND_INPUT_CHANGED) if it holds other rows. */
  compute(datasetId: string, query: unknown, input?: string): Promise<OnDemandResult>;
  close(): Promise<void>;
}

/** A refusal or failure reported by the secure zone. */
export class SecureZoneError extends Error {
  constructor(readonly info: WorkerError) {
    super(info.message);
    this.name = 'SecureZoneError';
  }
}

export interface ForkOptions {
  /** On-demand policy files (each a dataset's `onDemand` policy). */
  readonly policies: readonly string[];
  /** Tests and demos only (demo datasets): reproducible keys and noise. */
  readonly seed?: string;
  /** Per query (default 60 s). */
  readonly timeoutMs?: number;
}

const ROOT = new URL('../../', import.meta.url);
const ENTRY = fileURLToPath(new URL('../../engine/ondemand/worker-main.ts', import.meta.url));
const BUNDLED = fileURLToPath(new URL('dist/ondemand-worker.mjs', ROOT));

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Start the secure zone's worker process (lazily, on the first request) and talk to it. */
export function forkSecureZone(opts: ForkOptions): SecureZone {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let child: ChildProcess | null = null;
  let ready: Promise<ChildProcess> | null = null;
  let next = 0;
  const pending = new Map<number, Pending>();

  const failAll = (info: WorkerError): void => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.reject(new SecureZoneError(info));
      pending.delete(id);
    }
  };
  const start = (): Promise<ChildProcess> => {
    const bundled = (bundleIsCurrent as (root: URL) => boolean)(ROOT);
    const c = fork(bundled ? BUNDLED : ENTRY, [JSON.stringify({ policies: opts.policies, seed: opts.seed })], {
      execArgv: bundled ? [] : ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    child = c;
    return new Promise((resolve, reject) => {
      c.on('message', (m: WorkerReply | { ready: boolean; error?: WorkerError }) => {
        if ('ready' in m) {
          if (m.ready) resolve(c);
          else reject(new SecureZoneError(m.error ?? { code: 'ON_DEMAND_UNAVAILABLE', message: 'worker failed' }));
          return;
        }
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.result);
        else p.reject(new SecureZoneError(m.error));
      });
      c.on('exit', () => {
        if (child === c) {
          child = null;
          ready = null;
        }
        reject(new SecureZoneError({ code: 'ON_DEMAND_UNAVAILABLE', message: 'the secure zone stopped' }));
        failAll({ code: 'ON_DEMAND_UNAVAILABLE', message: 'the secure zone stopped' });
      });
    });
  };
  const request = async (req: Omit<WorkerRequest, 'id'>): Promise<unknown> => {
    ready ??= start();
    ready.catch(() => (ready = null));
    const c = await ready;
    const id = ++next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new SecureZoneError({ code: 'ON_DEMAND_TIMEOUT', message: `no answer within ${timeoutMs} ms` }));
        c.kill();
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      c.send({ ...req, id });
    });
  };
  // Each dataset's public schema is asked once: the worker's policies are fixed when it is forked, and the gate and
  // the routes ask for it on every request (a failed answer is asked again).
  const schemas = new Map<string, Promise<PublicSchema>>();
  return {
    schema: (dataset) => {
      let s = schemas.get(dataset);
      if (!s) {
        s = request({ op: 'schema', dataset }) as Promise<PublicSchema>;
        schemas.set(dataset, s);
        s.catch(() => schemas.delete(dataset));
      }
      return s;
    },
    input: async (dataset) => ((await request({ op: 'input', dataset })) as { sha256: string }).sha256,
    compute: async (dataset, query, input) =>
      (await request({ op: 'compute', dataset, query, ...(input !== undefined ? { input } : {}) })) as OnDemandResult,
    close: async () => {
      const c = child;
      if (!c) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.disconnect();
      await exited;
    },
  };
}
