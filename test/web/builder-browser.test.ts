/**
 * The table builder and the whole request-approve-use-expire cycle in a real headless browser (Debian's chromium,
 * playwright-core), on the real on-demand route, the real contract gate and the forked secure zone
 * (test/api/ondemand-contract-app.ts): the researcher requests access on the page; the officer narrows the terms
 * (regions to the first level only, age dropped, two tables a day) and approves on the page; the researcher's builder
 * offers only what the contract allows (no age, region levels 0 and 1 only, the measure and formats allowed), builds
 * a table shown with flags and accuracy, sees the contract's use grow, hits the daily limit (the refusal shown with
 * its code and term), and after the contract's end the builder is refused with CONTRACT_EXPIRED. Screenshots go to
 * test-output/screenshots/ (git-ignored). No script error or CSP violation on the way.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { ConsoleMessage, Page } from 'playwright-core';
import { CKM, cycleApp } from '../api/ondemand-contract-app.ts';
import { askAccess, CHROMIUM, launch, withKey } from './chromium.ts';

const SHOTS = path.resolve('test-output', 'screenshots');
const shoot = (page: Page, name: string): Promise<Buffer> =>
  page.screenshot({ path: path.join(SHOTS, `builder-${name}.png`), fullPage: true });

/** Expected console errors: the reviewer probe (403) and the refusals the test provokes on the tables route. */
const expected = (m: ConsoleMessage): boolean =>
  (/\/v1\/previews\/policies$/.test(m.location().url) && /status of 403/.test(m.text())) ||
  (/\/v1\/datasets\/[^/]+\/tables$/.test(m.location().url) && /status of (403|429)/.test(m.text()));

