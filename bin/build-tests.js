#!/usr/bin/env node
// Bundles the test files for `npm test` (one ESM file per test under .tap-build/, shared code in chunks), so that the
// test processes load plain JavaScript instead of going through tsx's module hook: on Node 20 that hook runs in a
// thread of its own and every module load crosses to it and back, about 1.4 CPU-s per test process (the suite starts
// one per test file). The tests run unchanged: each bundled file keeps its own import.meta.url, dirname and filename
// (the source's), so fixtures, child processes and workers resolve exactly as from the sources, and source maps give
// failures their source lines. npm packages stay external (loaded from node_modules as usual).
//
//   node bin/build-tests.js        writes .tap-build/ (removed first); tap runs it with .taprc-bundle
//
// tap starts the files in the order of their paths. The longest ones (LONG, by their wall time in a full run at 4 jobs)
// are written under .tap-build/long/ so that they start first: left to the alphabet, the web and source-sql files
// (35-70 s each) started last and the suite ended with fewer files running than jobs.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { withPrecompiledValidator } from './policy-validator-code.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = path.join(root, '.tap-build');

/** The test files that run longest (35-70 s of wall time each in a full run), longest first. */
const LONG = [
  'test/source-sql/differential.test.ts',
  'test/e2e/readme-tour.test.ts',
  'test/sdc/secondary.test.ts',
  'test/sdc/witness.test.ts',
  'test/robustness/privacy-empirical.test.ts',
  'test/robustness/fuzz.test.ts',
  'test/robustness/no-leak.test.ts',
  'test/web/builder-browser.test.ts',
  'test/robustness/crash.test.ts',
  'test/web/browser.test.ts',
];

/**
 * Every *.test.ts under test/, and the secure-env preload, each with its output path (without extension): the
 * source's path, under long/ for the LONG files (numbered in their order, so they also start longest first).
 */
function entries() {
  const found = [{ in: path.join(root, 'test/secure-env.ts'), out: 'test/secure-env' }];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) {
        const rel = path.relative(root, p).split(path.sep).join('/');
        const long = LONG.indexOf(rel);
        const out = rel.slice(0, -'.ts'.length);
        found.push({ in: p, out: long < 0 ? out : `long/${String(long).padStart(2, '0')}/${out}` });
      }
    }
  };
  walk(path.join(root, 'test'));
  const missing = LONG.filter((f) => !found.some((e) => e.in === path.join(root, f)));
  if (missing.length)
    throw new Error(`bin/build-tests.js: LONG names test files that do not exist: ${missing.join(', ')}`);
  return found;
}

/** Each source file's import.meta.url, dirname and filename replaced by its own (absolute) values. */
const keepImportMeta = {
  name: 'keep-import-meta',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const src = withPrecompiledValidator(root, args.path, readFileSync(args.path, 'utf8'));
      const contents = src
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)))
        .replaceAll('import.meta.filename', JSON.stringify(args.path));
      return { contents, loader: 'ts' };
    });
  },
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: entries(),
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [keepImportMeta],
});
