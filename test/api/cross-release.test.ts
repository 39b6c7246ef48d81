/**
 * Issue 16, finding 3: differencing two releases discloses. Attacked as the finding did, through the CLI and the store:
 *
 * - a corrected v2 of the tiny enterprise release (enterprise e08, turnover 60, removed: it sat in (N, C), a cell
 *   suppressed for too few units) published the totals 1601 -> 1541, so v1 - v2 = 60 disclosed e08 exactly;
 * - a second release of the same dataset published cells the first had suppressed (the `--against` test data:
 *   combined, the two releases disclose a primary cell exactly).
 *
 * Each is refused at approval with the releases and cells named (never a value), and `statguard release`, which reads
 * what is published from the store by default, produces a pattern that passes approval and the joint attacker audit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createKey } from '../../api/store/keys.ts';
import { main, type Io } from '../../cli/main.ts';
import { lendCommandStore } from '../../cli/store-commands.ts';
import type { Manifest } from '../../engine/release/manifest.ts';
import { assessDifference, auditPattern } from '../../engine/sdc/index.ts';
import type { SdcPlan } from '../../engine/types.ts';
import { againstWorld, attackerSystem } from '../sdc/against-world.ts';
import { dialects } from './dialects.ts';
import { tmpDir } from './fixtures.ts';

const TINY = path.resolve('fixtures/tiny/enterprises.csv');
const officer: Actor = { caller: 'cli:test', role: 'officer' };

function capture(): Io & { text: () => string } {
  let all = '';
  const add = (s: string): void => {
    all += s;
  };
  return { out: add, err: add, isTty: false, text: () => all };
}

async function run(args: string[]): Promise<{ code: number; text: string }> {
  const io = capture();
  const code = await main(args, io);
  return { code, text: io.text() };
}

/** The tiny sdc policy on `csv`, as a real (not demo) release of dataset tiny-enterprises. */
function tinyPolicy(dir: string, name: string, csv: string, version: string): string {
  const doc = JSON.parse(readFileSync('policies/tiny-sdc.json', 'utf8'));
  delete doc.$schema;
  doc.version = version;
  doc.release.demo = false;
  doc.dataset.source.path = csv;
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

interface Js {
  value: (number | null)[];
}
const jsonstat = (dir: string, table: string): Js => JSON.parse(readFileSync(path.join(dir, `${table}.json`), 'utf8'));
const draftId = (text: string): string => /draft (\S+) stored/.exec(text)![1]!;

/**
 * The attacker holding both releases: the new release's published cells, and the old release's published cells that
 * still hold for the corrected data (unchanged), and that values are non-negative; sensitive: the cells whose
 * difference the primary rules flag. Returns
 * the audit of that system (passes when no sensitive difference is recoverable within its protection).
 */
async function differenceAudit(policyFile: string, newDir: string, oldDir: string) {
  const { plan, n, links, sys: built, unknown: sup } = await attackerSystem(policyFile, newDir, oldDir);
  // What the attacker knows a priori: values are non-negative. The corrected totals are known only where published.
  const sys = { ...built, upper: Float64Array.from(built.upper, (u, g) => (built.lower[g]! >= 0 ? Infinity : u)) };
  const sensitive = new Map<number, { id: number; upper: number; lower: number }>();
  links.forEach((l, k) =>
    l.changed.forEach((d, i) => {
      const g = sys.tableCells[n + k]![i]!;
      if (d === null) {
        if (!l.suppressed[i]) sup[g] = 0; // unchanged and published: known
        return;
      }
      const a = assessDifference(plan.protection as SdcPlan, l.table.plan, d);
      if (a.rules.length > 0) sensitive.set(g, { id: g, upper: a.level, lower: a.level });
    }),
  );
  return { audit: await auditPattern(sys, sup, [...sensitive.values()]), sensitive: sensitive.size };
}

for (const d of dialects()) {
  t.test(`cross-release disclosure control through the store on ${d.name}`, async (t) => {
    const store = await d.open();
    lendCommandStore(store);
    const dir = await tmpDir('sg-cross-');
    t.teardown(async () => {
      lendCommandStore(null);
      await store.close();
      await d.cleanup();
      await rm(dir, { recursive: true, force: true });
    });
    t.equal((await run(['signing-keys', 'register', '--local', '--name', 'secure zone'])).code, 0);
    const ds = await run(['datasets', 'create', 'tiny-enterprises', '--title', 'Tiny', '--regime', 'sdc']);
    t.equal(ds.code, 0, ds.text);

    // v1, published.
    const v1Dir = path.join(dir, 'v1');
    const r1 = await run(['release', tinyPolicy(dir, 'v1', TINY, '1.0.0'), '--out', v1Dir]);
    t.equal(r1.code, 0, r1.text);
    t.match(r1.text, /audited against 0 release\(s\) of dataset tiny-enterprises/);
    const p1 = await run(['publish', v1Dir]);
    t.equal(p1.code, 0, p1.text);
    const v1 = draftId(p1.text);
    t.equal((await run(['approve', v1])).code, 0);

    // The correction: e08 (N, C, turnover 60) removed from the microdata.
    const corrected = path.join(dir, 'corrected.csv');
    writeFileSync(
      corrected,
      readFileSync(TINY, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('e08,'))
        .join('\n'),
    );
    const v2Policy = tinyPolicy(dir, 'v2', corrected, '1.0.1');

    // The attack of the finding: released without looking at what is published, the totals differ by e08's turnover.
    const naiveDir = path.join(dir, 'naive');
    t.equal((await run(['release', v2Policy, '--out', naiveDir, '--offline'])).code, 0);
    const before = jsonstat(v1Dir, 'turnover').value;
    const naive = jsonstat(naiveDir, 'turnover').value;
    const grand = before.length - 1;
    t.equal(before[grand]! - naive[grand]!, 60, 'the naive correction discloses e08 by subtraction');
    const naiveCheck = await differenceAudit(v2Policy, naiveDir, v1Dir);
    t.ok(naiveCheck.sensitive > 0, 'the correction has sensitive differences');
    t.equal(naiveCheck.audit.passes, false, 'the attacker recovers a sensitive difference from the naive pair');

    const pn = await run(['publish', naiveDir]);
    t.equal(pn.code, 0, pn.text);
    t.match(pn.text, /warning: approving .* would be refused: release .* was not audited against/);
    const an = await run(['approve', draftId(pn.text)]);
    t.equal(an.code, 1);
    t.match(an.text, /RELEASE_NOT_AUDITED/);
    t.match(an.text, new RegExp(`not audited against 1 release\\(s\\) of dataset tiny-enterprises.*release ${v1}`));
    t.match(an.text, /table "turnover" cell \([^)]*\): published with another value/, 'the changed cells are named');
    for (const secret of ['1541', '1601', '590', '650', ' 60'])
      t.notOk(an.text.includes(secret), `the refusal carries no value (${secret})`);

    // `release` reads the published release from the store: the pattern passes approval and the attacker's audit.
    const goodDir = path.join(dir, 'good');
    const rg = await run(['release', v2Policy, '--out', goodDir]);
    t.equal(rg.code, 0, rg.text);
    t.match(
      rg.text,
      new RegExp(`audited against 1 release\\(s\\) of dataset tiny-enterprises that are or were published \\(${v1}\\)`),
    );
    const m = JSON.parse(await readFile(path.join(goodDir, 'manifest.json'), 'utf8')) as Manifest;
    t.same(
      m.audit?.linked.map((l) => [l.release, l.corrected]),
      [[v1, true]],
    );
    t.match(m.methods.join('\n'), /Correction: \d+ cell\(s\) published earlier changed/);
    const good = await differenceAudit(v2Policy, goodDir, v1Dir);
    t.equal(good.audit.passes, true, 'no sensitive difference is recoverable from the two releases');
    const after = jsonstat(goodDir, 'turnover').value;
    t.equal(after[grand], null, 'the grand total, whose difference is e08 alone, is hidden');
    const pg = await run(['publish', goodDir]);
    t.equal(pg.code, 0, pg.text);
    t.notMatch(pg.text, /warning/);
    const ag = await run(['approve', draftId(pg.text)]);
    t.equal(ag.code, 0, ag.text);

    // The naive draft stays refused: it misses the corrected release too now.
    const again = await run(['approve', draftId(pn.text)]);
    t.match(again.text, /not audited against 2 release\(s\)/);

    // The officer's route the CLI uses through a serving process: the published cells only (suppressed: null).
    const app = await build({ store, config: { rateLimit: null } });
    t.teardown(() => app.close());
    const off = await createKey(store.db, 'officer', 'o', officer);
    const res = await createKey(store.db, 'researcher', 'r', officer);
    const url = '/v1/admin/datasets/tiny-enterprises/published';
    const hist = await app.inject({ url, headers: { authorization: `Bearer ${off.key}` } });
    t.equal(hist.statusCode, 200);
    const items = JSON.parse(hist.body).items as { id: string; tables: { id: string; value: (number | null)[] }[] }[];
    t.same(
      items.map((i) => i.id),
      [v1, draftId(pg.text)],
    );
    t.same(items[0]!.tables.find((x) => x.id === 'turnover')!.value, before);
    t.equal((await app.inject({ url, headers: { authorization: `Bearer ${res.key}` } })).statusCode, 403);
    t.equal(
      (await app.inject({ url: '/v1/admin/datasets/nope/published', headers: { authorization: `Bearer ${off.key}` } }))
        .statusCode,
      404,
    );

    if (d.name === 'pglite')
      t.test('a second release that publishes cells the first suppressed is refused, and release fixes it', (t) =>
        secondReleaseTest(t),
      );
  });
}

