/**
 * Labels in several languages (engine/policy/labels.ts): existing policies unchanged, a multilingual policy planned
 * with its labels per language on every node, every mistake reported with its JSON path, and a release run from it
 * stored with its translations (release files in the default language).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseRelease } from '../../api/store/release-dir.ts';
import { loadPolicy, planPolicyBytes, validatePolicy } from '../../engine/policy/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { renderRelease } from '../../engine/release/write.ts';
import { generateSigningKey } from '../../engine/secure/signing.ts';
import { tempDir } from '../tmp-dir.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const tiny = (): Json => JSON.parse(readFileSync('policies/tiny-sdc.json', 'utf8')) as Json;

/** tiny-sdc in English and French, with a nested hierarchy and a binned derived column. */
function bilingual(): Json {
  const p = tiny();
  p.languages = ['en', 'fr'];
  const region = p.dataset.columns[1];
  region.title = { en: 'Region', fr: 'Région' };
  region.categories = [
    { code: 'N', label: { en: 'North', fr: 'Nord' } },
    { code: 'S', label: { en: 'South', fr: 'Sud' } },
    { code: 'W', label: 'West' },
  ];
  p.dataset.hierarchies = {
    region: [{ code: 'NS', label: { en: 'North and south', fr: 'Nord et sud' }, children: ['N', 'S'] }, 'W'],
  };
  const bins = p.dataset.derived[0].bins;
  bins[0].label = { en: '0-9 employees', fr: '0 à 9 salariés' };
  bins[1].label = { en: '10-49 employees', fr: '10 à 49 salariés' };
  bins[2].label = { en: '50 employees or more', fr: '50 salariés ou plus' };
  p.dataset.derived[0].title = { en: 'Size class', fr: 'Taille' };
  p.dataset.source.path = path.resolve('fixtures/tiny/enterprises.csv');
  return p;
}

const plan = (doc: Json) =>
  planPolicyBytes(Buffer.from(JSON.stringify(doc)), 'policy.json', path.resolve('policy.json'));

t.test('policies without languages plan as before', async (t) => {
  for (const f of readdirSync('policies').filter((f) => f.endsWith('.json') && f !== 'policy.schema.json')) {
    const p = await loadPolicy(path.join('policies', f));
    t.notOk('languages' in p.release, `${f}: no languages in the release`);
    t.ok(
      p.tables.every((tb) =>
        tb.dimensions.every((d) => d.labels === undefined && d.nodes.every((n) => n.labels === undefined)),
      ),
      `${f}: no translations`,
    );
  }
});

t.test('a bilingual policy: every node labelled in both languages, the files in the first', async (t) => {
  const v = validatePolicy(bilingual());
  t.ok(v.ok, JSON.stringify(v.ok ? [] : v.errors));
  const p = plan(bilingual());
  t.same(p.release.languages, ['en', 'fr']);
  const region = p.tables[0]!.dimensions[0]!;
  t.equal(region.label, 'Region');
  t.same(region.labels, { en: 'Region', fr: 'Région' });
  t.same(
    region.nodes.map((n) => [n.code, n.label, n.labels]),
    [
      ['N', 'North', { en: 'North', fr: 'Nord' }],
      ['S', 'South', { en: 'South', fr: 'Sud' }],
      ['W', 'West', { en: 'West', fr: 'West' }],
      ['NS', 'North and south', { en: 'North and south', fr: 'Nord et sud' }],
      ['_T', 'Total', { en: 'Total', fr: 'Total' }],
    ],
  );
  const size = p.tables[2]!.dimensions[0]!;
  t.same(size.labels, { en: 'Size class', fr: 'Taille' });
  t.same(size.nodes[0]!.labels, { en: '0-9 employees', fr: '0 à 9 salariés' });
});

t.test('the first language is the default: German total', async (t) => {
  const doc = bilingual();
  doc.languages = ['de', 'en'];
  const relabel = (l: Json) => (typeof l === 'object' ? { de: `${l.en} (de)`, en: l.en } : l);
  for (const c of doc.dataset.columns[1].categories) c.label = relabel(c.label);
  doc.dataset.columns[1].title = relabel(doc.dataset.columns[1].title);
  doc.dataset.hierarchies.region[0].label = relabel(doc.dataset.hierarchies.region[0].label);
  for (const b of doc.dataset.derived[0].bins) b.label = relabel(b.label);
  doc.dataset.derived[0].title = relabel(doc.dataset.derived[0].title);
  const v = validatePolicy(doc);
  t.ok(v.ok, JSON.stringify(v.ok ? [] : v.errors));
  const region = plan(doc).tables[0]!.dimensions[0]!;
  t.equal(region.nodes[0]!.label, 'North (de)');
  const total = region.nodes[region.total!]!;
  t.equal(total.label, 'Insgesamt', 'the default language names the total in the files');
  t.same(total.labels, { de: 'Insgesamt', en: 'Total' });
});

