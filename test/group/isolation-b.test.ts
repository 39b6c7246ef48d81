/** See isolation-a.test.ts: this file starts as if it had a process of its own. */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

t.test('a file starts with the environment, secure zone and store folder of a fresh process', async (t) => {
  t.equal(process.env.STATGUARD_GROUP_PROBE, undefined, 'no variable set by another file');
  const secure = process.env.STATGUARD_SECURE_DIR!;
  t.ok(existsSync(secure), 'a secure zone folder is there');
  t.same(readdirSync(secure), [], 'and empty: no file of another test in it');
  t.notOk(existsSync(path.join(process.env.STATGUARD_DATA_DIR!, 'probe')), 'no store folder of another test');
  t.equal(process.env.STATGUARD_LOG_LEVEL, 'silent', 'the preload settings are kept');
});
