/**
 * Loaded into every test process (package.json, tap `node-arg`): the secure zone's state directory (signing key, draw
 * logs, record-key secrets) is a fresh temporary folder per test process, so tests never read or grow the working
 * copy's `.statguard/secure` and a test's draw log starts empty. Child processes inherit it through the environment.
 * A test that wants its own folder sets STATGUARD_SECURE_DIR itself. Likewise the embedded store's folder
 * (STATGUARD_DATA_DIR), unless the test process names one: a fresh path where no store exists yet, so `statguard
 * release` (which reads the published releases of its dataset from the store) never reads the working copy's
 * `.statguard/db`. Not a test file.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { freshStateDirs } from './state-dirs.ts';

process.once('exit', freshStateDirs(true));

// The API logs every request to stderr by default (api/app.ts); tests that look at log lines pass their own stream
// and level, the others (and their child servers, through the environment) stay quiet.
process.env.STATGUARD_LOG_LEVEL ??= 'silent';

// tap's runner starts every test file with `--import=@tapjs/processinfo/import`, and processinfo adds the same import
// to the NODE_OPTIONS of every process a test starts (through process-on-spawn's listeners). In a child it records
// nothing the suite uses (coverage is off; the children are not test files), but it registers module hooks on a
// separate thread: about 0.9 CPU-s more for each CLI child that loads the bundle (0.5 -> 1.4 s; robustness/crash went
// from 41 to 18 CPU-s without it). The listener below runs after processinfo's and takes the import back out of a child's
// NODE_OPTIONS, keeping every other option; the test file itself stays tracked by tap.
const spawnHooks = (globalThis as Record<symbol, unknown>)[Symbol.for('process-on-spawn@*:singletonId')] as
  { listeners: ((opts: { env: Record<string, string | undefined> }) => void)[] } | undefined;
//
// The same listener preloads test/wasm-baseline.mjs into every child (see WebAssembly below).
const BASELINE_IMPORT = `--import=${JSON.stringify(
  pathToFileURL(path.join(fileURLToPath(new URL('.', import.meta.url)), 'wasm-baseline.mjs')).href,
)}`;
spawnHooks?.listeners.push((opts) => {
  const options = opts.env.NODE_OPTIONS ?? '';
  // processinfo writes each option as a double-quoted token (a path may hold spaces).
  const kept = (options.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? []).filter(
    (o) => !o.includes('@tapjs/processinfo') && !o.includes('wasm-baseline.mjs'),
  );
  opts.env = { ...opts.env, NODE_OPTIONS: [...kept, BASELINE_IMPORT].join(' ') };
});

// WebAssembly on V8's baseline compiler (Liftoff) only, in test processes and their children. PGlite's 9.9 MB module
// runs PostgreSQL's start-up once per store open, hot enough that V8 recompiles much of it with its optimising
// compiler in background threads: about 1.5-2.5 CPU-s per process that opens a store (api/routes 6.3 -> 3.5 CPU-s,
// a bare PGlite open 5.5 -> 3.2), for code that a test then runs for a few hundred short queries. The sdc tests are
// the exception: HiGHS solves long LPs, where the optimised code pays (sdc/secondary 29 -> 31 CPU-s on the baseline
// compiler), so their processes keep V8's default. Speed only: the same instructions run, results are identical.
if (!/[\\/]test[\\/]sdc[\\/]/.test(process.argv[1] ?? '')) v8.setFlagsFromString('--liftoff-only');
