/**
 * In-process token bucket per caller: `burst` tokens, refilled at
 * `perSecond`; a request takes one token or is refused with the seconds to
 * wait. Buckets idle long enough to be full again are dropped, so memory is
 * bounded by the callers active within burst/perSecond seconds.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = 0;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0) || !(burst >= 1)) throw new Error('rate limit needs perSecond > 0 and burst >= 1');
  }

  /** 0 when allowed, else seconds until a token is available. */
  take(key: string): number {
    const t = this.now();
    if (t - this.lastSweep > 10_000) this.sweep(t);
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.perSecond;
  }

  private sweep(t: number): void {
    this.lastSweep = t;
    const full = (this.burst / this.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (t - b.at > full) this.buckets.delete(k);
  }
}
