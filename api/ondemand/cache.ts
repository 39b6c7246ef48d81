/**
 * Answers of tables on demand, kept per contract and query (a dp answer is served again without a new draw or charge;
 * a ckm answer is the same table anyway), least recently used evicted past the dataset's `cacheEntries`. The key is
 * the canonical query: levels resolved, filter names and codes sorted, the format left out (formats are rendered
 * from the one protected table and kept beside it).
 */
import type { OnDemandResult } from './client.ts';
import type { OnDemandQuery, PublicSchema } from '../../engine/ondemand/index.ts';

export interface CachedAnswer {
  readonly result: OnDemandResult;
  /** Rendered bodies per format. */
  readonly rendered: Map<string, { body: string | Buffer; type: string }>;
}

/** The query in one canonical form: what the table is, not how it was written. */
export function canonicalQuery(schema: PublicSchema, q: OnDemandQuery): string {
  const dims = q.dimensions.map((d) => {
    const levels = schema.dimensions.find((x) => x.name === d.name)?.levels ?? 0;
    return [d.name, d.level ?? levels];
  });
  const filter = Object.keys(q.filter ?? {})
    .sort()
    .map((k) => [k, [...q.filter![k]!].sort()]);
  return JSON.stringify({ dims, measure: q.measure, filter });
}

export class OnDemandCache {
  private readonly entries = new Map<string, CachedAnswer>();

  get(key: string): CachedAnswer | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, answer: CachedAnswer, limit: number): void {
    if (limit <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, answer);
    while (this.entries.size > limit) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
