/**
 * Issue 16, findings 1, 2 and 6, attacked as an attacker would: forged release directories, a second signing key,
 * a renamed dataset, an understated cost, a seeded release on a real dataset. Each attack is refused before anything
 * is stored (checked: no release row, no ledger entry).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { build } from '../../api/app.ts';
import type { ApiError } from '../../api/errors.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';
import { registerSigningKey, revokeSigningKey } from '../../api/store/signing-keys.ts';
import { payloadOf, signatureFileText } from '../../engine/release/signature.ts';
import type { Manifest } from '../../engine/release/manifest.ts';
import { generateSigningKey } from '../../engine/secure/signing.ts';
import { dialects } from './dialects.ts';
import { makeRelease, registerFixtures, SECRET } from './fixtures.ts';

const officer: Actor = { caller: 'cli:test', role: 'officer' };
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    return (e as ApiError).code ?? String(e);
  }
}

/**
 * The forgery of finding 1: the primary-suppressed cell (N1, 2) of `pop` edited to status F carrying SECRET, in the
 * JSON-stat and the CSV, and every checksum, size and count of the manifest recomputed. Returns the forged manifest.
 */
async function forge(dir: string): Promise<Manifest> {
  const jf = path.join(dir, 'pop.json');
  const js = JSON.parse(await readFile(jf, 'utf8'));
  const i = (js.value as (number | null)[]).findIndex(
    (v, k) => v === null && js.extension.statguard.confStatus[k] === 'A',
  );
  js.value[i] = SECRET;
  js.extension.statguard.confStatus[i] = 'F';
  const jsonText = `${JSON.stringify(js, null, 1)}\n`;
  await writeFile(jf, jsonText);
  const cf = path.join(dir, 'pop.csv');
  const lines = (await readFile(cf, 'utf8')).split('\n');
  const header = lines[0]!.split(',');
  const row = lines[i + 1]!.split(',');
  row[header.indexOf('value')] = String(SECRET);
  row[header.indexOf('conf_status')] = 'F';
  lines[i + 1] = row.join(',');
  const csvText = lines.join('\n');
  await writeFile(cf, csvText);
  const mf = path.join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(mf, 'utf8')) as Manifest & { tables: { suppressed: number; files: any }[] };
  m.tables[0]!.suppressed -= 1;
  m.tables[0]!.files.jsonstat = { path: 'pop.json', sha256: sha(jsonText), bytes: Buffer.byteLength(jsonText) };
  m.tables[0]!.files.csv = { path: 'pop.csv', sha256: sha(csvText), bytes: Buffer.byteLength(csvText) };
  await writeFile(mf, `${JSON.stringify(m, null, 2)}\n`);
  return m;
}

/** Re-sign a directory as it now is with `key` (an attacker's own key pair). */
async function resign(dir: string, key: ReturnType<typeof generateSigningKey>): Promise<void> {
  const mtext = await readFile(path.join(dir, 'manifest.json'));
  const policy = await readFile(path.join(dir, 'policy.json'));
  const payload = payloadOf(mtext, new Uint8Array(policy), JSON.parse(mtext.toString()) as Manifest);
  await writeFile(path.join(dir, 'signature.json'), signatureFileText(payload, key));
}

