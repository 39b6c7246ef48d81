/**
 * The web page in a real headless browser (playwright-core driving Debian's chromium at /usr/bin/chromium), as a
 * researcher and as a reviewer would use it: search the catalogue, open a table, read it (thousands separators,
 * flags, 95% intervals), switch to the chart, download a file; paste a broken policy (problems shown with their JSON
 * paths), upload one, preview, compare and sweep (every view marked not for publication). Screenshots at desktop
 * (1280x800) and phone (390x844) widths go to test-output/screenshots/ (git-ignored).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT } from '../preview/helpers.ts';
import { SCALE, webWorld, type WebWorld } from './world.ts';

// Browser-side callbacks run in the page, where these exist.
declare const document: {
  querySelectorAll(s: string): ArrayLike<{ getAttribute(name: string): string | null }>;
  documentElement: { scrollWidth: number; clientWidth: number };
};
declare const sessionStorage: { getItem(k: string): string | null };

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-output', 'screenshots');
/** The format the test downloads: xlsx once the API lists it, else csv. */
const DOWNLOAD_FORMAT: 'csv' | 'xlsx' = 'xlsx';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

async function launch(): Promise<{ browser: BrowserContext; close: () => Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(path.join(os.tmpdir(), 'sg-chromium-'));
  // A fresh profile per run (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: DESKTOP,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

interface Cell {
  value: number | null;
  conf: string;
}

/** Every table the page received (JSON), to check that no suppressed value ever reached the browser. */
const received: { url: string; cells: Cell[] }[] = [];

/** A page that records script errors and CSP violations (console errors), and the tables it receives. */
async function openPage(browser: BrowserContext, errors: string[], base: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('response', async (r) => {
    if (!/\/tables\/[^/?]+\?/.test(r.url()) || !(r.headers()['content-type'] ?? '').includes('json')) return;
    const body = (await r.json().catch(() => null)) as { cells?: Cell[] } | null;
    if (body && Array.isArray(body.cells)) received.push({ url: r.url(), cells: body.cells });
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // The reviewer's broken policy is answered 422 on purpose; the browser logs that answer as an error.
    const expected = /\/v1\/previews$/.test(m.location().url) && /status of 422/.test(m.text());
    if (m.type() === 'error' && !expected) errors.push(`${m.text()} (${m.location().url})`);
  });
  await page.goto(`${base}/`);
  await page.waitForSelector('#catalogue[data-loaded="true"]');
  return page;
}

const shoot = (page: Page, name: string): Promise<Buffer> =>
  page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** No horizontal scrolling of the page itself (wide tables scroll inside their own box). */
const fitsWidth = (page: Page): Promise<boolean> =>
  page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1);

async function catalogue(t: Test, page: Page, w: WebWorld): Promise<void> {
  const tiny = page.locator('li[data-dataset="tiny-enterprises"] li[data-series="tiny-sdc"]');
  t.equal(await tiny.locator('li[data-release-item]').count(), 2, 'two versions of tiny-sdc in one series');
  const v1 = page.locator(`li[data-release-item="${w.tinyV1}"]`);
  const v2 = page.locator(`li[data-release-item="${w.tinyV2}"]`);
  t.equal(await v1.locator('.badge').getAttribute('data-state'), 'superseded');
  t.equal(await v1.locator('.badge').innerText(), 'superseded by version 2', 'version 1 is not shown as published');
  t.equal(await v2.locator('.badge').innerText(), 'current');
  t.match(await v1.locator('.version').innerText(), /Version 1/);
  t.equal(await page.locator('li[data-dataset="census"] li[data-release-item]').count(), 1, 'the dp dataset');

  const items = (): Promise<string[]> =>
    page.locator('[data-table-item]').evaluateAll((ls) => ls.map((l) => l.getAttribute('data-table-item')!));
  await page.fill('#search', 'manufacturing');
  const byCategory = await items();
  t.same(
    byCategory.sort(),
    [`${w.tinyV1}/enterprises`, `${w.tinyV1}/turnover`, `${w.tinyV2}/enterprises`, `${w.tinyV2}/turnover`].sort(),
    'a category label finds the tables with that category (size-by-region has no sector)',
  );
  t.match(await page.locator('[data-table-item] .hit').first().innerText(), /Sector: A Manufacturing/);
  t.match(await page.locator('#search-count').innerText(), /4 tables match/);
  await page.fill('#search', 'sex');
  t.same(await items(), [`${w.pop}/pop`], 'a dimension name');
  await page.fill('#search', 'north two');
  t.same(await items(), [`${w.pop}/pop`], 'two words of a category label');
  await page.fill('#search', 'size region');
  t.same((await items()).length, 2, 'a table title, both versions');
  await page.fill('#search', 'nothing-like-this');
  t.equal(await page.locator('#catalogue .no-match').count(), 1, 'no match said so');
  await page.fill('#search', 'persons');
  t.same(await items(), [`${w.pop}/pop`], 'a table description');
}

