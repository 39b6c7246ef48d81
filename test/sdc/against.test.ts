/**
 * --against: a new release is audited together with a release already published from the same dataset.
 * Data: region r1..r4 x sector s1..s4 counts; (r1, s1) has one unit (the only primary under n = 3). The old release
 * forbade (r2, s1) as a secondary, so it hid the rectangle r1, r3 x s1, s2; the new policy alone (frequency costs)
 * prefers r1, r2 x s1, s2, which combined with the old release discloses (r1, s1).
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main, type Io } from '../../cli/main.ts';
import { againstWorld, attackerSystem } from './against-world.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { csvSource } from '../../engine/source/index.ts';
import { auditPattern } from '../../engine/sdc/index.ts';
import { cellCoords } from '../../engine/types.ts';
import type { ExactTable } from '../../engine/types.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-against-'));
// The secure zone of these runs (signing key, internal records): a folder of the test's own.
process.env.STATGUARD_SECURE_DIR = path.join(tmp, 'secure');
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const world = againstWorld(tmp);
const policy = (id: string, datasetId: string, never: string[][] | null, extraTable = false): string =>
  world.policy(id, { dataset: datasetId, never, extraTable, demo: true });

function capture(): Io & { stderr: () => string } {
  let e = '';
  return {
    out: () => {},
    err: (s) => {
      e += s;
    },
    isTty: false,
    stderr: () => e,
  };
}

interface Js {
  value: (number | null)[];
  extension: { statguard: { confStatus: string[] } };
}
const readTable = (dir: string, id: string): Js => JSON.parse(readFileSync(path.join(dir, `${id}.json`), 'utf8')) as Js;

function suppressedCodes(tab: ExactTable, js: Js): string[] {
  const dims = tab.plan.dimensions;
  return js.value
    .flatMap((v, i) =>
      v === null
        ? [
            cellCoords(dims, i)
              .map((n, d) => dims[d]!.nodes[n]!.code)
              .join(''),
          ]
        : [],
    )
    .sort();
}

/** Audit the union of the two releases' patterns over the joint system (the attacker holding both). */
async function jointAudit(newPolicy: string, newDir: string, oldDir: string) {
  const { n, fresh, links, sys, unknown: sup } = await attackerSystem(newPolicy, newDir, oldDir);
  // A cell is unknown to the attacker only when no release publishes it (linked tables share cells).
  links.forEach((l, k) =>
    l.suppressed.forEach((s, i) => {
      if (!s) sup[sys.tableCells[n + k]![i]!] = 0;
    }),
  );
  // The one primary: (r1, s1), one unit; protection 10% of its value, capped by the a priori bounds.
  const target = sys.tableCells[0]![0]!; // (r1, s1): node 0 of both dimensions
  return { audit: await auditPattern(sys, sup, [{ id: target, upper: 0.1, lower: 0.1 }]), fresh };
}

t.test('--against: the new pattern also protects against the published release', async (t) => {
  const oldDir = path.join(tmp, 'old');
  const io0 = capture();
  t.equal(
    await main(['release', policy('old', 'ds', [['r2', 's1']]), '--out', oldDir, '--seed', 's'], io0),
    0,
    io0.stderr(),
  );

  // Alone, the new policy picks the cheaper rectangle r1, r2 x s1, s2 ...
  const alone = path.join(tmp, 'alone');
  const newPolicy = policy('new', 'ds', null, true);
  const io1 = capture();
  t.equal(await main(['release', newPolicy, '--out', alone, '--seed', 's'], io1), 0, io1.stderr());
  const plan = await loadPolicy(newPolicy);
  const exact = await csvSource().aggregate(plan, { boundingKey: new Uint8Array(32) });
  t.same(
    suppressedCodes(exact.tables[0]!, readTable(oldDir, 'rs')),
    ['r1s1', 'r1s2', 'r3s1', 'r3s2'],
    'old release hid r1, r3 x s1, s2',
  );
  t.same(
    suppressedCodes(exact.tables[0]!, readTable(alone, 'rs')),
    ['r1s1', 'r1s2', 'r2s1', 'r2s2'],
    'new release alone hides r1, r2 x s1, s2',
  );
  // ... which, combined with the old release, discloses (r1, s1) exactly.
  const bad = await jointAudit(newPolicy, alone, oldDir);
  t.equal(bad.audit.passes, false, 'the two releases together disclose the primary');
  t.equal(bad.audit.cells[0]!.exact, true);

  // With --against the new pattern keeps the old suppressions and never hides what the old release published.
  const linked = path.join(tmp, 'linked');
  const io2 = capture();
  t.equal(
    await main(['release', newPolicy, '--out', linked, '--seed', 's', '--against', oldDir], io2),
    0,
    io2.stderr(),
  );
  const js = readTable(linked, 'rs');
  t.same(suppressedCodes(exact.tables[0]!, js), ['r1s1', 'r1s2', 'r3s1', 'r3s2']);
  t.equal(js.extension.statguard.confStatus.filter((c) => c === 'A').length, 1);
  const good = await jointAudit(newPolicy, linked, oldDir);
  t.equal(good.audit.passes, true, 'the joint audit of both releases passes');
  const manifest = JSON.parse(readFileSync(path.join(linked, 'manifest.json'), 'utf8')) as { methods: string[] };
  t.match(manifest.methods.join('\n'), /Linked with 1 table/);
});

t.test('--against refuses other datasets, altered files, missing releases, and cells it cannot protect', async (t) => {
  const oldDir = path.join(tmp, 'old2');
  t.equal(await main(['release', policy('old2', 'ds', null), '--out', oldDir, '--seed', 's'], capture()), 0);
  const other = capture();
  t.equal(
    await main(
      ['release', policy('other', 'other-ds', null), '--out', path.join(tmp, 'x1'), '--against', oldDir],
      other,
    ),
    1,
  );
  t.match(other.stderr(), /dataset "ds", not "other-ds"/);

  // A published cell that the new rules must suppress: the old release used n = 3, n = 10 flags (r3, s1) (9 units).
  const strict = JSON.parse(readFileSync(policy('strict', 'ds', null), 'utf8'));
  strict.protection.rules.minFrequency.n = 10;
  const strictFile = path.join(tmp, 'strict.json');
  writeFileSync(strictFile, JSON.stringify(strict));
  const io = capture();
  t.equal(await main(['release', strictFile, '--out', path.join(tmp, 'x2'), '--against', oldDir], io), 1);
  t.match(io.stderr(), /SDC_INFEASIBLE.*already published in/);

  // Altered JSON-stat file: hash mismatch.
  const f = path.join(oldDir, 'rs.json');
  writeFileSync(f, readFileSync(f, 'utf8').replace('"version"', '"version" '));
  const io3 = capture();
  t.equal(
    await main(['release', policy('new3', 'ds', null), '--out', path.join(tmp, 'x3'), '--against', oldDir], io3),
    1,
  );
  t.match(io3.stderr(), /does not match the SHA-256/);

  const io4 = capture();
  t.equal(
    await main(
      ['release', policy('new4', 'ds', null), '--out', path.join(tmp, 'x4'), '--against', path.join(tmp, 'missing')],
      io4,
    ),
    1,
  );
  t.match(io4.stderr(), /cannot read the release manifest/);
});
