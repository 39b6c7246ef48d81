/**
 * `statguard audit verify` and `statguard audit checkpoint` directly on an embedded store (issue 17): an intact
 * store verifies (exit 0) and its checkpoint is written; after a row is deleted behind the store's back (triggers
 * off, as the tables' owner could), verify exits 1 naming the row and what is wrong, with or without the
 * checkpoint, and no checkpoint is issued for the broken chain. Through a serving process: test/api/one-writer.test.ts.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import t from 'tap';
import { openStore } from '../../api/store/db.ts';
import { lendCommandStore } from '../../cli/store-commands.ts';
import { cli } from '../robustness/lib/harness.ts';
import { seedReleases, tmpDir } from './fixtures.ts';
import { freshPgliteDir } from './pglite-template.ts';

t.test('audit verify and checkpoint on the embedded store', async (t) => {
  const dir = await tmpDir('sg-audit-cli-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const data = await freshPgliteDir(dir);
  const env = { STATGUARD_DATA_DIR: data, DATABASE_URL: undefined };
  // The commands use this open store (lendCommandStore: the same queries, without reopening the folder each time).
  const store = await openStore({ dataDir: data });
  lendCommandStore(store);
  t.teardown(async () => {
    lendCommandStore(null);
    await store.close();
  });
  await seedReleases(store.db, { caller: 'cli:test', role: 'officer' }, 'withdrawn');

  const cpFile = path.join(dir, 'cp.json');
  let r = await cli(['audit', 'checkpoint', '--out', cpFile], env);
  t.equal(r.code, 0, r.err);
  const cp = JSON.parse(await readFile(cpFile, 'utf8'));
  t.equal(cp.format, 'statguard-chain-checkpoint-v1');
  t.ok(cp.chains.audit_log.count > 3);
  r = await cli(['audit', 'verify'], env);
  t.equal(r.code, 0, r.out + r.err);
  t.match(r.out, /budget_ledger: ok, \d+ rows/);

  const victim = (await sql<{ id: string }>`SELECT id::text AS id FROM audit_log WHERE seq = 2`.execute(store.db))
    .rows[0]!.id;
  await sql.raw('ALTER TABLE audit_log DISABLE TRIGGER USER').execute(store.db);
  await sql.raw(`DELETE FROM audit_log WHERE id = ${victim}`).execute(store.db);

  r = await cli(['audit', 'verify'], env);
  t.equal(r.code, 1, 'a broken chain exits 1');
  t.match(r.out, /audit_log: BROKEN at row \d+: row \d+ has seq 3, expected 2: row\(s\) 2\.\.2 deleted/);
  t.match(r.out, /budget_ledger: ok/);
  r = await cli(['audit', 'verify', '--checkpoint', cpFile], env);
  t.equal(r.code, 1);
  r = await cli(['audit', 'checkpoint'], env);
  t.equal(r.code, 1, 'no checkpoint of a broken chain');
  t.match(r.err, /AUDIT_CHAIN_BROKEN: audit_log: row \d+ has seq 3/);
  t.equal((await cli(['audit', 'verify', '--out', cpFile], env)).code, 2, '--out belongs to checkpoint');
  t.equal((await cli(['audit', 'verify', '--checkpoint', path.join(dir, 'nope.json')], env)).code, 2);
});
