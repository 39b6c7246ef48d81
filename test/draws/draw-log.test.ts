/**
 * Attacks on finding 5 of issue 16 ("noise can be drawn until it pleases") and on the draw log that answers it:
 * every real dp or ckm draw is logged in the secure zone before the noise is drawn, manifests carry the dataset's
 * cumulative spend, and the store charges every draw at approval, published or not.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, appendFileSync, statSync, watch } from 'node:fs';
import path from 'node:path';
import { loadPolicy } from '../../engine/policy/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { previewPolicy } from '../../engine/preview/index.ts';
import { writeRelease } from '../../engine/release/write.ts';
import type { Manifest } from '../../engine/release/manifest.ts';
import { appendDraw, drawLogPath, localSigningKey, readDrawLog } from '../../engine/secure/index.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { registerSigningKey } from '../../api/store/signing-keys.ts';
import type { Store } from '../../api/store/db.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, setDatasetBudget, storeDraft } from '../../api/store/releases.ts';
import { ledgerSpent } from '../../api/store/ledger.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { tempDir } from '../tmp-dir.ts';
import { cli as cliInProcess } from '../robustness/lib/harness.ts';

const root = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(root, 'bin/statguard.js');
const officer = { caller: 'cli:test', role: 'officer' } as const;
const PUMS = path.join(root, 'policies/pums-dp.json'); // dp, rho 0.5, dataset pums-dup
const TX = path.join(root, 'policies/acs-tx-dp.json'); // dp, rho 1, dataset acs-tx-2019

/** A fresh secure zone for one test (the process-wide one is shared by the file's tests). */
function freshZone(t: { teardown(fn: () => void): void }): string {
  const dir = path.join(tempDir('sg-draws-'), 'secure');
  const before = process.env.STATGUARD_SECURE_DIR;
  process.env.STATGUARD_SECURE_DIR = dir;
  t.teardown(() => {
    process.env.STATGUARD_SECURE_DIR = before;
  });
  return dir;
}

/** A real (crypto) release of `policy`, signed with the secure zone's key as `statguard release` signs it. */
async function releaseTo(policy: string): Promise<{ dir: string; manifest: Manifest }> {
  const plan = await loadPolicy(policy);
  const run = await runRelease(plan);
  const dir = path.join(tempDir('sg-draws-out-'), plan.policyId);
  const sign = { signer: localSigningKey(), policy: new Uint8Array(readFileSync(policy)) };
  return { dir, manifest: await writeRelease(run.content, dir, { sign }) };
}

/** A store in which an officer registered this secure zone's signing key and the dp datasets these tests release. */
async function registeredStore(): Promise<Store> {
  const store = await openPgliteStore();
  await registerSigningKey(store.db, localSigningKey().publicKeyPem, 'this secure zone', officer);
  for (const id of ['pums-dup', 'acs-tx-2019'])
    await createDataset(store.db, { id, title: id, regime: 'dp' }, officer, { ifAbsent: true });
  return store;
}

t.test(
  'a dp run that is never published is charged: two runs, the second published, both draws on the ledger',
  async (t) => {
    freshZone(t);
    const first = await releaseTo(PUMS);
    const second = await releaseTo(PUMS);
    t.same(
      [
        first.manifest.spend?.draws,
        first.manifest.spend?.rho,
        second.manifest.spend?.draws,
        second.manifest.spend?.rho,
      ],
      [1, 0.5, 2, 1],
      'manifests carry the cumulative spend of the dataset',
    );
    const store = await registeredStore();
    t.teardown(() => store.close());
    const draft = await storeDraft(store.db, await loadReleaseDir(second.dir), officer);
    const approved = await approveRelease(store.db, draft.id, officer);
    const spent = (await ledgerSpent(store.db, ['pums-dup'])).get('pums-dup')!;
    t.equal(spent.rho, 1, 'the ledger holds both draws (rho 0.5 + 0.5), though only the second was published');
    t.equal(approved.budget.spentRho, 1);
    const audit = await store.db
      .selectFrom('audit_log')
      .select(['detail'])
      .where('action', '=', 'release.approve')
      .executeTakeFirstOrThrow();
    t.match(audit.detail, { rho: 1, unpublishedDraws: { rho: 0.5 } }, 'the audit row names the unpublished draws');
    // Publishing the first draw afterwards charges its own cost again (never less): the ledger never goes down.
    const late = await storeDraft(store.db, await loadReleaseDir(first.dir), officer);
    await approveRelease(store.db, late.id, officer);
    t.equal((await ledgerSpent(store.db, ['pums-dup'])).get('pums-dup')!.rho, 1.5);
  },
);

