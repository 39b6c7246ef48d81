/**
 * Audit rows of reads and denials are buffered and written as one multi-row
 * INSERT every `flushMs` (or at 500 rows), and on close: a request costs no
 * database round trip of its own for its audit row. Changes never go through
 * here: they write their audit row inside their own transaction.
 * Trade-off: if the process dies, read rows of the last `flushMs` may be lost;
 * flushMs = 0 writes each row before the hook returns.
 */
import type { Kysely } from 'kysely';
import { writeAudit, type AuditEntry } from './store/audit.ts';
import type { Database } from './store/schema.ts';

const MAX_BATCH = 500;

export class AuditBuffer {
  private pending: AuditEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly flushMs: number,
    private readonly onError: (e: unknown) => void,
  ) {}

  async push(e: AuditEntry): Promise<void> {
    if (this.flushMs <= 0) return writeAudit(this.db, e);
    this.pending.push(e);
    if (this.pending.length >= MAX_BATCH) return this.flush();
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
    return undefined;
  }

  /** Write everything buffered so far (and wait for earlier flushes). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.pending;
    this.pending = [];
    const prev = this.inflight;
    this.inflight = (async () => {
      await prev;
      if (batch.length === 0) return;
      try {
        await this.db
          .insertInto('audit_log')
          .values(
            batch.map((e) => ({
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
      } catch (err) {
        this.onError(err);
      }
    })();
    return this.inflight;
  }
}
