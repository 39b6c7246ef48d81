/**
 * Release signatures: what `statguard release` signs in the secure zone and what the store verifies.
 *
 * The signed payload is canonical JSON (fixed key order, files sorted by name) of the SHA-256 of manifest.json, the
 * SHA-256 of policy.json (the exact bytes of the policy the release ran, also named by the manifest's
 * `policy.sha256`) and every table file's name and SHA-256. `signature.json` holds the signer's key id, the payload
 * and the Ed25519 signature of the payload's bytes.
 *
 * Guarantee: `releaseSignatureOf` recomputes the payload from the bytes actually present (never from signature.json),
 * so a signature verifies only if no signed file changed: editing a table file and recomputing the manifest's
 * checksums changes the manifest's digest; re-signing needs a private key whose public key the store has registered.
 * A missing signature.json or policy.json, a policy.json other than the one the manifest names, or a payload in
 * signature.json other than the files present is a ReleaseInvalid (reason `unsigned` or `signature`).
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import type { Manifest } from './manifest.ts';
import { bad, isObj } from './read-check.ts';

export const SIGNATURE_FILE = 'signature.json';
export const POLICY_FILE = 'policy.json';
export const SIGNATURE_VERSION = 1;

/** Who signs: a key id and an Ed25519 signature function (engine/secure/signing.ts `SigningKey`). */
export interface Signer {
  readonly keyId: string;
  signWith(data: Uint8Array): string;
}

/** What a signature covers: digests only. */
export interface SignedPayload {
  readonly manifest: string;
  readonly policy: string;
  readonly files: readonly { readonly name: string; readonly sha256: string }[];
}

/** A release's signature, checked against the files present; `verifyReleaseSignature` checks it with a public key. */
export interface ReleaseSignature {
  readonly keyId: string;
  readonly payload: SignedPayload;
  /** Base64 Ed25519 signature of `canonicalPayload(payload)`. */
  readonly signature: string;
}

const sha256 = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The bytes that are signed: canonical JSON of the payload (fixed key order, files sorted by name). */
export function canonicalPayload(p: SignedPayload): Uint8Array {
  const files = [...p.files]
    .map((f) => ({ name: f.name, sha256: f.sha256 }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return new Uint8Array(
    Buffer.from(
      JSON.stringify({ statguardRelease: SIGNATURE_VERSION, manifest: p.manifest, policy: p.policy, files }),
      'utf8',
    ),
  );
}

/** The payload of a rendered release: its manifest text, its policy bytes and its table files. */
export function payloadOf(manifestText: string | Uint8Array, policy: Uint8Array, manifest: Manifest): SignedPayload {
  return {
    manifest: sha256(manifestText),
    policy: sha256(policy),
    files: manifest.tables.flatMap((t) => [
      { name: t.files.csv.path, sha256: t.files.csv.sha256 },
      { name: t.files.jsonstat.path, sha256: t.files.jsonstat.sha256 },
      ...(t.files.noisy ? [{ name: t.files.noisy.path, sha256: t.files.noisy.sha256 }] : []),
    ]),
  };
}

/** The text of signature.json for a payload, signed by `signer`. */
export function signatureFileText(payload: SignedPayload, signer: Signer): string {
  const file = {
    signatureVersion: SIGNATURE_VERSION,
    algorithm: 'ed25519',
    keyId: signer.keyId,
    signed: { manifest: payload.manifest, policy: payload.policy, files: payload.files },
    signature: signer.signWith(canonicalPayload(payload)),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/**
 * The signature of a release whose manifest and table files the reader already checked: the payload recomputed from
 * the files present, the key id and signature from signature.json. Throws ReleaseInvalid when it is unsigned, when
 * policy.json is not the policy the manifest names, or when signature.json does not cover exactly these files.
 */
export function releaseSignatureOf(
  files: ReadonlyMap<string, string | Buffer>,
  manifest: Manifest,
): { signature: ReleaseSignature; policy: Buffer } {
  const sigText = files.get(SIGNATURE_FILE);
  if (sigText === undefined)
    bad(SIGNATURE_FILE, 'missing: the release is not signed (run `statguard release` in the secure zone)', {
      reason: 'unsigned',
    });
  const policyText = files.get(POLICY_FILE);
  if (policyText === undefined)
    bad(POLICY_FILE, 'missing: a signed release carries the exact policy it ran', { reason: 'unsigned' });
  const policy = Buffer.isBuffer(policyText) ? policyText : Buffer.from(policyText);
  if (sha256(policy) !== manifest.policy.sha256)
    bad(POLICY_FILE, `SHA-256 does not match the manifest's policy.sha256`, { reason: 'signature' });
  let raw: unknown;
  try {
    raw = JSON.parse(sigText.toString());
  } catch (e) {
    bad(SIGNATURE_FILE, `not valid JSON: ${(e as Error).message}`, { reason: 'signature' });
  }
  if (!isObj(raw) || raw.signatureVersion !== SIGNATURE_VERSION || raw.algorithm !== 'ed25519')
    bad(SIGNATURE_FILE, `expected signatureVersion ${SIGNATURE_VERSION} and algorithm "ed25519"`, {
      reason: 'signature',
    });
  if (typeof raw.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(raw.keyId))
    bad(`${SIGNATURE_FILE}/keyId`, 'expected 16 hex digits', { reason: 'signature' });
  if (typeof raw.signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(raw.signature))
    bad(`${SIGNATURE_FILE}/signature`, 'expected a base64 signature', { reason: 'signature' });
  const payload = payloadOf(files.get('manifest.json')!, policy, manifest);
  const stated = statedPayload(raw.signed);
  if (stated === null || !sameBytes(canonicalPayload(stated), canonicalPayload(payload)))
    bad(`${SIGNATURE_FILE}/signed`, 'does not match the files of the release (a signed file was changed)', {
      reason: 'signature',
    });
  return { signature: { keyId: raw.keyId, payload, signature: raw.signature }, policy };
}

/** The payload signature.json states, if it has the payload's shape. */
function statedPayload(v: unknown): SignedPayload | null {
  if (!isObj(v) || typeof v.manifest !== 'string' || typeof v.policy !== 'string' || !Array.isArray(v.files))
    return null;
  const files = v.files as unknown[];
  if (!files.every((f) => isObj(f) && typeof f.name === 'string' && typeof f.sha256 === 'string')) return null;
  return v as unknown as SignedPayload;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Whether `sig` is a valid Ed25519 signature of its payload by the public key `publicKeyPem` (SPKI PEM). */
export function verifyReleaseSignature(sig: ReleaseSignature, publicKeyPem: string): boolean {
  try {
    const key = createPublicKey({ key: publicKeyPem, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(null, canonicalPayload(sig.payload), key, Buffer.from(sig.signature, 'base64'));
  } catch {
    return false;
  }
}
