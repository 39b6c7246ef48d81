/**
 * The state folders a test runs with (not a test file): a fresh secure zone (STATGUARD_SECURE_DIR: signing key, draw
 * logs, record-key secrets) and a fresh path for the embedded store (STATGUARD_DATA_DIR, unless DATABASE_URL names a
 * server), in one temporary folder. test/secure-env.ts gives them to every test process, keeping those the process was
 * started with; test/tap-group.ts gives new ones to each test file of a group, as a process of its own would have.
 * Returns the removal of the temporary folder.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function freshStateDirs(keepGiven: boolean): () => void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-test-state-'));
  if (!keepGiven || !process.env.STATGUARD_SECURE_DIR) {
    process.env.STATGUARD_SECURE_DIR = path.join(dir, 'secure');
    mkdirSync(process.env.STATGUARD_SECURE_DIR);
  }
  if ((!keepGiven || !process.env.STATGUARD_DATA_DIR) && !process.env.DATABASE_URL)
    process.env.STATGUARD_DATA_DIR = path.join(dir, 'db');
  return () => rmSync(dir, { recursive: true, force: true });
}
