/**
 * Headless Chromium for the web tests (not a test file): Debian's chromium at /usr/bin/chromium driven by
 * playwright-core, a fresh profile per run, and a page signed in with an API key that collects script errors
 * (console errors the test expects, such as a refused request's status, are left out by `expected`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, ConsoleMessage, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export async function launch(): Promise<{ browser: BrowserContext; close: () => Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(path.join(os.tmpdir(), 'sg-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** A page at `base` with `key` entered in the key form; errors (not `expected`) are pushed to `errors`. */
export async function withKey(
  browser: BrowserContext,
  base: string,
  key: string,
  errors: string[],
  expected: (m: ConsoleMessage) => boolean = () => false,
): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected(m)) errors.push(`${m.text()} (${m.location().url})`);
  });
  await page.goto(`${base}/`);
  await page.fill('#api-key', key);
  await page.click('#key-form button[type="submit"]');
  return page;
}

/** Fill the researcher's access request form (`fields` by id: `dataset` is #access-dataset, ...) and send it. */
export async function askAccess(page: Page, fields: Readonly<Record<string, string>>): Promise<void> {
  for (const [k, v] of Object.entries(fields)) await page.fill(`#access-${k}`, v);
  await page.click('#access-submit');
}
