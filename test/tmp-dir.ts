/**
 * Temporary directories of a test process, removed when it exits (tap runs each test file in a process of its own), so
 * the suite leaves nothing behind in the system's temporary directory. Not a test file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];

export function tempDir(prefix: string): string {
  if (made.length === 0)
    process.once('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}