for (const d of dialects()) {
  t.test(`signed releases and registered datasets on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;
    await registerFixtures(db, officer);
    const stored = async (): Promise<number> => (await db.selectFrom('releases').select('id').execute()).length;
    const ledger = async (): Promise<number> => (await db.selectFrom('budget_ledger').select('id').execute()).length;

    await t.test(
      'finding 1: a forged directory (suppressed cell edited to F, checksums recomputed) is refused',
      async (t) => {
        const { dir } = await makeRelease({ policyId: 'forged' });
        await forge(dir);
        t.equal(await code(loadReleaseDir(dir).then((r) => storeDraft(db, r, officer))), 'SIGNATURE_INVALID');
        // Without the signature (as the old store accepted it): refused as unsigned.
        const unsigned = await makeRelease({ policyId: 'forged-unsigned', signer: null });
        await forge(unsigned.dir);
        t.equal(await code(loadReleaseDir(unsigned.dir).then((r) => storeDraft(db, r, officer))), 'RELEASE_UNSIGNED');
        t.equal(await stored(), 0, 'nothing stored');
      },
    );

    await t.test(
      'finding 1: the forgery re-signed with an unregistered key is refused; a revoked key too',
      async (t) => {
        const { dir } = await makeRelease({ policyId: 'resigned' });
        await forge(dir);
        const attacker = generateSigningKey();
        await resign(dir, attacker);
        t.equal(await code(loadReleaseDir(dir).then((r) => storeDraft(db, r, officer))), 'SIGNING_KEY_UNKNOWN');
        // A key an officer registered and later revoked signs nothing any more.
        const old = generateSigningKey();
        const reg = await registerSigningKey(db, old.publicKeyPem, 'old zone', officer);
        const byOld = await makeRelease({ policyId: 'by-old', signer: old });
        await revokeSigningKey(db, reg.id, officer);
        t.equal(await code(loadReleaseDir(byOld.dir).then((r) => storeDraft(db, r, officer))), 'SIGNING_KEY_REVOKED');
        t.equal(await code(registerSigningKey(db, old.publicKeyPem, 'again', officer)), 'SIGNING_KEY_REVOKED');
        t.equal(await stored(), 0, 'nothing stored');
      },
    );

    await t.test(
      'finding 2: a renamed dataset.id (same microdata) and an unregistered dataset are refused',
      async (t) => {
        const input = sha('the same microdata file');
        const first = await makeRelease({ policyId: 'first', datasetId: 'census', rho: 0.5, inputSha: input });
        const r1 = await storeDraft(db, await loadReleaseDir(first.dir), officer);
        // Even registered under a new name, the same input keeps its dataset (and its budget).
        await createDataset(db, { id: 'census-renamed', title: 'Renamed', regime: 'dp' }, officer);
        const renamed = await makeRelease({
          policyId: 'renamed',
          datasetId: 'census-renamed',
          rho: 0.5,
          inputSha: input,
        });
        t.equal(await code(loadReleaseDir(renamed.dir).then((r) => storeDraft(db, r, officer))), 'INPUT_OTHER_DATASET');
        const unregistered = await makeRelease({ policyId: 'nobody', datasetId: 'nobody-registered', rho: 0.5 });
        t.equal(
          await code(loadReleaseDir(unregistered.dir).then((r) => storeDraft(db, r, officer))),
          'DATASET_NOT_REGISTERED',
        );
        t.notOk(await db.selectFrom('datasets').select('id').where('id', '=', 'nobody-registered').executeTakeFirst());
        // Exact sdc tables of a dataset registered for dp are refused at publish, not only at approval.
        const exact = await makeRelease({ policyId: 'exact', datasetId: 'census' });
        t.equal(await code(loadReleaseDir(exact.dir).then((r) => storeDraft(db, r, officer))), 'REGIME_CONFLICT');
        t.equal(await stored(), 1, 'only the first release stored');
        t.equal(r1.id, 'first-v1');
      },
    );

    await t.test('finding 2: an understated budget.rho cannot lower the charge', async (t) => {
      // Edited after signing: the signature breaks.
      const edited = await makeRelease({ policyId: 'cheap-edit', datasetId: 'shared', rho: 0.5 });
      const mf = path.join(edited.dir, 'manifest.json');
      const m = JSON.parse(await readFile(mf, 'utf8'));
      m.budget.rho = 0.0001;
      await writeFile(mf, `${JSON.stringify(m, null, 2)}\n`);
      t.equal(await code(loadReleaseDir(edited.dir).then((r) => storeDraft(db, r, officer))), 'SIGNATURE_INVALID');
      // Validly signed, but the manifest states less than its signed policy plans: refused.
      const signed = await makeRelease({
        policyId: 'cheap-signed',
        datasetId: 'shared',
        rho: 0.5,
        statedBudget: { rho: 0.0001, epsilon: 1, delta: 1e-10 },
      });
      t.equal(await code(loadReleaseDir(signed.dir)), 'RELEASE_MISMATCH');
      // The charge is the plan's: rho 0.5.
      const honest = await makeRelease({ policyId: 'honest', datasetId: 'shared', rho: 0.5 });
      const rel = await loadReleaseDir(honest.dir);
      t.same(rel.signed.cost, { rho: 0.5, epsilon: null });
      const r = await storeDraft(db, rel, officer);
      const before = await ledger();
      await approveRelease(db, r.id, officer);
      const entry = await db
        .selectFrom('budget_ledger')
        .selectAll()
        .where('release_id', '=', r.id)
        .executeTakeFirstOrThrow();
      t.equal(entry.rho, 0.5, 'charged the plan cost');
      t.equal(await ledger(), before + 1);
    });

    await t.test('finding 6: a seeded release is refused on a non-demo dataset, accepted on a demo one', async (t) => {
      // The policy's own demo flag no longer decides.
      const real = await makeRelease({
        policyId: 'seeded-real',
        datasetId: 'census',
        rho: 0.1,
        seeded: true,
        demo: true,
      });
      t.equal(await code(loadReleaseDir(real.dir).then((r) => storeDraft(db, r, officer))), 'RELEASE_SEEDED');
      const demo = await makeRelease({ policyId: 'seeded-demo', datasetId: 'demo-dp', rho: 0.1, seeded: true });
      const r = await storeDraft(db, await loadReleaseDir(demo.dir), officer);
      t.equal(r.id, 'seeded-demo-v1', 'a demo dataset accepts a seeded release');
    });

    await t.test('the upload route and the officer routes: same refusals as problem+json; audited', async (t) => {
      const app = await build({ store, config: { rateLimit: null } });
      t.teardown(() => app.close());
      const key = (await createKey(db, 'officer', 'Olga', officer)).key;
      const researcher = (await createKey(db, 'researcher', 'Rex', officer)).key;
      const headers = { authorization: `Bearer ${key}` };
      const { dir } = await makeRelease({ policyId: 'upload-forged' });
      await forge(dir);
      const files: Record<string, string> = {};
      for (const f of ['manifest.json', 'policy.json', 'signature.json', 'pop.csv', 'pop.json'])
        files[f] = await readFile(path.join(dir, f), 'utf8');
      let res = await app.inject({ method: 'POST', url: '/v1/admin/releases', headers, payload: { files } });
      t.equal(res.statusCode, 422);
      t.match(res.headers['content-type'], /application\/problem\+json/);
      t.equal(JSON.parse(res.body).code, 'SIGNATURE_INVALID');
      t.notMatch(res.body, String(SECRET), 'the forged value is not echoed');
      delete files['signature.json'];
      res = await app.inject({ method: 'POST', url: '/v1/admin/releases', headers, payload: { files } });
      t.equal(JSON.parse(res.body).code, 'RELEASE_UNSIGNED');

      res = await app.inject({
        method: 'POST',
        url: '/v1/admin/datasets',
        headers,
        payload: { id: 'survey', title: 'Survey', regime: 'dp', rho: 2 },
      });
      t.equal(res.statusCode, 201);
      t.same(JSON.parse(res.body), {
        id: 'survey',
        title: 'Survey',
        regime: 'dp',
        demo: false,
        totalRho: 2,
        totalEpsilon: 10,
      });
      res = await app.inject({
        method: 'POST',
        url: '/v1/admin/datasets',
        headers: { authorization: `Bearer ${researcher}` },
        payload: { id: 'mine', title: 'Mine', regime: 'sdc' },
      });
      t.equal(res.statusCode, 403, 'only an officer registers a dataset');
      res = await app.inject({
        method: 'POST',
        url: '/v1/admin/datasets',
        headers,
        payload: { id: 'survey', title: 'x', regime: 'sdc' },
      });
      t.equal(JSON.parse(res.body).code, 'DATASET_EXISTS');

      const other = generateSigningKey();
      res = await app.inject({
        method: 'POST',
        url: '/v1/admin/signing-keys',
        headers,
        payload: { publicKey: other.publicKeyPem, name: 'second zone' },
      });
      t.equal(res.statusCode, 201);
      t.equal(JSON.parse(res.body).id, other.keyId);
      res = await app.inject({
        method: 'POST',
        url: '/v1/admin/signing-keys',
        headers,
        payload: { publicKey: 'nope', name: 'x' },
      });
      t.equal(JSON.parse(res.body).code, 'SIGNING_KEY_INVALID');
      res = await app.inject({ method: 'POST', url: `/v1/admin/signing-keys/${other.keyId}/revoke`, headers });
      t.equal(res.statusCode, 200);
      res = await app.inject({ url: '/v1/admin/signing-keys', headers });
      const listed = JSON.parse(res.body).items.find((k: { id: string }) => k.id === other.keyId);
      t.ok(listed.revokedAt, 'revocation listed');
      const actions = (await db.selectFrom('audit_log').select(['action', 'outcome']).execute()).map(
        (a) => `${a.action}:${a.outcome}`,
      );
      for (const a of ['dataset.create:ok', 'signing-key.register:ok', 'signing-key.revoke:ok'])
        t.ok(actions.includes(a), `audited ${a}`);
    });
  });
}