async function readTable(t: Test, page: Page, w: WebWorld): Promise<void> {
  await page.click(`button[data-release="${w.pop}"][data-table="pop"]`);
  await page.waitForSelector('#cells tbody tr');
  const text = await page.locator('#cells').innerText();
  t.match(text, (100 * SCALE).toLocaleString('en'), 'thousands separators (12,345,700)');
  t.match(text, `± ${(3 * SCALE).toLocaleString('en')}`, 'the 95% half-width');
  t.match(text, `95%: ${(100 * SCALE - 3 * SCALE).toLocaleString('en')} to ${(103 * SCALE).toLocaleString('en')}`);
  t.notMatch(text, /e\+/, 'never exponent notation');
  const suppressed = await page
    .locator('#cells td.suppressed')
    .evaluateAll((tds) => tds.map((td) => [td.getAttribute('data-conf'), td.textContent]));
  t.same(suppressed, [
    ['A', '–A'],
    ['D', '–D'],
  ]);
  t.match(await page.locator('#table-measure').innerText(), /count of units.*person/);
  t.match(await page.locator('#legend').innerText(), /A Primary suppression.*D Secondary/);
  t.equal(await page.locator('#view-table').getAttribute('aria-pressed'), 'true');
}

/** A superseded version opens as such and leads to the newer one. */
async function supersededTable(t: Test, page: Page, w: WebWorld): Promise<void> {
  await page.click(`button[data-release="${w.tinyV1}"][data-table="turnover"]`);
  await page.locator('#table-release').filter({ hasText: 'version 1' }).waitFor();
  t.equal(await page.locator('#table-release .badge').innerText(), 'superseded by version 2');
  // The measure line and the cells arrive with the table's own request, after the release line: wait for them.
  await page
    .locator('#table-measure')
    .filter({ hasText: /sum of turnover/ })
    .waitFor({ timeout: 10_000 });
  await page.locator('#cells').filter({ hasText: '3,531' }).waitFor({ timeout: 10_000 });
  t.match(await page.locator('#table-measure').innerText(), /sum of turnover.*enterprise/);
  t.match(await page.locator('#cells').innerText(), /\t3,531F/, 'the turnover total (thousand EUR) with a separator');
  await page.click('#table-release button');
  await page.locator('#table-release').filter({ hasText: 'version 2' }).waitFor();
  t.equal(await page.locator('#table-release .badge').innerText(), 'current', 'the newer version opened');
}

