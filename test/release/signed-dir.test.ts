/**
 * What `statguard release` writes (issue 16, findings 1, 6 and the internal part of 8): a directory signed with the
 * secure zone's key, carrying the exact policy it ran, holding no exact figure of the run (those go to the secure
 * zone's internal record), and, for a seeded run, no privacy claim.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { main, type Io } from '../../cli/main.ts';
import { SEEDED_STATEMENT } from '../../engine/pipeline.ts';
import { parseRelease, verifyReleaseSignature } from '../../engine/release/index.ts';
import { keyIdOf, localSigningKey } from '../../engine/secure/signing.ts';
import { tempDir } from '../tmp-dir.ts';

const POLICY = path.resolve('policies/pums-dp.json');
const home = tempDir('sg-signed-dir-');
const secure = path.join(home, 'secure');
process.env.STATGUARD_SECURE_DIR = secure;

function capture(): Io & { text: () => string } {
  let s = '';
  return { out: (x) => void (s += x), err: (x) => void (s += x), isTty: false, text: () => s };
}

async function release(out: string, extra: string[] = []): Promise<string> {
  const io = capture();
  const code = await main(['release', POLICY, '--out', out, ...extra], io);
  t.equal(code, 0, `release exits 0 (${io.text().trim()})`);
  return io.text();
}

const readDir = (dir: string): Map<string, Buffer> =>
  new Map(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f))]));

t.test('the secure zone signing key: created once, owner-only, named by its public key', async (t) => {
  const a = localSigningKey();
  const b = localSigningKey();
  t.equal(a.keyId, b.keyId, 'the same key on every use');
  t.equal(statSync(path.join(secure, 'signing-key.pem')).mode & 0o777, 0o600, 'private key file mode 0600');
  const pub = createPublicKey(a.publicKeyPem);
  t.equal(pub.asymmetricKeyType, 'ed25519');
  t.equal(keyIdOf(pub), a.keyId);
  t.equal(
    a.keyId,
    createHash('sha256')
      .update(pub.export({ type: 'spki', format: 'der' }))
      .digest('hex')
      .slice(0, 16),
  );
  t.notMatch(a.publicKeyPem, /PRIVATE/, 'only the public key is exported');
});

t.test('release signs the directory; no exact figure of the run is in it', async (t) => {
  const out = path.join(home, 'real');
  const said = await release(out);
  const files = readDir(out);
  const manifest = JSON.parse(files.get('manifest.json')!.toString());
  const tableFiles = manifest.tables.flatMap((x: { files: Record<string, { path: string }> }) =>
    Object.values(x.files).map((f) => f.path),
  );
  t.same([...files.keys()].sort(), ['manifest.json', 'policy.json', 'signature.json', ...tableFiles].sort());
  t.same(files.get('policy.json'), readFileSync(POLICY), 'policy.json holds the exact policy bytes');
  t.equal(manifest.policy.sha256, createHash('sha256').update(readFileSync(POLICY)).digest('hex'));
  const rel = parseRelease(files);
  t.ok(rel.signed, 'signed');
  t.equal(rel.signed!.signature.keyId, localSigningKey().keyId);
  t.ok(verifyReleaseSignature(rel.signed!.signature, localSigningKey().publicKeyPem), 'the signature verifies');

  // The exact figures are in the secure zone's internal record, whose path release prints.
  const internalFile = /exact figures of the run \(secure zone only\): (\S+)/.exec(said)?.[1];
  t.ok(internalFile?.startsWith(path.join(secure, 'internal', manifest.dataset.id)), `printed: ${internalFile}`);
  t.equal(statSync(internalFile!).mode & 0o777, 0o600, 'internal record mode 0600');
  const internal = JSON.parse(readFileSync(internalFile!, 'utf8'));
  t.equal(path.basename(internalFile!), `${rel.manifestSha256}.json`, 'named by the manifest it belongs to');
  const exact: number[] = [internal.rows.read, internal.rows.afterBounding, internal.rows.units, internal.input.bytes];
  t.ok(internal.rows.read > 100, `rows read ${internal.rows.read}`);
  // Scan the directory: no exact figure in the manifest or the signature, no internal field anywhere.
  // Digests (hex) and the signature (base64) hold digit runs by chance: they are identifiers, not figures.
  const tokens = (s: string): Set<number> =>
    new Set(
      (
        s
          .replace(/\b[0-9a-f]{12,}\b/gi, '#')
          .replace(/[A-Za-z0-9+/]{40,}={0,2}/g, '#')
          .match(/-?\d+(\.\d+)?/g) ?? []
      ).map(Number),
    );
  // A number the policy itself states (a bound, a candidate spacing) is public, whatever the data: e.g. pums-dp's
  // median candidates are 1000 apart and its fixture has 1000 units. Such a figure cannot be told apart here.
  const stated = tokens(files.get('policy.json')!.toString());
  for (const name of ['manifest.json', 'signature.json']) {
    const found = tokens(files.get(name)!.toString());
    for (const n of exact) if (!stated.has(n)) t.notOk(found.has(n), `${name} does not hold the exact figure ${n}`);
  }
  t.ok(exact.filter((n) => !stated.has(n)).length >= 2, 'exact figures are checked (those the policy does not state)');
  for (const [name, bytes] of files) {
    const text = bytes.toString();
    t.notMatch(
      text,
      /"internal"|"rowsRead"|"afterBounding"|"removedByBounding"|"valuesClamped"/,
      `${name}: no internal field`,
    );
    t.notOk(text.includes(internal.input.file), `${name}: not the input's location`);
  }
  t.equal(manifest.input.sha256, internal.input.sha256, 'the fingerprint (a digest) stays in the signed manifest');
  t.match(manifest.guarantee.statement, /differential privacy/, 'a crypto release states its guarantee');
});

t.test('seeded means demo: a seeded release states no privacy guarantee', async (t) => {
  const out = path.join(home, 'seeded');
  await release(out, ['--seed', '7']);
  const files = readDir(out);
  const manifest = JSON.parse(files.get('manifest.json')!.toString());
  t.equal(manifest.randomness.source, 'seeded');
  t.equal(manifest.guarantee.statement, SEEDED_STATEMENT);
  t.equal(SEEDED_STATEMENT, 'reproducible demo noise; not private');
  t.equal(manifest.guarantee.claimed, false);
  t.notOk('rho' in manifest.guarantee || 'epsilon' in manifest.guarantee, 'no guarantee figures');
  t.match(manifest.methods[0], /Seeded run \(seed "7"\).*no privacy guarantee/, 'the mechanism is a method note only');
  for (const [name, bytes] of files) {
    if (!name.endsWith('.json') || name === 'manifest.json' || name === 'policy.json' || name === 'signature.json')
      continue;
    const js = JSON.parse(bytes.toString());
    t.equal(js.extension.statguard.privacy.guarantee, SEEDED_STATEMENT, `${name}: the JSON-stat claims nothing either`);
    t.notMatch(bytes.toString(), /differential privacy with (rho|epsilon) =|zero-concentrated/, `${name}: no DP claim`);
  }
});
