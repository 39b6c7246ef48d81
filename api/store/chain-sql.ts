/**
 * Migration 004: the audit log and the budget ledger become hash chains (issue 17; the serialisation is defined in
 * audit-chain.md beside this file, and recomputed independently by chain.ts when verifying).
 *
 * - `chain_heads` holds, per chain, the number of rows and the hash of the last one. A BEFORE INSERT row trigger on
 *   each chained table locks its head row on the transaction's first chained row (`SELECT ... FOR UPDATE`, held to
 *   the end of the transaction, so writers are serialised and the chain is linear), numbers the row (`seq`, 1, 2,
 *   ...) and sets `prev_hash` and `hash`; later rows of the transaction continue from a transaction-local setting
 *   instead of re-reading and rewriting the head row per row (a 50-row batch cost 4x a plain insert that way). An
 *   AFTER INSERT statement trigger checks that the statement's rows continue the head without a gap (so a forged
 *   setting cannot be stored) and moves the head once. Every insert path (a batch of read rows, a mutation's own
 *   row, a direct INSERT) is chained.
 * - The trigger functions are SECURITY DEFINER: a least-privilege API role inserts rows but needs (and gets) no
 *   privilege on `chain_heads`.
 * - audit_log rows take their time stamp (`at`) under the head lock, so `at` never goes backwards along the chain.
 * - The ledger becomes append-only like the log (it had no trigger: deleting an entry refunded budget).
 * - Rows stored before this migration are chained in id order.
 * Since migration 005 (chain-batch-sql.ts) the audit row trigger runs only for rows inserted without a `seq`: the
 * group-commit writer chains its batches itself and the statement trigger checks them.
 */
import type { Migration } from 'kysely';
import { statementMigration } from './statement-migration.ts';

const GENESIS = '0'.repeat(64);

/** A chained table: its name, the columns of its canonical content in order (SQL on NEW), and what its row trigger
 * sets before hashing. */
export interface ChainedTable {
  readonly table: 'audit_log' | 'budget_ledger';
  readonly fields: readonly string[];
  readonly before: string;
}

const utcTime = (x: string): string => `to_char(${x} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const float8 = (x: string): string => `encode(float8send(${x}), 'hex')`;

export const AUDIT: ChainedTable = {
  table: 'audit_log',
  fields: [
    utcTime('NEW.at'),
    'NEW.caller',
    'NEW.role',
    'NEW.action',
    'NEW.target',
    'NEW.outcome',
    'NEW.status::text',
    'NEW.detail::text',
  ],
  before: `        -- Taken after the head is locked, so time stamps never go backwards along the chain.
        NEW.at := clock_timestamp();
`,
};
const LEDGER: ChainedTable = {
  table: 'budget_ledger',
  fields: [
    utcTime('NEW.created_at'),
    'NEW.dataset_id',
    'NEW.release_id',
    float8('NEW.rho'),
    float8('NEW.epsilon'),
    'NEW.created_by',
  ],
  before: '',
};

/**
 * The BEFORE INSERT row trigger of a chained table. Its content expression is statguard_audit_content /
 * statguard_ledger_content written inline (nested SQL functions cost more than the hashing; the migration's path
 * uses the functions; audit-chain.md): each field '-' for NULL, else '<UTF-8 byte length>:<value>'.
 */
export function rowTrigger(name: string, c: ChainedTable): string {
  const field = (x: string): string => `coalesce(octet_length(convert_to(${x}, 'UTF8'))::text || ':' || ${x}, '-')`;
  return `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE cur text := current_setting('statguard.chain_${c.table}', true); tx text := txid_current()::text;
        parts text[]; s bigint; p text;
      BEGIN
        IF cur IS NOT NULL AND cur <> '' THEN parts := string_to_array(cur, ':'); END IF;
        IF parts IS NOT NULL AND parts[1] = tx THEN
          s := parts[2]::bigint; p := parts[3];
        ELSE
          SELECT h.seq, h.hash INTO s, p FROM public.chain_heads h WHERE h.chain = '${c.table}' FOR UPDATE;
          IF NOT FOUND THEN RAISE EXCEPTION 'hash chain ${c.table} has no head row'; END IF;
        END IF;