async function chart(t: Test, page: Page): Promise<void> {
  await page.click('#view-chart');
  await page.waitForSelector('#table-chart svg');
  t.ok(await page.locator('#cells-view').isHidden(), 'the table is replaced by the chart');
  await page.selectOption('#chart-by', 'region');
  await page.selectOption('#chart-fix-sex', '2');
  const svg = page.locator('#table-chart svg');
  // Regions N1 N2 S1 N _T: N1 (A) and N2 (D) suppressed in sex 2.
  t.equal(await svg.locator('g[aria-label="bar"] rect').count(), 3, 'a bar per published cell');
  t.equal(await svg.locator('g.error-bar line').count(), 3, 'an error bar per noisy cell');
  t.same(
    // Each flag's text, before its <title> (the tooltip naming the category).
    await svg.locator('g.suppressed-flag text').evaluateAll((ts) => ts.map((x) => x.firstChild!.textContent)),
    ['– A', '– D'],
    'suppressed cells are gaps with their flag',
  );
  t.match(await page.locator('#chart-caption').innerText(), /2 suppressed cell\(s\) shown as gaps/);
  await page.selectOption('#chart-kind', 'line');
  t.equal(await svg.locator('g[aria-label="line"] path').count(), 1, 'lines');
  t.equal(await svg.locator('g[aria-label="dot"] circle').count(), 3, 'a point per published cell');
  t.equal(await svg.locator('style').count(), 0, "Plot's inline <style> removed (CSP)");
}

async function download(t: Test, page: Page, base: string): Promise<void> {
  const formats = ((await (await fetch(`${base}/v1/config`)).json()) as { formats: string[] }).formats;
  const offered = await page.locator('#downloads a').evaluateAll((as) => as.map((a) => a.getAttribute('data-format')!));
  t.same(offered, formats, 'every format the API lists, in its order');
  t.ok(formats.includes(DOWNLOAD_FORMAT), `the API lists ${DOWNLOAD_FORMAT}`);
  // A selection: the total of sex left out; the table and the download follow it.
  await page.click('#view-table');
  await page.click('.filter-box summary');
  await page.uncheck('#filters fieldset[data-dim="sex"] input[value="_T"]');
  await page.waitForFunction(() => document.querySelectorAll('#cells thead th').length === 3);
  t.match(await page.locator('#downloads a[data-format="csv"]').getAttribute('href'), /[?&]sex=1%2C2&format=csv$/);
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    page.click(`#downloads a[data-format="${DOWNLOAD_FORMAT}"]`),
  ]);
  t.match(file.suggestedFilename(), new RegExp(`-pop\\.${DOWNLOAD_FORMAT}$`));
  const bytes = await readFile((await file.path())!);
  if (DOWNLOAD_FORMAT === 'xlsx') {
    // Read back by an independent reader: the values and the flags are in the workbook.
    const { default: readXlsxFile } = await import('read-excel-file/node');
    const sheets = await readXlsxFile(bytes);
    const table = sheets.map((s) => s.data as unknown[][]).find((rows) => rows[0]?.includes('CONF_STATUS'));
    if (!table) return void t.fail(`no table sheet among ${sheets.map((s) => s.sheet).join(', ')}`);
    const [head, ...rows] = table;
    const col = (name: string): number => head!.findIndex((h) => String(h).startsWith(name));
    t.equal(rows.length, 10, 'the selected cells of pop (5 regions x 2 sexes)');
    t.ok(
      rows.some((r) => r[col('Value (')] === 100 * SCALE),
      'the values',
    );
    t.same(
      rows.filter((r) => r[col('CONF_STATUS')] !== 'F').map((r) => [r[col('CONF_STATUS')], r[col('Value (')]]),
      [
        ['A', null],
        ['D', null],
      ],
      'suppressed cells: a flag, no value',
    );
  } else {
    const lines = bytes.toString('utf8').trim().split('\n');
    t.match(lines[0]!, /region/i, 'CSV header');
    t.equal(lines.length - 1, 10, 'the selected cells of pop (5 regions x 2 sexes)');
    t.match(bytes.toString('utf8'), String(100 * SCALE), 'the values');
  }
}

