/**
 * API keys: `sg_<id>_<secret>` with a 32-byte random secret (base64url). Only
 * SHA-256(secret) is stored; the key is returned once by createKey and cannot
 * be recovered. Authentication looks the row up by its public id and compares
 * the hashes with timingSafeEqual (constant time).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { ApiError } from '../errors.ts';
import type { Actor } from './audit.ts';
import { writeAudit } from './audit.ts';
import { ROLES, type Database, type Role } from './schema.ts';

const KEY_RE = /^sg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const hashSecret = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export interface KeyInfo {
  readonly id: string;
  readonly role: Role;
  readonly name: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

export async function createKey(
  db: Kysely<Database>,
  role: string,
  name: string,
  actor: Actor,
): Promise<{ id: string; key: string; role: Role; name: string }> {
  if (!ROLES.includes(role as Role))
    throw new ApiError('BAD_REQUEST', `role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(role)}`);
  if (name.trim() === '') throw new ApiError('BAD_REQUEST', 'a key needs a non-empty name');
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto('api_keys')
      .values({ id, hash: hashSecret(secret).toString('hex'), role: role as Role, name, revoked_at: null })
      .execute();
    await writeAudit(tx, { actor, action: 'key.create', target: id, outcome: 'ok', detail: { role, name } });
  });
  return { id, key: `sg_${id}_${secret}`, role: role as Role, name };
}

export async function revokeKey(db: Kysely<Database>, id: string, actor: Actor): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const r = await tx
      .updateTable('api_keys')
      .set({ revoked_at: new Date() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new ApiError('KEY_NOT_FOUND', `no active API key ${JSON.stringify(id)}`);
    await writeAudit(tx, { actor, action: 'key.revoke', target: id, outcome: 'ok' });
  });
}

export async function listKeys(db: Kysely<Database>): Promise<KeyInfo[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(['id', 'role', 'name', 'created_at', 'revoked_at'])
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    role: r.role,
    name: r.name,
    createdAt: new Date(r.created_at).toISOString(),
    revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  }));
}

/** What authentication reads of a key: its hash, role and revocation. */
export interface KeyRow {
  readonly id: string;
  readonly hash: string;
  readonly role: Role;
  readonly revoked_at: Date | string | null;
}

export async function findKey(db: Kysely<Database>, id: string): Promise<KeyRow | undefined> {
  return db.selectFrom('api_keys').select(['id', 'hash', 'role', 'revoked_at']).where('id', '=', id).executeTakeFirst();
}

/**
 * Resolve an Authorization header. No header: anonymous. Anything else that is
 * not a valid, active key is UNAUTHORIZED (never silently anonymous). `find` reads a key's row (default: the store;
 * the API passes its short-lived cache, caller-cache.ts).
 */
export async function authenticate(
  db: Kysely<Database>,
  header: string | undefined,
  find: (id: string) => Promise<KeyRow | undefined> = (id) => findKey(db, id),
): Promise<Actor> {
  if (header === undefined || header === '') return { caller: 'anonymous', role: 'anonymous' };
  const m = /^Bearer ([^\s]+)$/.exec(header);
  if (!m) throw new ApiError('UNAUTHORIZED', 'the Authorization header must be "Bearer <key>"');
  const k = KEY_RE.exec(m[1]!);
  if (!k) throw new ApiError('UNAUTHORIZED', 'the API key is malformed');
  const row = await find(k[1]!);
  const given = hashSecret(k[2]!);
  // Compare even when the id is unknown (against a dummy) so timing does not reveal which ids exist.
  const stored = row ? Buffer.from(row.hash, 'hex') : Buffer.alloc(32);
  const equal = timingSafeEqual(given, stored.length === 32 ? stored : Buffer.alloc(32));
  if (!row || !equal || row.revoked_at !== null) throw new ApiError('UNAUTHORIZED', 'unknown or revoked API key');
  return { caller: row.id, role: row.role };
}
