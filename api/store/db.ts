/**
 * Opens the publication store: one Kysely<Database> over either
 * - a PostgreSQL server (pg Pool) when a database URL is given (DATABASE_URL), or
 * - embedded PGlite (PostgreSQL compiled to WASM) in a local folder
 *   (default `.statguard/db` under the working directory) or in memory.
 * The same queries, migrations and tests run on both.
 *
 * One writer: a PGlite folder is opened only under its lock (lock.ts), taken
 * before PGlite touches the folder and released by `close()`; a folder held
 * by a live process is refused with StoreHeld (STORE_LOCKED) naming it.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { ApiError } from '../errors.ts';
import { acquireLock, type LockOptions, type StoreLock } from './lock.ts';
import { MIGRATIONS, migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export interface StoreOptions {
  /** PostgreSQL connection string; when set, the server is used instead of PGlite. */
  readonly databaseUrl?: string | undefined;
  /**
   * The tables' owner on the server (DATABASE_OWNER_URL): migrations run through it, so that `databaseUrl` may be a
   * least-privilege role (store/roles.ts). Without it, pending migrations run through `databaseUrl`.
   */
  readonly ownerUrl?: string | undefined;
  /** PGlite data folder, or 'memory' for an in-memory store (tests). Default `.statguard/db`. */
  readonly dataDir?: string | undefined;
  /** Pool size for the server dialect (default 10). */
  readonly poolSize?: number;
  /** Who takes the PGlite folder's lock (default: a command named `store`). */
  readonly lock?: LockOptions;
}

export interface Store {
  readonly db: Kysely<Database>;
  readonly kind: 'pglite' | 'postgres';
  /** Where the data lives (folder, 'memory', or the server URL without password). */
  readonly location: string;
  /** The PGlite folder's lock held by this process (null for memory and PostgreSQL server stores). */
  readonly lock: StoreLock | null;
  /**
   * PGlite only (absent on a server): `COPY <target> FROM` the given CSV text, one statement committed on its own.
   * It holds the kysely driver's one PGlite connection while it runs, so it never lands inside another caller's open
   * transaction. The group-commit writer's bulk path (chain-append.ts): PGlite parses a CSV row for about two thirds
   * of the CPU of an `INSERT ... SELECT FROM unnest(...)` row with its eleven array parameters.
   */
  readonly copyCsv?: (target: string, csv: string) => Promise<void>;
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
  let lock: StoreLock | null = null;
  let copyCsv: Store['copyCsv'];
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
      await client.waitReady;
      location = 'memory';
    } else {
      location = path.resolve(dir);
      await mkdir(path.dirname(location), { recursive: true });
      lock = await acquireLock(location, opts.lock ?? { purpose: 'command', command: 'store' });
      try {
        await mkdir(location, { recursive: true });
        client = new PGlite(location);
        await client.waitReady.catch(async (e: unknown) => {
          throw await storeOpenError(location, e);
        });
      } catch (e) {
        await lock.release();
        throw e;
      }
    }
    trimParsers(client);
    const pglite = new Kysely<Database>({ dialect: new PGliteDialect(client) });
    db = pglite;
    kind = 'pglite';
    copyCsv = async (target, csv) => {
      await pglite.connection().execute(async () => {
        await client.query(`COPY ${target} FROM '/dev/blob' WITH (FORMAT csv)`, [], { blob: new Blob([csv]) });
      });
    };
  }
  const close = async (): Promise<void> => {
    try {
      await db.destroy();
    } finally {
      await lock?.release();
    }
  };
  try {
    if (opts.databaseUrl && opts.ownerUrl) {
      const owner = new Kysely<Database>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: opts.ownerUrl, max: 1 }) }),
      });
      try {
        await migrate(owner);
      } finally {
        await owner.destroy();
      }
    } else await migrate(db); // one query when current (the API role runs no DDL then)
  } catch (e) {
    await close();
    throw e;
  }
  return { db, kind, location, lock, close, ...(copyCsv ? { copyCsv } : {}) };
}

// Arrays of the common built-in types: bool, bytea, int2, int4, text, bpchar, varchar, int8, float4, float8, oid,
// timestamp, date, timestamptz, numeric, uuid, json, jsonb.
const KEPT_ARRAY_PARSERS = new Set([
  1000, 1001, 1005, 1007, 1009, 1014, 1015, 1016, 1021, 1022, 1028, 1115, 1182, 1185, 1231, 2951, 199, 3807,
]);

/**
 * PGlite copies its table of result parsers into a new object on every query (`{ ...parsers }` in its parseResults),
 * and after start-up that table holds a parser for each of the database's ~290 array types: the copy cost about 110 us
 * of CPU per query (more than a short query itself; a 316-key object with integer keys is spread slowly). The table
 * keeps PGlite's own scalar parsers and the parsers of arrays of common types; arrays of other types (none of the
 * store's columns or queries) would come back as PostgreSQL's text. Test: test/api/store-parsers.test.ts.
 */
function trimParsers(client: PGlite): void {
  client.parsers = Object.fromEntries(
    Object.entries(client.parsers).filter(([k]) => k in types.parsers || KEPT_ARRAY_PARSERS.has(Number(k))),
  );
}

/**
 * Why an embedded store folder did not open, in words naming it (PGlite itself only says "PGlite failed to
 * initialize properly"): a folder this process cannot write (read-only file system or permissions), else PGlite's
 * own reason.
 */
async function storeOpenError(location: string, e: unknown): Promise<ApiError> {
  const probe = path.join(location, `.statguard-write-probe-${process.pid}`);
  try {
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (w) {
    return new ApiError(
      'STORE_UNAVAILABLE',
      `the store folder ${location} is not writable (${(w as NodeJS.ErrnoException).code ?? (w as Error).message}): ` +
        'the embedded store needs to write its folder; fix its permissions or mount, or set STATGUARD_DATA_DIR',
    );
  }
  return new ApiError(
    'STORE_UNAVAILABLE',
    `the store folder ${location} could not be opened: ${(e as Error)?.message ?? String(e)}`,
  );
}

/**
 * Whether the store's migration record names exactly this code's migrations (one query). A missing record table, a
 * missing migration or one this code does not know answers false, and `migrate` then runs kysely's Migrator, which
 * applies what is missing or refuses a store newer than the code.
 */
export async function schemaIsCurrent(db: Kysely<Database>): Promise<boolean> {
  const known = Object.keys(MIGRATIONS).sort();
  let recorded: string[];
  try {
    const r = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
    recorded = r.rows.map((x) => x.name);
  } catch {
    return false; // no record table yet: a new store
  }
  return recorded.length === known.length && recorded.every((n, i) => n === known[i]);
}

/**
 * Apply every pending migration; throws naming the failed one. A store already current is left alone after one
 * query: the Migrator (its lock, record-table checks and a transaction, about 0.1 s of CPU on PGlite) runs only
 * when the store is behind or not what this code expects.
 */
export async function migrate(db: Kysely<Database>): Promise<void> {
  if (await schemaIsCurrent(db)) return;
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

/**
 * Store location from the environment: DATABASE_URL (a PostgreSQL server; DATABASE_OWNER_URL, when set, the owner
 * that runs the migrations) or STATGUARD_DATA_DIR (embedded).
 */
export function storeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): {
  databaseUrl?: string;
  ownerUrl?: string;
  dataDir?: string;
} {
  return {
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    ...(env.DATABASE_OWNER_URL ? { ownerUrl: env.DATABASE_OWNER_URL } : {}),
    ...(env.STATGUARD_DATA_DIR ? { dataDir: env.STATGUARD_DATA_DIR } : {}),
  };
}
