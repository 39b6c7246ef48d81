/**
 * Help for one command (`statguard <command> --help`) and the short usage printed with a usage error: the command's
 * usage lines and description, taken from the one usage text (cli/usage.ts), and the exit codes. A usage error prints
 * its message, these few lines and where the full help is, never the whole usage of every command.
 */
import { USAGE } from './usage.ts';

/** Exit codes of every command (also in the README). */
export const EXIT_CODES =
  'Exit codes: 0 success; 1 the run failed (bad input, invalid policy, refused by the store); 2 usage error.';

/** The option every command takes (also in the full usage). */
export const JSON_OPTION =
  '--json: results as JSON Lines on stdout (notes on stderr); a failure as one JSON line {"error": {...}} on stderr.';

/** A usage block: the lines that start with `prefix` and the continuation lines indented deeper after them. */
function block(text: string, starts: (line: string) => boolean): string[] {
  const out: string[] = [];
  let inside = false;
  for (const line of text.split('\n')) {
    if (starts(line)) {
      inside = true;
      out.push(line);
    } else if (inside && /^ {4,}\S/.test(line) && !/^ {2}statguard /.test(line)) out.push(line);
    else inside = false;
  }
  return out;
}

/** The usage lines and description of `cmd`, or null for an unknown command. */
export function commandUsage(cmd: string): string | null {
  // USAGE ends with API_USAGE: every command once.
  const usage = block(USAGE, (l) => l.startsWith(`  statguard ${cmd} `) || l === `  statguard ${cmd}`);
  if (usage.length === 0) return null;
  const about = block(USAGE, (l) => new RegExp(`^  ${cmd}\\s{2,}`).test(l));
  // The Options section describes the engine commands' options (the store commands' usage lines say theirs).
  const engineCommand = USAGE.indexOf(usage[0]!) < USAGE.indexOf('Publication store and API:');
  const optionLines = USAGE.slice(USAGE.indexOf('\nOptions:'));
  const options = engineCommand
    ? block(optionLines, (l) => /^ {2}--\S/.test(l) && usage.join(' ').includes(l.trim().split(/\s/)[0]!))
    : [];
  return [
    'Usage:',
    ...usage,
    ...(about.length > 0 ? ['', ...about.map((l) => l.replace(/^ {2}/, ''))] : []),
    ...(options.length > 0 ? ['', 'Options:', ...options] : []),
    '',
    JSON_OPTION,
    EXIT_CODES,
    '',
  ].join('\n');
}

/** Whether the arguments ask for help (`-h` or `--help` anywhere). */
export const wantsHelp = (args: readonly string[]): boolean => args.includes('--help') || args.includes('-h');

/** The short usage after a usage error of `cmd`: its usage lines and where the full help is. */
export function shortUsage(cmd: string | null): string {
  const u = cmd === null ? null : commandUsage(cmd);
  // The usage block: from "Usage:" to the first blank line.
  const all = u === null ? [] : u.split('\n');
  const lines = all.slice(0, Math.max(0, all.indexOf('')));
  return `${lines.length > 0 ? `${lines.join('\n')}\n` : ''}Run "statguard ${cmd === null || u === null ? '' : `${cmd} `}--help" for more.\n`;
}
