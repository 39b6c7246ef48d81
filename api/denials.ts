/**
 * Denials are counted, not stored one row each: a flood of refused requests (bad keys, rate-limited or oversized
 * requests, anonymous probes) must not grow the append-only audit log by a row per request. Each refusal is counted
 * under (caller or client address, route pattern, method, status, minute); when its minute closes (checked on every
 * count and every few seconds), at shutdown, or when too many keys are open, every count is written as one audit row
 * through the audit writer:
 *
 *   caller/role  the authenticated caller, or 'anonymous' (the client address in detail.address)
 *   action       the route's audit action, else 'auth' (401), 'rate-limit' (429), 'body-limit' (413) or 'request'
 *   target       the route pattern (e.g. /v1/releases/:id), never the raw URL; '(no route)' for unknown paths
 *   detail       { count, minute, method, code?, address?, sample? }: sample is the first target of the minute
 *                (a route parameter, at most 100 characters), address at most 64
 *
 * Counted: every 401, 413 and 429 whoever the caller, and every other refusal (4xx) of an anonymous caller. An
 * authenticated caller's other refusals (403, 404, 409, ...) keep a row each with their target: they are bounded by
 * the key's own rate limit and name a person who can be asked. Memory is bounded by MAX_OPEN keys.
 */
import type { Actor, AuditEntry } from './store/audit.ts';

const MAX_OPEN = 10_000;
const TICK_MS = 5_000;
export const MAX_ROUTE = 200;
export const MAX_SAMPLE = 100;
const MAX_ADDRESS = 64;

export interface Denial {
  readonly actor: Actor;
  readonly address: string;
  /** The audit action of the route, if it has one. */
  readonly action: string | undefined;
  /** Route pattern, or null when no route matched. */
  readonly route: string | null;
  readonly method: string;
  readonly status: number;
  readonly code: string | null;
  /** The request's target (route parameter), kept as a sample only. */
  readonly target: string | null;
}

interface Open {
  readonly minute: number;
  readonly entry: Omit<AuditEntry, 'detail'> & { detail: Record<string, unknown> };
  count: number;
}

/** Whether a response is counted here rather than written as its own row. */
export function isCountedDenial(actor: Actor, status: number): boolean {
  if (status === 401 || status === 413 || status === 429) return true;
  return actor.role === 'anonymous' && status >= 400 && status < 500;
}

const cut = (s: string, n: number): string => (s.length > n ? s.slice(0, n) : s);

function defaultAction(status: number): string {
  return status === 401 ? 'auth' : status === 429 ? 'rate-limit' : status === 413 ? 'body-limit' : 'request';
}

export class DenialCounter {
  private open = new Map<string, Open>();
  /** The earliest minute with an open count (null: none). */
  private oldest: number | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** Writes one audit row (the audit buffer's push). */
    private readonly write: (e: AuditEntry) => Promise<void>,
    /** The clock minutes are read from. */
    private readonly now: () => Date,
    private readonly onError: (e: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.flushClosed(), TICK_MS);
    this.timer.unref();
  }

  /** Count one refusal; writes the counts of minutes that have closed. */
  count(d: Denial): void {
    const minute = Math.floor(this.now().getTime() / 60_000);
    const anonymous = d.actor.role === 'anonymous';
    const caller = anonymous ? `ip:${d.address}` : d.actor.caller;
    const route = d.route === null ? '(no route)' : cut(d.route, MAX_ROUTE);
    const key = JSON.stringify([minute, caller, route, d.method, d.status]);
    const hit = this.open.get(key);
    if (hit) hit.count++;
    else {
      if (this.open.size >= MAX_OPEN) void this.flush();
      this.open.set(key, {
        minute,
        count: 1,
        entry: {
          actor: anonymous ? { caller: 'anonymous', role: 'anonymous' } : d.actor,
          action: d.action ?? defaultAction(d.status),
          target: route,
          outcome: 'denied',
          status: d.status,
          detail: {
            method: cut(d.method, 16),
            ...(d.code ? { code: d.code } : {}),
            ...(anonymous ? { address: cut(d.address, MAX_ADDRESS) } : {}),
            ...(d.target ? { sample: cut(d.target, MAX_SAMPLE) } : {}),
          },
        },
      });
    }
    if (this.oldest !== null && this.oldest < minute) void this.flushClosed();
    this.oldest = Math.min(this.oldest ?? minute, minute);
  }

  /** Counts not yet written (for tests and shutdown reports). */
  get pending(): number {
    let n = 0;
    for (const o of this.open.values()) n += o.count;
    return n;
  }

  /** Write the counts of minutes before the current one. */
  async flushClosed(): Promise<void> {
    const minute = Math.floor(this.now().getTime() / 60_000);
    await this.writeWhere((o) => o.minute < minute);
  }

  /** Write every count, the current minute's too. */
  async flush(): Promise<void> {
    await this.writeWhere(() => true);
  }

  /** Shutdown: stop the minute check and write every count. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async writeWhere(closed: (o: Open) => boolean): Promise<void> {
    const out: Open[] = [];
    for (const [k, o] of this.open) {
      if (!closed(o)) continue;
      out.push(o);
      this.open.delete(k);
    }
    this.oldest = null;
    for (const o of this.open.values()) this.oldest = Math.min(this.oldest ?? o.minute, o.minute);
    await Promise.all(
      out.map(async (o) => {
        try {
          await this.write({
            ...o.entry,
            detail: { ...o.entry.detail, count: o.count, minute: new Date(o.minute * 60_000).toISOString() },
          });
        } catch (e) {
          this.onError(e);
        }
      }),
    );
  }
}
