/**
 * Who sees what.
 *
 * - officer, reviewer: every release, drafts included.
 * - researcher: published and withdrawn releases that are public, or covered
 *   by one of the key's active (unexpired) contracts; a contract may restrict
 *   the tables.
 * - anonymous: published and withdrawn public releases.
 * A release outside these rules does not exist for the caller (404, the same
 * answer as for an id that was never used), so its existence is not revealed.
 */
import type { Kysely } from 'kysely';
import { ApiError } from './errors.ts';
import type { Actor } from './store/audit.ts';
import { activeContracts } from './store/releases.ts';
import type { Database, ReleaseRow } from './store/schema.ts';

export type Contracts = ReadonlyMap<string, ReadonlySet<string> | null>;

export function isStaff(a: Actor): boolean {
  return a.role === 'officer' || a.role === 'reviewer';
}

export async function contractsOf(db: Kysely<Database>, a: Actor): Promise<Contracts> {
  return a.role === 'researcher' ? activeContracts(db, a.caller) : new Map();
}

export function canSee(a: Actor, contracts: Contracts, r: Pick<ReleaseRow, 'id' | 'status' | 'audience'>): boolean {
  if (isStaff(a)) return true;
  if (r.status === 'draft') return false;
  if (r.audience === 'public') return true;
  return a.role === 'researcher' && contracts.has(r.id);
}

export function canSeeTable(
  a: Actor,
  contracts: Contracts,
  r: Pick<ReleaseRow, 'id' | 'audience'>,
  table: string,
): boolean {
  if (isStaff(a) || r.audience === 'public') return true;
  const c = contracts.get(r.id);
  return c === null || (c !== undefined && c.has(table));
}

export function requireRole(a: Actor, ...roles: Actor['role'][]): void {
  if (!roles.includes(a.role)) {
    throw new ApiError(
      a.role === 'anonymous' ? 'UNAUTHORIZED' : 'FORBIDDEN',
      a.role === 'anonymous'
        ? 'this route needs an API key'
        : `role ${a.role} may not do this (needs ${roles.join(' or ')})`,
    );
  }
}

export function notFound(id: string): ApiError {
  return new ApiError('RELEASE_NOT_FOUND', `no release ${JSON.stringify(id)}`, { release: id });
}
