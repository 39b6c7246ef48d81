import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runApiCommand } from '../../cli/store-commands.ts';
import { lendStore } from '../lend-store.ts';
import { openStore, storeOptionsFromEnv } from '../../api/store/db.ts';
import { start } from '../../api/start.ts';
import { withdrawRelease } from '../../api/store/releases.ts';
import { localSigningKey } from '../../engine/secure/signing.ts';
import { makeRelease, TEST_SIGNER, tmpDir } from './fixtures.ts';
import { freshPgliteDir } from './pglite-template.ts';

function io() {
  const o = {
    out: '',
    err: '',
    isTty: false,
    outFn: (s: string) => {
      o.out += s;
    },
    errFn: (s: string) => {
      o.err += s;
    },
  };
  return {
    get out() {
      return o.out;
    },
    get err() {
      return o.err;
    },
    io: { out: o.outFn, err: o.errFn, isTty: false },
  };
}

t.test('CLI: publish, approve, withdraw, keys, contracts, budgets on an embedded store', async (t) => {
  const dir = await tmpDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const saved = { d: process.env.STATGUARD_DATA_DIR, u: process.env.DATABASE_URL };
  // An empty migrated embedded store (a copy of the template: no initdb per test); every command opens it itself.
  process.env.STATGUARD_DATA_DIR = await freshPgliteDir(dir);
  delete process.env.DATABASE_URL;
  t.teardown(() => {
    if (saved.d === undefined) delete process.env.STATGUARD_DATA_DIR;
    else process.env.STATGUARD_DATA_DIR = saved.d;
    if (saved.u !== undefined) process.env.DATABASE_URL = saved.u;
  });
  // The store the environment names, opened once and lent to the commands (each would open it again: ~1 s each).
  const lent = await openStore(storeOptionsFromEnv());
  const giveBack = lendStore(t, lent);
  t.equal(await runApiCommand('frobnicate', [], io().io), undefined, 'unknown commands are left to the caller');
  const rel = await makeRelease({ rho: 2, audience: 'contract' });
  let c = io();
  t.equal(await runApiCommand('publish', [rel.dir], c.io), 1, 'unknown signing key');
  t.match(c.err, /SIGNING_KEY_UNKNOWN/);
  const pem = path.join(dir, 'zone.pem');
  await writeFile(pem, TEST_SIGNER.publicKeyPem);
  c = io();
  t.equal(await runApiCommand('signing-keys', ['register', '--pem', pem, '--name', 'test zone'], c.io), 0);
  t.match(c.out, new RegExp(`signing key ${TEST_SIGNER.keyId} registered`));
  t.equal(await runApiCommand('signing-keys', ['register'], io().io), 2, 'usage: --pem or --local');
  c = io();
  t.equal(await runApiCommand('publish', [rel.dir], c.io), 1, 'unregistered dataset');
  t.match(c.err, /DATASET_NOT_REGISTERED/);
  c = io();
  t.equal(await runApiCommand('datasets', ['create', 'census', '--title', 'Census', '--regime', 'dp'], c.io), 0);
  t.match(c.out, /dataset census registered: regime dp/);
  t.equal(await runApiCommand('datasets', ['create', 'x', '--regime', 'dp'], io().io), 2, 'usage: --title');
  c = io();
  t.equal(await runApiCommand('datasets', ['create', 'census', '--title', 'Again', '--regime', 'sdc'], c.io), 1);
  t.match(c.err, /DATASET_EXISTS/);
  c = io();
  t.equal(await runApiCommand('signing-keys', ['list'], c.io), 0);
  t.match(c.out, new RegExp(`^${TEST_SIGNER.keyId}\ttest zone`));
  c = io();
  t.equal(await runApiCommand('publish', [rel.dir], c.io), 0);
  t.match(c.out, /draft pop-v1 stored/);
  c = io();
  t.equal(await runApiCommand('datasets', ['set-budget', 'census', '--rho', '1'], c.io), 0);
  c = io();
  t.equal(await runApiCommand('approve', ['pop-v1'], c.io), 1, 'over budget');
  t.match(c.err, /BUDGET_EXCEEDED/);
  await runApiCommand('datasets', ['set-budget', 'census', '--rho', '4'], io().io);
  c = io();
  t.equal(await runApiCommand('approve', ['pop-v1'], c.io), 0);
  t.match(c.out, /published; dataset budget spent: rho 2 of 4/);
  c = io();
  t.equal(await runApiCommand('keys', ['create', '--role', 'researcher', '--name', 'Rex'], c.io), 0);
  const key = c.out.trim();
  t.match(key, /^sg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, 'the key is printed once on stdout');
  const keyId = key.split('_')[1]!;
  t.equal(await runApiCommand('keys', ['create', '--role', 'admin', '--name', 'X'], io().io), 1, 'unknown role');
  t.equal(await runApiCommand('keys', ['create', '--role', 'officer'], io().io), 2, 'usage');
  c = io();
  t.equal(
    await runApiCommand(
      'contracts',
      ['create', '--key', keyId, '--release', 'pop-v1', '--expires', '2099-01-01'],
      c.io,
    ),
    0,
  );
  t.match(c.out, /may read pop-v1/);
  c = io();
  t.equal(await runApiCommand('withdraw', ['pop-v1'], c.io), 2, '--reason is required');
  t.equal(await runApiCommand('withdraw', ['pop-v1', '--reason', 'wrong input file'], io().io), 0);
  t.equal(await runApiCommand('publish', [path.join(dir, 'missing')], io().io), 1);
  // Nothing of the key is stored in clear; the audit names the CLI user. Read from the folder opened anew.
  await giveBack();
  const store = await openStore({ dataDir: path.join(dir, 'db') });
  t.teardown(() => store.close());
  const k = await store.db.selectFrom('api_keys').selectAll().execute();
  t.equal(k.length, 1);
  t.notMatch(JSON.stringify(k), key.split('_').slice(2).join('_'));
  const actions = await store.db.selectFrom('audit_log').select(['action', 'caller']).orderBy('id').execute();
  t.same(
    actions.map((a) => a.action),
    [
      'signing-key.register',
      'dataset.create',
      'release.publish',
      'dataset.set-budget',
      'dataset.set-budget',
      'release.approve',
      'key.create',
      'contract.create',
      'release.withdraw',
    ],
  );
  t.ok(actions.every((a) => a.caller.startsWith('cli:')));
});

