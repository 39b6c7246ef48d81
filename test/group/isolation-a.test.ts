/**
 * With isolation-b.test.ts: two light test files of one folder, which `npm test` runs in one process
 * (test/tap-group.ts). This one leaves traces in the environment, the secure zone and the store folder; the other
 * checks that it starts without them, as it would in a process of its own. Each also passes alone.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

t.test('a file that changes the process environment and writes into its secure zone', async (t) => {
  t.equal(process.env.STATGUARD_GROUP_PROBE, undefined, 'no probe before this file');
  const secure = process.env.STATGUARD_SECURE_DIR!;
  t.ok(existsSync(secure), 'a secure zone folder is there');
  t.same(readdirSync(secure), [], 'and empty');
  process.env.STATGUARD_GROUP_PROBE = 'isolation-a';
  writeFileSync(path.join(secure, 'probe'), 'isolation-a');
  mkdirSync(process.env.STATGUARD_DATA_DIR!, { recursive: true });
  writeFileSync(path.join(process.env.STATGUARD_DATA_DIR!, 'probe'), 'isolation-a');
  // What a file's teardown sees: its own environment still.
  t.teardown(() => {
    if (process.env.STATGUARD_GROUP_PROBE !== 'isolation-a') throw new Error('the environment changed under a file');
  });
});