${c.before}        NEW.seq := s + 1;
        NEW.prev_hash := p;
        NEW.hash := encode(sha256(convert_to('statguard-chain-v1' || chr(10) || '${c.table}' || chr(10) || NEW.seq::text
          || chr(10) || p || chr(10) || ${c.fields.map(field).join(' || ')}, 'UTF8')), 'hex');
        PERFORM set_config('statguard.chain_${c.table}', tx || ':' || NEW.seq || ':' || NEW.hash, true);
        RETURN NEW;
      END $$`;
}

/**
 * Re-chain every row of a table in the given order from the genesis head (the migration: rows stored before it, in
 * id order). Tests use it as the database owner's rewrite of a whole chain.
 */
export function rechainSql(table: 'audit_log' | 'budget_ledger', content: string, order: string): string {
  return `DO $$ DECLARE r ${table}; hd record; h text; BEGIN
        FOR r IN SELECT * FROM ${table} ORDER BY ${order} LOOP
          hd := statguard_chain_head('${table}');
          h := statguard_chain_push('${table}', hd.o_seq + 1, hd.o_hash, ${content}(r));
          UPDATE ${table} SET seq = hd.o_seq + 1, prev_hash = hd.o_hash, hash = h WHERE id = r.id;
        END LOOP;
        hd := statguard_chain_head('${table}');
        UPDATE chain_heads SET seq = hd.o_seq, hash = hd.o_hash WHERE chain = '${table}';
      END $$`;
}

const M004: readonly string[] = [
  `CREATE TABLE chain_heads (
        chain text PRIMARY KEY CHECK (chain IN ('audit_log', 'budget_ledger')),
        seq bigint NOT NULL CHECK (seq >= 0),
        hash text NOT NULL
      )`,
  `INSERT INTO chain_heads (chain, seq, hash) VALUES ('audit_log', 0, '${GENESIS}'), ('budget_ledger', 0, '${GENESIS}')`,
  `ALTER TABLE audit_log ADD COLUMN seq bigint, ADD COLUMN prev_hash text, ADD COLUMN hash text`,
  `ALTER TABLE budget_ledger ADD COLUMN seq bigint, ADD COLUMN prev_hash text, ADD COLUMN hash text`,
  // One field of the canonical content: '-' for NULL, else '<UTF-8 byte length>:<value>'.
  `CREATE FUNCTION statguard_chain_field(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN v IS NULL THEN '-' ELSE octet_length(convert_to(v, 'UTF8'))::text || ':' || v END
      $$`,
  `CREATE FUNCTION statguard_chain_time(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      $$`,
  `CREATE FUNCTION statguard_chain_float(x double precision) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN x IS NULL THEN NULL ELSE encode(float8send(x), 'hex') END
      $$`,
  `CREATE FUNCTION statguard_audit_content(r audit_log) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT statguard_chain_field(statguard_chain_time(r.at)) || statguard_chain_field(r.caller)
          || statguard_chain_field(r.role) || statguard_chain_field(r.action) || statguard_chain_field(r.target)
          || statguard_chain_field(r.outcome) || statguard_chain_field(r.status::text)
          || statguard_chain_field(r.detail::text)
      $$`,
  `CREATE FUNCTION statguard_ledger_content(r budget_ledger) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT statguard_chain_field(statguard_chain_time(r.created_at)) || statguard_chain_field(r.dataset_id)
          || statguard_chain_field(r.release_id) || statguard_chain_field(statguard_chain_float(r.rho))
          || statguard_chain_field(statguard_chain_float(r.epsilon)) || statguard_chain_field(r.created_by)
      $$`,
  // The chain's head as this transaction sees it: on the transaction's first chained row, the head row, locked (FOR
  // UPDATE, held until the end of the transaction: writers are serialised); on later rows, the position the previous
  // row of this transaction reached (a transaction-local setting, so a batch moves the head once, not per row).
  `CREATE FUNCTION statguard_chain_head(p_chain text, OUT o_seq bigint, OUT o_hash text) LANGUAGE plpgsql AS $$
      DECLARE cur text := current_setting('statguard.chain_' || p_chain, true); parts text[];
      BEGIN
        IF cur IS NOT NULL AND cur <> '' THEN parts := string_to_array(cur, ':'); END IF;
        IF parts IS NOT NULL AND parts[1] = txid_current()::text THEN
          o_seq := parts[2]::bigint; o_hash := parts[3]; RETURN;
        END IF;
        SELECT h.seq, h.hash INTO o_seq, o_hash FROM chain_heads h WHERE h.chain = p_chain FOR UPDATE;
        IF NOT FOUND THEN RAISE EXCEPTION 'hash chain % has no head row', p_chain; END IF;
      END $$`,
  // The hash of row p_seq following p_prev with this content; records the new position for the transaction.
  `CREATE FUNCTION statguard_chain_push(p_chain text, p_seq bigint, p_prev text, p_content text) RETURNS text
        LANGUAGE plpgsql AS $$
      DECLARE h text;
      BEGIN
        h := encode(sha256(convert_to('statguard-chain-v1' || chr(10) || p_chain || chr(10) || p_seq::text
          || chr(10) || p_prev || chr(10) || p_content, 'UTF8')), 'hex');
        PERFORM set_config('statguard.chain_' || p_chain, txid_current()::text || ':' || p_seq || ':' || h, true);
        RETURN h;
      END $$`,
  rowTrigger('statguard_audit_chain', AUDIT),
  rowTrigger('statguard_ledger_chain', LEDGER),
  // After each INSERT statement: the rows it added must continue the (locked) head without a gap (a position forged
  // through the setting cannot be stored), and the head moves to the last of them.
  `CREATE FUNCTION statguard_chain_settle() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE n bigint; lo bigint; hi bigint; first_prev text; last_hash text; h record;
      BEGIN
        SELECT count(*), min(seq), max(seq) INTO n, lo, hi FROM added;
        IF n = 0 THEN RETURN NULL; END IF;
        SELECT c.seq, c.hash INTO h FROM public.chain_heads c WHERE c.chain = TG_TABLE_NAME FOR UPDATE;
        SELECT prev_hash INTO first_prev FROM added WHERE seq = lo;
        IF lo <> h.seq + 1 OR hi <> h.seq + n OR first_prev IS DISTINCT FROM h.hash THEN
          RAISE EXCEPTION 'hash chain %: inserted rows % to % do not continue the head (%)', TG_TABLE_NAME, lo, hi, h.seq;
        END IF;
        SELECT hash INTO last_hash FROM added WHERE seq = hi;
        UPDATE public.chain_heads SET seq = hi, hash = last_hash WHERE chain = TG_TABLE_NAME;
        RETURN NULL;
      END $$`,
  // Chain the rows stored before this migration, in id order (the append-only trigger is off for this update only).
  `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
  rechainSql('audit_log', 'statguard_audit_content', 'id'),
  `ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`,
  rechainSql('budget_ledger', 'statguard_ledger_content', 'id'),
  `ALTER TABLE audit_log ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL,
        ALTER COLUMN hash SET NOT NULL, ADD CONSTRAINT audit_log_seq_key UNIQUE (seq)`,
  `ALTER TABLE budget_ledger ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL,
        ALTER COLUMN hash SET NOT NULL, ADD CONSTRAINT budget_ledger_seq_key UNIQUE (seq)`,
  `CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION statguard_audit_chain()`,
  `CREATE TRIGGER budget_ledger_chain BEFORE INSERT ON budget_ledger
        FOR EACH ROW EXECUTE FUNCTION statguard_ledger_chain()`,
  `CREATE TRIGGER audit_log_chain_settle AFTER INSERT ON audit_log REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION statguard_chain_settle()`,
  `CREATE TRIGGER budget_ledger_chain_settle AFTER INSERT ON budget_ledger REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION statguard_chain_settle()`,
  `CREATE FUNCTION statguard_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'budget_ledger is append-only: % refused', TG_OP;
      END $$`,
  `CREATE TRIGGER budget_ledger_no_update BEFORE UPDATE OR DELETE ON budget_ledger
        FOR EACH ROW EXECUTE FUNCTION statguard_ledger_append_only()`,
  `CREATE TRIGGER budget_ledger_no_truncate BEFORE TRUNCATE ON budget_ledger
        FOR EACH STATEMENT EXECUTE FUNCTION statguard_ledger_append_only()`,
];

export const m004: Migration = statementMigration(
  M004,
  'migration 004 cannot be reverted (the audit log and the ledger are append-only)',
);
