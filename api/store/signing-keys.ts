/**
 * Registered release signing keys: the public keys (Ed25519, SPKI PEM) whose signatures the store accepts.
 *
 * Guarantee: a key is registered, listed and revoked only by an officer, each as an audited action in the same
 * transaction; a key's id is computed from its public key (engine/secure/signing.ts `keyIdOf`), never chosen by the
 * caller; registering a registered key again is a no-op (idempotent first starts), and a revoked key stays revoked
 * (registering it again is refused), so a release signed by it is never stored again.
 */
import { sql, type Kysely } from 'kysely';
import { StatguardError } from '../../engine/errors.ts';
import { keyIdOf, publicKeyFromPem } from '../../engine/secure/signing.ts';
import { ApiError } from '../errors.ts';
import { writeAudit, type Actor } from './audit.ts';
import type { Database } from './schema.ts';

export interface SigningKeyInfo {
  readonly id: string;
  readonly name: string;
  readonly publicKey: string;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly revokedAt: string | null;
}

/** Register a public key (PEM); returns its id and whether it was new. */
export async function registerSigningKey(
  db: Kysely<Database>,
  pem: string,
  name: string,
  actor: Actor,
): Promise<{ id: string; created: boolean }> {
  let id: string;
  let canonical: string;
  try {
    const key = publicKeyFromPem(pem);
    id = keyIdOf(key);
    canonical = key.export({ type: 'spki', format: 'pem' }).toString();
  } catch (e) {
    if (e instanceof StatguardError) throw new ApiError('SIGNING_KEY_INVALID', e.message);
    throw e;
  }
  if (name.trim() === '') throw new ApiError('BAD_REQUEST', 'a signing key needs a non-empty name');
  return db.transaction().execute(async (tx) => {
    const existing = await tx
      .selectFrom('signing_keys')
      .select(['id', 'revoked_at'])
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (existing?.revoked_at)
      throw new ApiError('SIGNING_KEY_REVOKED', `signing key ${id} was revoked; it cannot be registered again`);
    if (existing) return { id, created: false };
    await tx
      .insertInto('signing_keys')
      .values({ id, public_key: canonical, name, created_by: actor.caller, revoked_at: null, revoked_by: null })
      .execute();
    await writeAudit(tx, { actor, action: 'signing-key.register', target: id, outcome: 'ok', detail: { name } });
    return { id, created: true };
  });
}

export async function revokeSigningKey(db: Kysely<Database>, id: string, actor: Actor): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const r = await tx
      .updateTable('signing_keys')
      .set({ revoked_at: sql<Date>`now()`, revoked_by: actor.caller })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0)
      throw new ApiError('SIGNING_KEY_NOT_FOUND', `no active signing key ${JSON.stringify(id)}`);
    await writeAudit(tx, { actor, action: 'signing-key.revoke', target: id, outcome: 'ok' });
  });
}

export async function listSigningKeys(db: Kysely<Database>): Promise<SigningKeyInfo[]> {
  const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    publicKey: r.public_key,
    createdAt: new Date(r.created_at).toISOString(),
    createdBy: r.created_by,
    revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  }));
}
