import t from 'tap';
import { computeOnDemand } from '../../engine/ondemand/compute.ts';
import { loadResident } from '../../engine/ondemand/resident.ts';
import { onDemandOf } from '../../engine/ondemand/query.ts';
import { readDrawLog } from '../../engine/secure/index.ts';
import { dpDoc, planDoc } from './helpers.ts';
import { onDemandApp, post } from './api-helpers.ts';

t.test(
  'dp: every computed table is charged to the contract and the ledger (through the gate), cached ones are not',
  async (t) => {
    const { app, store, gate, zone, keys } = await onDemandApp();
    t.teardown(async () => {
      await app.close();
      await store.close();
    });
    const ds = 'synthetic-census-dp';
    const schema = (
      await app.inject({
        method: 'GET',
        url: `/v1/datasets/${ds}/schema`,
        headers: { authorization: `Bearer ${keys.researcher}` },
      })
    ).json();
    t.same(schema.costPerQuery, { epsilon: 0.5, rho: null });
    const q = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };
    const a = await post(app, ds, keys.researcher, q);
    t.equal(a.statusCode, 200, a.body);
    t.ok(
      a.json().cells.every((c: { obs: string; noiseSd: number }) => c.obs === 'E' && c.noiseSd > 0),
      'noisy cells with their noise scale',
    );
    const cost = { rho: 0.125, epsilon: 0.5 };
    t.same(gate.asked.at(-1), { dataset: ds, cells: 27, dpCost: cost }, 'the gate checks the cost before computing');
    t.same(gate.used.at(-1)!.dpCost, cost, 'a computed table is charged');
    const again = await post(app, ds, keys.researcher, q);
    t.same(again.json().cells, a.json().cells, 'the cached answer: the same noisy table, no new draw');
    t.equal(gate.used.at(-1)!.dpCost, undefined, 'a cached answer is not charged again');
    t.equal(zone.computed, 1);
    // A sub-table by filter is a new query: new noise, charged again (differencing under dp costs budget each time).
    const sub = await post(app, ds, keys.researcher, {
      dimensions: [{ name: 'sex' }],
      measure: 'count',
      filter: { region: ['A1'] },
    });
    t.equal(sub.statusCode, 200);
    t.same(gate.used.at(-1)!.dpCost, cost, 'each new query charged');
    t.equal(gate.used.filter((u) => u.dpCost !== undefined).length, 2);
    // A refused query is never computed nor charged.
    const before = gate.used.length;
    const refused = await post(app, ds, keys.researcher, {
      dimensions: [{ name: 'region' }, { name: 'sex' }, { name: 'marital' }, { name: 'education' }],
      measure: 'count',
    });
    t.equal(refused.statusCode, 400);
    t.equal(gate.used.length, before);
  },
);

t.test('dp: a real (crypto) query is in the draw log, with its cost, before its noise', async (t) => {
  const plan = onDemandOf(planDoc(dpDoc(0.25)));
  const data = await loadResident(plan);
  t.equal(data.keys, 'crypto');
  const q = { dimensions: [{ name: 'sex' }], measure: 'count' };
  const r1 = await computeOnDemand(plan, data, q);
  await computeOnDemand(plan, data, q);
  t.equal(r1.randomness, 'crypto');
  const log = readDrawLog(plan.dataset.id);
  t.equal(log.entries.length, 2, 'two queries, two draws');
  t.same(log.entries[0]!.cost, { rho: 0.03125, epsilon: 0.25 });
  t.match(log.spend, { draws: 2, rho: 0.0625, epsilon: 0.5 });
});
