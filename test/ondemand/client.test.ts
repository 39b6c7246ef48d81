import t from 'tap';
import { forkSecureZone, SecureZoneError } from '../../api/ondemand/client.ts';
import { ONDEMAND_POLICY } from './helpers.ts';

t.test('the secure zone worker answers schema and compute, and refuses with code and path', async (t) => {
  const zone = forkSecureZone({ policies: [ONDEMAND_POLICY], seed: 'client-test' });
  t.teardown(() => zone.close());
  const schema = await zone.schema('synthetic-census-5000');
  t.equal(schema.regime, 'ckm');
  t.same(
    schema.dimensions.map((d) => d.name),
    ['region', 'sex', 'age_band', 'marital', 'education'],
  );
  const r = await zone.compute('synthetic-census-5000', {
    dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }],
    measure: 'count',
  });
  t.equal(r.cells, 27);
  t.equal(r.randomness, 'seeded');
  t.equal(r.table.kind, 'protected');
  t.ok(r.table.cells.every((c) => typeof c.value === 'number' && c.conf === 'F'));
  const again = await zone.compute('synthetic-census-5000', {
    dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }],
    measure: 'count',
  });
  t.same(again.table.cells, r.table.cells, 'ckm: the same query gives the same table');

  const bad = await zone
    .compute('synthetic-census-5000', { dimensions: [{ name: 'nope' }], measure: 'count' })
    .catch((e: unknown) => e);
  t.ok(bad instanceof SecureZoneError);
  t.match((bad as SecureZoneError).info, { code: 'QUERY_INVALID', path: '/dimensions/0/name' });
  const none = await zone.schema('other').catch((e: unknown) => e);
  t.match((none as SecureZoneError).info, { code: 'ON_DEMAND_NOT_OFFERED' });
});

t.test('a seed is refused for a dataset that is not a demo', async (t) => {
  const { writeFileSync, readFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const doc = JSON.parse(readFileSync(ONDEMAND_POLICY, 'utf8')) as Record<string, Record<string, unknown>>;
  doc.release!.demo = false;
  (doc.dataset!.source as Record<string, unknown>).path = join(process.cwd(), 'fixtures/synthetic/census-5000.csv');
  const dir = mkdtempSync(join(tmpdir(), 'ondemand-'));
  const file = join(dir, 'p.json');
  writeFileSync(file, JSON.stringify(doc));
  const zone = forkSecureZone({ policies: [file], seed: 'x' });
  t.teardown(() => zone.close());
  const e = await zone.schema('synthetic-census-5000').catch((x: unknown) => x);
  t.match((e as SecureZoneError).info, { code: 'USAGE', message: /demo datasets only/ });
});
