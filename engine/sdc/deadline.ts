/**
 * The time budget of a protection run: one wall-clock deadline handed to every phase (search, clean-up, audit,
 * fallback) and checked in their loops, so `secondary.timeLimitSeconds` bounds the whole protection of a release.
 *
 * Guarantee: `check` throws `TimeUp` once the deadline has passed; a phase that catches it must end in a pattern the
 * audit proves (or a clear refusal), never in a partial one. Checks sit between solver calls, so a phase overruns
 * by at most one LP/MIP call (HiGHS itself gets the remaining time as its `time_limit`).
 */

/** Thrown by `Deadline.check` when the budget is spent; carries the phase that noticed. */
export class TimeUp extends Error {
  constructor(readonly phase: string) {
    super(`time limit reached during ${phase}`);
    this.name = 'TimeUp';
  }
}

export class Deadline {
  /** `at`: epoch milliseconds; Infinity for no limit. */
  constructor(readonly at: number) {}

  static after(seconds: number): Deadline {
    return new Deadline(Date.now() + seconds * 1000);
  }

  static readonly never = new Deadline(Infinity);

  /** Seconds left (0 when passed; Infinity without a limit). */
  remaining(): number {
    return Math.max(0, (this.at - Date.now()) / 1000);
  }

  expired(): boolean {
    return Date.now() >= this.at;
  }

  /** Throws TimeUp(phase) once the deadline has passed. */
  check(phase: string): void {
    if (this.expired()) throw new TimeUp(phase);
  }

  /** A deadline `fraction` of the remaining time from now (never later than this one). */
  share(fraction: number): Deadline {
    if (this.at === Infinity) return this;
    return new Deadline(Date.now() + Math.max(0, this.at - Date.now()) * fraction);
  }
}
