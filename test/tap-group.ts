/**
 * Several light test files in one test process (bin/build-tests.js groups them for `npm test`). Not a test file.
 *
 * Why: every test process pays about 1 CPU-s before its first test (node, tap's process tracking and its module hooks
 * thread, the bundle), as much as many small test files need for their tests. A group runs its files one after the
 * other, each as it would run alone:
 *
 * - each file is a subtest named by its path, and `import t from 'tap'` in the file (and in its helpers) is that
 *   subtest: the file's tests, `before`/`teardown` hooks and failures stay inside it, and its teardowns run when its
 *   tests are done, before the next file starts;
 * - each file starts from the environment the process started with, with a fresh secure zone and store folder
 *   (test/state-dirs.ts, as test/secure-env.ts gives every test process); what a file sets in process.env is gone
 *   when the next one starts.
 *
 * What a group shares is what one process shares: loaded modules and their caches, and the V8 settings.
 */
import tap from 'tap';
import { freshStateDirs } from './state-dirs.ts';

export * from 'tap';

/** The test a file's `import t from 'tap'` means: the root outside a group, the file's subtest inside one. */
let current: typeof tap = tap;
export { current as default };

export interface GroupMember {
  /** The file's path in the project (the subtest's name). */
  readonly name: string;
  /** Its bundled module. */
  readonly url: string;
}

/** Restore the process environment to `env` (keys added since removed, changed ones put back). */
function restoreEnv(env: Readonly<Record<string, string | undefined>>): void {
  for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
}

/** Run `members` one after the other, each in a subtest of its own (see above). */
export async function runGroup(members: readonly GroupMember[]): Promise<void> {
  const env = { ...process.env };
  for (const m of members) {
    await tap.test(m.name, async (sub) => {
      restoreEnv(env);
      sub.teardown(freshStateDirs(false));
      current = sub as unknown as typeof tap;
      await import(m.url);
    });
  }
  current = tap;
  restoreEnv(env);
}
