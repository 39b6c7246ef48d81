/**
 * Tables on demand under contract in a real headless browser (Debian's chromium at /usr/bin/chromium, driven by
 * playwright-core): a researcher requests access through the page's form and sees its status; an officer narrows
 * and approves it on the page (and refuses another with a reason the researcher then reads); tables are taken
 * through the contract gate; the researcher's usage page and the officer's supervision view show the use against
 * the limits; after the end the contract shows expired and the gate serves nothing. No script error or CSP
 * violation on the way.
 */
import { existsSync } from 'node:fs';
import t from 'tap';
import type { BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { build } from '../../api/app.ts';
import { makeContractGate } from '../../api/contracts/gate.ts';
import { createKey } from '../../api/store/keys.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { OFFICER, registerDatasets, researcher } from '../api/contracts-helpers.ts';
import { askAccess, CHROMIUM, launch, withKey as openWithKey } from './chromium.ts';

/**
 * The reviewer workbench finds out whether a key may preview by asking (403 for a researcher key: reviewer.js); the
 * table builder asks for the contract's dataset schema, which this app (no secure zone) does not serve (404).
 */
const probe = (m: ConsoleMessage): boolean =>
  (/\/v1\/previews\/policies$/.test(m.location().url) && /status of 403/.test(m.text())) ||
  (/\/v1\/datasets\/[^/]+\/schema$/.test(m.location().url) && /status of 404/.test(m.text()));

const withKey = (browser: BrowserContext, base: string, key: string, errors: string[]): Promise<Page> =>
  openWithKey(browser, base, key, errors, probe);

t.test(
  'access request, approval, use and expiry on the web page',
  { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent`, timeout: 240_000 },
  async (t) => {
    const store = await openPgliteStore();
    t.teardown(() => store.close());
    await registerDatasets(store.db);
    let clock = new Date();
    const app = await build({ store, config: { rateLimit: null }, logger: false, now: () => clock });
    t.teardown(() => app.close());
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const officer = (await createKey(store.db, 'officer', 'Olga', OFFICER)).key;
    const rae = await researcher(store.db, 'Rae');
    const { browser, close } = await launch();
    t.teardown(close);
    const errors: string[] = [];

    const me = await withKey(browser, base, rae.key, errors);
    await me.waitForSelector('#access:not([hidden])');
    t.ok(await me.locator('#officer-access').isHidden(), 'a researcher sees no officer view');
    await askAccess(me, {
      dataset: 'people',
      purpose: 'Regional ageing',
      variables: 'region:1, sex',
      maxdims: '2',
      'tables-day': '3',
      days: '30',
    });
    await me.waitForSelector('#my-requests li.status-pending');
    t.match(await me.locator('#access-status').innerText(), /Request ar_\w+ sent: pending/);
    t.match(await me.locator('#my-requests').innerText(), /Level: sex, region \(to level 1\); at most 2 dimensions/);

    await askAccess(me, { dataset: 'people', purpose: 'Everything' });
    await me.waitForSelector('#my-requests li.status-pending >> nth=1');

    const boss = await withKey(browser, base, officer, errors);
    await boss.waitForSelector('#officer-access:not([hidden])');
    const items = boss.locator('#pending-requests li.request');
    t.equal(await items.count(), 2, 'the officer sees both pending requests');
    const everything = boss.locator('#pending-requests li.request', { hasText: 'Everything' });
    await everything.locator('input[aria-label^="Reason"]').fill('purpose too vague');
    await everything.locator('button.refuse').click();
    await boss.locator('#pending-requests li.request').nth(1).waitFor({ state: 'detached' });
    const ageing = boss.locator('#pending-requests li.request', { hasText: 'Regional ageing' });
    const box = ageing.locator('textarea');
    const terms = JSON.parse(await box.inputValue());
    terms.scale.tablesPerDay = 1;
    await box.fill(JSON.stringify(terms));
    await ageing.locator('button.approve').click();
    await boss.waitForSelector('#supervision article.contract');
    t.match(await boss.locator('#pending-requests').innerText(), /No pending request/);

    const gate = makeContractGate({ db: store.db, now: () => clock });
    const q = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };
    const a = await gate.authorise(rae.actor, 'people', q, 18);
    await gate.recordUse(a, 18);
    const second = await gate
      .authorise(rae.actor, 'people', q, 1)
      .then(() => null)
      .catch((e: { extra: Record<string, unknown> }) => e.extra);
    t.match(second, { term: 'scale.tablesPerDay', contract: a.contractId }, 'the narrowed terms hold: one table a day');

    await me.reload();
    await me.waitForSelector('#my-contracts article.contract');
    const row = me.locator('#my-contracts tr[data-term="scale.tablesPerDay"]');
    t.same(
      (await row.locator('td').allInnerTexts()).slice(0, 3),
      ['1', '1', '0'],
      'the usage page: 1 table of 1 today, none left',
    );
    t.match(await me.locator('#my-contracts .closest').innerText(), /scale\.tablesPerDay at 100%/);
    t.match(await me.locator('#my-contracts .uses').innerText(), /18 cells, count by region@1 x sex/);
    t.match(
      await me.locator('#my-requests li.status-refused').innerText(),
      /Reason: purpose too vague/,
      'the researcher reads the refusal reason',
    );

    await boss.reload();
    await boss.waitForSelector('#supervision article.contract');
    t.match(await boss.locator('#supervision').innerText(), /Rae/, 'who');
    t.match(await boss.locator('#supervision .uses').innerText(), /18 cells/, 'took what, when');

    clock = new Date(Date.now() + 31 * 86_400_000);
    await me.reload();
    await me.waitForSelector('#my-contracts article.contract.status-expired');
    const after = await gate.authorise(rae.actor, 'people', q, 1).catch((e: { code: string }) => e.code);
    t.equal(after, 'CONTRACT_EXPIRED', 'nothing is served after the end');
    t.same(errors, [], 'no script errors or CSP violations');
  },
);
