/**
 * statguard command line: dispatches a command to its module (see README.md)
 * and maps its outcome to an exit code.
 *
 * Exit codes: 0 success, 1 a run failed (bad input, invalid policy, audit),
 * 2 usage error. Errors go to stderr as one block naming what and where.
 * Progress is shown on a terminal only (stderr is a TTY) and never otherwise.
 * The engine, store and API modules load only for the commands that need them.
 */
import { StatguardError } from '../engine/errors.ts';
import { ENGINE_VERSION } from '../engine/version.ts';
import { commandUsage, wantsHelp } from './help.ts';
import { defaultIo, jsonError, usageFailure, UsageError, type Io } from './io.ts';
import { cmdDemo, cmdRelease, cmdValidate } from './release.ts';
import { cmdStart } from './start.ts';
import { USAGE } from './usage.ts';

export type { Io } from './io.ts';

export async function main(args: readonly string[], baseIo: Io = defaultIo): Promise<number> {
  // `--json` (anywhere before `--`) applies to every command: results as JSON Lines on stdout, errors as JSON on stderr.
  const end = args.indexOf('--');
  const before = end < 0 ? args : args.slice(0, end);
  const json = before.includes('--json');
  const argv = json ? [...before.filter((a) => a !== '--json'), ...(end < 0 ? [] : args.slice(end))] : args;
  const io: Io = json ? { ...baseIo, json: true } : baseIo;
  try {
    const [cmd, ...rest] = argv;
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      case '--version':
        io.out(`${ENGINE_VERSION}\n`);
        return 0;
    }
    // `statguard <command> --help` (or -h): that command's usage, description, options and exit codes.
    const help = commandUsage(cmd);
    if (help !== null && wantsHelp(rest)) {
      io.out(help);
      return 0;
    }
    switch (cmd) {
      case 'validate':
        return await cmdValidate(rest, io);
      case 'release':
        return await cmdRelease(rest, io);
      case 'demo':
        return await cmdDemo(rest, io);
      case 'start':
        return await cmdStart(rest, io);
      case 'preview':
        return await (await import('./preview.ts')).cmdPreview(rest, io);
      case 'lint':
        return await (await import('./lint.ts')).cmdLint(rest, io);
      case 'export':
        return await (await import('./export.ts')).cmdExport(rest, io);
      default: {
        // The store and API modules load only for the commands that need them (fast start for release/validate).
        const { runApiCommand } = await import('./store-commands.ts');
        const code = await runApiCommand(cmd, rest, io);
        if (code === undefined) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
        return code;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) {
      const cmd = argv[0];
      return usageFailure(io, cmd !== undefined && commandUsage(cmd) !== null ? cmd : null, e);
    }
    if (e instanceof StatguardError) {
      if (io.json) return jsonError(io, e, 1);
      io.err(`statguard: ${e.describe()}\n`);
      return 1;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) {
      if (io.json) return jsonError(io, { code, message: (e as Error).message }, 1);
      io.err(`statguard: ${code}: ${(e as Error).message}\n`);
      return 1;
    }
    if (io.json) return jsonError(io, { code: 'INTERNAL', message: (e as Error).message }, 1);
    io.err(`statguard: internal error: ${(e as Error).message}\n`);
    return 1;
  }
}
