/**
 * Migration 004: the audit log and the budget ledger become hash chains (issue 17; the serialisation is defined in
 * audit-chain.md beside this file, and recomputed independently by chain.ts when verifying).
 *
 * - `chain_heads` holds, per chain, the number of rows and the hash of the last one. A BEFORE INSERT trigger on each
 *   chained table locks its head row (`SELECT ... FOR UPDATE`, held to the end of the inserting transaction, so
 *   writers are serialised and the chain is linear), numbers the row (`seq`, 1, 2, ...), sets `prev_hash` and `hash`
 *   and moves the head. Every insert path (a batch of read rows, a mutation's own row, a direct INSERT) is chained.
 * - The trigger functions are SECURITY DEFINER: a least-privilege API role inserts rows but needs (and gets) no
 *   privilege on `chain_heads`.
 * - audit_log rows take their time stamp (`at`) under the head lock, so `at` never goes backwards along the chain.
 * - The ledger becomes append-only like the log (it had no trigger: deleting an entry refunded budget).
 * - Rows stored before this migration are chained in id order.
 */
import { sql, type Kysely, type Migration } from 'kysely';

const GENESIS = '0'.repeat(64);

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
  // Takes the chain's head under a row lock, returns (seq, prev_hash, hash) of the next row and moves the head.
  `CREATE FUNCTION statguard_chain_link(p_chain text, p_content text, OUT o_seq bigint, OUT o_prev text, OUT o_hash text)
        LANGUAGE plpgsql AS $$
      BEGIN
        SELECT h.seq + 1, h.hash INTO o_seq, o_prev FROM chain_heads h WHERE h.chain = p_chain FOR UPDATE;
        IF NOT FOUND THEN RAISE EXCEPTION 'hash chain % has no head row', p_chain; END IF;
        o_hash := encode(sha256(convert_to('statguard-chain-v1' || chr(10) || p_chain || chr(10) || o_seq::text
          || chr(10) || o_prev || chr(10) || p_content, 'UTF8')), 'hex');
        UPDATE chain_heads SET seq = o_seq, hash = o_hash WHERE chain = p_chain;
      END $$`,
  `CREATE FUNCTION statguard_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, public AS $$
      DECLARE l record;
      BEGIN
        -- The head is locked first, so the time stamp is taken in chain order.
        PERFORM 1 FROM chain_heads WHERE chain = 'audit_log' FOR UPDATE;
        NEW.at := clock_timestamp();
        l := statguard_chain_link('audit_log', statguard_audit_content(NEW));
        NEW.seq := l.o_seq; NEW.prev_hash := l.o_prev; NEW.hash := l.o_hash;
        RETURN NEW;
      END $$`,
  `CREATE FUNCTION statguard_ledger_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, public AS $$
      DECLARE l record;
      BEGIN
        l := statguard_chain_link('budget_ledger', statguard_ledger_content(NEW));
        NEW.seq := l.o_seq; NEW.prev_hash := l.o_prev; NEW.hash := l.o_hash;
        RETURN NEW;
      END $$`,
  // Chain the rows stored before this migration, in id order (the append-only trigger is off for this update only).
  `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
  `DO $$ DECLARE r audit_log; l record; BEGIN
        FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
          l := statguard_chain_link('audit_log', statguard_audit_content(r));
          UPDATE audit_log SET seq = l.o_seq, prev_hash = l.o_prev, hash = l.o_hash WHERE id = r.id;
        END LOOP;
      END $$`,
  `ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`,
  `DO $$ DECLARE r budget_ledger; l record; BEGIN
        FOR r IN SELECT * FROM budget_ledger ORDER BY id LOOP
          l := statguard_chain_link('budget_ledger', statguard_ledger_content(r));
          UPDATE budget_ledger SET seq = l.o_seq, prev_hash = l.o_prev, hash = l.o_hash WHERE id = r.id;
        END LOOP;
      END $$`,
  `ALTER TABLE audit_log ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL,
        ALTER COLUMN hash SET NOT NULL, ADD CONSTRAINT audit_log_seq_key UNIQUE (seq)`,
  `ALTER TABLE budget_ledger ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL,
        ALTER COLUMN hash SET NOT NULL, ADD CONSTRAINT budget_ledger_seq_key UNIQUE (seq)`,
  `CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION statguard_audit_chain()`,
  `CREATE TRIGGER budget_ledger_chain BEFORE INSERT ON budget_ledger
        FOR EACH ROW EXECUTE FUNCTION statguard_ledger_chain()`,
  `CREATE FUNCTION statguard_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'budget_ledger is append-only: % refused', TG_OP;
      END $$`,
  `CREATE TRIGGER budget_ledger_no_update BEFORE UPDATE OR DELETE ON budget_ledger
        FOR EACH ROW EXECUTE FUNCTION statguard_ledger_append_only()`,
  `CREATE TRIGGER budget_ledger_no_truncate BEFORE TRUNCATE ON budget_ledger
        FOR EACH STATEMENT EXECUTE FUNCTION statguard_ledger_append_only()`,
];

export const m004: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    for (const stmt of M004) await sql.raw(stmt).execute(db);
  },
  async down(): Promise<void> {
    throw new Error('migration 004 cannot be reverted (the audit log and the ledger are append-only)');
  },
};
