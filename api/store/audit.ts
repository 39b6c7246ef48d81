/**
 * The append-only audit log: who (key id, 'anonymous', 'cli:<user>'), what
 * (action), on what (target), when (database clock), and the outcome
 * (ok / denied / error with the HTTP status). The application only inserts
 * and selects; the database refuses UPDATE, DELETE and TRUNCATE (trigger).
 * Audit rows never contain cell values.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface Actor {
  /** API key id, 'anonymous', 'cli:<user>' or 'system:<what>'. */
  readonly caller: string;
  readonly role: 'officer' | 'reviewer' | 'researcher' | 'anonymous';
}

export type Outcome = 'ok' | 'denied' | 'error';

export interface AuditEntry {
  readonly actor: Actor;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: Outcome;
  readonly status?: number | null;
  readonly detail?: Record<string, unknown> | null;
}

export async function writeAudit(db: Kysely<Database>, e: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      caller: e.actor.caller,
      role: e.actor.role,
      action: e.action,
      target: e.target,
      outcome: e.outcome,
      status: e.status ?? null,
      detail: e.detail ? JSON.stringify(e.detail) : null,
    })
    .execute();
}

export interface AuditQuery {
  readonly caller?: string | undefined;
  readonly action?: string | undefined;
  readonly target?: string | undefined;
  readonly outcome?: string | undefined;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly limit?: number | undefined;
  readonly offset?: number | undefined;
}

export interface AuditRecord {
  readonly id: string;
  readonly at: string;
  readonly caller: string;
  readonly role: string;
  readonly action: string;
  readonly target: string | null;
  readonly outcome: string;
  readonly status: number | null;
  readonly detail: Record<string, unknown> | null;
}

export async function queryAudit(
  db: Kysely<Database>,
  q: AuditQuery,
): Promise<{ items: AuditRecord[]; total: number }> {
  let base = db.selectFrom('audit_log');
  if (q.caller) base = base.where('caller', '=', q.caller);
  if (q.action) base = base.where('action', '=', q.action);
  if (q.target) base = base.where('target', '=', q.target);
  if (q.outcome) base = base.where('outcome', '=', q.outcome);
  if (q.since) base = base.where('at', '>=', new Date(q.since));
  if (q.until) base = base.where('at', '<', new Date(q.until));
  const [rows, count] = await Promise.all([
    base
      .select([
        sql<string>`id::text`.as('id'),
        'at',
        'caller',
        'role',
        'action',
        'target',
        'outcome',
        'status',
        'detail',
      ])
      .orderBy('audit_log.id', 'desc')
      .limit(q.limit ?? 100)
      .offset(q.offset ?? 0)
      .execute(),
    base.select(sql<string>`count(*)::text`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    total: Number(count.n),
    items: rows.map((r) => ({
      ...r,
      at: new Date(r.at).toISOString(),
      detail: (r.detail as Record<string, unknown> | null) ?? null,
    })),
  };
}