/** The language selector: labels, unit and downloads in French, the selection kept; back to English. */
async function language(t: Test, page: Page): Promise<void> {
  t.ok(await page.locator('#table-lang-box').isVisible(), 'a selector for a release in two languages');
  t.same(await page.locator('#table-lang option').evaluateAll((os) => os.map((o) => o.getAttribute('value'))), [
    'en',
    'fr',
  ]);
  await page.selectOption('#table-lang', 'fr');
  await page.locator('#cells tbody th').filter({ hasText: 'Nord, un' }).waitFor();
  t.match(await page.locator('#cells thead').innerText(), /Hommes/, 'category labels in French');
  t.match(await page.locator('#table-measure').innerText(), /\(résidents\)/, 'the unit in French');
  t.match(
    await page.locator('#filters fieldset[data-dim="sex"] label').first().innerText(),
    /Hommes/,
    'the filters in French',
  );
  t.notOk(
    await page.locator('#filters fieldset[data-dim="sex"] input[value="_T"]').isChecked(),
    'the selection is kept',
  );
  const xlsx = await page.locator('#downloads a[data-format="xlsx"]').getAttribute('href');
  t.match(xlsx, /[?&]sex=1%2C2&lang=fr&format=xlsx$/, 'downloads follow the language');
  await page.selectOption('#table-lang', 'en');
  await page.locator('#cells tbody th').filter({ hasText: 'North, one' }).waitFor();
  t.match(await page.locator('#table-measure').innerText(), /\(residents\)/);
  t.notMatch(
    await page.locator('#downloads a[data-format="xlsx"]').getAttribute('href'),
    /lang=/,
    'the default language: no lang=',
  );
}

async function reviewer(t: Test, page: Page, w: WebWorld): Promise<void> {
  t.ok(await page.locator('#reviewer').isHidden(), 'no workbench without a key');
  await page.fill('#api-key', w.reviewer);
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('#reviewer:not([hidden])');
  // Not JSON: the place is named before anything is sent.
  await page.fill('#policy-text', '{\n  "id": "x",\n  oops\n}');
  await page.click('#run-preview');
  await page.waitForSelector('#policy-problems:not([hidden])');
  t.match(await page.locator('#policy-problems').innerText(), /not valid JSON at line 3, column 3/);
  // Invalid policy: every problem with its JSON path.
  await page.fill('#policy-text', JSON.stringify(w.broken, null, 2));
  await page.click('#run-preview');
  await page.waitForFunction(() => document.querySelectorAll('#policy-problems .json-path').length >= 2);
  const paths = await page.locator('#policy-problems .json-path').allTextContents();
  t.ok(paths.includes('/protection/rules/minFrequency/n'), `paths shown: ${paths.join(', ')}`);
  t.ok(
    paths.some((p) => p.startsWith('/tables/0/measure')),
    'the bad measure kind',
  );
  t.match(await page.locator('#error').innerText(), /POLICY_INVALID/);
  t.equal(await page.locator('#preview-out > *').count(), 0, 'nothing previewed');
  // Upload a valid one; compare with an example and sweep.
  await page.click('#policy-clear');
  await page.setInputFiles('#policy-file', w.uploadFile);
  await page.waitForFunction(() => document.querySelectorAll('#policy-file-status').length > 0);
  await page.locator('#policy-file-status').filter({ hasText: 'Loaded tiny-n2.json' }).waitFor();
  t.match(await page.locator('#policy-text').inputValue(), /"id": "tiny-n2"/, 'the file is shown');
  await page.selectOption('#policy-b', 'tiny-sdc.json');
  await page.fill('#sweep', 'n=2,3,4');
  await page.click('#run-preview');
  await page.waitForSelector('#preview-out [data-view="sweep"] svg', { timeout: 90_000 });
  t.ok(await page.locator('#policy-problems').isHidden(), 'no problems left');
  const out = page.locator('#preview-out');
  t.match(await out.locator('caption').first().innerText(), /Comparison of tiny-n2 and tiny-sdc/);
  t.match(await out.innerText(), /primary\s+enterprises\s+0\s+1\s+\+1/, 'figures side by side with B − A');
  const views = out.locator('.nfp-view');
  t.ok((await views.count()) >= 2, 'comparison and sweep views');
  for (const v of await out.locator(':scope > *').all())
    t.match(await v.innerText(), /not for publication/i, `view ${await v.getAttribute('data-view')} marked`);
  for (const svg of await out.locator('svg').all())
    t.match(await svg.textContent(), /NOT FOR PUBLICATION/, 'every chart carries the marking itself');
  for (const cap of await out.locator('caption').all())
    t.match(await cap.innerText(), /not for publication/, 'every figure table too');
  t.equal(await out.locator('[data-view="sweep"] g[aria-label="dot"] circle').count(), 3, 'a point per value');
  t.equal(await out.locator('[data-view="comparison"] g[aria-label="bar"] rect').count(), 6, 'A and B per table');
  t.equal(
    await page.evaluate(() => sessionStorage.getItem('statguard.apiKey')),
    w.reviewer,
    'key kept in sessionStorage',
  );
}

