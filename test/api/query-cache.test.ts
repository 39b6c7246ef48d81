/**
 * Parsed table queries are remembered per query string (cache.ts `parsedQuery`): a repeated query answers as the first
 * did, a refused query (unknown code, over the cell limit) is refused again every time (failures are not
 * remembered), and each query string keeps its own selection, format and labels.
 */
import t from 'tap';
import { build } from '../../api/app.ts';
import { openPgliteStore } from './pglite-template.ts';
import { seedReleases } from './fixtures.ts';

t.test('parsed queries remembered per query string', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  const { pub } = await seedReleases(store.db, { caller: 'cli:test', role: 'officer' }, 'withdrawn');
  const app = await build({ store, config: { rateLimit: null, maxCells: 4 }, logger: false });
  t.teardown(() => app.close());
  const get = (q: string) => app.inject({ url: `/v1/releases/${pub}/tables/pop?${q}` });
  const cells = (body: string) => (JSON.parse(body) as { cells: { key: Record<string, string> }[] }).cells;

  const first = await get('region=N1,N2&sex=2');
  t.equal(first.statusCode, 200, first.body);
  const again = await get('region=N1,N2&sex=2');
  t.equal(again.body, first.body, 'a repeated query answers alike');
  t.equal(cells(first.body).length, 2);
  const other = await get('region=N1&sex=2');
  t.equal(cells(other.body).length, 1, 'another query string, its own selection');
  const csv = await get('region=N1,N2&sex=2&format=csv');
  t.match(csv.headers['content-type'], /text\/csv/, 'and its own format');
  for (let i = 0; i < 2; i++) {
    const big = await get('sex=2');
    t.equal(big.statusCode, 403, 'over the cell limit, every time');
    t.equal(JSON.parse(big.body).code, 'CELL_LIMIT');
    const unknown = await get('region=nope');
    t.equal(JSON.parse(unknown.body).code, 'UNKNOWN_CODE', 'an unknown code, every time');
  }
});
