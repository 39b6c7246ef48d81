/**
 * When a release expires. A policy's `release.expires` is a date (YYYY-MM-DD, "after which the release should be
 * withdrawn"): the release is served through that day (UTC) and expired from the next day's 00:00 UTC on.
 *
 * Guarantee: an expired release is not served (410 RELEASE_EXPIRED on its metadata and every table format), left
 * out of researchers' lists, and cannot be approved. An expiry that is not a valid date counts as expired (fail
 * closed: the manifest reader already refuses such a manifest, so this only guards rows written some other way).
 */
import { ApiError } from '../errors.ts';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The first instant at which a release with this expiry date is expired, or null when it never expires. */
export function expiredFrom(expires: string | null): Date | null {
  if (expires === null) return null;
  const m = DATE.exec(expires);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1) : Number.NaN;
  // Date.UTC rolls 2021-02-30 over to March: a date that does not round-trip is invalid, hence expired.
  if (!m || new Date(t - 86_400_000).toISOString().slice(0, 10) !== expires) return new Date(0);
  return new Date(t);
}

export function isExpired(expires: string | null, now: Date = new Date()): boolean {
  const from = expiredFrom(expires);
  return from !== null && now.getTime() >= from.getTime();
}

/** Today's date (UTC) as YYYY-MM-DD: releases with `expires` before it are expired (for SQL filters on the text column). */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

export function expiredError(id: string, expires: string | null): ApiError {
  return new ApiError(
    'RELEASE_EXPIRED',
    `release ${id} expired: it was to be served until ${expires} (UTC) and is no longer served`,
    { release: id, expires },
  );
}

/** Throw RELEASE_EXPIRED when the release has expired at `now`. */
export function refuseExpired(id: string, expires: string | null, now: Date = new Date()): void {
  if (isExpired(expires, now)) throw expiredError(id, expires);
}
