/**
 * "A dataset is registered, not named" on the on-demand path (ARCHITECTURE.md section 7; api/ondemand/binding.ts),
 * attacked as an officer would: the census microdata registered a second time, as dataset B (dp, the same file), so
 * that its tables on demand get a fresh ledger and a fresh key. Every store dialect (PGlite; PostgreSQL when
 * STATGUARD_TEST_DATABASE_URL is set), one secure-zone worker holding both datasets' policies.
 *  (a) A served on demand, or released, first: B's table is refused (409 ON_DEMAND_INPUT_BOUND, naming neither A nor
 *      the fingerprint), before the gate: nothing reserved, computed, charged or cached;
 *  (b) A served on demand first: a release of the same input under B is refused by the publish check;
 *  (c) the normal case: B alone serves its tables and releases the same input under its own name;
 *  and two first tables of A and B at once bind the input once; and dataset C's file replaced, after C's binding,
 *  by A's microdata: the zone refuses to compute from it (503, reservation given back), the next table binds anew
 *  and is refused as B's.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { build } from '../../api/app.ts';
import type { ApiError } from '../../api/errors.ts';
import { forkSecureZone } from '../../api/ondemand/client.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { storeDraft } from '../../api/store/releases.ts';
import type { Store } from '../../api/store/db.ts';
import { generateCensus } from '../../bench/generate.ts';
import { dialects } from '../api/dialects.ts';
import { makeRelease, registerFixtures } from '../api/fixtures.ts';
import { CENSUS_CSV, counting, post, TestGate } from './api-helpers.ts';
import { dpDoc, ONDEMAND_POLICY } from './helpers.ts';

const A = 'synthetic-census-5000'; // ckm, census-ondemand.json
const B = 'census-renamed'; // dp, the same file
const officer: Actor = { caller: 'cli:test', role: 'officer' };
const INPUT = createHash('sha256').update(readFileSync(CENSUS_CSV)).digest('hex');
const Q = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };

const C = 'census-swapped'; // dp, a file of its own until the test replaces it with A's
const SWAPPED = join(mkdtempSync(join(tmpdir(), 'ondemand-swapped-')), 'census-500.csv');

/** The dp census policy under `id` over `csv`. */
function dpPolicy(id: string, csv: string): string {
  const doc = dpDoc(0.5) as unknown as { dataset: { id: string; source: { path: string } } };
  doc.dataset.id = id;
  doc.dataset.source.path = csv;
  const file = join(mkdtempSync(join(tmpdir(), 'ondemand-renamed-')), `${id}.json`);
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

const zone = counting(
  forkSecureZone({ policies: [ONDEMAND_POLICY, dpPolicy(B, CENSUS_CSV), dpPolicy(C, SWAPPED)], seed: 'binding' }),
);
t.teardown(() => zone.close());

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'accepted',
    (e: unknown) => (e as ApiError).code ?? String(e),
  );
}

/** A dp release of the census input under `dataset`, signed by the fixture key, through the publish checks. */
async function release(store: Store, dataset: string, policyId: string): Promise<string> {
  const rel = await makeRelease({ policyId, datasetId: dataset, rho: 0.5, inputSha: INPUT });
  return code(loadReleaseDir(rel.dir).then((r) => storeDraft(store.db, r, officer)));
}

