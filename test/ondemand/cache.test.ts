import t from 'tap';
import { canonicalQuery, OnDemandCache, type CachedAnswer } from '../../api/ondemand/cache.ts';
import { publicSchema } from '../../engine/ondemand/query.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { ONDEMAND_POLICY } from './helpers.ts';

t.test('the cache keeps at most its entries, least recently used out; keys are canonical queries', async (t) => {
  const c = new OnDemandCache();
  const a = (n: number): CachedAnswer => ({ result: { cells: n } as never, rendered: new Map() });
  c.set('a', a(1), 2);
  c.set('b', a(2), 2);
  t.ok(c.get('a'), 'a used: b is now the oldest');
  c.set('c', a(3), 2);
  t.equal(c.size, 2);
  t.notOk(c.get('b'), 'b evicted');
  t.ok(c.get('a') && c.get('c'));
  c.set('d', a(4), 0);
  t.notOk(c.get('d'), 'cacheEntries 0: nothing kept');

  const s = publicSchema(await loadPolicy(ONDEMAND_POLICY));
  const k1 = canonicalQuery(s, {
    dimensions: [{ name: 'region' }, { name: 'sex' }],
    measure: 'count',
    filter: { marital: ['2', '1'], education: ['3'] },
  });
  const k2 = canonicalQuery(s, {
    dimensions: [
      { name: 'region', level: 2 },
      { name: 'sex', level: 1 },
    ],
    measure: 'count',
    filter: { education: ['3'], marital: ['1', '2'] },
    format: 'csv',
  });
  t.equal(k1, k2, 'levels resolved, filter sorted, format left out');
  t.not(k1, canonicalQuery(s, { dimensions: [{ name: 'sex' }, { name: 'region' }], measure: 'count' }));
});
