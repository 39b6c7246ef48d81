/**
 * Migration 005: audit rows chained by the application, checked by the database per statement (issue 17, the cost of
 * group-committed audit; design note audit-chain.md, "Batches chained by the application").
 *
 * Migration 004's BEFORE INSERT row trigger computed every audit row's hash in plpgsql: about 80 us of PGlite CPU per
 * row, a third of a table read's cost. Since 005 the group-commit writer (chain-append.ts) computes `seq`,
 * `prev_hash`, `hash` and `at` itself and inserts a batch as one `INSERT ... SELECT FROM unnest(...)`; the database
 * checks the statement as a whole instead of chaining row by row:
 *
 * - the row trigger runs only for rows that arrive without a `seq` (`WHEN (NEW.seq IS NULL)`: a mutation's own row,
 *   a direct INSERT), which it chains as before, with a time stamp no earlier than the previous row's (the writer's
 *   rows carry the API's clock, which may run ahead of the database's);
 * - the AFTER INSERT statement trigger (`statguard_chain_settle`, SECURITY DEFINER) locks the head row and refuses
 *   the statement unless its rows continue the head without a gap (as in 004), each row's `prev_hash` is the hash of
 *   the row before it, and audit time stamps never go backwards along the chain; then it moves the head. Each row's
 *   own `hash` is checked against its content when the chain is verified (chain.ts, in the application), not here:
 *   recomputing it in SQL cost 40 us per row, as much as 004's trigger did. The application's canonical rendering
 *   (chain-append.ts `jsonbText` above all) is tested against PostgreSQL's own (test/api/chain-append.test.ts).
 * - `statguard_chain_tip(chain, lock)` (SECURITY DEFINER: the least-privilege API role has only SELECT on
 *   `chain_heads`, and `FOR UPDATE` needs UPDATE) returns the head and the time stamp of its row, locked until the end
 *   of the transaction when asked: the writer's fallback when another writer moved the head.
 *
 * Budget ledger rows keep the 004 row trigger (few rows, each in its approval's transaction).
 */
import type { Migration } from 'kysely';
import { AUDIT, rowTrigger } from './chain-sql.ts';
import { statementMigration } from './statement-migration.ts';

const M005: readonly string[] = [
  rowTrigger('statguard_audit_chain', {
    ...AUDIT,
    before: `        NEW.at := greatest(clock_timestamp(), (SELECT a.at FROM public.audit_log a WHERE a.seq = s));
`,
  }).replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION'),
  `DROP TRIGGER audit_log_chain ON audit_log`,
  `CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.seq IS NULL)
        EXECUTE FUNCTION statguard_audit_chain()`,
  `CREATE FUNCTION statguard_chain_tip(p_chain text, p_lock boolean, OUT o_seq bigint, OUT o_hash text,
        OUT o_at timestamptz) LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        IF p_lock THEN
          SELECT h.seq, h.hash INTO o_seq, o_hash FROM public.chain_heads h WHERE h.chain = p_chain FOR UPDATE;
        ELSE
          SELECT h.seq, h.hash INTO o_seq, o_hash FROM public.chain_heads h WHERE h.chain = p_chain;
        END IF;
        IF NOT FOUND THEN RAISE EXCEPTION 'hash chain % has no head row', p_chain; END IF;
        IF p_chain = 'audit_log' THEN SELECT a.at INTO o_at FROM public.audit_log a WHERE a.seq = o_seq; END IF;
      END $$`,
  `CREATE OR REPLACE FUNCTION statguard_chain_settle() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE n bigint; lo bigint; hi bigint; first_prev text; last_hash text; h record; bad bigint;
        prev_at timestamptz;
      BEGIN
        SELECT count(*), min(seq), max(seq) INTO n, lo, hi FROM added;
        IF n = 0 THEN RETURN NULL; END IF;
        SELECT c.seq, c.hash INTO h FROM public.chain_heads c WHERE c.chain = TG_TABLE_NAME FOR UPDATE;
        SELECT prev_hash INTO first_prev FROM added WHERE seq = lo;
        IF lo <> h.seq + 1 OR hi <> h.seq + n OR first_prev IS DISTINCT FROM h.hash THEN
          RAISE EXCEPTION 'hash chain %: inserted rows % to % do not continue the head (%)', TG_TABLE_NAME, lo, hi, h.seq;
        END IF;
        IF TG_TABLE_NAME = 'audit_log' THEN
          -- One pass: each row follows the one before it (prev_hash) and is no earlier than it (time stamp).
          SELECT a.at INTO prev_at FROM public.audit_log a WHERE a.seq = h.seq;
          SELECT r.seq INTO bad FROM added r LEFT JOIN added b ON b.seq = r.seq - 1
            WHERE (r.seq > lo AND r.prev_hash IS DISTINCT FROM b.hash) OR r.at < coalesce(b.at, prev_at) LIMIT 1;
          IF FOUND THEN
            RAISE EXCEPTION 'hash chain audit_log: inserted row seq % does not follow the row before it (prev_hash or '
              'time stamp)', bad;
          END IF;
        ELSIF n > 1 THEN
          SELECT a.seq INTO bad FROM added a JOIN added b ON b.seq = a.seq - 1
            WHERE a.prev_hash IS DISTINCT FROM b.hash LIMIT 1;
          IF FOUND THEN
            RAISE EXCEPTION 'hash chain %: inserted row seq % does not follow the row before it', TG_TABLE_NAME, bad;
          END IF;
        END IF;
        SELECT hash INTO last_hash FROM added WHERE seq = hi;
        UPDATE public.chain_heads SET seq = hi, hash = last_hash WHERE chain = TG_TABLE_NAME;
        RETURN NULL;
      END $$`,
];

export const m005: Migration = statementMigration(
  M005,
  'migration 005 cannot be reverted (the audit log is append-only)',
);
