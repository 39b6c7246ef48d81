/**
 * The README's tour, command by command, on a fresh copy of the checkout (issue 19): every `sh` block of "A short
 * tour" runs as written, in order, in a folder holding only the project's files (what `git clone` gives, plus
 * `node_modules` and the bundle `npm ci` makes), with `npx statguard` run as `node bin/statguard.js` (what npx
 * resolves to). Each command must exit 0; the outputs the README promises are checked (the draft id it names, the
 * release listed by the API, the CSV selection).
 *
 * Two blocks are not run here: the least-privilege role on a PostgreSQL server needs a server and a role of its own
 * (test/api/db-role.test.ts runs `db grant` on the CI server), and tables on demand need a researcher key under an
 * approved contract (test/e2e/serve-ondemand.test.ts). The embedded store starts as a copy of the migrated
 * template (what the first command would make; test/api/pglite-template.ts) to save its initdb.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseString } from 'fast-csv';
import { freePort } from '../free-port.ts';
import t from 'tap';
import { freshPgliteDir } from '../api/pglite-template.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** The `sh` blocks of the README's "A short tour" section, each as its command lines (comments removed). */
function tourBlocks(readme: string): string[][] {
  const start = readme.indexOf('\n## A short tour');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end);
  const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.replace(/\s+#\s.*$/, '').trim())
      .filter((l) => l !== ''),
  );
  return blocks;
}

const parseCsv = (text: string): Promise<Record<string, string>[]> =>
  new Promise((resolve, reject) => {
    const rows: Record<string, string>[] = [];
    parseString(text, { headers: true })
      .on('data', (r: Record<string, string>) => rows.push(r))
      .on('error', reject)
      .on('end', () => resolve(rows));
  });

async function waitFor(url: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

t.test('the README tour, command by command', async (t) => {
  const blocks = tourBlocks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  t.ok(blocks.length >= 5, `${blocks.length} sh blocks in the tour`);
  // Left to other tests: the PostgreSQL role block (test/api/db-role.test.ts) and the on-demand block, which needs a
  // researcher key under an approved contract (test/e2e/serve-ondemand.test.ts runs those requests through the real
  // `statguard serve --on-demand`).
  const skipped = blocks.filter((b) => b.some((l) => l.includes('$OWNER_URL') || l.includes('$KEY')));
  t.equal(skipped.length, 2, 'only the PostgreSQL role block and the on-demand block are left to other tests');

  // A fresh copy: the files git knows (tracked and new, not ignored), node_modules, and the bundle npm ci builds.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sg-tour-'));
  const clone = path.join(tmp, 'statguard');
  let server: ChildProcess | null = null;
  t.teardown(() => {
    server?.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });
  execFileSync(
    'bash',
    ['-c', `mkdir -p "${clone}" && git ls-files -co --exclude-standard | tar cf - -T - | tar xf - -C "${clone}"`],
    {
      cwd: ROOT,
    },
  );
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
  execFileSync(process.execPath, ['bin/build.js'], { cwd: clone, stdio: 'ignore' });
  await freshPgliteDir(path.join(clone, '.statguard'));

  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), STATGUARD_LOG_LEVEL: 'silent' };
  for (const k of ['DATABASE_URL', 'DATABASE_OWNER_URL', 'STATGUARD_DATA_DIR', 'STATGUARD_HOME']) delete env[k];
  const outputs = new Map<string, string>();
  for (const block of blocks) {
    if (skipped.includes(block)) continue;
    for (const line of block) {
      const command = line
        .replaceAll('npx statguard', 'node bin/statguard.js')
        .replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`);
      if (command.endsWith('&')) {
        server = spawn('bash', ['-c', `exec ${command.slice(0, -1)}`], { cwd: clone, env, stdio: 'ignore' });
        await waitFor(`http://127.0.0.1:${port}/v1/releases`, 60_000);
        t.pass(`${line}: serving`);
        continue;
      }
      let out: string;
      try {
        out = execFileSync('bash', ['-c', command], {
          cwd: clone,
          env,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } catch (e) {
        const err = e as { status?: number; stderr?: string };
        t.fail(`${line}: exit ${err.status}: ${err.stderr}`);
        return;
      }
      t.pass(line);
      outputs.set(line, out);
    }
  }
  const find = (prefix: string): string => [...outputs].find(([l]) => l.startsWith(prefix))?.[1] ?? '';
  t.match(find('npx statguard publish'), /^draft acs-ma-sdc-v1 stored/, 'the draft id the README names');
  t.match(find('npx statguard audit verify --checkpoint'), /audit_log: ok, \d+ rows.*extends the checkpoint/);
  const list = JSON.parse(find('curl http://127.0.0.1:3000/v1/releases')) as { releases?: { id: string }[] };
  t.ok(JSON.stringify(list).includes('"acs-ma-sdc-v1"'), 'the API lists the release the tour published');
  const rows = await parseCsv(find("curl 'http://127.0.0.1:3000/v1/releases/acs-ma-sdc-v1/tables/pop-puma-sex"));
  t.ok(rows.length > 1, `CSV table with ${rows.length} rows`);
  t.same([...new Set(rows.map((r) => r.SEX))], ['2'], 'only the selected category');
});
