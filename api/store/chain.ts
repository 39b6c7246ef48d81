/**
 * Verifying the hash chains of the audit log and the budget ledger (migration 004, chain-sql.ts; the serialisation
 * is defined in audit-chain.md). The database's trigger (mutations' rows) or the group-commit writer (chain-append.ts,
 * batches of reads and refusals) computes each row's hash when it is inserted; this file recomputes every hash from
 * the rows' stored values (node:crypto, not the database's functions), so a rewritten trigger or function cannot vouch
 * for itself, and a row stored with a hash that is not its own is reported as edited.
 *
 *   verifyChains(db, checkpoint?) -> { ok, chains: [{ chain, count, head, broken? }] }   (first broken link per chain)
 *   checkpoint(db) -> { format, at, chains: { audit_log: { count, hash }, budget_ledger: { count, hash } } }
 *
 * A chain is walked in `seq` order, in pages, checking for each row: its position (a gap is a deleted row), its
 * `prev_hash` (the previous row's hash: a re-ordered or replaced row), its `hash` (recomputed from its content: an
 * edited row); then the head (`chain_heads`: rows deleted at the end) and, given a checkpoint exported earlier, that
 * the chain still extends it (its row number `count` carries the checkpoint's hash): a chain rewritten from the start,
 * hashes and all, passes every other test but not this one.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { ApiError } from '../errors.ts';
import type { Database } from './schema.ts';

export const CHAINS = ['audit_log', 'budget_ledger'] as const;
export type ChainName = (typeof CHAINS)[number];
export const GENESIS_HASH = '0'.repeat(64);
export const CHECKPOINT_FORMAT = 'statguard-chain-checkpoint-v1';
const PAGE = 5000;

export interface ChainHead {
  readonly count: number;
  readonly hash: string;
}

export interface Checkpoint {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly at: string;
  readonly chains: Readonly<Record<ChainName, ChainHead>>;
}

export interface BrokenLink {
  /** The row where the chain breaks (its id), or null when the break is at the head or against the checkpoint. */
  readonly rowId: string | null;
  readonly seq: number | null;
  readonly problem: string;
}

export interface ChainReport {
  readonly chain: ChainName;
  readonly count: number;
  readonly head: string;
  readonly broken: BrokenLink | null;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly chains: readonly ChainReport[];
}

/** One field of the canonical content: '-' for NULL, else '<UTF-8 byte length>:<value>'. */
export function field(v: string | null): string {
  return v === null ? '-' : `${Buffer.byteLength(v, 'utf8')}:${v}`;
}

/** IEEE 754 binary64, big-endian, lower-case hex (as PostgreSQL's float8send). */
function float(x: number | null): string | null {
  if (x === null) return null;
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.toString('hex');
}

/** The hash of row `seq` of `chain` following `prev` with canonical `content` (audit-chain.md). */
export function linkHash(chain: ChainName, seq: number, prev: string, content: string): string {
  return createHash('sha256').update(`statguard-chain-v1\n${chain}\n${seq}\n${prev}\n${content}`, 'utf8').digest('hex');
}

interface Row {
  id: string;
  seq: string | null;
  prev_hash: string | null;
  hash: string | null;
  content: string;
}