/** The `--against` test data (test/sdc/against-world.ts) as dataset `margins`: the old and the fresh policy. */
function marginWorld(dir: string): { old: string; fresh: string } {
  const w = againstWorld(dir);
  return {
    old: w.policy('old', { dataset: 'margins', never: [['r2', 's1']] }),
    fresh: w.policy('fresh', { dataset: 'margins', extraTable: true }),
  };
}

/**
 * Run as a subtest of the PGlite suite above, on its store (lent to the commands there): dataset `margins` is its own,
 * and every release, audit and approval below is of that dataset only (registering the local key again is a no-op).
 */
async function secondReleaseTest(t: Test): Promise<void> {
  const dir = await tmpDir('sg-margins-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal((await run(['signing-keys', 'register', '--local'])).code, 0);
  t.equal((await run(['datasets', 'create', 'margins', '--title', 'M', '--regime', 'sdc'])).code, 0);
  const w = marginWorld(dir);
  const oldDir = path.join(dir, 'old');
  t.equal((await run(['release', w.old, '--out', oldDir])).code, 0);
  const po = await run(['publish', oldDir]);
  t.equal((await run(['approve', draftId(po.text)])).code, 0);
  // Made before the first was published (or offline): hides r1, r2 x s1, s2 and publishes r3 x s1, s2.
  const early = path.join(dir, 'early');
  t.equal((await run(['release', w.fresh, '--out', early, '--offline'])).code, 0);
  const pe = await run(['publish', early]);
  const ae = await run(['approve', draftId(pe.text)]);
  t.equal(ae.code, 1);
  t.match(ae.text, /RELEASE_NOT_AUDITED/);
  t.match(ae.text, /table "rs" cell \(r3, s1\): suppressed in table "rs" there, published here/);
  t.match(ae.text, /table "rs" cell \(r3, s2\): suppressed in table "rs" there, published here/);
  t.notMatch(ae.text, /\b9\b/, 'no value named');
  // Offline, with the published release's directory given: the same audit, and the store accepts its digest.
  const viaDir = path.join(dir, 'via-dir');
  t.equal((await run(['release', w.fresh, '--out', viaDir, '--offline', '--against', oldDir])).code, 0);
  const pd = await run(['publish', viaDir]);
  t.equal(pd.code, 0, pd.text);
  t.notMatch(pd.text, /warning/, 'a directory of the published release links it as the store does');
  // Released again (reading the store): the old suppressions are kept, the approval passes.
  const late = path.join(dir, 'late');
  t.equal((await run(['release', w.fresh, '--out', late])).code, 0);
  const js = jsonstat(late, 'rs').value;
  const pl = await run(['publish', late]);
  t.notMatch(pl.text, /warning/);
  t.equal((await run(['approve', draftId(pl.text)])).code, 0);
  const oldJs = jsonstat(oldDir, 'rs').value;
  t.same(
    js.map((v) => v === null),
    oldJs.map((v) => v === null),
    'the same cells are hidden in both releases',
  );
}
