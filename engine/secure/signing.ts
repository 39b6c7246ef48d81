/**
 * The secure zone's release signing key: an Ed25519 key pair (node:crypto), created on first use in the secure-zone
 * state directory (`signing-key.pem`, PKCS#8, owner-only, created once and atomically by `readOrCreateSecret`).
 *
 * Guarantee: the private key never leaves the secure-zone state directory (only `signWith` uses it); the public key is
 * exported as SPKI PEM for an officer to register in the publication store, and a key is named by its key id, the
 * first 16 hex digits of the SHA-256 of its SPKI DER encoding (so the same public key always has the same id).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { StatguardError } from '../errors.ts';
import { readOrCreateSecret } from './state.ts';

export const SIGNING_KEY_FILE = 'signing-key.pem';

export interface SigningKey {
  /** First 16 hex digits of the SHA-256 of the public key's SPKI DER. */
  readonly keyId: string;
  /** The public key, SPKI PEM (what an officer registers in the store). */
  readonly publicKeyPem: string;
  /** Ed25519 signature of `data` (base64). */
  signWith(data: Uint8Array): string;
}

/** Key id of a public key: the first 16 hex digits of the SHA-256 of its SPKI DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** Parse a public key given as PEM (SPKI); refuses anything but an Ed25519 public key. */
export function publicKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new StatguardError('SIGNING_KEY_INVALID', `not a PEM public key: ${(e as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new StatguardError('SIGNING_KEY_INVALID', `expected an Ed25519 public key, got ${key.asymmetricKeyType}`);
  return key;
}

/** A signing key from a private key object (the secure zone's own, or a test's). */
export function signingKeyOf(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new StatguardError(
      'SIGNING_KEY_INVALID',
      `expected an Ed25519 private key, got ${privateKey.asymmetricKeyType}`,
    );
  const pub = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(pub),
    publicKeyPem: pub.export({ type: 'spki', format: 'pem' }).toString(),
    signWith: (data) => sign(null, data, privateKey).toString('base64'),
  };
}

/** A fresh Ed25519 key pair (tests and first use). */
export function generateSigningKey(): SigningKey {
  return signingKeyOf(generateKeyPairSync('ed25519').privateKey);
}

/** The secure zone's signing key, created on first use (STATGUARD_SECURE_DIR/signing-key.pem, mode 0600). */
export function localSigningKey(env: NodeJS.ProcessEnv = process.env): SigningKey {
  const pem = readOrCreateSecret(
    SIGNING_KEY_FILE,
    () =>
      new Uint8Array(Buffer.from(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }))),
    env,
  );
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(pem), format: 'pem' });
  } catch (e) {
    throw new StatguardError('SECURE_STATE', `secure-zone signing key is unreadable: ${(e as Error).message}`);
  }
  return signingKeyOf(key);
}
