/**
 * Bounds the CPU the binary formats take. An xlsx workbook costs about 20 µs of CPU per cell (a 100,000-cell query
 * about 2 CPU-s, ten times its CSV) and a Parquet file about 5 µs, so a caller asking for different large selections
 * (every one a miss of the response cache) could keep the server's cores busy. At most `concurrency` such renderings
 * run at once; up to `queue` more wait their turn (first come, first served); past that a request gets 503
 * RENDER_BUSY with Retry-After, before any work. A cached response never waits here.
 */
import { ApiError } from './errors.ts';

/** Renderings of the binary formats running at once (one core of two left to everything else). */
export const RENDER_CONCURRENCY = 1;
/** Renderings waiting for their turn; one more is refused. */
export const RENDER_QUEUE = 4;

export class RenderLimit {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency = RENDER_CONCURRENCY,
    private readonly queue = RENDER_QUEUE,
  ) {}

  /** Run `fn` when a slot is free (see the header); the slot passes to the next waiting rendering when done. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) this.running++;
    else if (this.waiting.length < this.queue) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else
      throw new ApiError(
        'RENDER_BUSY',
        `${this.running + this.waiting.length} xlsx or Parquet files are being built or waiting, the most this server takes at once; retry shortly or ask for csv`,
        { retryAfter: 2 },
      );
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
