/**
 * Fresh embedded (PGlite) stores for tests without paying PGlite's initdb every time (not a test file).
 *
 * Why: `new PGlite()` runs initdb inside WASM (3-8 s on the 2-core CI machine, most of the time of a store test),
 * while opening an existing data folder takes about 1 s. So a migrated data folder (the template) is made once with
 * the product's own `openStore`, and each test store is a copy of it, opened again with `openStore` (which
 * finds the copy current and skips the migrator). The stores under test are real, separate PGlite databases
 * opened by the product code; only the initdb + migration of an empty database is shared. A fresh database and
 * a fresh migration are still tested where that is the subject (test/api/store.test.ts opens a new folder; the
 * PostgreSQL dialect creates and migrates a new database per store).
 *
 * The template is cached in the OS temp folder across test processes, keyed by the SHA-256 of the store's
 * schema code (api/store/db.ts, api/store/migrations.ts), the PGlite version and TEST_CONF: a change to any of them
 * makes a new template. It is published by an atomic rename after the store was closed, so a half-made template is never used;
 * two processes racing both build one and the first rename wins.
 *
 * `emptyPgliteDataDir` does the same for a bare in-memory `new PGlite()` (the SQL source tests): the data folder
 * initdb makes, taken once as a tarball, is what each `new PGlite({ loadDataDir })` starts from.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { openStore, type Store } from '../../api/store/db.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Settings appended to the template's postgresql.conf (part of the cache key). */
export const TEST_CONF = 'shared_buffers = 16MB # statguard tests (test/api/pglite-template.ts)';

/**
 * Make a test data folder smaller: drop the two template databases initdb creates (template0 and template1, 14 MB
 * and 600 of the folder's 1,045 files; the store never creates a database, and PGlite serves only `postgres`), then
 * checkpoint. Every test store is a copy of the folder, and the copy's cost is per file: 1.7 s of CPU per store open
 * before, 0.6 s after. Part of the cache key (TEMPLATE_SHAPE).
 */
async function dropTemplateDatabases(db: PGlite): Promise<void> {
  await db.exec(`UPDATE pg_database SET datistemplate = false WHERE datname IN ('template0', 'template1')`);
  await db.exec('DROP DATABASE template0');
  await db.exec('DROP DATABASE template1');
  await db.exec('CHECKPOINT');
}
const TEMPLATE_SHAPE = 'no template databases; copied by copyTree';

/**
 * Copy a data folder: one directory listing, then every file by copyFile (the kernel copies the bytes) at once.
 * node's `fs.cp` checks each entry in JavaScript first and costs about twice the CPU on a data folder.
 */
async function copyTree(from: string, to: string): Promise<void> {
  const entries = await readdir(from, { recursive: true, withFileTypes: true });
  const rel = (e: { parentPath: string; name: string }) => path.relative(from, path.join(e.parentPath, e.name));
  await mkdir(to, { recursive: true });
  for (const d of entries
    .filter((e) => e.isDirectory())
    .map(rel)
    .sort())
    await mkdir(path.join(to, d), { recursive: true });
  await Promise.all(
    entries.filter((e) => e.isFile()).map((e) => copyFile(path.join(from, rel(e)), path.join(to, rel(e)))),
  );
}

/**
 * The hash naming the migrated templates of this code version: the store's schema code, the PGlite version and the
 * template's shape. test/api/dialects.ts names its PostgreSQL template database by it too.
 */