t.test(
  'request, approve (narrowed), build tables, hit a limit and expire on the web page',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent`, timeout: 300_000 },
  async (t) => {
    mkdirSync(SHOTS, { recursive: true });
    const w = await cycleApp('builder-browser');
    t.teardown(() => w.close());
    const base = await w.app.listen({ port: 0, host: '127.0.0.1' });
    const { browser, close } = await launch();
    t.teardown(close);
    const errors: string[] = [];

    // The researcher asks.
    const me = await withKey(browser, base, w.keys.researcher, errors, expected);
    await me.waitForSelector('#access:not([hidden])');
    t.ok(await me.locator('#builder').isHidden(), 'no contract, no builder');
    await askAccess(me, {
      dataset: CKM,
      purpose: 'Regional ageing',
      variables: 'region, sex, age_band',
      maxdims: '3',
      'tables-day': '5',
      days: '2',
    });
    await me.waitForSelector('#my-requests li.status-pending');

    // The officer narrows and approves.
    const boss = await withKey(browser, base, w.keys.officer, errors, expected);
    await boss.waitForSelector('#officer-access:not([hidden])');
    const item = boss.locator('#pending-requests li.request', { hasText: 'Regional ageing' });
    const box = item.locator('textarea');
    const terms = JSON.parse(await box.inputValue());
    terms.scale.tablesPerDay = 2;
    terms.level.variables = { region: { maxLevel: 1 }, sex: {} };
    terms.level.maxDimensions = 2;
    await box.fill(JSON.stringify(terms));
    await item.locator('button.approve').click();
    await boss.waitForSelector('#supervision article.contract');

    // The researcher's builder offers what the contract allows, and nothing more.
    await me.reload();
    await me.waitForSelector('#builder:not([hidden]) #builder-dimensions input[name="builder-dim"]');
    t.match(await me.locator('#my-requests li.status-approved').innerText(), /approved/, 'the status is approved');
    const dims = await me
      .locator('#builder-dimensions input[name="builder-dim"]')
      .evaluateAll((bs) => bs.map((b) => (b as unknown as { value: string }).value));
    t.same(dims.sort(), ['region', 'sex'], 'only the variables the contract allows (age_band was dropped)');
    const levels = await me
      .locator('select[data-dim="region"] option')
      .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    t.same(levels, ['0', '1'], 'the region level selector stops at the allowed depth');
    t.equal(await me.locator('select[data-dim="region"]').inputValue(), '1', 'the deepest allowed level by default');
    t.same(await me.locator('#builder-measure option').allInnerTexts(), ['Count'], 'the measures the form allows');
    t.same(await me.locator('#builder-format option').allInnerTexts(), ['json', 'csv'], 'the formats both allow');
    t.match(await me.locator('#builder-guarantee').innerText(), /cell key method/);
    t.match(await me.locator('#builder-remaining').innerText(), /scale\.tablesPerDay 2 of 2/);

    // A table, shown as the catalogue shows published tables.
    await me.check('#builder-dim-region');
    await me.check('#builder-dim-sex');
    await me.click('#builder-submit');
    await me.waitForSelector('#builder-cells:not([hidden]) tbody tr');
    t.match(await me.locator('#builder-caption').innerText(), /\d+ cells/);
    t.ok((await me.locator('#builder-cells tbody tr').count()) >= 2, 'a cross table of regions by sex');
    t.ok((await me.locator('#builder-cells td[data-conf] .pm').count()) > 0, 'values with their ± half-width');
    t.match(await me.locator('#builder-legend').innerText(), /Flags:/);
    t.match(await me.locator('#builder-remaining').innerText(), /scale\.tablesPerDay 1 of 2/, 'the use grows');
    const row = me.locator('#my-contracts tr[data-term="scale.tablesPerDay"] td');
    t.same((await row.allInnerTexts()).slice(0, 3), ['1', '2', '1'], 'the usage table: 1 of 2 today');
    await shoot(me, 'table');

    // Regions of one sex (a filter on a dimension not in the table), as csv: another table taken.
    t.ok(await me.locator('select[data-filter="sex"]').isDisabled(), 'no filter on a dimension in the table');
    await me.uncheck('#builder-dim-sex');
    t.same(
      await me
        .locator('select[data-filter="sex"] option')
        .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value)),
      ['1', '2'],
      'the filter offers the categories, not the total',
    );
    await me.selectOption('select[data-filter="sex"]', ['1']);
    await me.selectOption('#builder-format', 'csv');
    await me.click('#builder-submit');
    await me.waitForSelector('#builder-raw:not([hidden])');
    t.match(await me.locator('#builder-raw').innerText(), /region/, 'the csv as text');
    t.match(await me.locator('#builder-remaining').innerText(), /scale\.tablesPerDay 0 of 2/);
    t.match(
      await me.locator('#builder-remaining').innerText(),
      /scale\.cellsPerDay 9,964 of 10,000/,
      '27 cells, then the 9 of regions by one sex',
    );
    await me.click('#builder-submit');
    await me.waitForSelector('#builder-refusal:not([hidden])');
    t.equal(await me.locator('#builder-refusal .code').innerText(), 'CONTRACT_SCALE');
    t.match(await me.locator('#builder-refusal .term').innerText(), /scale\.tablesPerDay/, 'the term is named');
    t.ok(await me.locator('#builder-cells').isHidden(), 'a refusal shows no table');
    await shoot(me, 'limit');

    // After the contract's end.
    w.clock.now = new Date(w.clock.now.getTime() + 3 * 86_400_000);
    await me.click('#builder-submit');
    await me.waitForFunction(() => {
      const code = (
        globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }
      ).document.querySelector('#builder-refusal .code');
      return code !== null && code.textContent === 'CONTRACT_EXPIRED';
    });
    t.match(await me.locator('#builder-refusal .term').innerText(), /time\.end/);
    await me.waitForSelector('#my-contracts article.contract.status-expired');
    t.match(await me.locator('#builder-contract').innerText(), /expired/, 'the selector says expired');
    t.match(await me.locator('#builder-remaining').innerText(), /nothing can be taken while the contract is expired/);
    await shoot(me, 'expired');
    t.same(errors, [], 'no script errors or CSP violations');
  },
);