t.test('prefix hierarchy labels per language', async (t) => {
  const doc = bilingual();
  doc.dataset.columns[1].categories = [
    { code: 'N1', label: { en: 'North 1', fr: 'Nord 1' } },
    { code: 'N2', label: { en: 'North 2', fr: 'Nord 2' } },
    { code: 'S1', label: 'S1' },
  ];
  doc.dataset.hierarchies = { region: { prefixLengths: [1], labels: { N: { en: 'North', fr: 'Nord' } } } };
  const v = validatePolicy(doc);
  t.ok(v.ok, JSON.stringify(v.ok ? [] : v.errors));
  const region = plan(doc).tables[0]!.dimensions[0]!;
  const byCode = new Map(region.nodes.map((n) => [n.code, n.labels]));
  t.same(byCode.get('N'), { en: 'North', fr: 'Nord' });
  t.same(byCode.get('S'), { en: 'S', fr: 'S' }, 'an unlabelled prefix is its code in every language');
});

t.test('mistakes are reported with their JSON path', async (t) => {
  const cases: [string, (p: Json) => void, string, RegExp][] = [
    [
      'a label per language without languages',
      (p) => {
        delete p.languages;
      },
      '/dataset/columns/1/categories/0/label',
      /needs the languages declared at the top level/,
    ],
    [
      'a declared language missing',
      (p) => {
        p.dataset.columns[1].categories[1].label = { en: 'South' };
      },
      '/dataset/columns/1/categories/1/label',
      /label has no "fr" \(languages: en, fr\)/,
    ],
    [
      'an undeclared language',
      (p) => {
        p.dataset.derived[0].bins[0].label.de = '0-9 Beschäftigte';
      },
      '/dataset/derived/0/bins/0/label',
      /"de" is not a declared language/,
    ],
    [
      'a hierarchy label missing a language',
      (p) => {
        p.dataset.hierarchies.region[0].label = { fr: 'Nord et sud' };
      },
      '/dataset/hierarchies/region/0/label',
      /label has no "en"/,
    ],
    [
      'a malformed language tag',
      (p) => {
        p.languages = ['en', 'French'];
      },
      '/languages/1',
      /pattern|language tag|must match/i,
    ],
    [
      'an empty label object',
      (p) => {
        p.dataset.columns[1].title = {};
      },
      '/dataset/columns/1/title',
      /./,
    ],
  ];
  for (const [name, mutate, at, message] of cases) {
    const doc = bilingual();
    mutate(doc);
    const v = validatePolicy(doc);
    t.notOk(v.ok, `${name}: invalid`);
    const hit = v.ok ? undefined : v.errors.find((e) => e.path === at);
    t.ok(hit, `${name}: a problem at ${at} (${v.ok ? '' : JSON.stringify(v.errors)})`);
    if (hit) t.match(hit.message, message, name);
  }
});

t.test('a bilingual run: files in English, the store keeps both languages', async (t) => {
  const dir = tempDir('sg-labels-');
  const file = path.join(dir, 'tiny-bilingual.json');
  const doc = bilingual();
  doc.release.themes = ['http://publications.europa.eu/resource/authority/data-theme/ECON'];
  writeFileSync(file, JSON.stringify(doc, null, 2));
  const p = await loadPolicy(file);
  const run = await runRelease(p, { seed: 'labels' });
  const signer = generateSigningKey();
  const rendered = renderRelease(run.content, { signer, policy: new Uint8Array(readFileSync(file)) });
  t.same(rendered.manifest.release.languages, ['en', 'fr']);
  t.same(rendered.manifest.release.themes, doc.release.themes);
  const js = JSON.parse(String(rendered.files.get('turnover.json')));
  t.equal(js.dimension.region.label, 'Region', 'JSON-stat file in the default language');
  t.equal(js.dimension.region.category.label.N, 'North');
  const loaded = parseRelease(new Map([...rendered.files].map(([k, v]) => [k, Buffer.from(v)])));
  const region = loaded.tables[0]!.dimensions[0]!;
  t.same(region.labels, { en: 'Region', fr: 'Région' });
  t.same(
    region.nodes.map((n) => [n.code, n.label, n.labels?.fr]),
    [
      ['N', 'North', 'Nord'],
      ['S', 'South', 'Sud'],
      ['W', 'West', 'West'],
      ['NS', 'North and south', 'Nord et sud'],
      ['_T', 'Total', 'Total'],
    ],
  );
});

