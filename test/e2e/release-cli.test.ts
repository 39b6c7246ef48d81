/**
 * End to end: every example policy in policies/ is released through the CLI
 * entry (`main`), and the release directory is checked file by file:
 * manifest facts, file hashes, JSON-stat structure, and that no suppressed
 * cell's exact value appears anywhere in the release.
 */
import t from 'tap';
import { capture } from '../capture-io.ts';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../cli/main.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { csvSource } from '../../engine/source/index.ts';
import { seededRandom } from '../../engine/random.ts';
import type { Manifest } from '../../engine/release/manifest.ts';

const root = path.resolve(import.meta.dirname, '../..');
const policiesDir = path.join(root, 'policies');
// Policies that only offer tables on demand publish nothing: `release` refuses them (test/ondemand/query.test.ts).
const onDemandOnly = (f: string): boolean => {
  const doc = JSON.parse(readFileSync(path.join(policiesDir, f), 'utf8')) as { tables?: unknown[]; onDemand?: unknown };
  return doc.onDemand !== undefined && (doc.tables ?? []).length === 0;
};
const examplePolicies = readdirSync(policiesDir)
  .filter((f) => f.endsWith('.json') && !f.includes('schema') && !onDemandOnly(f))
  .sort();

const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-e2e-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
// The secure zone of these runs (signing key, internal records): a folder of the test's own.
process.env.STATGUARD_SECURE_DIR = path.join(tmp, 'secure');

t.ok(examplePolicies.length >= 4, 'several example policies ship in policies/');

for (const file of examplePolicies) {
  t.test(`example policy ${file}`, async (t) => {
    const policyPath = path.join(policiesDir, file);
    const out = path.join(tmp, file.replace(/\.json$/, ''));
    const io = capture();
    const seed = 'e2e-1';
    const code = await main(['release', policyPath, '--out', out, '--seed', seed], io);
    t.equal(code, 0, `release exits 0 (stderr: ${io.stderr()})`);
    t.equal(io.stderr(), '', 'quiet on a non-terminal');
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    const plan = await loadPolicy(policyPath);
    t.equal(manifest.policy.id, plan.policyId);
    t.equal(manifest.policy.sha256, createHash('sha256').update(readFileSync(policyPath)).digest('hex'));
    t.same(manifest.randomness, { source: 'seeded', seed });
    t.equal(manifest.regime, plan.protection.regime);
    // Seeded means demo: no guarantee is stated; the mechanism survives as a method note.
    t.equal(manifest.guarantee.statement, 'reproducible demo noise; not private');
    const internalFile = /exact figures of the run \(secure zone only\): (\S+)/.exec(io.stdout())?.[1];
    t.ok(internalFile && internalFile.startsWith(path.join(tmp, 'secure', 'internal')), 'internal record path printed');
    const internal = JSON.parse(readFileSync(internalFile!, 'utf8')) as { rows: { read: number } };
    t.ok(internal.rows.read > 0, 'exact figures in the secure zone');
    t.notOk('internal' in manifest, 'no internal part in the release directory');
    t.equal(
      manifest.input.sha256,
      createHash('sha256')
        .update(readFileSync(csvOf(plan).path))
        .digest('hex'),
    );
    t.equal(manifest.tables.length, plan.tables.length);
    if (plan.protection.regime === 'dp') {
      t.ok(manifest.budget, 'dp manifest states the budget');
      t.match(manifest.methods[0], /differ/);
    }

    // Exact tables, recomputed with the same bounding key the seeded run used (its first 32 random bytes).
    const exact = await csvSource().aggregate(plan, { boundingKey: seededRandom(seed).bytes(32) });
    const allText: string[] = [readFileSync(path.join(out, 'manifest.json'), 'utf8')];
    const published = new Set<string>();
    const suppressedExact: string[] = [];

    for (const [i, entry] of manifest.tables.entries()) {
      const tp = plan.tables[i]!;
      t.equal(entry.id, tp.id);
      const csv = readFileSync(path.join(out, entry.files.csv.path), 'utf8');
      const json = readFileSync(path.join(out, entry.files.jsonstat.path), 'utf8');
      t.equal(createHash('sha256').update(csv).digest('hex'), entry.files.csv.sha256, 'csv hash matches the manifest');
      t.equal(
        createHash('sha256').update(json).digest('hex'),
        entry.files.jsonstat.sha256,
        'json hash matches the manifest',
      );
      allText.push(csv, json);
      const js = JSON.parse(json);
      t.equal(js.version, '2.0');
      t.same(
        js.size,
        tp.dimensions.map((d) => d.nodes.length),
      );
      t.equal(js.value.length, entry.cells);
      t.equal(csv.trimEnd().split('\n').length, entry.cells + 1);
      const ex = exact.tables[i]!;
      let nulls = 0;
      js.value.forEach((v: number | null, k: number) => {
        const conf = js.extension.statguard.confStatus[k];
        if (v === null) {
          nulls++;
          t.not(conf, 'F', 'a null cell carries a suppression status');
          const c = ex.cells[k]!;
          const m = tp.measure;
          const exactValue =
            m.kind === 'count'
              ? c.units
              : m.kind === 'sum'
                ? c.sum / 10 ** m.decimals
                : c.units > 0
                  ? c.sum / c.units / 10 ** m.decimals
                  : 0;
          suppressedExact.push(String(exactValue));
        } else {
          published.add(String(v));
          if (plan.protection.regime === 'sdc') {
            t.equal(conf, 'F');
          }
        }
      });
      t.equal(nulls, entry.suppressed);
    }
    // No suppressed exact value may appear as a number anywhere in the release, unless it is also a
    // published value somewhere (then its presence says nothing). Only distinctive values (>= 3 digits) count.
    // The run's own clock (the manifest's durationMs and ISO timestamps) varies per run and says nothing about the data:
    // blanked before the scan, so that a run lasting exactly as many ms as a suppressed value is not a false alarm. So are
    // hex digests (file SHA-256s, which change with the timestamps inside the files): their digit runs are not numbers
    // (a digest holding "551" failed this test once in CI).
    const scanned = allText
      .join('\n')
      .replace(/"durationMs":\s*\d+/g, '"durationMs": _')
      .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '_')
      .replace(/\b[0-9a-f]{32,}\b/g, '_');
    const tokens = new Set(scanned.match(/-?\d+(\.\d+)?/g) ?? []);
    const leaks = suppressedExact.filter(
      (v) => v.replace(/[^0-9]/g, '').length >= 3 && !published.has(v) && tokens.has(v),
    );
    t.same(leaks, [], 'no suppressed value appears in any release file');
    t.notOk(
      readdirSync(path.dirname(out)).some((n) => n.includes('.partial')),
      'no partial directory left',
    );
  });
}

