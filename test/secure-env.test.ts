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
