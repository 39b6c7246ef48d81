/**
 * Runs a suite against every available store dialect: embedded PGlite always
 * (each store a copy of a migrated template folder: see pglite-template.ts),
 * and a PostgreSQL server when STATGUARD_TEST_DATABASE_URL is set (each store
 * gets a fresh database there, migrated by openStore, dropped at the end).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore, type Store } from '../../api/store/db.ts';
import { openPgliteStore } from './pglite-template.ts';

export interface Dialect {
  readonly name: 'pglite' | 'postgres';
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

export const SERVER_URL = process.env.STATGUARD_TEST_DATABASE_URL;

/**
 * Drop a throw-away test database on the server. Closed pools disconnect asynchronously, and dropping WITH (FORCE)
 * under a live session makes that client emit "terminating connection" as an unhandled error: wait (bounded, 5 s)
 * until the server sees no session on it first.
 */
export async function dropServerDatabase(admin: pg.Client, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE datname = $1', [name])).rowCount === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

export function dialects(): Dialect[] {
  const out: Dialect[] = [{ name: 'pglite', open: openPgliteStore, cleanup: async () => {} }];
  if (SERVER_URL) {
    const created: string[] = [];
    out.push({
      name: 'postgres',
      async open() {
        const name = `statguard_test_${randomBytes(6).toString('hex')}`;
        const admin = new pg.Client({ connectionString: SERVER_URL });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${name}`);
        await admin.end();
        created.push(name);
        const u = new URL(SERVER_URL);
        u.pathname = `/${name}`;
        return openStore({ databaseUrl: u.toString() });
      },
      async cleanup() {
        const admin = new pg.Client({ connectionString: SERVER_URL });
        await admin.connect();
        for (const n of created.splice(0)) await dropServerDatabase(admin, n);
        await admin.end();
      },
    });
  }
  return out;
}