t.test('validate: valid policy exits 0; invalid policy exits 1 naming every problem with its path', async (t) => {
  const ok = capture();
  t.equal(await main(['validate', path.join(policiesDir, examplePolicies[0]!)], ok), 0);
  t.match(ok.stdout(), /valid/);
  const bad = path.join(tmp, 'bad.json');
  const doc = JSON.parse(readFileSync(path.join(policiesDir, examplePolicies[0]!), 'utf8'));
  doc.tables[0].measure = { kind: 'median' };
  doc.release.audience = 'everyone';
  writeFileSync(bad, JSON.stringify(doc));
  const io = capture();
  t.equal(await main(['validate', bad], io), 1);
  t.match(io.stderr(), /POLICY_INVALID/);
  t.match(io.stderr(), /\/tables\/0\/measure/);
  t.match(io.stderr(), /\/release\/audience/);
});

t.test('usage errors exit 2; unknown command, missing --out', async (t) => {
  const io = capture();
  t.equal(await main(['frobnicate'], io), 2);
  t.match(io.stderr(), /unknown command/);
  const io2 = capture();
  t.equal(await main(['release', path.join(policiesDir, examplePolicies[0]!)], io2), 2);
  t.match(io2.stderr(), /--out/);
});

t.test('a failed run leaves no output directory; an existing one is kept unless --force', async (t) => {
  const dir = path.join(tmp, 'failing');
  const csv = path.join(tmp, 'broken.csv');
  const src = JSON.parse(readFileSync(path.join(policiesDir, examplePolicies[0]!), 'utf8'));
  const plan = await loadPolicy(path.join(policiesDir, examplePolicies[0]!));
  const original = readFileSync(csvOf(plan).path, 'utf8').split('\n');
  // Corrupt the first data row's first table dimension with an undeclared category.
  const header = original[0]!.split(',');
  const dimCol = plan.tables[0]!.dimensions[0]!.name;
  const derived = plan.dataset.derived.find((d) => d.name === dimCol);
  const col = header.indexOf(derived ? derived.from : dimCol);
  t.ok(col >= 0, 'the first dimension (or its source) is a CSV column');
  const row = original[1]!.split(',');
  row[col] = derived?.bins ? 'not-a-number' : 'UNDECLARED';
  writeFileSync(csv, [original[0], row.join(','), ...original.slice(2)].join('\n'));
  src.dataset.source.path = csv;
  src.dataset.onInvalidRow = 'error';
  const pol = path.join(tmp, 'failing-policy.json');
  writeFileSync(pol, JSON.stringify(src));
  const io = capture();
  t.equal(await main(['release', pol, '--out', dir, '--seed', '1'], io), 1);
  t.match(io.stderr(), /ROW_INVALID/);
  t.match(io.stderr(), /broken\.csv:2/);
  t.notOk(existsSync(dir), 'no output directory after a failed run');

  const good = path.join(tmp, 'existing');
  t.equal(
    await main(['release', path.join(policiesDir, examplePolicies[0]!), '--out', good, '--seed', '1'], capture()),
    0,
  );
  const io2 = capture();
  t.equal(await main(['release', path.join(policiesDir, examplePolicies[0]!), '--out', good, '--seed', '1'], io2), 1);
  t.match(io2.stderr(), /OUTPUT_EXISTS/);
  t.equal(
    await main(
      ['release', path.join(policiesDir, examplePolicies[0]!), '--out', good, '--seed', '2', '--force'],
      capture(),
    ),
    0,
  );
  const m = JSON.parse(readFileSync(path.join(good, 'manifest.json'), 'utf8'));
  t.equal(m.randomness.seed, '2', '--force replaced the directory');
});

function csvOf(p: {
  dataset: { source: import('../../engine/types.ts').SourcePlan };
}): import('../../engine/types.ts').CsvSourcePlan {
  const s = p.dataset.source;
  if (s.kind !== 'csv') throw new Error(`expected a csv source, got ${s.kind}`);
  return s;
}