t.test('units of measure: planned per language, in the manifest only when declared, in JSON-stat', async (t) => {
  const doc = bilingual();
  doc.tables[0].measure.unit = { en: 'EUR', fr: 'euros' };
  doc.tables[1].measure.unit = 'enterprises';
  const v = validatePolicy(doc);
  t.ok(v.ok, JSON.stringify(v.ok ? [] : v.errors));
  const p = plan(doc);
  t.equal(p.tables[0]!.measure.unit, 'EUR', 'the default language');
  t.same(p.tables[0]!.measure.unitLabels, { en: 'EUR', fr: 'euros' });
  t.same(p.tables[1]!.measure.unitLabels, { en: 'enterprises', fr: 'enterprises' }, 'a string: every language');
  t.notOk('unit' in p.tables[2]!.measure, 'no unit declared: none planned');

  const dir = tempDir('sg-units-');
  const file = path.join(dir, 'tiny-units.json');
  writeFileSync(file, JSON.stringify(doc, null, 2));
  const run = await runRelease(await loadPolicy(file), { seed: 'units' });
  const rendered = renderRelease(run.content, {
    signer: generateSigningKey(),
    policy: new Uint8Array(readFileSync(file)),
  });
  const m = rendered.manifest.tables;
  t.equal(m[0]!.measure.unit, 'EUR');
  t.same(m[0]!.measure.unitLabels, { en: 'EUR', fr: 'euros' });
  t.same(m[2]!.measure, { kind: 'count' }, 'a table without a unit: the measure entry as before');
  const js = JSON.parse(String(rendered.files.get('turnover.json')));
  t.same(js.extension.unit, { label: 'EUR' });
  t.ok(js.note.includes('Unit of measure: EUR.'), 'a note names the unit');
  const plain = JSON.parse(String(rendered.files.get('size-by-region.json')));
  t.notOk('unit' in plain.extension, 'no unit: no extension.unit');
  t.notOk(
    (plain.note ?? []).some((n: string) => /Unit of measure/.test(n)),
    'and no note',
  );

  // A release of a policy without units: byte-identical manifests (no new key).
  const before = tiny();
  before.dataset.source.path = path.resolve('fixtures/tiny/enterprises.csv');
  const f2 = path.join(dir, 'tiny.json');
  writeFileSync(f2, JSON.stringify(before, null, 2));
  const run2 = await runRelease(await loadPolicy(f2), { seed: 'units' });
  const r2 = renderRelease(run2.content, { signer: generateSigningKey(), policy: new Uint8Array(readFileSync(f2)) });
  const m2 = JSON.parse(String(r2.files.get('manifest.json'))) as { tables: { measure: Json }[] };
  t.ok(
    m2.tables.every((x) => !('unit' in x.measure) && !('unitLabels' in x.measure)),
    'no measure unit key in a manifest of a policy without units',
  );
});

t.test('units of measure: mistakes reported at their JSON path', async (t) => {
  const cases: [string, (p: Json) => void, string, RegExp][] = [
    [
      'a unit missing a language',
      (p) => (p.tables[0].measure.unit = { en: 'EUR' }),
      '/tables/0/measure/unit',
      /label has no "fr"/,
    ],
    [
      'a unit per language without languages',
      (p) => {
        p.tables[0].measure.unit = { en: 'EUR', fr: 'euros' };
        delete p.languages;
      },
      '/tables/0/measure/unit',
      /needs the languages declared/,
    ],
    ['an empty unit', (p) => (p.tables[1].measure.unit = ''), '/tables/1/measure/unit', /./],
  ];
  for (const [name, mutate, at, message] of cases) {
    const doc = bilingual();
    mutate(doc);
    const v = validatePolicy(doc);
    t.notOk(v.ok, `${name}: invalid`);
    const hit = v.ok ? undefined : v.errors.find((e) => e.path === at);
    t.ok(hit, `${name}: a problem at ${at} (${v.ok ? '' : JSON.stringify(v.errors)})`);
    if (hit) t.match(hit.message, message, name);
  }
});
