#!/usr/bin/env node
// `npm test`'s first step: the type check (tsc, one core, about 45 s) side by side with the bundles the tests run
// (bin/build.js, bin/build-tests.js, then `tap build`), which do not depend on it; fails when either fails, after both
// have ended, with each one's output as it came. The test run itself starts only when both passed.
import { spawn } from 'node:child_process';

const run = (cmd, args) =>
  new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: 'inherit', shell: false });
    c.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    c.on('error', () => resolve(1));
  });

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const typecheck = run(npx, ['tsc', '--noEmit', '-p', 'tsconfig.json']);
const bundles = (async () => {
  for (const [cmd, args] of [
    [process.execPath, ['bin/build.js']],
    [process.execPath, ['bin/build-tests.js']],
    [npx, ['tap', 'build']],
  ]) {
    const code = await run(cmd, args);
    if (code !== 0) return code;
  }
  return 0;
})();
const [tc, b] = await Promise.all([typecheck, bundles]);
if (tc !== 0) console.error(`npm test: the type check failed (exit ${tc})`);
if (b !== 0) console.error(`npm test: building the bundles failed (exit ${b})`);
process.exitCode = tc !== 0 || b !== 0 ? 1 : 0;
