/**
 * Migration 007: the audit log's statement check in one pass (issue 17, a table read at half a bare route's
 * throughput).
 *
 * Migration 005's `statguard_chain_settle` checked a batch of audit rows with seven SQL statements, one of them a
 * self-join of the transition table (`added r LEFT JOIN added b ON b.seq = r.seq - 1`): a transition table has no
 * index, so that join compared every row of the batch with every other one (45 rows: about 2,000 comparisons), and the
 * check cost about 20 us of PGlite CPU per row, a fifth of a table read. `statguard_audit_settle` checks the same
 * things with one window query over the rows in `seq` order (`lag`: each row beside the one before it), then locks
 * and moves the head as before:
 *
 * - the rows continue the head without a gap: `lo = head + 1`, `hi = head + n` (with the unique `seq` index, which
 *   refuses a repeated `seq` before this check runs, the rows are exactly `lo..hi`), and the first row's `prev_hash`
 *   is the head's hash;
 * - each later row's `prev_hash` is the hash of the row before it;
 * - no time stamp goes backwards: each row is no earlier than the row before it, the first no earlier than the head
 *   row's.
 *
 * The messages are 005's. The budget ledger keeps 005's `statguard_chain_settle` (few rows, no time stamps checked).
 */
import type { Migration } from 'kysely';
import { statementMigration } from './statement-migration.ts';

const M007: readonly string[] = [
  `CREATE FUNCTION statguard_audit_settle() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
      DECLARE s record; h record; head_at timestamptz;
      BEGIN
        SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi,
            min(prev_hash) FILTER (WHERE before_seq IS NULL) AS first_prev,
            min(at) FILTER (WHERE before_seq IS NULL) AS first_at,
            min(hash) FILTER (WHERE after_seq IS NULL) AS last_hash,
            min(seq) FILTER (WHERE before_seq IS NOT NULL AND (prev_hash IS DISTINCT FROM before_hash
              OR at < before_at)) AS bad
          INTO s
          FROM (SELECT seq, prev_hash, hash, at, lag(seq) OVER w AS before_seq, lead(seq) OVER w AS after_seq,
              lag(hash) OVER w AS before_hash, lag(at) OVER w AS before_at FROM added WINDOW w AS (ORDER BY seq)) r;
        IF s.n = 0 THEN RETURN NULL; END IF;
        SELECT c.seq, c.hash INTO h FROM public.chain_heads c WHERE c.chain = 'audit_log' FOR UPDATE;
        IF s.lo <> h.seq + 1 OR s.hi <> h.seq + s.n OR s.first_prev IS DISTINCT FROM h.hash THEN
          RAISE EXCEPTION 'hash chain audit_log: inserted rows % to % do not continue the head (%)', s.lo, s.hi, h.seq;
        END IF;
        SELECT a.at INTO head_at FROM public.audit_log a WHERE a.seq = h.seq;
        IF s.first_at < head_at THEN s.bad := s.lo; END IF;
        IF s.bad IS NOT NULL THEN
          RAISE EXCEPTION 'hash chain audit_log: inserted row seq % does not follow the row before it (prev_hash or '
            'time stamp)', s.bad;
        END IF;
        UPDATE public.chain_heads SET seq = s.hi, hash = s.last_hash WHERE chain = 'audit_log';
        RETURN NULL;
      END $$`,
  `DROP TRIGGER audit_log_chain_settle ON audit_log`,
  `CREATE TRIGGER audit_log_chain_settle AFTER INSERT ON audit_log REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION statguard_audit_settle()`,
];

export const m007: Migration = statementMigration(
  M007,
  'migration 007 cannot be reverted (the audit log is append-only)',
);

/**
 * Migration 008: every insert into the audit log takes the chain's head lock before its first row (a BEFORE
 * STATEMENT trigger), as the trigger-chained path already did.
 *
 * The group writer's batches carry their own `seq` (chain-append.ts) and used to meet the lock only in the AFTER
 * statement check, after their rows (and the unique `seq` index entries) were in. A mutation's own audit row takes
 * the lock first, then its `seq`. So a batch could hold `seq` n + 1 while waiting for the lock, and a mutation holding
 * the lock wait for that same `seq`: a deadlock, which PostgreSQL resolves by failing one of them. Seen on the
 * server under load (test/robustness/concurrency.test.ts: 2 of 50 concurrent approvals failed with "deadlock
 * detected" beside a reading API). With the lock first for every writer, the second waits before it has inserted
 * anything; a batch whose remembered head moved meanwhile is refused by the check as before and retried under the
 * lock. On PGlite (one connection) the lock is never contended.
 */
const M008: readonly string[] = [
  `CREATE FUNCTION statguard_audit_lock_head() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
      BEGIN
        PERFORM 1 FROM public.chain_heads c WHERE c.chain = 'audit_log' FOR UPDATE;
        RETURN NULL;
      END $$`,
  `CREATE TRIGGER audit_log_lock_head BEFORE INSERT ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION statguard_audit_lock_head()`,
];

export const m008: Migration = statementMigration(
  M008,
  'migration 008 cannot be reverted (the audit log is append-only)',
);
