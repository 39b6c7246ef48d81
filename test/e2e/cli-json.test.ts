/**
 * `--json` on every command (issue 19, CLI conventions): standard output holds only results, one JSON object per line;
 * notes go to standard error; a failure is one JSON line `{"error": {code, message, exitCode, where?, details?}}` on
 * standard error with the same exit code as without --json (1 a failed run, 2 a usage error).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { openStore } from '../../api/store/db.ts';
import { main } from '../../cli/main.ts';
import { freshPgliteDir } from '../api/pglite-template.ts';
import { capture } from '../capture-io.ts';
import { lendStore } from '../lend-store.ts';

/** Every line of standard output parsed as JSON (a line that is not JSON fails the test). */
function jsonLines(t: Test, out: string): Record<string, unknown>[] {
  const lines = out.split('\n').filter((l) => l !== '');
  return lines.map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      t.fail(`stdout line is not JSON: ${l}`);
      return {};
    }
  });
}

const tmp = (t: Test, prefix: string): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('validate: the result as one JSON line, before or after the command', async (t) => {
  for (const argv of [
    ['validate', 'policies/tiny-sdc.json', '--json'],
    ['--json', 'validate', 'policies/tiny-sdc.json'],
  ]) {
    const io = capture();
    t.equal(await main(argv, io), 0, io.stderr());
    const [r, ...more] = jsonLines(t, io.stdout());
    t.same(more, [], 'one line');
    t.match(r, { valid: true, policy: 'tiny-sdc', regime: 'sdc', cells: 48 });
    t.same(
      (r!.tables as { id: string }[]).map((x) => x.id),
      ['turnover', 'enterprises', 'size-by-region'],
    );
  }
});

t.test('a failure is one JSON error line naming what and where, nothing on stdout', async (t) => {
  const dir = tmp(t, 'sg-json-');
  const bad = JSON.parse(readFileSync('policies/tiny-sdc.json', 'utf8'));
  bad.tables[0].protection = { minFrequency: 'three' };
  const file = path.join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify(bad));
  const io = capture();
  t.equal(await main(['validate', file, '--json'], io), 1);
  t.equal(io.stdout(), '');
  const [e, ...more] = jsonLines(t, io.stderr());
  t.same(more, []);
  const err = (e as { error: { code: string; exitCode: number; details?: { path?: string }[] } }).error;
  t.equal(err.code, 'POLICY_INVALID');
  t.equal(err.exitCode, 1);
  t.ok(
    err.details?.some((d) => d.path?.startsWith('/tables/0')),
    `a detail names the JSON path: ${JSON.stringify(err.details)}`,
  );

  const usage = capture();
  t.equal(await main(['release', '--bogus', '--json'], usage), 2);
  t.equal(usage.stdout(), '');
  t.match(jsonLines(t, usage.stderr()), [{ error: { code: 'USAGE', exitCode: 2, message: /--bogus/ } }]);

  // After `--`, --json is an argument, not the option.
  const literal = capture();
  t.equal(await main(['validate', '--', '--json'], literal), 1);
  t.match(literal.stderr(), /^statguard: POLICY_UNREADABLE: .*--json/);
});

t.test('release: one result line; the audit note goes to stderr', async (t) => {
  const dir = tmp(t, 'sg-json-rel-');
  const out = path.join(dir, 'rel');
  const io = capture();
  const code = await main(
    ['release', 'policies/tiny-sdc.json', '--out', out, '--seed', '1', '--offline', '--json'],
    io,
  );
  t.equal(code, 0, io.stderr());
  const [r, ...more] = jsonLines(t, io.stdout());
  t.same(more, []);
  t.match(r, { release: 'tiny-sdc', dir: out, regime: 'sdc', randomness: 'seeded' });
  const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  t.equal(
    r!.suppressed,
    manifest.tables.reduce((n: number, x: { suppressed: number }) => n + x.suppressed, 0),
  );

  const lint = capture();
  t.equal(await main(['lint', 'policies/tiny-sdc.json', '--no-data', '--json'], lint), 0, lint.stderr());
  t.match(jsonLines(t, lint.stdout()), [{ policy: 'policies/tiny-sdc.json', findings: Array }]);
  const clash = capture();
  t.equal(await main(['lint', 'policies/tiny-sdc.json', '--format', 'text', '--json'], clash), 2);
});

t.test('store commands: JSON Lines results, secrets only where the text shows them', async (t) => {
  const dir = tmp(t, 'sg-json-store-');
  lendStore(t, await openStore({ dataDir: await freshPgliteDir(dir) }));
  const ds = capture();
  t.equal(
    await main(['datasets', 'create', 'json-ds', '--title', 'J', '--regime', 'dp', '--rho', '2', '--json'], ds),
    0,
  );
  t.match(jsonLines(t, ds.stdout()), [{ dataset: 'json-ds', regime: 'dp', totalRho: 2 }]);

  const created = [];
  for (const name of ['a', 'b']) {
    const k = capture();
    t.equal(await main(['keys', 'create', '--role', 'researcher', '--name', name, '--json'], k), 0, k.stderr());
    const [r] = jsonLines(t, k.stdout());
    t.match(r, { role: 'researcher', name, key: String });
    created.push(r!.id);
  }
  const list = capture();
  t.equal(await main(['keys', 'list', '--json'], list), 0);
  const rows = jsonLines(t, list.stdout());
  t.ok(rows.length >= 2);
  for (const id of created)
    t.ok(
      rows.some((r) => r.id === id && r.revokedAt === null),
      `key ${id} listed`,
    );
  t.notOk(list.stdout().includes('"key"'), 'a listed key never carries its secret');

  const missing = capture();
  t.equal(await main(['approve', 'no-such-release', '--json'], missing), 1);
  t.equal(missing.stdout(), '');
  t.match(jsonLines(t, missing.stderr()), [{ error: { code: /NOT_FOUND/, exitCode: 1 } }]);
});

t.test('help names --json for every command', async (t) => {
  for (const cmd of ['validate', 'keys', 'audit']) {
    const io = capture();
    t.equal(await main([cmd, '--help'], io), 0);
    t.match(io.stdout(), /--json: results as JSON Lines/);
  }
});
