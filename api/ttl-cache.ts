/**
 * A bounded map of values loaded from the store and kept for at most `ttlMs` (the release status cache in
 * context.ts, the caller cache in caller-cache.ts). An absent value (`undefined`) is kept like any other, so that a
 * lookup of an unknown id takes the same path as a known one. At most 10,000 entries: the one loaded longest ago
 * leaves first, so a flood of distinct ids cannot grow it without end. Concurrent misses of one key each load.
 */
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  readonly at: number;
  readonly value: T;
}

export class TtlCache<T> {
  private readonly map = new Map<string, Entry<T>>();
  constructor(private readonly ttlMs: number) {}

  /** The kept value of `key` while it is fresh, else `load()`'s (then kept). */
  async get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.map.get(key);
    const now = performance.now();
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = await load();
    this.map.delete(key); // re-inserted last: the oldest entries are first
    this.map.set(key, { at: now, value });
    if (this.map.size > MAX_ENTRIES) this.map.delete(this.map.keys().next().value!);
    return value;
  }

  /** After a change made through this process: the next `get` loads. */
  forget(key: string): void {
    this.map.delete(key);
  }
}
