/**
 * The group-commit writer's audit rows, chained here (migration 005, chain-batch-sql.ts; serialisation in
 * audit-chain.md): each batch of cleaned entries (audit.ts `cleanEntry`) gets its `seq`, `prev_hash`, `hash` and time
 * stamp in the application and is inserted by one `INSERT ... SELECT FROM unnest(...)` (on PGlite one `COPY ... FROM`
 * of the batch as CSV, `Store.copyCsv`: about 15 us less PGlite CPU per row); the database's statement
 * trigger recomputes and checks the whole batch before the head moves, so a row is stored only with the right hash.
 *
 *   new ChainAppender(db).append(entries)   one batch, one statement (usually), all or nothing
 *
 * Concurrency: the appender remembers the head it last wrote (the tip). A batch is first inserted on that tip,
 * without a transaction of its own (one statement: the cheap path). When another writer moved the head meanwhile (a
 * mutation's own row, another API process on the same PostgreSQL server, a CLI command), the statement is refused
 * (its rows do not continue the locked head, or their `seq` is taken: the unique index makes the second writer wait
 * for the first one's commit), nothing is stored, and the batch is retried in a transaction that first locks the head
 * row (`statguard_chain_tip(chain, true)`: writers are serialised there, so it cannot be overtaken) and chains the
 * rows on what it read. Every row's time stamp is the API's clock, in microseconds, but never earlier than the
 * previous row's (the statement trigger checks it): time stamps never go backwards along the chain.
 */
import { sql, type Kysely } from 'kysely';
import type { AuditEntry } from './audit.ts';
import { field, linkHash } from './chain.ts';
import type { Database } from './schema.ts';

/** The head of the audit chain: its row count, the last row's hash and time stamp (microseconds since 1970). */
export interface Tip {
  readonly seq: number;
  readonly hash: string;
  readonly atMicros: number;
}

/** A time in microseconds since 1970 as PostgreSQL's chain text renders it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
export function microsToIso(us: number): string {
  const ms = Math.floor(us / 1000);
  return `${new Date(ms).toISOString().slice(0, 23)}${String(us - ms * 1000).padStart(3, '0')}Z`;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '"': '\\"',
  '\\': '\\\\',
};

/** A string as jsonb prints it: `"`, `\` and C0 controls escaped (`\u00xx` for those without a short form). */
function jsonbString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/["\\\u0000-\u001f]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/** A number as jsonb prints it (PostgreSQL numeric: plain decimal digits, never an exponent). */
export function jsonbNumber(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, int, frac = ''] = m;
  const digits = int! + frac;
  const point = int!.length + Number(m[4]);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\u0000-\u007f]*$/;