t.test('start: publishes once, serves, second start reuses the store', async (t) => {
  const dir = await tmpDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await freshPgliteDir(dir); // dir/db: an empty migrated embedded store, as a first start leaves it before publishing
  // The secure zone of this start: its signing key signs the example releases and is registered by the first start.
  const savedSecure = process.env.STATGUARD_SECURE_DIR;
  process.env.STATGUARD_SECURE_DIR = path.join(dir, 'secure');
  t.teardown(() => {
    if (savedSecure === undefined) delete process.env.STATGUARD_SECURE_DIR;
    else process.env.STATGUARD_SECURE_DIR = savedSecure;
  });
  const signer = localSigningKey();
  const a = await makeRelease({ policyId: 'demo-a', seeded: true, demo: true, signer });
  const b = await makeRelease({ policyId: 'demo-b', seeded: true, demo: true, rho: 1, signer });
  let log = '';
  const s1 = await start({
    releaseDirs: [a.dir, b.dir],
    dataDir: path.join(dir, 'db'),
    port: 0,
    log: (s) => {
      log += s;
    },
  });
  t.same([...s1.published].sort(), ['demo-a-v1', 'demo-b-v1']);
  t.match(log, /docs: {4}http:\/\/127\.0\.0\.1:\d+\/docs/);
  const res = await fetch(`${s1.url}/v1/releases`);
  t.equal(((await res.json()) as { total: number }).total, 2);
  await s1.close();
  // Re-releasing the same policy on the same input (a new manifest) is recognised too.
  const a2 = await makeRelease({ policyId: 'demo-a', seeded: true, demo: true, signer });
  const s2 = await start({ releaseDirs: [a2.dir, b.dir], dataDir: path.join(dir, 'db'), port: 0, log: () => {} });
  t.same(s2.published, []);
  t.same([...s2.reused].sort(), ['demo-a-v1', 'demo-b-v1']);
  t.equal((await s2.store.db.selectFrom('releases').select('id').execute()).length, 2, 'no duplicates');
  // The first start registered the secure zone's key and the example datasets (as demos), audited, once.
  const audit = await s2.store.db.selectFrom('audit_log').select(['action', 'target', 'caller']).execute();
  const reg = audit.filter((x) => x.action === 'signing-key.register' || x.action === 'dataset.create');
  t.same(reg.map((x) => `${x.action} ${x.target}`).sort(), [
    'dataset.create census',
    'dataset.create census-sdc',
    `signing-key.register ${signer.keyId}`,
  ]);
  t.ok(reg.every((x) => x.caller.startsWith('system:start')));
  const ds = await s2.store.db.selectFrom('datasets').select(['id', 'regime', 'demo']).orderBy('id').execute();
  t.same(ds, [
    { id: 'census', regime: 'dp', demo: true },
    { id: 'census-sdc', regime: 'sdc', demo: true },
  ]);
  // An officer withdraws an example release: the next start neither fails on it nor publishes it again (issue 19).
  await withdrawRelease(s2.store.db, 'demo-b-v1', 'withdrawn by an officer', { caller: 'cli:test', role: 'officer' });
  await s2.close();
  const s3 = await start({ releaseDirs: [a2.dir, b.dir], dataDir: path.join(dir, 'db'), port: 0, log: () => {} });
  t.same(s3.published, [], 'nothing published again');
  const rows = await s3.store.db.selectFrom('releases').select(['id', 'status']).orderBy('id').execute();
  t.same(rows, [
    { id: 'demo-a-v1', status: 'published' },
    { id: 'demo-b-v1', status: 'withdrawn' },
  ]);
  await s3.close();
});