const TIME = (col: string) => sql.raw(`to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);

async function page(db: Kysely<Database>, chain: ChainName, after: string): Promise<Row[]> {
  // Rows outside the chain (seq NULL: inserted with the trigger disabled) come last and are reported. The order is by
  // the columns, not by the text aliases of the select list.
  const order = sql`ORDER BY ${sql.ref(`${chain}.seq`)} NULLS LAST, ${sql.ref(`${chain}.id`)} LIMIT ${PAGE}`;
  const where = sql`WHERE seq IS NULL OR seq > ${after}::bigint`;
  if (chain === 'audit_log') {
    const r = await sql<{
      id: string;
      seq: string | null;
      prev_hash: string | null;
      hash: string | null;
      at: string;
      caller: string;
      role: string;
      action: string;
      target: string | null;
      outcome: string;
      status: string | null;
      detail: string | null;
    }>`SELECT id::text AS id, seq::text AS seq, prev_hash, hash, ${TIME('at')} AS at, caller, role, action, target,
          outcome, status::text AS status, detail::text AS detail FROM audit_log ${where} ${order}`.execute(db);
    return r.rows.map((x) => ({
      ...x,
      content: [x.at, x.caller, x.role, x.action, x.target, x.outcome, x.status, x.detail].map(field).join(''),
    }));
  }
  const r = await sql<{
    id: string;
    seq: string | null;
    prev_hash: string | null;
    hash: string | null;
    at: string;
    dataset_id: string;
    release_id: string;
    rho: number;
    epsilon: number | null;
    created_by: string;
  }>`SELECT id::text AS id, seq::text AS seq, prev_hash, hash, ${TIME('created_at')} AS at, dataset_id, release_id,
        rho, epsilon, created_by FROM budget_ledger ${where} ${order}`.execute(db);
  return r.rows.map((x) => ({
    ...x,
    content: [
      x.at,
      x.dataset_id,
      x.release_id,
      float(Number(x.rho)),
      float(x.epsilon === null ? null : Number(x.epsilon)),
      x.created_by,
    ]
      .map(field)
      .join(''),
  }));
}

async function storedHead(db: Kysely<Database>, chain: ChainName): Promise<ChainHead | null> {
  const r = await sql<{ seq: string; hash: string }>`SELECT seq::text AS seq, hash FROM chain_heads
      WHERE chain = ${chain}`.execute(db);
  const h = r.rows[0];
  return h ? { count: Number(h.seq), hash: h.hash } : null;
}

/** Walk one chain; the first broken link, or null. `hashAt(n)` records hashes wanted by the checkpoint check. */
async function walk(
  db: Kysely<Database>,
  chain: ChainName,
  wanted: number | null,
): Promise<{ count: number; head: string; broken: BrokenLink | null; hashAtWanted: string | null }> {
  let n = 0;
  let prev = GENESIS_HASH;
  let hashAtWanted: string | null = null;
  const fail = (row: Row | null, problem: string) => ({
    count: n,
    head: prev,
    hashAtWanted,
    broken: { rowId: row?.id ?? null, seq: row?.seq === null || row === null ? null : Number(row.seq), problem },
  });
  for (;;) {
    const rows = await page(db, chain, String(n));
    for (const row of rows) {
      if (row.seq === null) return fail(row, `row ${row.id} is not in the chain (no seq: inserted past the trigger)`);
      const seq = Number(row.seq);
      if (seq !== n + 1)
        return fail(row, `row ${row.id} has seq ${seq}, expected ${n + 1}: row(s) ${n + 1}..${seq - 1} deleted`);
      if (row.prev_hash !== prev)
        return fail(
          row,
          `row ${row.id} (seq ${seq}) does not follow row seq ${n}: prev_hash differs (re-ordered or replaced)`,
        );
      if (linkHash(chain, seq, prev, row.content) !== row.hash)
        return fail(row, `row ${row.id} (seq ${seq}): its content does not match its hash (edited)`);
      n = seq;
      prev = row.hash!;
      if (wanted === n) hashAtWanted = prev;
    }
    if (rows.length < PAGE) break;
  }
  const head = await storedHead(db, chain);
  if (!head) return fail(null, `chain ${chain} has no head row in chain_heads`);
  if (head.count !== n || head.hash !== prev)
    return fail(
      null,
      head.count > n
        ? `the head records ${head.count} rows but the chain ends at row ${n}: row(s) ${n + 1}..${head.count} deleted`
        : `the head (${head.count} rows, ${head.hash}) does not match the chain's last row (${n}, ${prev})`,
    );
  return { count: n, head: prev, broken: null, hashAtWanted };
}

export async function verifyChains(db: Kysely<Database>, cp?: Checkpoint | null): Promise<VerifyReport> {
  const chains: ChainReport[] = [];
  for (const chain of CHAINS) {
    const want = cp?.chains[chain] ?? null;
    const r = await walk(db, chain, want?.count ?? null);
    let broken = r.broken;
    if (!broken && want && want.count > 0) {
      if (want.count > r.count)
        broken = {
          rowId: null,
          seq: null,
          problem: `the checkpoint records ${want.count} rows, the chain has ${r.count}: rows deleted or the chain rewritten`,
        };
      else if (r.hashAtWanted !== want.hash)
        broken = {
          rowId: null,
          seq: want.count,
          problem: `row seq ${want.count} has hash ${r.hashAtWanted}, the checkpoint ${want.hash}: the chain was rewritten`,
        };
    }
    chains.push({ chain, count: r.count, head: r.head, broken });
  }
  return { ok: chains.every((c) => c.broken === null), chains };
}

/** The head of each chain after verifying it (a broken chain gets no checkpoint: it would bless the tampering). */
export async function checkpoint(db: Kysely<Database>): Promise<Checkpoint> {
  const now = await sql<{ at: string }>`SELECT ${TIME('now()')} AS at`.execute(db);
  const report = await verifyChains(db);
  const bad = report.chains.find((c) => c.broken);
  if (bad)
    throw new ApiError('AUDIT_CHAIN_BROKEN', `${bad.chain}: ${bad.broken!.problem}`, {
      chain: bad.chain,
      rowId: bad.broken!.rowId,
    });
  const chains = {} as Record<ChainName, ChainHead>;
  for (const c of report.chains) chains[c.chain] = { count: c.count, hash: c.head };
  return { format: CHECKPOINT_FORMAT, at: now.rows[0]!.at, chains };
}

/** Parse a checkpoint document (a file written by `statguard audit checkpoint --out`); throws naming what is wrong. */
export function parseCheckpoint(text: string, where: string): Checkpoint {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not JSON (${(e as Error).message})`);
  }
  const d = doc as Partial<Checkpoint> | null;
  if (!d || d.format !== CHECKPOINT_FORMAT) throw new Error(`${where}: format is not ${CHECKPOINT_FORMAT}`);
  for (const c of CHAINS) {
    const h = d.chains?.[c] as Partial<ChainHead> | undefined;
    if (
      !h ||
      !Number.isSafeInteger(h.count) ||
      h.count! < 0 ||
      typeof h.hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(h.hash)
    )
      throw new Error(`${where}: chains.${c} needs { count: integer >= 0, hash: 64 hex digits }`);
  }
  return d as Checkpoint;
}
