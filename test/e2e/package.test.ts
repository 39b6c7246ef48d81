/**
 * What `npm pack` ships and which Node it needs (issue 19): the package holds what a user runs (the command, the
 * engine, the API with its web page, the example policies and their data) and nothing else (no tests, benchmarks,
 * CI scripts); unpacked beside the installed dependencies, its command validates and releases an example policy;
 * and every production dependency admits the Node versions package.json's `engines` promises (the README says Node 20).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import semver from 'semver';
import t from 'tap';

const ROOT = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

t.test('every production dependency admits the Node versions the package promises', async (t) => {
  const lowest = semver.minVersion(pkg.engines.node)!.version;
  t.match(lowest, /^20\./, 'the package promises Node 20, as the README says');
  t.ok(semver.satisfies(process.version, pkg.engines.node), `this Node ${process.version} is admitted`);
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const refused: string[] = [];
  let checked = 0;
  for (const [where, p] of Object.entries(lock.packages as Record<string, { dev?: boolean; engines?: unknown }>)) {
    if (where === '' || p.dev) continue;
    const range = (p.engines as { node?: unknown } | undefined)?.node;
    if (typeof range !== 'string') continue;
    checked++;
    for (const v of [lowest, process.version])
      if (!semver.satisfies(v, range)) refused.push(`${where} needs node ${range} (refuses ${v})`);
  }
  t.ok(checked > 10, `${checked} production packages declare engines.node`);
  t.same(refused, [], 'no production dependency refuses a promised Node version');
});

t.test('npm pack ships what a user runs, and it runs', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-pack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path);
  const tops = new Set(files.map((f) => f.split('/')[0]));
  for (const shipped of ['bin', 'cli', 'engine', 'api', 'policies', 'fixtures', 'package.json', 'README.md'])
    t.ok(tops.has(shipped), `ships ${shipped}`);
  for (const kept of ['test', 'bench', '.ci', 'dist', 'node_modules', '.statguard', 'out'])
    t.notOk(tops.has(kept), `does not ship ${kept}`);
  t.ok(files.includes('api/web/index.html'), 'the web page');
  t.ok(files.includes('policies/policy.schema.json'), 'the published policy schema');
  t.notOk(
    files.some((f) => /\.test\.ts$/.test(f)),
    'no test file',
  );

  // Unpacked beside the installed dependencies (as npm would install it), the command runs from the package alone.
  execFileSync('tar', ['xzf', path.join(dir, info!.filename), '-C', dir]);
  const unpacked = path.join(dir, 'package');
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(unpacked, 'node_modules'), 'dir');
  const run = (args: string[]): string =>
    execFileSync(process.execPath, [path.join(unpacked, 'bin/statguard.js'), ...args, '--json'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, STATGUARD_HOME: path.join(dir, 'home'), STATGUARD_DATA_DIR: path.join(dir, 'db') },
    });
  const policy = path.join(unpacked, 'policies/tiny-sdc.json');
  t.match(JSON.parse(run(['validate', policy])), { valid: true, policy: 'tiny-sdc' });
  const rel = JSON.parse(run(['release', policy, '--out', path.join(dir, 'rel'), '--seed', '1', '--offline']));
  t.match(rel, { release: 'tiny-sdc', regime: 'sdc' });
  t.ok(rel.cells > 0);
});
