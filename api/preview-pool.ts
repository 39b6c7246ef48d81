/**
 * Previews run off the event loop, in worker threads (node:worker_threads), within limits, so that a reviewer's
 * preview never slows a researcher's request (the main thread only validates, plans and reads the store):
 *
 *   acquire()  a slot, or 503 PREVIEW_BUSY (Retry-After) when `concurrency` previews already run; taken before any
 *              work, released by the caller (finally)
 *   run(job)   the job in a worker with `resourceLimits` (old-generation heap `memoryMb`: past it V8 stops the worker
 *              and the request gets 503 PREVIEW_MEMORY) and a wall-clock limit (`timeoutMs`: the worker is
 *              terminated and the request gets 503 PREVIEW_TIMEOUT)
 *
 * The cell limit (413 PREVIEW_TOO_LARGE) is checked by the route from the plan, before the job is sent.
 * Loading the engine in a thread takes about two seconds (its sources' native and WASM modules), so a worker that
 * finished a job cleanly is kept idle for the next one (at most `concurrency`, each for IDLE_MS, and unref'd so an
 * idle worker never keeps the process alive); a worker that timed out, ran out of memory or failed is terminated.
 * Workers run the bundled worker (dist/preview-worker.mjs, written by bin/build.js) while it is current, with no
 * node flags of the parent (a parent's --import of a .ts file cannot load without tsx); otherwise they start through a
 * two-line bootstrap that registers tsx in the thread (a worker does not inherit the loader hooks of its parent). The
 * bundle starts a worker about 1.5 CPU-s sooner.
 */
import { Worker } from 'node:worker_threads';
// @ts-expect-error plain JavaScript module (bin/ is run by node without a build step)
import { bundleIsCurrent } from '../bin/bundle.js';
import type { PreviewLimits } from './config.ts';
import { ApiError } from './errors.ts';
import type { PreviewJob, PreviewOutcome } from './preview-job.ts';

const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((m) => { m.register(); return import(workerData.entry); });
`;
const ENTRY = new URL('./preview-worker.ts', import.meta.url).href;
const TSX = import.meta.resolve('tsx/esm/api');
const ROOT = new URL('../', import.meta.url);
const BUNDLED = new URL('dist/preview-worker.mjs', ROOT);
const IDLE_MS = 60_000;

export interface Slot {
  /** Run the job in a worker; resolves to the response body (JSON text) or rejects with an ApiError. */
  run(job: PreviewJob): Promise<string>;
  release(): void;
}

interface Idle {
  readonly worker: Worker;
  readonly timer: NodeJS.Timeout;
}

export class PreviewPool {
  private slots = 0;
  private readonly workers = new Set<Worker>();
  private idle: Idle[] = [];
  private closed = false;

  constructor(
    readonly limits: PreviewLimits,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** Previews holding a slot now. */
  get active(): number {
    return this.slots;
  }

  /** Worker threads alive now, idle ones included (a terminated worker is gone from here once it has exited). */
  get threads(): number {
    return this.workers.size;
  }

  acquire(): Slot {
    if (this.slots >= this.limits.concurrency)
      throw new ApiError(
        'PREVIEW_BUSY',
        `${this.limits.concurrency} previews are running, the most this server runs at once; retry shortly`,
        { retryAfter: 5 },
      );
    this.slots++;
    let held = true;
    return {
      run: (job) => this.runJob(job),
      release: () => {
        if (held) this.slots--;
        held = false;
      },
    };
  }

  /** Terminate every worker (server shutdown). */
  close(): void {
    this.closed = true;
    for (const i of this.idle) clearTimeout(i.timer);
    this.idle = [];
    for (const w of this.workers) void w.terminate();
  }

  private spawn(): Worker {
    const resourceLimits = { maxOldGenerationSizeMb: this.limits.memoryMb };
    const worker = (bundleIsCurrent as (root: URL) => boolean)(ROOT)
      ? new Worker(BUNDLED, { resourceLimits, execArgv: [] })
      : new Worker(BOOTSTRAP, { eval: true, workerData: { tsx: TSX, entry: ENTRY }, resourceLimits });
    this.workers.add(worker);
    worker.on('exit', () => this.workers.delete(worker));
    return worker;
  }

  private take(): Worker {
    const i = this.idle.pop();
    if (!i) return this.spawn();
    clearTimeout(i.timer);
    i.worker.ref();
    return i.worker;
  }

  private park(worker: Worker): void {
    if (this.closed || this.idle.length >= this.limits.concurrency) {
      void worker.terminate();
      return;
    }
    worker.unref();
    const timer = setTimeout(() => {
      this.idle = this.idle.filter((i) => i.worker !== worker);
      void worker.terminate();
    }, IDLE_MS);
    timer.unref();
    this.idle.push({ worker, timer });
  }

  private runJob(job: PreviewJob): Promise<string> {
    const { timeoutMs, memoryMb } = this.limits;
    const worker = this.take();
    return new Promise<string>((resolve, reject) => {
      const done = (clean: boolean, f: () => void): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (clean) this.park(worker);
        else void worker.terminate();
        f();
      };
      const timer = setTimeout(
        () =>
          done(false, () =>
            reject(
              new ApiError('PREVIEW_TIMEOUT', `the preview ran longer than ${timeoutMs} ms and was stopped`, {
                limitMs: timeoutMs,
              }),
            ),
          ),
        timeoutMs,
      );
      const onMessage = (m: PreviewOutcome): void => {
        if (m.ok) return done(true, () => resolve(m.json));
        if (m.log) this.log(`preview failed: ${m.log}`);
        done(m.code !== 'INTERNAL', () => reject(new ApiError(m.code, m.detail, { ...m.extra })));
      };
      const onError = (e: Error & { code?: string }): void => {
        if (e.code === 'ERR_WORKER_OUT_OF_MEMORY')
          return done(false, () =>
            reject(
              new ApiError('PREVIEW_MEMORY', `the preview needed more than ${memoryMb} MB and was stopped`, {
                limitMb: memoryMb,
              }),
            ),
          );
        this.log(`preview worker failed: ${e.stack ?? e.message}`);
        done(false, () => reject(new ApiError('INTERNAL', 'internal error')));
      };
      const onExit = (): void => done(false, () => reject(new ApiError('INTERNAL', 'internal error')));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      // A new worker's port queues the job until its modules are loaded and it listens.
      worker.postMessage(job);
    });
  }
}
