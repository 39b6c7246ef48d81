/**
 * Opens the publication store: one Kysely<Database> over either
 * - a PostgreSQL server (pg Pool) when a database URL is given (DATABASE_URL), or
 * - embedded PGlite (PostgreSQL compiled to WASM) in a local folder
 *   (default `.statguard/db` under the working directory) or in memory.
 * The same queries, migrations and tests run on both.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export interface StoreOptions {
  /** PostgreSQL connection string; when set, the server is used instead of PGlite. */
  readonly databaseUrl?: string | undefined;
  /** PGlite data folder, or 'memory' for an in-memory store (tests). Default `.statguard/db`. */
  readonly dataDir?: string | undefined;
  /** Pool size for the server dialect (default 10). */
  readonly poolSize?: number;
}

export interface Store {
  readonly db: Kysely<Database>;
  readonly kind: 'pglite' | 'postgres';
  /** Where the data lives (folder, 'memory', or the server URL without password). */
  readonly location: string;
  close(): Promise<void>;
}

export const DEFAULT_DATA_DIR = path.join('.statguard', 'db');

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres';
  }
}

export async function openStore(opts: StoreOptions = {}): Promise<Store> {
  let db: Kysely<Database>;
  let kind: Store['kind'];
  let location: string;
  if (opts.databaseUrl) {
    // Dates come back as Date, float8 as number (pg default); bigint ids are selected as text where needed.
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10 });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    kind = 'postgres';
    location = redact(opts.databaseUrl);
  } else {
    const dir = opts.dataDir ?? DEFAULT_DATA_DIR;
    let client: PGlite;
    if (dir === 'memory') {
      client = new PGlite();
      location = 'memory';
    } else {
      location = path.resolve(dir);
      await mkdir(location, { recursive: true });
      client = new PGlite(location);
    }
    db = new Kysely<Database>({ dialect: new PGliteDialect(client) });
    kind = 'pglite';
  }
  try {
    await migrate(db);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return { db, kind, location, close: () => db.destroy() };
}

/** Apply every pending migration; throws naming the failed one. */
export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`store migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
}

/** Current time as the database sees it (one clock for expiry checks across processes). */
export async function dbNow(db: Kysely<Database>): Promise<Date> {
  const r = await sql<{ now: Date }>`SELECT now() AS now`.execute(db);
  return new Date(r.rows[0]!.now);
}

/** Store location from the environment: DATABASE_URL (a PostgreSQL server) or STATGUARD_DATA_DIR (embedded). */
export function storeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): { databaseUrl?: string; dataDir?: string } {
  return {
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    ...(env.STATGUARD_DATA_DIR ? { dataDir: env.STATGUARD_DATA_DIR } : {}),
  };
}
