/**
 * Runs a suite against every available store dialect: embedded PGlite always, and a PostgreSQL server when
 * STATGUARD_TEST_DATABASE_URL is set. Every store is a real, separate database opened by the product's `openStore`;
 * what is shared is only the work of making an empty migrated one:
 *
 * - PGlite: each store is a copy of a migrated template folder (see pglite-template.ts).
 * - PostgreSQL: each store is `CREATE DATABASE <name> TEMPLATE <tpl>`, a server-side file copy of a migrated
 *   template database (migrating a new database costs about 0.5 s of CPU in the test process and as much in the
 *   server; the copy costs a few milliseconds). The template is made once per server and code version: named
 *   `statguard_tpl_<templateKey()>` (the hash that names the PGlite template, so a change to the schema code makes
 *   a new one), built under a temporary name by `openStore` and renamed into place, all under a server advisory
 *   lock, so several test processes starting at once build it once and none ever sees a half-migrated template.
 *   It is marked IS_TEMPLATE with ALLOW_CONNECTIONS false: nobody changes it, and DROP DATABASE refuses it.
 *   A fresh migration on PostgreSQL stays tested where that is the subject (test/api/store.test.ts, db-role,
 *   concurrency and access tests create empty databases and open them with `openStore`).
 *
 * `world(build)` shares one more step, for suites whose every test starts from the same data: `build` runs once on a
 * fresh store, which is then closed, and each `open()` of the answer is a separate copy of that store (a copied
 * folder on PGlite, `CREATE DATABASE ... TEMPLATE <world>` on PostgreSQL), so a test that tampers with its copy
 * cannot affect another's.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { openStore, type Store } from '../../api/store/db.ts';
import { freshPgliteDir, openPgliteStore, openStoreCopy, templateKey } from './pglite-template.ts';

/** Stores that start as copies of one store built once (see the header). */
export interface World {
  /** A separate copy of the built store (closing it deletes the copy). */
  open(): Promise<Store>;
}

export interface Dialect {
  readonly name: 'pglite' | 'postgres';
  /** A fresh, empty, migrated store. */
  open(): Promise<Store>;
  /** Run `build` once on a fresh store and close it; every `open()` of the answer is a copy of the result. */
  world(build: (store: Store) => Promise<void>): Promise<World>;
  cleanup(): Promise<void>;
}

export const SERVER_URL = process.env.STATGUARD_TEST_DATABASE_URL;

/** Wait (bounded, 5 s) until the server sees no session on database `name` (closed pools disconnect asynchronously). */
async function waitNoSessions(admin: pg.Client, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE datname = $1', [name])).rowCount === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Drop a throw-away test database on the server. Dropping WITH (FORCE) under a live session makes that client emit
 * "terminating connection" as an unhandled error: wait until the server sees no session on it first.
 */
export async function dropServerDatabase(admin: pg.Client, name: string): Promise<void> {
  await waitNoSessions(admin, name);
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

async function withAdmin<T>(f: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  try {
    return await f(admin);
  } finally {
    await admin.end();
  }
}

function serverUrl(database: string): string {
  const u = new URL(SERVER_URL!);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Serialises the template build across test processes (a session-level advisory lock, released on disconnect). */
const TEMPLATE_LOCK = 0x5347_7470_6c00; // "SGtpl"

let serverTemplate: Promise<string> | undefined;

/** The migrated template database on the test server (made on first use by any process, then reused). */
function serverTemplateName(): Promise<string> {
  serverTemplate ??= (async () => {
    const name = `statguard_tpl_${await templateKey()}`;
    await withAdmin(async (admin) => {
      await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
      try {
        if ((await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount) return;
        // Under the lock nobody else is building: a `<name>_b...` left behind is a killed builder's, half-made.
        for (const { datname } of (
          await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
            `${name}\\_b%`,
          ])
        ).rows)
          await dropServerDatabase(admin, datname);
        const building = `${name}_b${randomBytes(4).toString('hex')}`;
        await admin.query(`CREATE DATABASE ${building}`);
        await (await openStore({ databaseUrl: serverUrl(building) })).close(); // the product's own migration
        await waitNoSessions(admin, building);
        await admin.query(`ALTER DATABASE ${building} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
        await admin.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      } finally {
        await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
      }
    });
    return name;
  })();
  return serverTemplate;
}

function pgliteDialect(): Dialect {
  const worlds: string[] = [];
  return {
    name: 'pglite',
    open: openPgliteStore,
    async world(build) {
      const dir = await freshPgliteDir();
      worlds.push(dir);
      const built = await openStore({ dataDir: dir });
      try {
        await build(built);
      } finally {
        await built.close();
      }
      return {
        open: () => openStoreCopy(dir),
      };
    },
    async cleanup() {
      for (const d of worlds.splice(0)) await rm(d, { recursive: true, force: true });
    },
  };
}

function postgresDialect(): Dialect {
  const created: string[] = [];
  /** A new database copied from `template` (it must have no session), recorded for cleanup. */
  const copyOf = async (template: string): Promise<string> => {
    const name = `statguard_test_${randomBytes(6).toString('hex')}`;
    await withAdmin((admin) => admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
    created.push(name);
    return name;
  };
  return {
    name: 'postgres',
    async open() {
      return openStore({ databaseUrl: serverUrl(await copyOf(await serverTemplateName())) });
    },
    async world(build) {
      const world = await copyOf(await serverTemplateName());
      const built = await openStore({ databaseUrl: serverUrl(world) });
      try {
        await build(built);
      } finally {
        await built.close();
      }
      await withAdmin((admin) => waitNoSessions(admin, world));
      return { open: async () => openStore({ databaseUrl: serverUrl(await copyOf(world)) }) };
    },
    async cleanup() {
      // Only this dialect's own databases: never the template (IS_TEMPLATE: the server would refuse it anyway).
      await withAdmin(async (admin) => {
        for (const n of created.splice(0).reverse()) await dropServerDatabase(admin, n);
      });
    },
  };
}

export function dialects(): Dialect[] {
  return SERVER_URL ? [pgliteDialect(), postgresDialect()] : [pgliteDialect()];
}
