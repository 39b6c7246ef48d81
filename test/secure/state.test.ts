import t from 'tap';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { readOrCreateSecret, secureDir, securePath } from '../../engine/secure/index.ts';
import { tempDir } from '../tmp-dir.ts';

const envFor = (dir: string): NodeJS.ProcessEnv => ({ STATGUARD_SECURE_DIR: dir });

t.test('the directory is owner-only and a secret is created once, owner-only', async (t) => {
  const dir = path.join(tempDir('sg-secure-'), 'secure');
  const env = envFor(dir);
  t.equal(secureDir(env), dir);
  t.equal(statSync(dir).mode & 0o777, 0o700, 'directory mode 0700');
  let calls = 0;
  const a = readOrCreateSecret('keys/one', () => (calls++, new Uint8Array([1, 2, 3])), env);
  const b = readOrCreateSecret('keys/one', () => (calls++, new Uint8Array([9, 9, 9])), env);
  t.same([...a], [1, 2, 3]);
  t.same([...b], [1, 2, 3], 'the second use reads the first value');
  t.equal(calls, 1, 'created once');
  t.equal(statSync(path.join(dir, 'keys/one')).mode & 0o777, 0o600, 'file mode 0600');
  t.equal(statSync(path.join(dir, 'keys')).mode & 0o777, 0o700, 'sub-folder mode 0700');
});

t.test('a secret readable by others is refused, not used', async (t) => {
  const env = envFor(tempDir('sg-secure-'));
  const p = securePath('leaky', env);
  writeFileSync(p, 'x', { mode: 0o644 });
  chmodSync(p, 0o644);
  t.throws(() => readOrCreateSecret('leaky', () => new Uint8Array([1]), env), {
    code: 'SECURE_STATE',
    message: /owner-only/,
  });
});

t.test('names cannot leave the directory', async (t) => {
  const env = envFor(tempDir('sg-secure-'));
  for (const name of ['../x', 'a/../../x', '', 'a//b', './x']) {
    t.throws(() => securePath(name, env), { code: 'SECURE_STATE' }, name);
  }
});

t.test('processes racing to create one secret agree on one value', async (t) => {
  const dir = tempDir('sg-secure-');
  const script =
    "import { readOrCreateSecret } from './engine/secure/index.ts';" +
    "import { randomBytes } from 'node:crypto';" +
    "process.stdout.write(Buffer.from(readOrCreateSecret('race', () => randomBytes(16))).toString('hex'));";
  const run = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { ...process.env, STATGUARD_SECURE_DIR: dir },
      });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('error', reject);
      c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
    });
  const outs = await Promise.all([run(), run(), run(), run()]);
  t.equal(new Set(outs).size, 1, `one value: ${outs.join(' ')}`);
  t.equal(outs[0]!.length, 32);
});