/** jsonb's key order: shorter keys (in UTF-8 bytes) first, then byte-wise. */
function jsonbKeyOrder(a: string, b: string): number {
  // ASCII keys (the usual): bytes are code units.
  if (ASCII.test(a) && ASCII.test(b)) return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  const la = Buffer.byteLength(a, 'utf8');
  const lb = Buffer.byteLength(b, 'utf8');
  return la !== lb ? la - lb : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The text PostgreSQL prints for `v::jsonb` (`detail::text`, which the chain hashes): keys sorted as jsonb sorts them,
 * `", "` and `": "` separators, numbers in plain decimal. Values as JSON.stringify takes them (undefined, functions and
 * symbols left out of objects, null in arrays). Non-finite numbers throw (`cleanEntry` makes them null first).
 */
export function jsonbText(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return jsonbString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`audit detail: ${v} is not a JSON number`);
      return jsonbNumber(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x) => (storable(x) ? jsonbText(x) : 'null')).join(', ')}]`;
      const keys = sortedKeys(Object.keys(v).filter((k) => storable((v as Record<string, unknown>)[k])));
      return `{${keys.map((k) => `${jsonbString(k)}: ${jsonbText((v as Record<string, unknown>)[k])}`).join(', ')}}`;
    }
    default:
      return 'null';
  }
}

// The key orders seen (audit details repeat a few key sets: sorting each detail's keys was a third of its rendering).
const KEY_ORDERS = new Map<string, readonly string[]>();
const MAX_KEY_ORDERS = 256;

function sortedKeys(keys: string[]): readonly string[] {
  const sig = JSON.stringify(keys);
  const hit = KEY_ORDERS.get(sig);
  if (hit) return hit;
  const sorted = keys.sort(jsonbKeyOrder);
  if (KEY_ORDERS.size < MAX_KEY_ORDERS) KEY_ORDERS.set(sig, sorted);
  return sorted;
}

const storable = (x: unknown): boolean => x !== undefined && typeof x !== 'function' && typeof x !== 'symbol';

/** The columns of a batch of chained rows, as the arrays `unnest` takes, and the tip after it. */
interface Batch {
  readonly columns: readonly (readonly (string | number | null)[])[];
  readonly tip: Tip;
}

/** Chain `entries` (already cleaned) after `tip`, all with one time stamp. */
export function chainBatch(tip: Tip, entries: readonly AuditEntry[], nowMicros = Date.now() * 1000): Batch {
  const atMicros = Math.max(nowMicros, tip.atMicros);
  const at = microsToIso(atMicros);
  const cols: (string | number | null)[][] = Array.from({ length: 11 }, () => []);
  let seq = tip.seq;
  let prev = tip.hash;
  for (const e of entries) {
    seq += 1;
    const status = e.status ?? null;
    const detail = e.detail ? jsonbText(e.detail) : null;
    const content =
      field(at) +
      field(e.actor.caller) +
      field(e.actor.role) +
      field(e.action) +
      field(e.target) +
      field(e.outcome) +
      field(status === null ? null : String(status)) +
      field(detail);
    const hash = linkHash('audit_log', seq, prev, content);
    const row = [at, e.actor.caller, e.actor.role, e.action, e.target, e.outcome, status, detail, seq, prev, hash];
    for (let i = 0; i < row.length; i++) cols[i]!.push(row[i]!);
    prev = hash;
  }
  return { columns: cols, tip: { seq, hash: prev, atMicros } };
}

/** The audit_log columns of a batch, in the order of `Batch.columns`. */
const COPY_TARGET = 'audit_log (at, caller, role, action, target, outcome, status, detail, seq, prev_hash, hash)';

/**
 * A batch as CSV rows for `COPY ... WITH (FORMAT csv)`: every text value quoted (quotes doubled, so commas, line breaks
 * and a lone `\.` stay data), numbers bare, NULL an empty unquoted field.
 */
export function batchCsv(b: Batch): string {
  const cols = b.columns;
  const n = cols[0]!.length;
  let out = '';
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cols.length; j++) {
      const v = cols[j]![i]!;
      if (j > 0) out += ',';
      if (typeof v === 'number') out += String(v);
      else if (v !== null) out += `"${v.includes('"') ? v.replaceAll('"', '""') : v}"`;
    }
    out += '\n';
  }
  return out;
}

async function insertBatch(db: Kysely<Database>, b: Batch): Promise<void> {
  const [at, caller, role, action, target, outcome, status, detail, seq, prev, hash] = b.columns;
  await sql`INSERT INTO audit_log (at, caller, role, action, target, outcome, status, detail, seq, prev_hash, hash)
      SELECT * FROM unnest(${at}::timestamptz[], ${caller}::text[], ${role}::text[], ${action}::text[],
        ${target}::text[], ${outcome}::text[], ${status}::integer[], ${detail}::jsonb[], ${seq}::bigint[],
        ${prev}::text[], ${hash}::text[])`.execute(db);
}

/**
 * The head of the audit chain, locked until the end of the transaction when `lock` (then `db` must be one). The time
 * stamp in whole microseconds, exactly (whole seconds and microseconds apart: each is exact even where `extract`
 * returns a double, before PostgreSQL 14).
 */
export async function readTip(db: Kysely<Database>, lock: boolean): Promise<Tip> {
  const r = await sql<{ seq: string; hash: string; at: string | null }>`SELECT o_seq::text AS seq, o_hash AS hash,
      (extract(epoch FROM date_trunc('second', o_at))::bigint * 1000000
      + extract(microseconds FROM o_at)::bigint % 1000000)::text AS at FROM statguard_chain_tip('audit_log', ${lock})`.execute(
    db,
  );
  const t = r.rows[0]!;
  return { seq: Number(t.seq), hash: t.hash, atMicros: t.at === null ? 0 : Number(t.at) };
}

export class ChainAppender {
  /** The head as this appender last wrote or read it; null: read it (locked) before the next batch. */
  private tip: Tip | null = null;

  /**
   * `copy`: the store's bulk path (PGlite's `Store.copyCsv`), used for batches on the remembered tip; the locked
   * fallback inserts inside its transaction with `INSERT ... unnest`, as every batch does on a server.
   */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly copy?: (target: string, csv: string) => Promise<void>,
  ) {}

  /** Append `entries` (cleaned) to the audit chain: stored all together, or not at all (the promise rejects). */
  async append(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const tip = this.tip;
    if (tip) {
      try {
        const b = chainBatch(tip, entries);
        if (this.copy) await this.copy(COPY_TARGET, batchCsv(b));
        else await insertBatch(this.db, b);
        this.tip = b.tip;
        return;
      } catch {
        // The head moved (another writer), or a row was refused: decide under the head's lock.
        this.tip = null;
      }
    }
    this.tip = await this.db.transaction().execute(async (tx) => {
      const locked = await readTip(tx, true);
      this.tip = locked;
      const b = chainBatch(locked, entries);
      await insertBatch(tx, b);
      return b.tip;
    });
  }
}
