/**
 * Who a request is and which releases its contracts cover, cached briefly (issue 17: a keyed table read made two
 * store queries before any work, its key's row and its active contracts, each about 250 us of PGlite CPU, more than
 * the rest of a cached read).
 *
 * - Keys: the stored row of a key id (hash, role, revoked or not; an unknown id too) for at most `ttlMs`. The secret
 *   is still hashed and compared in constant time on every request (store/keys.ts `authenticate`); only the row is
 *   remembered, never a key. Revoking or creating a key through this process forgets its row at once (the admin
 *   routes call `forgetKey` after the change committed), so a revoked key's next request is 401; a change made by
 *   another process (a CLI against a PostgreSQL server; an embedded store has one writer, this process) is seen
 *   within `ttlMs`.
 * - Contracts: a researcher key's active contracts for at most `ttlMs`: a contract created through this process is
 *   seen at once (`forgetContracts`), an expiry or another process's contract within `ttlMs`.
 *
 * Both are bounded TtlCaches (ttl-cache.ts), so a flood of distinct key ids cannot grow them without end.
 */
import type { Kysely } from 'kysely';
import type { Contracts } from './access.ts';
import type { Actor } from './store/audit.ts';
import { authenticate, findKey, type KeyRow } from './store/keys.ts';
import { activeContracts } from './store/releases.ts';
import type { Database } from './store/schema.ts';
import { TtlCache } from './ttl-cache.ts';

const NONE: Contracts = new Map();

export class CallerCache {
  private readonly keys: TtlCache<KeyRow | undefined>;
  private readonly contracts: TtlCache<Contracts>;

  constructor(
    private readonly db: Kysely<Database>,
    ttlMs: number,
  ) {
    this.keys = new TtlCache(ttlMs);
    this.contracts = new TtlCache(ttlMs);
  }

  /** The actor of an Authorization header (store/keys.ts `authenticate`, the key's row from the cache). */
  authenticate(header: string | undefined): Promise<Actor> {
    return authenticate(this.db, header, (id) => this.keys.get(id, () => findKey(this.db, id)));
  }

  /** A researcher's active contracts (release id -> covered tables, null: all); nobody else has any. */
  contractsOf(a: Actor): Promise<Contracts> {
    if (a.role !== 'researcher') return Promise.resolve(NONE);
    return this.contracts.get(a.caller, () => activeContracts(this.db, a.caller));
  }

  /** After a key was created or revoked through this process. */
  forgetKey(id: string): void {
    this.keys.forget(id);
  }

  /** After a contract of this key was created through this process. */
  forgetContracts(keyId: string): void {
    this.contracts.forget(keyId);
  }
}
