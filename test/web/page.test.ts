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
  const js = await app.inject({ url: '/static/app.js' });
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /javascript/);
  t.notMatch(js.body, /innerHTML|eval\(|new Function/, 'DOM built with textContent only');
  for (const url of ['/static/app.ts', '/static/..%2F..%2Fpackage.json', '/static/index.html'])
    t.equal((await app.inject({ url })).statusCode, 404, url);
  const pub = await build({ store, config: { rateLimit: null }, public: true });
  t.teardown(() => pub.close());
  t.match((await pub.inject({ url: '/' })).body, /data-zone="public"/, 'the public zone page has no workbench');
});