for (const dialect of dialects()) {
  t.test(dialect.name, async (t) => {
    t.teardown(() => dialect.cleanup());
    const setup = async () => {
      const store = await dialect.open();
      await registerFixtures(store.db, officer);
      await createDataset(store.db, { id: A, title: 'Census', regime: 'ckm', demo: true }, officer);
      await createDataset(store.db, { id: B, title: 'Census again', regime: 'dp', demo: true }, officer);
      await createDataset(store.db, { id: 'census-a-dp', title: 'Census dp', regime: 'dp' }, officer);
      await createDataset(store.db, { id: C, title: 'Census swapped', regime: 'dp', demo: true }, officer);
      const key = (await createKey(store.db, 'researcher', 'Rex', officer)).key;
      const gate = new TestGate();
      const app = await build({ store, config: { rateLimit: null }, logger: false, onDemand: { zone, gate } });
      t.teardown(async () => {
        await app.close();
        await store.close();
      });
      const bindings = async () =>
        await store.db
          .selectFrom('dataset_inputs')
          .select(['dataset_id', 'created_by'])
          .where('input_sha256', '=', INPUT)
          .execute();
      /** B's table refused before the gate: nothing computed, reserved, charged or cached. */
      const refusedB = async (t: Test, boundTo: string) => {
        const computed = zone.computed;
        const r = await post(app, B, key, Q);
        t.equal(r.statusCode, 409, r.body);
        t.equal(r.json().code, 'ON_DEMAND_INPUT_BOUND');
        t.notMatch(r.body, boundTo, 'the refusal does not name the other dataset');
        t.notMatch(r.body, INPUT, 'nor the fingerprint');
        t.equal(zone.computed, computed, 'nothing computed');
        t.same(
          gate.asked.filter((a) => a.dataset === B),
          [],
          'the gate never asked: no reservation, no population figure, no contract to key a cache entry by',
        );
        t.same(
          gate.used.filter((u) => u.dpCost !== undefined),
          [],
          'no dp charge',
        );
        t.same(
          (await bindings()).map((b) => b.dataset_id),
          [boundTo],
          'the input stays bound to the first dataset',
        );
      };
      return { store, app, key, gate, bindings, refusedB };
    };

    await t.test('the worker reports the fingerprint a release states for the same file', async (t) => {
      t.equal(await zone.input(A), INPUT);
      t.equal(await zone.input(B), INPUT);
    });

    await t.test('(a) renamed dataset: after A served it on demand, B serves nothing', async (t) => {
      const s = await setup();
      const a = await post(s.app, A, s.key, Q);
      t.equal(a.statusCode, 200, a.body);
      await s.refusedB(t, A);
      t.equal((await post(s.app, B, s.key, Q)).statusCode, 409, 'asked again: still refused');
      const audit = await s.store.db
        .selectFrom('audit_log')
        .select(['outcome', 'detail'])
        .where('action', '=', 'ondemand.table')
        .where('target', '=', B)
        .execute();
      t.match(audit[0], { outcome: 'denied', detail: { code: 'ON_DEMAND_INPUT_BOUND', inputBoundTo: A } });
    });

    await t.test('(a) renamed dataset: after A released the input, B serves nothing', async (t) => {
      const s = await setup();
      t.equal(await release(s.store, 'census-a-dp', 'census-a-release'), 'accepted');
      await s.refusedB(t, 'census-a-dp');
    });

    await t.test('(b) served on demand under A first: a release of the input under B is refused', async (t) => {
      const s = await setup();
      t.equal((await post(s.app, A, s.key, Q)).statusCode, 200);
      t.equal(await release(s.store, B, 'census-b-release'), 'INPUT_OTHER_DATASET');
      t.same((await s.store.db.selectFrom('releases').select('id').execute()).length, 0, 'nothing stored');
      t.match(await s.bindings(), [{ dataset_id: A, created_by: /^ondemand:/ }]);
    });

    await t.test('(c) normal case: B alone serves its tables, then releases the same input', async (t) => {
      const s = await setup();
      const computed = zone.computed;
      const first = await post(s.app, B, s.key, Q);
      t.equal(first.statusCode, 200, first.body);
      t.match(await s.bindings(), [{ dataset_id: B, created_by: /^ondemand:/ }], 'bound at the first table');
      const again = await post(s.app, B, s.key, Q);
      t.equal(again.body, first.body, 'the cached answer');
      t.equal(zone.computed, computed + 1, 'computed once');
      t.equal(s.gate.used.filter((u) => u.dpCost !== undefined).length, 1, 'charged once');
      t.equal(await release(s.store, B, 'census-b-release'), 'accepted', 'its own release of the input');
      t.equal((await post(s.app, A, s.key, Q)).statusCode, 409, 'and A, the renamed one here, is refused');
    });

    await t.test('two first tables at once: one dataset binds the input', async (t) => {
      const s = await setup();
      const [a, b] = await Promise.all([post(s.app, A, s.key, Q), post(s.app, B, s.key, Q)]);
      t.same([a.statusCode, b.statusCode].sort(), [200, 409]);
      const winner = a.statusCode === 200 ? A : B;
      t.same(
        (await s.bindings()).map((x) => x.dataset_id),
        [winner],
      );
    });

    await t.test('a file replaced after its binding by microdata bound elsewhere serves nothing from it', async (t) => {
      const s = await setup();
      await generateCensus({ rows: 500, seed: 'swapped', out: SWAPPED });
      t.equal((await post(s.app, A, s.key, Q)).statusCode, 200, 'A binds the census');
      t.equal((await post(s.app, C, s.key, Q)).statusCode, 200, 'C binds its own file');
      copyFileSync(CENSUS_CSV, SWAPPED);
      const computed = zone.computed;
      const bySex = { dimensions: [{ name: 'sex' }], measure: 'count' };
      const changed = await post(s.app, C, s.key, bySex);
      t.equal(changed.statusCode, 503, changed.body);
      t.match(changed.json(), { code: 'ON_DEMAND_UNAVAILABLE', detail: /changed since its input was bound/ });
      t.equal(zone.computed, computed + 1, 'asked of the zone once');
      t.same(s.gate.cancelled.length, 1, 'its reservation given back');
      t.equal(s.gate.used.filter((u) => u.dpCost !== undefined).length, 1, "no charge but C's first table");
      const next = await post(s.app, C, s.key, bySex);
      t.equal(next.statusCode, 409, next.body);
      t.equal(next.json().code, 'ON_DEMAND_INPUT_BOUND', "the new input is A's");
      t.same(
        (await s.bindings()).map((b) => b.dataset_id),
        [A],
      );
    });
  });
}
