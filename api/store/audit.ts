/**
 * The append-only, hash-chained audit log (chain-sql.ts, chain.ts): who (key id, 'anonymous', 'cli:<user>'), what
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

/** Longest stored target (a path or id an attacker chose); longer ones are cut and marked. */
export const MAX_TARGET = 512;
/** Longest string value kept in `detail`. */
const MAX_DETAIL_STRING = 1024;

// C0 controls and DEL (NUL in particular, which a PostgreSQL text or jsonb value cannot hold).
const CONTROL = /[\u0000-\u001f\u007f]/g;

// A UTF-16 surrogate without its pair: not encodable in UTF-8 (it would be stored as U+FFFD, and jsonb refuses it).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// Any character `clean` may change (a fast test first: most values have none).
const SUSPECT = /[\u0000-\u001f\u007f\uD800-\uDFFF]/;

function clean(s: string, max: number): string {
  if (s.length <= max && !SUSPECT.test(s)) return s;
  const escaped = s.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // (Replaced after cutting: a cut may split a surrogate pair.)
  const cut = escaped.length > max ? `${escaped.slice(0, max)}...(${escaped.length} chars)` : escaped;
  return cut.replace(LONE_SURROGATE, '\uFFFD');
}

function cleanJson(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return clean(v, MAX_DETAIL_STRING);
  if (v === null || typeof v !== 'object') return typeof v === 'number' && !Number.isFinite(v) ? null : v;
  if (depth > 4) return '[nested]';
  if (Array.isArray(v)) return v.slice(0, 50).map((x) => cleanJson(x, depth + 1));
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([k, x]) => [clean(k, 64), cleanJson(x, depth + 1)]),
  );
}

/**
 * An entry every value of which the store accepts: control characters (NUL above all) escaped as text (`\u0000`),
 * the target and detail strings bounded. Applied to every entry before it is written or queued, so that no value a
 * caller chose can make an INSERT fail (and with it, in a batch, other callers' rows).
 */
export function cleanEntry(e: AuditEntry): AuditEntry {
  return {
    actor: { caller: clean(e.actor.caller, 128), role: e.actor.role },
    action: clean(e.action, 64),
    target: e.target === null ? null : clean(e.target, MAX_TARGET),
    outcome: e.outcome,
    status: Number.isSafeInteger(e.status) ? e.status! : null,
    detail: e.detail ? (cleanJson(e.detail, 0) as Record<string, unknown>) : null,
  };
}

/**
 * Insert audit rows (one INSERT: one commit, or a part of the caller's transaction when `db` is one). The hash chain
 * (seq, prev_hash, hash) and the time stamp are set by the database's insert trigger (chain-sql.ts).
 */
export async function insertAuditRows(db: Kysely<Database>, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto('audit_log')
    .values(
      entries.map((e) => ({
        caller: e.actor.caller,
        role: e.actor.role,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        status: e.status ?? null,
        detail: e.detail ? JSON.stringify(e.detail) : null,
      })),
    )
    .execute();
}

/** Append one audit row now (inside the caller's transaction when `db` is one); the entry is cleaned first. */
export async function writeAudit(db: Kysely<Database>, e: AuditEntry): Promise<void> {
  await insertAuditRows(db, [cleanEntry(e)]);
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
