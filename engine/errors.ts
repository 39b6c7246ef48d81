/**
 * Every failure the engine reports is a StatguardError with a stable code and
 * a location naming what is wrong and where (file, line, column, JSON path).
 *
 * Rule: messages name columns, codes, paths and line numbers, never a
 * protected value (a suppressed cell's value, an exact pre-noise value, a
 * unit's contribution). Raw input values from a bad row may be quoted, because
 * they are the officer's own input and the error only reaches the secure zone.
 */
export type ErrorCode =
  | 'POLICY_INVALID'
  | 'POLICY_UNREADABLE'
  | 'POLICY_REFUSED'
  | 'SOURCE_UNREADABLE'
  | 'CSV_MALFORMED'
  | 'CSV_HEADER'
  | 'ROW_INVALID'
  | 'EMPTY_INPUT'
  | 'ARITHMETIC_OVERFLOW'
  | 'SDC_INFEASIBLE'
  | 'AUDIT_FAILED'
  | 'OUTPUT_EXISTS'
  | 'OUTPUT_FAILED'
  | 'USAGE'
  | 'SECURE_STATE'
  | 'SIGNING_KEY_INVALID'
  | 'QUERY_INVALID'
  | 'ON_DEMAND_NOT_OFFERED'
  | 'ON_DEMAND_INPUT_CHANGED';

export interface ErrorLocation {
  readonly file?: string;
  readonly line?: number;
  readonly column?: string;
  /** JSON pointer / path inside a policy, e.g. /tables/0/measure/bounds */
  readonly path?: string;
  /** The offending raw input (never a protected value). */
  readonly value?: string;
}

export interface ErrorDetail extends ErrorLocation {
  readonly message: string;
}

export class StatguardError extends Error {
  readonly code: ErrorCode;
  readonly where: ErrorLocation;
  /** Several problems reported at once (e.g. every schema violation of a policy). */
  readonly details: readonly ErrorDetail[];

  constructor(code: ErrorCode, message: string, where: ErrorLocation = {}, details: readonly ErrorDetail[] = []) {
    super(message);
    this.name = 'StatguardError';
    this.code = code;
    this.where = where;
    this.details = details;
  }

  /** One human-readable block: the message, then each detail on its own line. */
  describe(): string {
    const loc = formatLocation(this.where);
    const head = `${this.code}: ${this.message}${loc ? ` (${loc})` : ''}`;
    if (this.details.length === 0) return head;
    return [
      head,
      ...this.details.map((d) => {
        const l = formatLocation(d);
        return `  - ${l ? `${l}: ` : ''}${d.message}`;
      }),
    ].join('\n');
  }
}

export function formatLocation(w: ErrorLocation): string {
  const parts: string[] = [];
  if (w.file !== undefined) parts.push(w.line !== undefined ? `${w.file}:${w.line}` : w.file);
  else if (w.line !== undefined) parts.push(`line ${w.line}`);
  if (w.column !== undefined) parts.push(`column ${JSON.stringify(w.column)}`);
  if (w.path !== undefined) parts.push(`at ${w.path === '' ? '/' : w.path}`);
  if (w.value !== undefined)
    parts.push(`value ${JSON.stringify(w.value.length > 80 ? `${w.value.slice(0, 77)}...` : w.value)}`);
  return parts.join(', ');
}
