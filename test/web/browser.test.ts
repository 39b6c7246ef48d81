/**
 * The web page in a real headless browser (playwright-core driving Debian's chromium at /usr/bin/chromium):
 * a researcher opens a table and downloads CSV; a reviewer compares two policies and sees the sweep chart.
 * Screenshots go to .tap/screenshots (git-ignored), never into the repository.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

// Browser-side callbacks run in the page, where these exist.
declare const document: { querySelectorAll(s: string): { length: number } };
declare const sessionStorage: { getItem(k: string): string | null };
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { writeSignedRun } from '../api/fixtures.ts';
import { ROOT, tinyDoc, writeDoc } from '../preview/helpers.ts';
import { tempDir } from '../tmp-dir.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, '.tap', 'screenshots');
const system: Actor = { caller: 'cli:test', role: 'officer' };

t.test(
  'web page in headless chromium',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium)`, timeout: 80_000 },
  async (t) => {
    const { chromium } = await import('playwright-core');
    const store = await openPgliteStore();
    t.teardown(() => store.close());
    const policiesDir = tempDir('sg-web-pol-');
    await writeDoc(await tinyDoc(), policiesDir);
    const n2 = await tinyDoc();
    n2.id = 'tiny-n2';
    n2.release.title = 'Tiny with minimum frequency 2';
    n2.protection.rules.minFrequency.n = 2;
    await writeDoc(n2, policiesDir);
    const dir = path.join(policiesDir, 'release');
    const plan = await loadPolicy(path.join(policiesDir, 'tiny-sdc.json'));
    const run = await runRelease(plan, { seed: 'web' });
    await writeSignedRun(run.content, dir, plan, store.db);
    const draft = await storeDraft(store.db, await loadReleaseDir(dir), system);
    await approveRelease(store.db, draft.id, system);
    const reviewer = (await createKey(store.db, 'reviewer', 'Rita', system)).key;
    const app = await build({ store, config: { rateLimit: null, policiesDir } });
    t.teardown(() => app.close());
    const base = await app.listen({ port: 0, host: '127.0.0.1' });

    const profile = await mkdtemp(path.join(os.tmpdir(), 'sg-chromium-'));
    t.teardown(() => rm(profile, { recursive: true, force: true }));
    // A fresh profile per run (playwright passes it as --user-data-dir).
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
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
    t.teardown(() => browser.close());
    await mkdir(SHOTS, { recursive: true });
    const errors: string[] = [];

    t.test('a researcher opens a table and downloads CSV', async (t) => {
      const page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(`${base}/`);
      await page.click(`button[data-release="${draft.id}"]`);
      await page.click('button[data-table="enterprises"]');
      await page.waitForSelector('#cells tbody tr');
      t.equal(await page.locator('#cells tbody tr').count(), 4, 'regions N, S, W and the total as rows');
      t.match(await page.locator('#cells thead').innerText(), /A Manufacturing/, 'codes and labels');
      t.ok((await page.locator('#cells td.suppressed').count()) > 0, 'suppressed cells shown as such');
      // Filter: only region N.
      await page.uncheck('#filters fieldset[data-dim="region"] input[value="S"]');
      await page.uncheck('#filters fieldset[data-dim="region"] input[value="W"]');
      await page.uncheck('#filters fieldset[data-dim="region"] input[value="_T"]');
      await page.waitForFunction(() => document.querySelectorAll('#cells tbody tr').length === 1);
      await page.screenshot({ path: path.join(SHOTS, 'researcher-table.png'), fullPage: true });
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('#downloads a[data-format="csv"]'),
      ]);
      const csv = await readFile((await download.path())!, 'utf8');
      t.match(csv.split('\n')[0]!, /region/i, 'CSV header');
      t.equal(csv.trim().split('\n').length - 1, 4, 'the filtered selection: N x (A, B, C, total)');
      await page.close();
    });

    t.test('a reviewer compares two policies and sees the chart', async (t) => {
      const page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/`);
      t.ok(await page.locator('#reviewer').isHidden(), 'no workbench without a key');
      await page.fill('#api-key', reviewer);
      await page.click('#key-form button[type=submit]');
      await page.waitForSelector('#reviewer:not([hidden])');
      await page.selectOption('#policy-a', 'tiny-sdc.json');
      await page.selectOption('#policy-b', 'tiny-n2.json');
      await page.fill('#sweep', 'n=2,3,4');
      await page.click('#run-preview');
      await page.waitForSelector('#chart:not([hidden]) svg', { timeout: 60_000 });
      t.match(await page.locator('#preview-out caption').first().innerText(), /Comparison of tiny-sdc and tiny-n2/);
      t.match(
        await page.locator('#preview-out').innerText(),
        /enterprises\s+1\s+0\s+-1/,
        'primary suppressions side by side with the difference',
      );
      t.equal(await page.locator('#chart-svg svg circle').count(), 3, 'one point per swept value');
      t.match((await page.locator('#chart-svg svg title').first().textContent()) ?? '', /by n/);
      await page.screenshot({ path: path.join(SHOTS, 'reviewer-compare.png'), fullPage: true });
      t.equal(
        await page.evaluate(() => sessionStorage.getItem('statguard.apiKey')),
        reviewer,
        'key kept in sessionStorage',
      );
    });
    t.same(errors, [], 'no script errors (CSP violations included)');
  },
);
