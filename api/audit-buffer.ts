/**
 * Group commit of the audit rows of reads and denials (issue 17): a request's response waits until its audit row is
 * committed, but requests do not each pay for a commit of their own. `push(entry)` queues the row and resolves once
 * the batch holding it is committed; while one batch commits, the rows that arrive queue up and are committed
 * together next (at most MAX_BATCH rows per INSERT). Changes never come through here: they write their audit row
 * inside their own transaction.
 *
 * Fails closed: `push` rejects with AuditUnavailable when the row could not be committed (store full, read-only, an
 * insert refused), and the caller serves no data (hooks.ts answers 503 AUDIT_UNAVAILABLE). One bad row never takes
 * its batch with it: every entry is cleaned before it is queued (store/audit.ts `cleanEntry`: control characters
 * escaped, lengths bounded), and a batch whose INSERT fails is retried row by row, so only the rows that fail alone
 * are refused.
 *
 * The rows are chained here, not by a row trigger in the database (store/chain-append.ts, migration 005): a batch is
 * one INSERT statement that the database checks as a whole (about a third of the per-row cost of 004's trigger).
 */
import type { Kysely } from 'kysely';
import { cleanEntry, type AuditEntry } from './store/audit.ts';
import { ChainAppender } from './store/chain-append.ts';
import type { Database } from './store/schema.ts';

const MAX_BATCH = 500;
const GATHER_TURNS = 4;

export class AuditUnavailable extends Error {
  constructor(cause: unknown) {
    super(`audit row not committed: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

interface Waiting {
  readonly entry: AuditEntry;
  resolve(): void;
  reject(e: AuditUnavailable): void;
}

export class AuditBuffer {
  private queue: Waiting[] = [];
  private draining: Promise<void> | null = null;
  private readonly chain: ChainAppender;

  /** `copy`: the store's bulk path (PGlite's `Store.copyCsv`; see ChainAppender). */
  constructor(
    db: Kysely<Database>,
    private readonly onError: (e: unknown) => void,
    copy?: (target: string, csv: string) => Promise<void>,
  ) {
    this.chain = new ChainAppender(db, copy);
  }

  /** Queue an audit row; resolves when it is committed, rejects with AuditUnavailable when it cannot be. */
  push(e: AuditEntry): Promise<void> {
    const entry = cleanEntry(e);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** Wait until every row queued so far is committed (or refused). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        await this.gather();
        await this.commit(this.queue.splice(0, MAX_BATCH));
      }
    } finally {
      this.draining = null;
    }
  }

  /**
   * Let the requests the event loop is already handling join the batch: yield while the queue still grows (a few
   * turns at most), never on a timer, so an idle server commits a lone row at once.
   */
  private async gather(): Promise<void> {
    for (let turns = 0; turns < GATHER_TURNS && this.queue.length < MAX_BATCH; turns++) {
      const before = this.queue.length;
      await new Promise<void>((r) => setImmediate(r));
      if (this.queue.length === before && turns > 0) return;
    }
  }

  private async commit(batch: readonly Waiting[]): Promise<void> {
    try {
      await this.chain.append(batch.map((w) => w.entry));
      for (const w of batch) w.resolve();
      return;
    } catch (e) {
      if (batch.length === 1) {
        this.onError(e);
        batch[0]!.reject(new AuditUnavailable(e));
        return;
      }
    }
    // Row by row: a row refused alone fails its own request only.
    for (const w of batch) {
      try {
        await this.chain.append([w.entry]);
        w.resolve();
      } catch (e) {
        this.onError(e);
        w.reject(new AuditUnavailable(e));
      }
    }
  }
}
