#!/usr/bin/env node
// Bundles the test files for `npm test` (one ESM file per test, shared code in chunks; the light files of a folder
// under .tap-build/grouped/, run several to a process by a group file under .tap-build/test/: see SEPARATE), so that the
// test processes load plain JavaScript instead of going through tsx's module hook: on Node 20 that hook runs in a
// thread of its own and every module load crosses to it and back, about 1.4 CPU-s per test process (the suite starts
// one per test file). The tests run unchanged: each bundled file keeps its own import.meta.url, dirname and filename
// (the source's), so fixtures, child processes and workers resolve exactly as from the sources, and source maps give
// failures their source lines. npm packages stay external (loaded from node_modules as usual).
//
//   node bin/build-tests.js        writes .tap-build/ (removed first); tap runs it with .taprc-bundle
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Test files that keep a process of their own: those that take 10 s or more in a full run (a group of them would only
 * lengthen the run's tail), and those whose subject is the process itself. Every other test file runs in a group
 * (test/tap-group.ts): the light files of one folder, GROUP_SIZE at most per process, saving each the 1 CPU-s a test
 * process costs before its first test. Paths from test/, without `.test.ts`.
 */
const SEPARATE = new Set([
  // Long: 10 s or more in a full run (wall time, four files at once on two cores).
  'source-sql/differential',
  'e2e/readme-tour',
  'sdc/secondary',
  'web/builder-browser',
  'sdc/witness',
  'robustness/privacy-empirical',
  'web/browser',
  'robustness/fuzz',
  'robustness/no-leak',
  'robustness/crash',
  'ondemand/input-binding',
  'sdc/insiders-timelimit',
  'e2e/serve-ondemand',
  'sdc/sparse',
  'preview/limits',
  'dp/means',
  'api/store',
  'api/abuse',
  'source-sql/invalid-rows',
  'robustness/access',
  'web/contracts-browser',
  'draws/draw-log',
  'e2e/package',
  'robustness/bad-input',
  'sdc/insiders-floor',
  'release/round-trip',
  'sdc/timelimit',
  'api/one-writer',
  'api/audit-chain',
  'dp/partition',
  'api/binary-formats',
  'e2e/bundle',
  'api/routes',
  'api/cross-release',
  // The process is the subject: its spawn listener and environment.
  'secure-env',
]);
const GROUP_SIZE = 6;

/** The grouped test files by group name (`<folder>-<k>`), in path order. */
function groups(files) {
  const byFolder = new Map();
  for (const f of files) {
    const rel = path.relative(path.join(root, 'test'), f).replace(/\\/g, '/');
    if (!rel.endsWith('.test.ts') || SEPARATE.has(rel.slice(0, -'.test.ts'.length))) continue;
    const folder = path.dirname(rel);
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), f]);
  }
  const out = new Map();
  for (const [folder, members] of byFolder) {
    if (members.length < 2) continue;
    members.sort();
    const n = Math.ceil(members.length / GROUP_SIZE);
    for (let k = 0; k < n; k++) {
      const part = members.slice(Math.floor((k * members.length) / n), Math.floor(((k + 1) * members.length) / n));
      out.set(`${folder === '.' ? 'test' : folder.replaceAll('/', '-')}-group-${k + 1}`, { folder, part });
    }
  }
  return out;
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
const TAP_GROUP = path.join(root, 'test/tap-group.ts');

/** Project code's imports of other packages stay external; the bundled packages' own imports are bundled with them. */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      // A project file's `tap` is test/tap-group.ts (the root test, or the file's subtest in a group); that module's
      // own import is tap itself.
      const fromPackage = args.importer.includes(`${path.sep}node_modules${path.sep}`);
      if (args.path === 'tap' && !fromPackage && args.importer !== TAP_GROUP) return { path: TAP_GROUP };
      if (args.path.startsWith('node:') || BUNDLED.test(args.path) || fromPackage) return undefined;
      return { path: args.path, external: true };
    });
  },
};

rmSync(out, { recursive: true, force: true });
const all = entries();
const grouped = groups(all);
const members = new Set([...grouped.values()].flatMap((g) => g.part));
// Each group's entry: runs its files' bundles (built below, out of tap's include pattern) in order.
const groupSrc = path.join(out, '.groups');
mkdirSync(groupSrc, { recursive: true });
const groupEntries = [...grouped].map(([name, g]) => {
  const file = path.join(groupSrc, `${name}.mjs`);
  const outName = path.join('test', g.folder, `${name}.test`);
  const list = g.part.map((f) => {
    const rel = path.relative(root, f).replace(/\\/g, '/');
    const built = path.posix.relative(
      path.posix.dirname(outName.replace(/\\/g, '/')),
      `grouped/${rel.slice(0, -3)}.mjs`,
    );
    return `  { name: ${JSON.stringify(rel)}, url: new URL(${JSON.stringify(built)}, import.meta.url).href },`;
  });
  writeFileSync(
    file,
    `// Generated by bin/build-tests.js: ${g.part.length} test files in one process (test/tap-group.ts).\n` +
      `import { runGroup } from ${JSON.stringify(TAP_GROUP)};\n` +
      `await runGroup([\n${list.join('\n')}\n]);\n`,
  );
  return { in: file, out: outName };
});
await build({
  entryPoints: [
    ...all.map((f) => ({
      in: f,
      out: path.join(members.has(f) ? 'grouped' : '', path.relative(root, f)).replace(/\.ts$/, ''),
    })),
    ...groupEntries,
  ],
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