t.test(
  'web page in headless chromium',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium)`, timeout: 240_000 },
  async (t) => {
    const w = await webWorld();
    t.teardown(() => w.store.close());
    t.teardown(() => w.app.close());
    const { browser, close } = await launch();
    t.teardown(close);
    await mkdir(SHOTS, { recursive: true });
    const errors: string[] = [];

    t.test('a researcher at desktop width', async (t) => {
      const page = await openPage(browser, errors, w.base);
      await catalogue(t, page, w);
      await page.fill('#search', '');
      await shoot(page, 'desktop-catalogue');
      await supersededTable(t, page, w);
      await readTable(t, page, w);
      await shoot(page, 'desktop-table');
      await chart(t, page);
      await page.selectOption('#chart-kind', 'bar');
      await shoot(page, 'desktop-chart');
      await download(t, page, w.base);
      await language(t, page);
      await shoot(page, 'desktop-table-languages');
      await page.close();
    });

    t.test('a researcher on a phone', async (t) => {
      const page = await openPage(browser, errors, w.base);
      await page.setViewportSize(PHONE);
      t.ok(await fitsWidth(page), 'catalogue: no sideways scrolling');
      await shoot(page, 'phone-catalogue');
      await readTable(t, page, w);
      t.ok(await fitsWidth(page), 'table: the table scrolls in its own box');
      await shoot(page, 'phone-table');
      await chart(t, page);
      await page.selectOption('#chart-kind', 'bar');
      const width = Number(await page.locator('#table-chart svg').getAttribute('width'));
      t.ok(width <= PHONE.width, `the chart is drawn at the phone's width (${width})`);
      t.ok(await fitsWidth(page), 'chart fits');
      await shoot(page, 'phone-chart');
      await page.close();
    });

    t.test('a reviewer pastes, uploads, previews, compares and sweeps', async (t) => {
      const page = await openPage(browser, errors, w.base);
      await reviewer(t, page, w);
      await shoot(page, 'desktop-reviewer');
      await page.setViewportSize(PHONE);
      // The preview's charts are drawn again at the phone's width.
      await page.waitForFunction(
        (max) =>
          Array.from(document.querySelectorAll('#preview-out svg')).every(
            (e) => Number(e.getAttribute('width')) <= max,
          ),
        PHONE.width,
      );
      t.equal(await page.locator('#preview-out svg').count(), 2, 'both charts, redrawn');
      t.ok(await fitsWidth(page), 'reviewer page fits a phone');
      await shoot(page, 'phone-reviewer');
      await page.close();
    });

    t.test('no script errors (CSP violations included)', async (t) => {
      t.same(errors, []);
    });

    t.test('the page never received a suppressed value', async (t) => {
      const cells = received.flatMap((r) => r.cells);
      t.ok(received.length >= 4 && cells.length > 0, `${received.length} table responses seen`);
      const hidden = cells.filter((c) => c.conf !== 'F');
      t.ok(hidden.length > 0, 'suppressed cells were among them');
      t.same(
        hidden.filter((c) => c.value !== null),
        [],
        'each with a null value',
      );
    });
  },
);
