/**
 * What every command writes to, and how a wrong command line is reported.
 *
 * - `Io`: standard output, standard error and whether standard error is a
 *   terminal (progress lines are drawn only then).
 * - `UsageError`: the command line is wrong (unknown option, missing
 *   argument). The command that catches it prints `statguard[ <command>]:
 *   <message>`, a blank line and its short usage, and exits with code 2.
 * - `parse`: strict `node:util` parseArgs with positionals; its errors become
 *   UsageErrors with the same message.
 */
import { parseArgs } from 'node:util';
import { shortUsage } from './help.ts';

export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly isTty: boolean;
  /** `--json`: standard output carries only results, one JSON object per line; errors are one JSON object on stderr. */
  readonly json?: boolean;
}

/** A command's result: its text, or with --json one JSON object on one line of standard output (JSON Lines). */
export function result(io: Io, data: Readonly<Record<string, unknown>>, text: string): void {
  io.out(io.json ? `${JSON.stringify(data)}\n` : text);
}

/** A note about the run (not its result): standard output, or standard error with --json so that scripts read only results. */
export function note(io: Io, text: string): void {
  (io.json ? io.err : io.out)(text);
}

/** A failure as scripts read it with --json: one line `{"error": {code, message, exitCode, where?, details?}}`. */
export function jsonError(
  io: Io,
  error: { code: string; message: string; where?: object; details?: readonly object[] },
  exitCode: number,
): number {
  const where = error.where && Object.keys(error.where).length > 0 ? { where: error.where } : {};
  const details = error.details && error.details.length > 0 ? { details: error.details } : {};
  io.err(
    `${JSON.stringify({ error: { code: error.code, message: error.message, exitCode, ...where, ...details } })}\n`,
  );
  return exitCode;
}

export const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTty: Boolean(process.stderr.isTTY),
};

export class UsageError extends Error {}

export type ParseOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

export function parse<O extends ParseOptions>(args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true as const, strict: true as const });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Print a usage error as `statguard[ <command>]: <message>`, a blank line, the command's usage lines and where its
 * full help is (cli/help.ts); returns exit code 2.
 */
export function usageFailure(io: Io, cmd: string | null, e: UsageError): 2 {
  if (io.json) return jsonError(io, { code: 'USAGE', message: e.message }, 2) as 2;
  io.err(`statguard${cmd === null ? '' : ` ${cmd}`}: ${e.message}\n\n${shortUsage(cmd)}`);
  return 2;
}
