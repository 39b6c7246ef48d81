/**
 * Command-line conventions (issue 19): `--help` on every command (its usage, description, options and exit codes,
 * exit 0), a usage error names the problem and prints only that command's usage lines (exit 2), and `demo` never
 * replaces existing release directories without --force.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { main } from '../../cli/main.ts';
import { capture } from '../capture-io.ts';

const COMMANDS = [
  'validate',
  'release',
  'demo',
  'start',
  'preview',
  'lint',
  'export',
  'publish',
  'approve',
  'withdraw',
  'keys',
  'contracts',
  'datasets',
  'signing-keys',
  'serve',
  'audit',
  'db',
];

t.test('--help on every command', async (t) => {
  for (const cmd of COMMANDS) {
    for (const flag of ['--help', '-h']) {
      const io = capture();
      t.equal(await main([cmd, flag], io), 0, `${cmd} ${flag}`);
      t.match(io.stdout(), new RegExp(`^Usage:\\n {2}statguard ${cmd}`), `${cmd}: its usage first`);
      t.match(io.stdout(), /Exit codes: 0 success; 1 .*; 2 usage error/);
      t.equal(io.stderr(), '');
    }
  }
  const sub = capture();
  t.equal(await main(['keys', 'create', '--help'], sub), 0, 'a subcommand with --help');
  t.match(sub.stdout(), /statguard keys create/);
});

t.test('a usage error is short: the message, the command usage, where the help is', async (t) => {
  const io = capture();
  t.equal(await main(['release', '--bogus'], io), 2);
  const lines = io.stderr().trimEnd().split('\n');
  t.match(lines[0], /^statguard release: Unknown option '--bogus'/);
  t.ok(lines.length <= 8, `${lines.length} lines`);
  t.match(io.stderr(), /Run "statguard release --help" for more\./);
  const unknown = capture();
  t.equal(await main(['frobnicate'], unknown), 2);
  t.match(unknown.stderr(), /unknown command "frobnicate"[\s\S]*Run "statguard --help"/);
  t.ok(unknown.stderr().split('\n').length <= 4);
});

t.test('demo refuses to replace release directories without --force', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-demo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // One example policy (the tiny sdc one), seeded: a demo.
  const policies = path.join(dir, 'policies');
  mkdirSync(policies);
  const doc = JSON.parse(readFileSync('policies/tiny-sdc.json', 'utf8'));
  delete doc.$schema;
  doc.dataset.source.path = path.resolve('fixtures/tiny/enterprises.csv');
  writeFileSync(path.join(policies, 'tiny-sdc.json'), JSON.stringify(doc));
  const out = path.join(dir, 'out');
  const first = capture();
  t.equal(await main(['demo', '--policies', policies, '--out', out, '--seed', '1'], first), 0, first.stderr());
  const before = readFileSync(path.join(out, 'tiny-sdc', 'manifest.json'), 'utf8');
  const again = capture();
  t.equal(await main(['demo', '--policies', policies, '--out', out, '--seed', '2'], again), 1);
  t.match(again.stderr(), /OUTPUT_EXISTS.*tiny-sdc.*--force/);
  t.equal(readFileSync(path.join(out, 'tiny-sdc', 'manifest.json'), 'utf8'), before, 'nothing replaced');
  const forced = capture();
  t.equal(await main(['demo', '--policies', policies, '--out', out, '--seed', '2', '--force'], forced), 0);
  t.not(readFileSync(path.join(out, 'tiny-sdc', 'manifest.json'), 'utf8'), before, 'replaced with --force');
});
