import { readFile } from 'node:fs/promises';
import vm from 'node:vm';
import t from 'tap';
import { build } from '../../api/app.ts';
import { WEB_CSP } from '../../api/routes/web.ts';
import { openPgliteStore } from '../api/pglite-template.ts';

t.test('page and static files: strict CSP, no inline script, fixed allow-list', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  const app = await build({ store, config: { rateLimit: null } });
  t.teardown(() => app.close());
  const page = await app.inject({ url: '/' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);
  t.equal(page.headers['content-security-policy'], WEB_CSP);
  t.match(WEB_CSP, /script-src 'self'/);
  t.notMatch(WEB_CSP, /unsafe-inline|unsafe-eval/);
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
  t.notMatch(page.body, /\son[a-z]+=|style=/, 'no inline handlers or styles');
  t.match(page.body, /<html lang="en">/);
  const scripts = [...page.body.matchAll(/<script src="\/static\/([^"]+)"/g)].map((m) => m[1]!);
  t.same(scripts, [
    'd3.min.js',
    'plot.min.js',
    'util.js',
    'chart.js',
    'catalogue.js',
    'reviewer.js',
    'contracts.js',
    'builder.js',
    'app.js',
  ]);
  for (const name of scripts.slice(2)) {
    const js = await app.inject({ url: `/static/${name}` });
    t.equal(js.statusCode, 200, name);
    t.match(js.headers['content-type'], /javascript/);
    t.equal(js.headers['content-security-policy'], WEB_CSP);
    t.notMatch(js.body, /innerHTML|outerHTML|insertAdjacentHTML|eval\(|new Function/, `${name}: textContent only`);
  }
  // The chart library's browser bundles come from the installed packages, not from a CDN.
  const d3 = await app.inject({ url: '/static/d3.min.js' });
  t.equal(d3.statusCode, 200);
  t.match(d3.headers['content-type'], /javascript/);
  t.match(d3.body.slice(0, 200), /d3js\.org v7/);
  const plot = await app.inject({ url: '/static/plot.min.js' });
  t.equal(plot.statusCode, 200);
  t.match(plot.body.slice(0, 200), /@observablehq\/plot v0\.6/);
  t.notMatch(page.body, /https?:\/\//, 'nothing loaded from elsewhere');
  for (const url of ['/static/app.ts', '/static/..%2F..%2Fpackage.json', '/static/index.html', '/static/d3.js'])
    t.equal((await app.inject({ url })).statusCode, 404, url);
  const pub = await build({ store, config: { rateLimit: null }, public: true });
  t.teardown(() => pub.close());
  t.match((await pub.inject({ url: '/' })).body, /data-zone="public"/, 'the public zone page has no workbench');
});

/** util.js run in a Node vm: its pure functions (number formatting, grouping, search) without a browser. */
async function utilFunctions(): Promise<any> {
  const code = await readFile(new URL('../../api/web/util.js', import.meta.url), 'utf8');
  const sandbox: Record<string, unknown> = { Intl, Map, Number, String, JSON, Object, Math, URLSearchParams };
  sandbox.globalThis = sandbox;
  vm.runInNewContext(code, sandbox);
  return sandbox.SG;
}

t.test('numbers: thousands separators, never exponent notation; intervals', async (t) => {
  const SG = await utilFunctions();
  t.equal(SG.fmt(16_200_000), '16,200,000', 'was 1.62e+7');
  t.equal(SG.fmt(-1_234_567.89), '-1,234,568');
  t.equal(SG.fmt(1234.5), '1,235', 'no decimals from a thousand on');
  t.equal(SG.fmt(12.3456), '12.35');
  t.equal(SG.fmt(0.000123456), '0.000123', 'small values by significant digits, not 1.23e-4');
  t.equal(SG.fmt(0), '0');
  t.equal(SG.fmt(null), '–', 'a suppressed value');
  t.equal(SG.fmt('sdc'), 'sdc');
  t.equal(SG.interval(12_345_700, 370_371), '11,975,329 to 12,716,071');
  t.equal(SG.interval(5, null), null, 'no interval without a half-width');
  for (const v of [1e7, 1e12, 123456789.123, 1e-7, 2 ** 53]) t.notMatch(SG.fmt(v), /e/i, String(v));
});

const rel = (o: Record<string, unknown>): Record<string, unknown> => ({
  status: 'published',
  supersededBy: null,
  expired: false,
  tables: [],
  ...o,
});

t.test('catalogue: releases by dataset and series, superseded versions as such', async (t) => {
  const SG = await utilFunctions();
  const items = [
    rel({ id: 'r3', datasetId: 'd1', policyId: 'p', version: 3, title: 'P v3' }),
    rel({ id: 'q1', datasetId: 'd2', policyId: 'q', version: 1, title: 'Q' }),
    rel({ id: 'r2', datasetId: 'd1', policyId: 'p', version: 2, title: 'P v2', supersededBy: 'r3' }),
    rel({ id: 'r1', datasetId: 'd1', policyId: 'p', version: 1, title: 'P v1', status: 'withdrawn' }),
    rel({ id: 's1', datasetId: 'd1', policyId: 's', version: 1, title: 'S', status: 'draft' }),
  ];
  const g = SG.groupReleases(items);
  t.same(
    g.map((d: any) => [d.dataset, d.series.map((s: any) => s.policyId)]),
    [
      ['d1', ['p', 's']],
      ['d2', ['q']],
    ],
  );
  const p = g[0].series[0];
  t.equal(p.title, 'P v3', 'a series is named by its current release');
  t.same(
    p.releases.map((r: any) => [r.id, r.state, r.supersededByVersion]),
    [
      ['r3', 'current', null],
      ['r2', 'superseded', 3],
      ['r1', 'withdrawn', null],
    ],
  );
  t.equal(g[0].series[1].releases[0].state, 'draft');
  t.equal(SG.releaseState(rel({ status: 'published', expired: true })), 'expired');
});

t.test('catalogue search: titles, descriptions, dimensions, category codes and labels', async (t) => {
  const SG = await utilFunctions();
  const summary = rel({ id: 'r', title: 'Enterprise turnover', tables: [{ id: 'ent', title: 'Enterprises' }] });
  const detail = {
    manifest: { release: { description: 'Hand-checkable demo' } },
    tables: [
      {
        id: 'ent',
        title: 'Enterprises',
        description: 'Counted by region',
        dimensions: [
          {
            name: 'sector',
            label: 'Sector',
            categories: [
              { code: 'A', label: 'Manufacturing' },
              { code: '_T', label: 'Total' },
            ],
          },
          { name: 'region', label: 'Région', categories: [{ code: 'N', label: 'Nord-Est' }] },
        ],
      },
    ],
  };
  const [full] = SG.tableFields(summary, detail);
  const [brief] = SG.tableFields(summary, undefined);
  const hit = (e: unknown, q: string): string[] | null => {
    const h = SG.matchTable(e, q);
    return h === null ? null : h.map((f: any) => `${f.what}: ${f.text}`);
  };
  t.same(hit(full, 'manufacturing'), ['Sector: A Manufacturing'], 'a category label');
  t.same(hit(full, '_t'), ['Sector: _T Total'], 'a category code');
  t.same(hit(full, 'sector'), ['dimension: sector Sector'], 'a dimension');
  t.same(hit(full, 'region'), ['description: Counted by region'], 'a description before a dimension');
  t.same(
    hit(full, 'regio nord'),
    ['description: Counted by region', 'Région: N Nord-Est'],
    'every word, accents aside',
  );
  t.same(hit(full, 'hand-checkable'), ['release description: Hand-checkable demo']);
  t.equal(hit(full, 'manufacturing zzz'), null, 'every word must match');
  t.same(hit(full, '  '), [], 'an empty query matches');
  t.same(hit(brief, 'turnover'), ['release: Enterprise turnover'], 'titles before the metadata is loaded');
  t.equal(hit(brief, 'manufacturing'), null);
});

t.test(
  "label languages: the selector's choices, the language shown, and lang= on requests and downloads",
  async (t) => {
    const SG = await utilFunctions();
    const multi = { manifest: { release: { languages: ['en', 'fr'] } } };
    t.same(SG.releaseLanguages(multi), ['en', 'fr']);
    t.same(SG.releaseLanguages({ manifest: { release: {} } }), ['en'], 'none declared: English only (no selector)');
    t.same(SG.releaseLanguages(undefined), ['en']);
    t.equal(SG.pickLanguage(['en', 'fr'], 'fr'), 'fr', 'the chosen language');
    t.equal(SG.pickLanguage(['en', 'fr'], 'de'), 'en', 'a language the release lacks: its default');
    t.equal(SG.pickLanguage(['fr', 'en'], null), 'fr', "nothing chosen: the release's first");
    const sel = new URLSearchParams({ region: 'N1,N2' });
    t.equal(String(SG.withLanguage(sel, ['en', 'fr'], 'fr')), 'region=N1%2CN2&lang=fr', 'another language: lang=');
    t.equal(String(SG.withLanguage(sel, ['en', 'fr'], 'en')), 'region=N1%2CN2', 'the default: no lang=');
    t.equal(String(SG.withLanguage('lang=fr', ['en', 'fr'], 'en')), '', 'a stale lang= is dropped');
    t.equal(String(sel), 'region=N1%2CN2', 'the selection itself is not changed');
    t.equal(SG.languageName('fr'), 'français (fr)');
    t.equal(SG.languageName('de'), 'Deutsch (de)');
    t.equal(SG.languageName('not a tag!'), 'not a tag!', 'a tag Intl cannot name: as written');
  },
);
