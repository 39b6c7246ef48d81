/**
 * Issue 6.6: access control, table-driven: every route for every caller
 * (anonymous, researcher with an active contract, without one, with an expired
 * one, reviewer, officer; revoked and malformed keys), on every store dialect,
 * in the full app and in the public zone (`serve --public`). Also: API keys are
 * stored only as SHA-256 hashes; the audit log refuses UPDATE, DELETE and
 * TRUNCATE through the application's own database role (server: a fresh
 * non-superuser role that owns the database and ran the migrations); request
 * size limit; security headers.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import t, { type Test } from 'tap';
import { build } from '../../api/app.ts';
import { openStore, type Store } from '../../api/store/db.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createKey, revokeKey } from '../../api/store/keys.ts';
import { createContract } from '../../api/store/releases.ts';
import { dialects, dropServerDatabase, SERVER_URL } from '../api/dialects.ts';
import { makeRelease, seedReleases } from '../api/fixtures.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

/**
 * Request size limit and security headers: run on the PGlite dialect's store below (an app of its own with a small
 * bodyLimit, and an officer key of its own), instead of opening a store for it.
 */
const sizeAndHeaders = (store: Store) => async (t: Test) => {
  const officer = (await createKey(store.db, 'officer', 'o', system)).key;
  const app = await build({ store, config: { rateLimit: null, bodyLimit: 1024 } });
  t.teardown(() => app.close());
  const big = await app.inject({
    method: 'POST',
    url: '/v1/admin/releases',
    headers: { authorization: `Bearer ${officer}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ files: { 'manifest.json': 'x'.repeat(2048) } }),
  });
  t.equal(big.statusCode, 413, 'a body over bodyLimit: 413');
  t.equal(JSON.parse(big.body).code, 'PAYLOAD_TOO_LARGE');
  for (const url of ['/v1/releases', '/v1/config', '/v1/releases/nope', '/nope']) {
    const r = await app.inject({ url });
    t.equal(r.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`);
    t.equal(r.headers['x-frame-options'], 'DENY', `${url}: no framing`);
    t.equal(r.headers['referrer-policy'], 'no-referrer', `${url}: no referrer`);
    if (url.startsWith('/v1/'))
      t.match(String(r.headers['content-security-policy']), /default-src 'none'/, `${url}: CSP`);
    t.notOk(r.headers['x-powered-by'], `${url}: no x-powered-by`);
  }
};

const CALLERS = [
  'anonymous',
  'active',
  'nocontract',
  'expired',
  'reviewer',
  'officer',
  'revoked',
  'malformed',
] as const;
type Caller = (typeof CALLERS)[number];

for (const d of dialects()) {
  t.test(`access control on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;
    const { pub, restricted, draft, gone } = await seedReleases(db, system, 'withdrawn for the test');
    const mk = (role: string, name: string) => createKey(db, role, name, system);
    const active = await mk('researcher', 'active');
    const expired = await mk('researcher', 'expired');
    const revoked = await mk('researcher', 'revoked');
    await createContract(
      db,
      {
        keyId: active.id,
        releaseId: restricted,
        tables: null,
        expiresAt: new Date(Date.now() + 86400e3).toISOString(),
      },
      system,
    );
    await createContract(
      db,
      { keyId: expired.id, releaseId: restricted, tables: null, expiresAt: new Date(Date.now() - 1000).toISOString() },
      system,
    );
    await revokeKey(db, revoked.id, system);
    const keys: Record<Caller, string | undefined> = {
      anonymous: undefined,
      active: active.key,
      nocontract: (await mk('researcher', 'none')).key,
      expired: expired.key,
      reviewer: (await mk('reviewer', 'rev')).key,
      officer: (await mk('officer', 'off')).key,
      revoked: revoked.key,
      malformed: 'sg_nothex_short',
    };

    t.test('API keys are stored only as SHA-256 hashes of their secret', async (t) => {
      const rows = await db.selectFrom('api_keys').selectAll().execute();
      for (const k of [active, expired, revoked]) {
        const secret = k.key.split('_').slice(2).join('_');
        const row = rows.find((r) => r.id === k.id)!;
        t.equal(row.hash, createHash('sha256').update(secret).digest('hex'), `${k.name}: hash of the secret`);
        t.notOk(JSON.stringify(rows).includes(secret), `${k.name}: the secret is stored nowhere in api_keys`);
      }
      const audit = await sql<{ t: string }>`SELECT string_agg(detail::text, ' ') AS t FROM audit_log`.execute(db);
      // The secret is base64url and may itself hold '_' (even start with one): everything after the id is the secret.
      const secret = active.key.split('_').slice(2).join('_');
      t.ok(secret.length === 43, 'the whole secret is searched for');
      t.notOk(String(audit.rows[0]?.t ?? '').includes(secret), 'nor in the audit log');
    });

    t.test('the audit log is append-only for the application', async (t) => {
      for (const q of [sql`UPDATE audit_log SET outcome = 'ok'`, sql`DELETE FROM audit_log`, sql`TRUNCATE audit_log`]) {
        await t.rejects(q.execute(db), /append-only/, `refused: ${q.compile(db).sql}`);
      }
    });

    // Expected status per caller; staff = reviewer + officer.
    const everyone = (s: number) => ({ anonymous: s, active: s, nocontract: s, expired: s, reviewer: s, officer: s });
    const staffOnly = (s: number) => ({
      anonymous: 401,
      active: 403,
      nocontract: 403,
      expired: 403,
      reviewer: s,
      officer: s,
    });
    const officerOnly = (s: number) => ({
      anonymous: 401,
      active: 403,
      nocontract: 403,
      expired: 403,
      reviewer: 403,
      officer: s,
    });
    const contract = (s: number) => ({
      anonymous: 404,
      active: s,
      nocontract: 404,
      expired: 404,
      reviewer: s,
      officer: s,
    });
    const staffSee = (s: number) => ({
      anonymous: 404,
      active: 404,
      nocontract: 404,
      expired: 404,
      reviewer: s,
      officer: s,
    });
    const newRelease = async () => {
      const r = await makeRelease({ policyId: `up-${randomBytes(3).toString('hex')}` });
      const { readdir, readFile } = await import('node:fs/promises');
      const files: Record<string, string> = {};
      for (const f of await readdir(r.dir)) files[f] = await readFile(`${r.dir}/${f}`, 'utf8');
      return { files };
    };
    const ROUTES: {
      method: 'GET' | 'POST' | 'PUT';
      url: string;
      body?: () => Promise<unknown> | unknown;
      expect: Record<Exclude<Caller, 'revoked' | 'malformed'>, number>;
      publicZone: boolean;
    }[] = [
      { method: 'GET', url: '/v1/releases', expect: everyone(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${pub}`, expect: everyone(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${restricted}`, expect: contract(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${draft}`, expect: staffSee(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${gone}`, expect: everyone(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${pub}/tables/pop?format=csv`, expect: everyone(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${restricted}/tables/pop`, expect: contract(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${draft}/tables/pop`, expect: staffSee(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${gone}/tables/pop`, expect: everyone(410), publicZone: true },
      // Metadata (issue 19): the data's access rules; a withdrawn release keeps its metadata.
      { method: 'GET', url: `/v1/releases/${pub}/codelists`, expect: everyone(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${restricted}/codelists`, expect: contract(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${draft}/codelists`, expect: staffSee(200), publicZone: true },
      {
        method: 'GET',
        url: `/v1/releases/${restricted}/tables/pop/codelists`,
        expect: contract(200),
        publicZone: true,
      },
      { method: 'GET', url: `/v1/releases/${pub}/tables/pop/metadata`, expect: everyone(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${restricted}/tables/pop/metadata`, expect: contract(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${draft}/tables/pop/metadata`, expect: staffSee(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${gone}/tables/pop/metadata`, expect: everyone(200), publicZone: true },
      { method: 'GET', url: `/v1/releases/${pub}/tables/pop/structure`, expect: everyone(200), publicZone: true },
      {
        method: 'GET',
        url: `/v1/releases/${restricted}/tables/pop/structure`,
        expect: contract(200),
        publicZone: true,
      },
      { method: 'GET', url: `/v1/releases/${draft}/tables/pop/structure`, expect: staffSee(200), publicZone: true },
      { method: 'GET', url: '/v1/datasets/census/codelists', expect: everyone(200), publicZone: true },
      { method: 'GET', url: '/v1/datasets/census-sdc/codelists', expect: contract(200), publicZone: true },
      { method: 'GET', url: '/v1/catalog', expect: everyone(200), publicZone: true },
      { method: 'GET', url: '/v1/config', expect: everyone(200), publicZone: true },
      { method: 'GET', url: '/v1/policy-schema', expect: everyone(200), publicZone: true },
      { method: 'GET', url: '/openapi.json', expect: everyone(200), publicZone: true },
      { method: 'GET', url: '/v1/admin/drafts', expect: staffOnly(200), publicZone: false },
      { method: 'GET', url: '/v1/admin/datasets', expect: staffOnly(200), publicZone: false },
      { method: 'GET', url: '/v1/admin/datasets/census/ledger', expect: staffOnly(200), publicZone: false },
      { method: 'GET', url: '/v1/admin/audit', expect: staffOnly(200), publicZone: false },
      { method: 'POST', url: '/v1/admin/releases', body: newRelease, expect: officerOnly(201), publicZone: false },
      { method: 'POST', url: `/v1/admin/releases/${pub}/approve`, expect: officerOnly(409), publicZone: false },
      {
        method: 'POST',
        url: '/v1/admin/releases/nope/withdraw',
        body: () => ({ reason: 'x' }),
        expect: officerOnly(404),
        publicZone: false,
      },
      {
        method: 'PUT',
        url: '/v1/admin/datasets/census/budget',
        body: () => ({ rho: 5, epsilon: 10 }),
        expect: officerOnly(200),
        publicZone: false,
      },
      {
        method: 'POST',
        url: '/v1/admin/contracts',
        body: () => ({ key: 'nope', release: restricted, expires: '2999-01-01T00:00:00Z' }),
        expect: officerOnly(404),
        publicZone: false,
      },
      {
        method: 'POST',
        url: '/v1/admin/keys',
        body: () => ({ role: 'researcher', name: 'made in test' }),
        expect: officerOnly(201),
        publicZone: false,
      },
    ];

    if (d.name === 'pglite') t.test('request size limit and security headers', sizeAndHeaders(store));

    for (const zone of ['full', 'public'] as const) {
      t.test(`every route x every caller (${zone} zone)`, async (t) => {
        const app = await build({ store, public: zone === 'public', config: { rateLimit: null } });
        t.teardown(() => app.close());
        let checked = 0;
        for (const r of ROUTES) {
          for (const c of CALLERS) {
            const body = r.body ? await r.body() : undefined;
            const res = await app.inject({
              method: r.method,
              url: r.url,
              headers: {
                ...(keys[c] ? { authorization: `Bearer ${keys[c]}` } : {}),
                ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
              },
              ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
            });
            const want =
              c === 'revoked' || c === 'malformed' ? 401 : zone === 'public' && !r.publicZone ? 404 : r.expect[c];
            t.equal(res.statusCode, want, `${zone}: ${r.method} ${r.url} as ${c}`);
            checked++;
          }
        }
        t.comment(`${checked} route x caller combinations checked`);
      });
    }
  });
}

t.test(
  'audit log append-only for a non-superuser application role on the PostgreSQL server',
  { skip: SERVER_URL ? false : 'STATGUARD_TEST_DATABASE_URL not set' },
  async (t) => {
    const tag = randomBytes(4).toString('hex');
    const role = `sg_app_${tag}`;
    const dbName = `sg_app_db_${tag}`;
    const admin = new pg.Client({ connectionString: SERVER_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await admin.query(`CREATE DATABASE ${dbName} OWNER ${role}`);
    t.teardown(async () => {
      await dropServerDatabase(admin, dbName);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    });
    const u = new URL(SERVER_URL!);
    u.username = role;
    u.pathname = `/${dbName}`;
    const store = await openStore({ databaseUrl: u.toString() });
    t.teardown(() => store.close());
    await createKey(store.db, 'officer', 'audited', system); // writes an audit row
    for (const q of [sql`UPDATE audit_log SET outcome = 'ok'`, sql`DELETE FROM audit_log`, sql`TRUNCATE audit_log`]) {
      await t.rejects(q.execute(store.db), /append-only/, `as ${role}: refused: ${q.compile(store.db).sql}`);
    }
    const n = await store.db
      .selectFrom('audit_log')
      .select(sql<string>`count(*)::text`.as('n'))
      .executeTakeFirstOrThrow();
    t.ok(Number(n.n) >= 1, 'rows still there');
  },
);
