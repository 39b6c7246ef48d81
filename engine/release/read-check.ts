/**
 * The error of the release reader (`read.ts`) and the small shape checks it is built from.
 *
 * Guarantee: every problem the reader finds is one ReleaseInvalid whose message is `<where>: <detail>`, `where` naming
 * the release file and the JSON path inside it (or the directory); callers translate it into their own error type
 * (the store's RELEASE_INVALID problem, the CLI's USAGE error for `--against`) without parsing the message.
 */

/**
 * What went wrong, for callers that word it their own way: the directory or the manifest could not be read, a table
 * file is missing, a table file's size or SHA-256 differs from the manifest, the content is inconsistent, the release
 * is unsigned, or its signature file does not cover its files.
 */
export type ReleaseInvalidReason =
  | 'directory'
  | 'manifest'
  | 'missing'
  | 'altered'
  | 'invalid'
  /** signature.json or policy.json is missing. */
  | 'unsigned'
  /** signature.json is malformed or does not cover the files present, or policy.json is not the manifest's policy. */
  | 'signature';

export interface ReleaseInvalidInfo {
  readonly reason?: ReleaseInvalidReason;
  /** Table id, for a missing or altered table file. */
  readonly table?: string;
  /** Which file of the table ('csv' or 'jsonstat'), for a missing or altered table file. */
  readonly fileKind?: 'csv' | 'jsonstat' | 'noisy';
  /** The underlying system or JSON error message, when there is one. */
  readonly underlying?: string;
}

export class ReleaseInvalid extends Error {
  readonly code = 'RELEASE_INVALID';
  /** File name in the release directory and JSON path (`rs.json/dimension/region`), or the directory. */
  readonly where: string;
  /** The message without its `where` prefix. */
  readonly detail: string;
  readonly reason: ReleaseInvalidReason;
  readonly table: string | undefined;
  readonly fileKind: 'csv' | 'jsonstat' | 'noisy' | undefined;
  readonly underlying: string | undefined;

  constructor(where: string, detail: string, info: ReleaseInvalidInfo = {}) {
    super(`${where}: ${detail}`);
    this.name = 'ReleaseInvalid';
    this.where = where;
    this.detail = detail;
    this.reason = info.reason ?? 'invalid';
    this.table = info.table;
    this.fileKind = info.fileKind;
    this.underlying = info.underlying;
  }

  /** The release file the problem is in (first component of `where`). */
  get file(): string {
    return this.where.split('/')[0]!;
  }
}

export function bad(where: string, msg: string, info?: ReleaseInvalidInfo): never {
  throw new ReleaseInvalid(where, msg, info);
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(o: Record<string, unknown>, key: string, where: string, allowEmpty = false): string {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) bad(`${where}/${key}`, 'expected a non-empty string');
  return v;
}

export function obj(o: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = o[key];
  if (!isObj(v)) bad(`${where}/${key}`, 'expected an object');
  return v;
}

/** A plain file name inside the release directory (no path separator, no leading dot). */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
