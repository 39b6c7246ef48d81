/**
 * Key rows and researchers' contracts are cached briefly (api/caller-cache.ts), never past a change:
 * - a key revoked through the API is refused (401) on its very next request, and a contract granted through the API
 *   is honoured on the next one, even with a cache that would otherwise keep them for a minute;
 * - a change made behind the API's back (another process on the same store) is seen within the cache's lifetime.
 */
import t from 'tap';
import { build } from '../../api/app.ts';
import { createKey, revokeKey } from '../../api/store/keys.ts';
import { createContract } from '../../api/store/releases.ts';
import { openPgliteStore } from './pglite-template.ts';
import { seedReleases } from './fixtures.ts';

const system = { caller: 'cli:test', role: 'officer' } as const;
const tomorrow = () => new Date(Date.now() + 86400e3).toISOString();

t.test('cached callers never outlive a change', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  const db = store.db;
  const { pub, restricted } = await seedReleases(db, system, 'withdrawn');
  const officer = await createKey(db, 'officer', 'officer', system);
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  const build_ = async (ttl: number) => {
    const app = await build({ store, config: { rateLimit: null, callerCacheTtlMs: ttl }, logger: false });
    t.teardown(() => app.close());
    return app;
  };

  t.test('changes through the API are seen at once', async (t) => {
    const app = await build_(60_000);
    const read = (key: string, release: string) =>
      app.inject({ url: `/v1/releases/${release}/tables/pop`, headers: as(key) }).then((r) => r.statusCode);

    const researcher = await createKey(db, 'researcher', 'to revoke', system);
    t.equal(await read(researcher.key, pub), 200, 'served (and its key row cached)');
    t.equal(await read(researcher.key, pub), 200, 'served from the cached row');
    const revoked = await app.inject({
      method: 'POST',
      url: `/v1/admin/keys/${researcher.id}/revoke`,
      headers: as(officer.key),
    });
    t.equal(revoked.statusCode, 200);
    t.equal(await read(researcher.key, pub), 401, 'the next request of a revoked key is refused');

    const other = await createKey(db, 'researcher', 'to grant', system);
    t.equal(await read(other.key, restricted), 404, 'no contract yet (and none cached)');
    const granted = await app.inject({
      method: 'POST',
      url: '/v1/admin/contracts',
      headers: as(officer.key),
      payload: { key: other.id, release: restricted, expires: tomorrow() },
    });
    t.equal(granted.statusCode, 201);
    t.equal(await read(other.key, restricted), 200, 'the next request sees the new contract');
  });

  t.test('changes behind the API are seen within the cache lifetime', async (t) => {
    const ttl = 300;
    const app = await build_(ttl);
    const read = (key: string, release: string) =>
      app.inject({ url: `/v1/releases/${release}/tables/pop`, headers: as(key) }).then((r) => r.statusCode);
    const wait = () => new Promise((r) => setTimeout(r, ttl + 50));

    const researcher = await createKey(db, 'researcher', 'revoked elsewhere', system);
    t.equal(await read(researcher.key, restricted), 404);
    await createContract(
      db,
      { keyId: researcher.id, releaseId: restricted, tables: null, expiresAt: tomorrow() },
      system,
    );
    await revokeKey(db, researcher.id, system);
    await wait();
    t.equal(await read(researcher.key, pub), 401, 'a key revoked by another process is refused after the lifetime');

    const granted = await createKey(db, 'researcher', 'granted elsewhere', system);
    t.equal(await read(granted.key, restricted), 404);
    await createContract(db, { keyId: granted.id, releaseId: restricted, tables: null, expiresAt: tomorrow() }, system);
    await wait();
    t.equal(
      await read(granted.key, restricted),
      200,
      'a contract granted by another process is seen after the lifetime',
    );
  });
});