t.test('drawing until it pleases runs out: an approval whose draws exceed the total is refused', async (t) => {
  freshZone(t);
  const store = await registeredStore();
  t.teardown(() => store.close());
  await setDatasetBudget(store.db, 'pums-dup', { rho: 1.2 }, officer);
  await releaseTo(PUMS);
  await releaseTo(PUMS);
  const third = await releaseTo(PUMS); // rho 0.5 alone would fit 1.2; three draws (1.5) do not
  const draft = await storeDraft(store.db, await loadReleaseDir(third.dir), officer);
  t.match(draft.warning, /rho 1\.5 on top of 0 already spent exceeds the dataset's total rho 1\.2/, 'the draft warns');
  await t.rejects(approveRelease(store.db, draft.id, officer), { code: 'BUDGET_EXCEEDED' });
  t.equal((await ledgerSpent(store.db, ['pums-dup'])).get('pums-dup')!.rho, 0, 'nothing charged by the refusal');
});

t.test('a manifest without its spend is refused by the strict reader (crypto dp)', async (t) => {
  freshZone(t);
  const rel = await releaseTo(PUMS);
  const file = path.join(rel.dir, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  delete m.spend;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, JSON.stringify(m));
  await t.rejects(loadReleaseDir(rel.dir), /spend/);
});

function cli(args: string[]): ReturnType<typeof spawn> {
  return spawn(process.execPath, [BIN, ...args], { cwd: root, env: { ...process.env }, stdio: 'pipe' });
}

const exited = (c: ReturnType<typeof spawn>): Promise<number | null> =>
  new Promise((resolve) => c.once('exit', (code) => resolve(code)));

t.test('a release killed right after its draw is logged still has its charge', async (t) => {
  const zone = freshZone(t);
  const out = path.join(tempDir('sg-draws-kill-'), 'rel');
  const log = drawLogPath('acs-tx-2019');
  const child = cli(['release', TX, '--out', out]);
  const done = exited(child);
  // Kill on the first byte of the log line (fs.watch on the folder, and a 1 ms poll as a fallback).
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (existsSync(log) && statSync(log).size > 0) {
        child.kill('SIGKILL');
        clearInterval(poll);
        watcher.close();
        resolve();
      }
    };
    const watcher = watch(path.dirname(log), check);
    const poll = setInterval(check, 1);
    child.once('exit', (code) => {
      clearInterval(poll);
      watcher.close();
      if (!(existsSync(log) && statSync(log).size > 0)) reject(new Error(`exited ${code} without a draw log line`));
    });
  });
  await done;
  t.equal(existsSync(out), false, 'killed before anything was written (the log line comes first)');
  const { entries, spend } = readDrawLog('acs-tx-2019');
  t.equal(entries.length, 1, 'the draw is in the log');
  t.same(spend && [spend.draws, spend.rho], [1, 1]);
  t.equal(statSync(log).mode & 0o777, 0o600, 'the log is owner-only');
  t.ok(zone.length > 0);
  // The next release of the dataset carries the killed draw, and its approval charges both.
  const next = await releaseTo(TX);
  t.same([next.manifest.spend?.draws, next.manifest.spend?.rho], [2, 2]);
  const store = await registeredStore();
  t.teardown(() => store.close());
  const draft = await storeDraft(store.db, await loadReleaseDir(next.dir), officer);
  await approveRelease(store.db, draft.id, officer);
  t.equal((await ledgerSpent(store.db, ['acs-tx-2019'])).get('acs-tx-2019')!.rho, 2, 'the killed draw is charged');
});

t.test('two concurrent release runs of one dataset both count', async (t) => {
  freshZone(t);
  const base = tempDir('sg-draws-conc-');
  const outs = [path.join(base, 'a'), path.join(base, 'b')];
  const codes = await Promise.all(outs.map((o) => exited(cli(['release', PUMS, '--out', o]))));
  t.same(codes, [0, 0]);
  const { entries } = readDrawLog('pums-dup');
  t.equal(entries.length, 2, 'both draws are in the log');
  t.equal(new Set(entries.map((e) => e.pid)).size, 2, 'one per process');
  const spends = outs.map((o) => (JSON.parse(readFileSync(path.join(o, 'manifest.json'), 'utf8')) as Manifest).spend);
  t.same(
    spends.map((s) => s?.draws).sort(),
    [1, 2],
    'the later run counts the earlier one (the cumulative spends differ)',
  );
  t.same(spends.map((s) => s?.rho).sort(), [0.5, 1]);
});

t.test('previews and seeded runs draw from their own randomness and append nothing', async (t) => {
  freshZone(t);
  const plan = await loadPolicy(PUMS);
  await releaseTo(PUMS);
  t.equal(readDrawLog('pums-dup').entries.length, 1, 'a real release appends');
  const preview = await previewPolicy(plan);
  t.equal(preview.randomness.source, 'crypto');
  t.ok(preview.tables.length > 0);
  const seeded = await runRelease(plan, { seed: 'demo' });
  t.equal(seeded.content.manifest.spend, null, 'a seeded run states no spend');
  // The CLI's preview command in this process (its randomness, not the process boundary, is the subject here).
  const r = await cliInProcess(['preview', PUMS]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /./, 'the CLI preview printed its tables');
  t.equal(readDrawLog('pums-dup').entries.length, 1, 'previews (in-process and CLI) and seeded runs appended nothing');
  // sdc releases draw no noise: nothing logged.
  await runRelease(await loadPolicy(path.join(root, 'policies/tiny-sdc.json')));
  t.same(readDrawLog('tiny-enterprises').entries, []);
});

t.test('the draw log fails closed: a damaged line or wider permissions stop the next draw', async (t) => {
  freshZone(t);
  const draw = { policy: { id: 'p', sha256: 'a'.repeat(64) }, regime: 'dp', cost: { rho: 0.25, epsilon: null } };
  const s1 = appendDraw('ds', draw);
  const s2 = appendDraw('ds', { ...draw, cost: { rho: 0.125, epsilon: 0.5 } });
  t.same([s1.draws, s1.rho, s1.epsilon, s2.draws, s2.rho, s2.epsilon], [1, 0.25, 0, 2, 0.375, 0.5]);
  appendFileSync(drawLogPath('ds'), '{"v":1,"drawId":"x","cost":{"rho":-1');
  t.throws(() => appendDraw('ds', draw), { code: 'SECURE_STATE', message: /damaged at line 3/ });
  t.throws(() => readDrawLog('ds'), { code: 'SECURE_STATE' });
  appendDraw('other', draw);
  chmodSync(drawLogPath('other'), 0o644);
  t.throws(() => appendDraw('other', draw), { code: 'SECURE_STATE', message: /owner-only/ });
});
