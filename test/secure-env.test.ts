/**
 * The test preload (secure-env.ts) takes tap's process tracking out of the processes a test starts: run by tap, a
 * child would otherwise load @tapjs/processinfo's module hooks (about 0.7 CPU-s more for each CLI child). Other
 * NODE_OPTIONS must reach the child unchanged. Under tap this checks the listener against processinfo's own; run
 * alone (`node test/...`) there is no tracking to remove and the options still pass through.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';

const childOptions = (env: NodeJS.ProcessEnv): string =>
  execFileSync(process.execPath, ['-e', 'process.stdout.write(process.env.NODE_OPTIONS ?? "")'], {
    env,
    encoding: 'utf8',
  });

t.test('a child keeps its NODE_OPTIONS but not tap process tracking', async (t) => {
  const own = childOptions({ ...process.env, NODE_OPTIONS: '--max-old-space-size=321 --no-deprecation' });
  t.match(own, /--max-old-space-size=321/);
  t.match(own, /--no-deprecation/);
  t.notMatch(own, /@tapjs\/processinfo/);
  const inherited = childOptions(process.env);
  t.notMatch(inherited, /@tapjs\/processinfo/);
});

t.test('a quoted option with a space in it survives', async (t) => {
  const own = childOptions({ ...process.env, NODE_OPTIONS: '--title="a b"' });
  t.match(own, /--title=("?)a b\1/);
  t.notMatch(own, /@tapjs\/processinfo/);
});

t.test('a child preloads the WebAssembly baseline setting, once, whatever NODE_OPTIONS it was given', async (t) => {
  // Under tap the listener is there (processinfo registers the spawn hooks it joins); run alone there is no listener.
  const underTap = Symbol.for('process-on-spawn@*:singletonId') in globalThis;
  if (!underTap) return t.pass('run without tap: no spawn listener');
  for (const given of [undefined, '', '--no-deprecation']) {
    const env = { ...process.env };
    if (given === undefined) delete env.NODE_OPTIONS;
    else env.NODE_OPTIONS = given;
    const opts = childOptions(env);
    t.equal(opts.match(/wasm-baseline\.mjs/g)?.length, 1, `NODE_OPTIONS ${JSON.stringify(given)}: ${opts}`);
  }
  // A grandchild inherits it without a second copy.
  const nested = execFileSync(
    process.execPath,
    [
      '-e',
      `require('node:child_process').execFileSync(process.execPath, ['-e', 'process.stdout.write(process.env.NODE_OPTIONS ?? "")'], { stdio: 'inherit' })`,
    ],
    { encoding: 'utf8' },
  );
  t.equal(nested.match(/wasm-baseline\.mjs/g)?.length, 1, 'a grandchild: once');
});
