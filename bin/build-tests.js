#!/usr/bin/env node
// Bundles the test files for `npm test` (one ESM file per test under .tap-build/, shared code in chunks), so that the
// test processes load plain JavaScript instead of going through tsx's module hook: on Node 20 that hook runs in a
// thread of its own and every module load crosses to it and back, about 1.4 CPU-s per test process (the suite starts
// one per test file). The tests run unchanged: each bundled file keeps its own import.meta.url, dirname and filename
// (the source's), so fixtures, child processes and workers resolve exactly as from the sources, and source maps give
// failures their source lines. npm packages stay external (loaded from node_modules as usual).
//
//   node bin/build-tests.js        writes .tap-build/ (removed first); tap runs it with .taprc-bundle
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { withPrecompiledValidator } from './policy-validator-code.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const out = path.join(root, '.tap-build');

/** Every *.test.ts under test/, and the secure-env preload. */
function entries() {
  const found = [path.join(root, 'test/secure-env.ts')];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) found.push(p);
    }
  };
  walk(path.join(root, 'test'));
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

/**
 * The npm packages bundled into the tests: tap's test side (tap, @tapjs/* and their helpers), pure JavaScript that a
 * test process otherwise loads as about 130 small ESM files. tap's runner starts every test process with
 * @tapjs/processinfo's module hooks, which run on a thread of their own: each ESM file a test imports crosses to that
 * thread and back and is read and recorded there. Bundled, tap is part of one file: a test that only imports tap costs
 * 0.57 CPU-s instead of 1.14 (dp/accounting 1.1 -> 0.8). Every other package stays external, loaded from node_modules
 * as the product loads it: those with WebAssembly, native code or files found from their own location (PGlite,
 * HiGHS, DuckDB, esbuild, playwright), and kysely, whose PGlite dialect (external) imports it again: bundled, it would
 * be a second copy beside the dialect's (and measured slower, 5.3 -> 5.9 CPU-s for api/routes).
 */
const BUNDLED = /^(tap|@tapjs\/[^/]+)(\/|$)/;

/** Project code's imports of other packages stay external; the bundled packages' own imports are bundled with them. */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || BUNDLED.test(args.path)) return undefined;
      if (args.importer.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: entries(),
  outdir: out,
  outbase: root,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // CommonJS code inside the bundled packages calls require(): give the ESM chunks one.
  banner: {
    js: "import { createRequire as __sgCreateRequire } from 'node:module'; const require = __sgCreateRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  plugins: [keepImportMeta, externalPackages],
});
