/**
 * Progress line for long runs: rows read, rate, stage, on a terminal only.
 * On a non-terminal (CI, pipes, logs) it prints nothing at all.
 */
import type { Io } from './io.ts';

export interface Progress {
  readonly update: (p: { stage: string; rows: number; bytes: number; totalBytes: number | null }) => void;
  readonly done: () => void;
}

export function makeProgress(io: Io, minIntervalMs = 250): Progress {
  if (!io.isTty) return { update: () => {}, done: () => {} };
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    update: (p) => {
      const now = Date.now();
      if (now - last < minIntervalMs) return;
      last = now;
      const secs = Math.max((now - started) / 1000, 1e-3);
      const pct = p.totalBytes ? ` ${((100 * p.bytes) / p.totalBytes).toFixed(0)}%` : '';
      io.err(
        `\r\x1b[K${p.stage}: ${p.rows.toLocaleString('en')} rows, ${Math.round(p.rows / secs).toLocaleString('en')} rows/s${pct}`,
      );
      shown = true;
    },
    done: () => {
      if (shown) io.err('\r\x1b[K');
    },
  };
}
