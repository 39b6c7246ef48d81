/** An in-memory Io for command tests: what a command printed on stdout and stderr. Not a test file. */
import type { Io } from '../cli/io.ts';

export function capture(): Io & { stdout: () => string; stderr: () => string } {
  let o = '';
  let e = '';
  return {
    out: (s) => {
      o += s;
    },
    err: (s) => {
      e += s;
    },
    isTty: false,
    stdout: () => o,
    stderr: () => e,
  };
}