export async function templateKey(): Promise<string> {
  const h = createHash('sha256').update(TEST_CONF).update(TEMPLATE_SHAPE);
  for (const f of [
    'api/store/db.ts',
    'api/store/migrations.ts',
    'api/store/chain-sql.ts',
    'api/store/chain-batch-sql.ts',
    'api/store/chain-settle-sql.ts',
    'api/store/contracts-sql.ts',
    'api/store/statement-migration.ts',
    'node_modules/@electric-sql/pglite/package.json',
  ]) {
    h.update(f)
      .update('\0')
      .update(await readFile(path.join(ROOT, f)))
      .update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

let template: Promise<string> | undefined;

/** The migrated template data folder (made on first use, then reused by every test process on this machine). */
function templateDir(): Promise<string> {
  template ??= (async () => {
    const dir = path.join(os.tmpdir(), `statguard-test-pglite-${await templateKey()}`);
    if (
      await stat(path.join(dir, 'PG_VERSION')).then(
        () => true,
        () => false,
      )
    )
      return dir;
    const building = `${dir}.building-${process.pid}-${randomBytes(4).toString('hex')}`;
    const s = await openStore({ dataDir: building });
    await s.close();
    const raw = new PGlite(building);
    await dropTemplateDatabases(raw);
    await raw.close();
    // A smaller buffer cache for test stores: PGlite keeps PostgreSQL's default shared_buffers = 128MB, and
    // initialising it inside WASM costs about 1 s of CPU on every open (every CLI command of a test opens its store);
    // 16MB halves the open cost and is far more than test data needs. Caching only: query results are the same.
    await appendFile(path.join(building, 'postgresql.conf'), `\n${TEST_CONF}\n`);
    try {
      await rename(building, dir);
    } catch {
      // Another process published its template first: use that one.
      await rm(building, { recursive: true, force: true });
    }
    return dir;
  })();
  return template;
}

/** A new folder holding a copy of the migrated template (for `openStore({ dataDir })` or `STATGUARD_DATA_DIR`). */
export async function freshPgliteDir(parent?: string): Promise<string> {
  const src = await templateDir();
  const dest = parent ? path.join(parent, 'db') : path.join(os.tmpdir(), `sg-pglite-${randomBytes(6).toString('hex')}`);
  await mkdir(path.dirname(dest), { recursive: true });
  await copyTree(src, dest);
  return dest;
}

/**
 * A fresh, empty, migrated embedded store (in place of `openStore({ dataDir: 'memory' })`): a copy of the template
 * opened by `openStore`; `close()` also deletes the copy.
 */
export async function openPgliteStore(): Promise<Store> {
  return openStoreCopy(await templateDir());
}

/** A store opened on a new copy of the data folder `src` (closed, not in use); `close()` also deletes the copy. */
export async function openStoreCopy(src: string): Promise<Store> {
  const dir = path.join(os.tmpdir(), `sg-pglite-${randomBytes(6).toString('hex')}`);
  await copyTree(src, dir);
  const s = await openStore({ dataDir: dir });
  return {
    ...s,
    close: async () => {
      await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let emptyTar: Promise<Blob> | undefined;

/**
 * The data folder of a fresh in-memory `new PGlite()` (initdb's output: no schema, default settings) as a tarball,
 * for `new PGlite({ loadDataDir })`: the same empty database without running initdb again (5-6 s of CPU inside WASM).
 * Made by a `new PGlite()` (checkpointed, then dumped as PGlite's own clone() does), cached in the OS temp folder
 * keyed by the PGlite version, published by an atomic rename.
 */
export function emptyPgliteDataDir(): Promise<Blob> {
  emptyTar ??= (async () => {
    const version = await readFile(path.join(ROOT, 'node_modules/@electric-sql/pglite/package.json'));
    const key = createHash('sha256')
      .update('empty in-memory PGlite\0')
      .update(TEMPLATE_SHAPE)
      .update(version)
      .digest('hex')
      .slice(0, 16);
    const file = path.join(os.tmpdir(), `statguard-test-pglite-empty-${key}.tar`);
    const cached = await readFile(file).catch(() => null);
    if (cached) return new Blob([cached]);
    const db = new PGlite();
    await dropTemplateDatabases(db);
    const tar = await db.dumpDataDir('none');
    await db.close();
    const building = `${file}.building-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(building, Buffer.from(await tar.arrayBuffer()));
    await rename(building, file); // atomic; a racing process publishes the same bytes
    return tar;
  })();
  return emptyTar;
}
