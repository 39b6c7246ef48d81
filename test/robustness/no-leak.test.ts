/**
 * Issue 6.7: no leak. Every example policy in policies/ is released by the
 * engine (seeded, so the CLI run and the in-process run that captures the
 * exact tables are the same release), written, published and approved with
 * the CLI (PGlite store on disk), then served. Every public response (list,
 * release metadata, codelists, table metadata, SDMX structures and the DCAT
 * catalogue, every table in json/csv/jsonstat/sdmx-csv/xlsx/parquet with code and
 * code+label (xlsx decompressed, Parquet also decoded by DuckDB), dimension selections), the officer routes (drafts, ledger,
 * audit), error responses, tables on demand (ckm and dp, json/csv/jsonstat, with
 * their refusals), every fastify log line (level trace) and the CLI's stdout and
 * stderr are scanned for
 *   - the exact value of every suppressed cell (sdc),
 *   - the exact pre-noise value (unit count and sum) of every DP cell, and
 *   - the unperturbed (ckm) and pre-noise (dp) count or sum of every on-demand cell.
 *
 * Method (coincidences): a number is only searched for when it is distinctive
 * (at least 4 significant digits) and is not legitimately public in the same
 * release or any other published release (equal to a published cell value, or
 * to a number of a public manifest such as a cell count or a file size): such a
 * number in an output proves nothing. (The sdc and dp example releases of the
 * ACS MA data share a dataset: the sdc one publishes exact counts that are the
 * dp one's pre-noise values; that is the policies' choice, not a leak.) Texts are tokenised into numbers and compared numerically
 * (so 1234 and 1234.0 match). Suppressed cells are also checked structurally:
 * null in json/jsonstat, empty in csv/sdmx-csv.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { FastifyInstance } from 'fastify';
import { DuckDBInstance } from '@duckdb/node-api';
import { build } from '../../api/app.ts';
import { openStore } from '../../api/store/db.ts';
import { createKey } from '../../api/store/keys.ts';
import { releaseCapturingExact } from '../release/capture.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import type { ProtectedTable } from '../../engine/types.ts';
import { freshPgliteDir } from '../api/pglite-template.ts';
import { lendStore } from '../lend-store.ts';
import { fromParquet, unzipTexts } from '../release/read-back.ts';
import { cli, distinctive, findLeaks, numbersIn, scanTexts, tmp } from './lib/harness.ts';
import { SecureZoneError, type SecureZone } from '../../api/ondemand/client.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { computeOnDemand, exactOnDemand } from '../../engine/ondemand/compute.ts';
import { onDemandOf, publicSchema, type OnDemandPlanOf, type OnDemandQuery } from '../../engine/ondemand/query.ts';
import { ResidentCache } from '../../engine/ondemand/resident.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { dpPolicyFile, post, TestGate } from '../ondemand/api-helpers.ts';
import { ONDEMAND_POLICY } from '../ondemand/helpers.ts';

const POLICIES = path.resolve('policies');
const SEED = 'no-leak-seed';

// Policies that publish tables (an on-demand-only policy has none: its tables leak-test in test/ondemand).
const files = (await readdir(POLICIES))
  .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json'))
  .filter((f) => (JSON.parse(readFileSync(path.join(POLICIES, f), 'utf8')) as { tables: unknown[] }).tables.length > 0)
  .sort();
const dataPresent = await readFile(path.resolve('../shared/data/README.md')).then(
  () => true,
  () => false,
);

t.test(
  'no suppressed or exact pre-noise value appears in any output, log or error',
  { skip: dataPresent ? false : 'needs ../shared/data' },
  async (t) => {
    const home = await tmp('sg-noleak-');
    t.teardown(() => rm(home, { recursive: true, force: true }));
    // The CLI's embedded store: an empty migrated copy of the template (no initdb in the first CLI command).
    const env = { STATGUARD_DATA_DIR: await freshPgliteDir(home), DATABASE_URL: undefined };
    // The secure zone of these runs (its signing key signs the releases; its internal records hold the exact counts).
    const savedSecure = process.env.STATGUARD_SECURE_DIR;
    process.env.STATGUARD_SECURE_DIR = path.join(home, 'secure');
    t.teardown(() => {
      if (savedSecure === undefined) delete process.env.STATGUARD_SECURE_DIR;
      else process.env.STATGUARD_SECURE_DIR = savedSecure;
    });
    const texts: { where: string; text: string }[] = [];
    /** Per release: secret numbers and legitimately public numbers. */
    const secretsByPolicy = new Map<string, Map<number, string>>();
    // Numbers legitimately public in ANY release: releases of the same dataset under the other regime publish
    // exact values (e.g. the sdc release of acs-ma publishes exact counts that are also the pre-noise values of the
    // dp release), and unrelated releases coincide; neither is a leak of this pipeline.
    const legit = new Set<number>();
    const suppressedCoords: { policy: string; table: string; index: number }[] = [];

    for (const f of files) {
      const file = path.join(POLICIES, f);
      const plan = await loadPolicy(file);
      const { run, exact } = await releaseCapturingExact(plan, SEED);
      const dir = path.join(home, 'releases', plan.policyId);
      const rel = await cli([
        'release',
        file,
        '--out',
        dir,
        '--seed',
        SEED,
        '--reviewer-report',
        path.join(home, `${plan.policyId}.reviewer.json`),
      ]);
      t.equal(rel.code, 0, `${plan.policyId}: released (${rel.err.trim()})`);
      texts.push({ where: `cli release ${plan.policyId}`, text: rel.out + rel.err });
      // Same seed, same release: the CLI's files hold the tables whose exact values we captured.
      const written = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
      t.same(
        written.tables.map((x: { suppressed: number }) => x.suppressed),
        run.content.manifest.tables.map((x) => x.suppressed),
        `${plan.policyId}: CLI run = captured run`,
      );
      const firstCsv = await readFile(path.join(dir, written.tables[0].files.csv.path), 'utf8');
      const { toCsv } = await import('../../engine/release/formats.ts');
      t.equal(firstCsv, toCsv(run.content.tables[0]!), `${plan.policyId}: identical table values`);

      const secrets = new Map<number, string>();
      run.content.tables.forEach((pt: ProtectedTable, ti) => {
        const ex = exact[ti]!;
        const m = pt.plan.measure;
        const div = m.kind === 'count' ? 1 : 10 ** m.decimals;
        pt.cells.forEach((c, i) => {
          if (c.value !== null) legit.add(c.value);
          const e = ex.cells[i]!;
          const hidden = plan.protection.regime === 'dp' || c.value === null;
          if (c.value === null) suppressedCoords.push({ policy: plan.policyId, table: pt.plan.id, index: i });
          if (!hidden) return;
          const what = `${plan.policyId}/${pt.plan.id} cell ${i} (${c.value === null ? 'suppressed' : 'exact pre-noise'})`;
          if (plan.protection.regime === 'dp' || m.kind === 'count') secrets.set(e.units, `${what} unit count`);
          if (m.kind !== 'count') {
            secrets.set(e.sum / div, `${what} sum`);
            if (m.kind === 'mean' && e.units > 0) secrets.set(e.sum / div / e.units, `${what} mean`);
          }
        });
      });
      for (const n of numbersIn(JSON.stringify(written))) legit.add(n); // the public manifest's own numbers (counts, sizes, budget)
      secretsByPolicy.set(plan.policyId, secrets);
    }

    // The CLI's store is opened once and lent to its commands (each would open it again: ~1 s each), then closed:
    // the server below opens the folder anew.
    const lent = await openStore({ dataDir: env.STATGUARD_DATA_DIR });
    const giveBack = lendStore(t, lent);

    // An officer registers the secure zone's signing key and each dataset (seeded releases: demo datasets).
    t.equal((await cli(['signing-keys', 'register', '--local'], env)).code, 0, 'signing key registered');
    const registered = new Set<string>();
    for (const f of files) {
      const plan = await loadPolicy(path.join(POLICIES, f));
      if (registered.has(plan.dataset.id)) continue;
      registered.add(plan.dataset.id);
      const ds = await cli(
        [
          'datasets',
          'create',
          plan.dataset.id,
          '--title',
          plan.dataset.id,
          '--regime',
          plan.protection.regime,
          '--demo',
        ],
        env,
      );
      t.equal(ds.code, 0, `${plan.dataset.id}: registered (${ds.err.trim()})`);
    }

    // Publish and approve every release with the CLI, capturing its output.
    const ids = new Map<string, string>();
    for (const f of files) {
      const plan = await loadPolicy(path.join(POLICIES, f));
      const pub = await cli(['publish', path.join(home, 'releases', plan.policyId)], env);
      t.equal(pub.code, 0, `${plan.policyId}: published (${pub.err.trim()})`);
      const id = /draft (\S+) stored/.exec(pub.out)?.[1];
      t.ok(id, `${plan.policyId}: draft id`);
      ids.set(plan.policyId, id!);
      const appr = await cli(['approve', id!], env);
      t.equal(appr.code, 0, `${plan.policyId}: approved (${appr.err.trim()})`);
      const dup = await cli(['publish', path.join(home, 'releases', plan.policyId)], env); // an error path: duplicate
      t.equal(dup.code, 1, 'duplicate publish refused');
      texts.push({
        where: `cli publish/approve ${plan.policyId}`,
        text: pub.out + pub.err + appr.out + appr.err + dup.out + dup.err,
      });
    }

    await giveBack();

    // Serve the store with a capturing logger at trace level.
    const store = await openStore({ dataDir: env.STATGUARD_DATA_DIR });
    t.teardown(() => store.close());
    const logLines: string[] = [];
    // Tables on demand: the census under ckm (registered above with census-ckm.json) and its dp variant.
    const od = await onDemandZone();
    const officerActor: Actor = { caller: 'test', role: 'officer' };
    for (const [id, plan] of od.plans)
      await createDataset(store.db, { id, title: id, regime: plan.protection.regime, demo: true }, officerActor, {
        ifAbsent: true,
      });
    const app = await build({
      store,
      config: { rateLimit: null },
      logger: { level: 'trace', stream: { write: (l: string) => void logLines.push(l) } },
      onDemand: { zone: od.zone, gate: new TestGate() },
    });
    const small = await build({
      store,
      config: { rateLimit: null, maxCells: 1 },
      logger: { level: 'trace', stream: { write: (l: string) => void logLines.push(l) } },
    });
    t.teardown(async () => {
      await app.close();
      await small.close();
    });
    const officer = (await createKey(store.db, 'officer', 'scanner', { caller: 'test', role: 'officer' })).key;
    const researcher = (await createKey(store.db, 'researcher', 'no contract', { caller: 'test', role: 'officer' }))
      .key;
    let requests = 0;
    // The binary formats are scanned as what they hold: every decompressed part of an xlsx but exceljs's fixed theme
    // (colours and tints, no data), and a Parquet file's bytes with everything DuckDB decodes from it.
    const duck = await DuckDBInstance.create(':memory:');
    const conn = await duck.connect();
    t.teardown(() => {
      conn.closeSync();
      duck.closeSync();
    });
    let parquets = 0;
    const readable = async (r: { headers: Record<string, unknown>; body: string; rawPayload: Buffer }) => {
      const type = String(r.headers['content-type'] ?? '');
      if (type.startsWith('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'))
        return [...unzipTexts(r.rawPayload)]
          .filter(([name]) => !name.startsWith('xl/theme/'))
          .map(([, x]) => x)
          .join('\n');
      if (!type.startsWith('application/vnd.apache.parquet')) return r.body;
      const p = await fromParquet(conn, r.rawPayload, home, `scan-${parquets++}`, []);
      const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet($1)`, [p.file])).getRowObjectsJS();
      const js = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
      return [r.rawPayload.toString('latin1'), js(rows), js(p.kv)].join('\n');
    };
    const get = async (url: string, key?: string, a = app): Promise<{ statusCode: number; body: string }> => {
      const r = await a.inject({ url, headers: key ? { authorization: `Bearer ${key}` } : {} });
      requests++;
      texts.push({ where: `GET ${url} (${key ? 'key' : 'anonymous'}) -> ${r.statusCode}`, text: await readable(r) });
      t.ok(r.statusCode < 500, `${url}: no server error`);
      return r;
    };

    for (const key of [undefined, researcher, officer]) await get('/v1/releases?limit=100', key);
    for (const key of [undefined, researcher, officer]) await get('/v1/catalog', key);
    await get('/v1/admin/drafts', officer);
    await get('/v1/admin/datasets', officer);
    for (const [policy, id] of ids) {
      const detail = await get(`/v1/releases/${id}`, officer);
      await get(`/v1/releases/${id}`);
      await get(`/v1/releases/${id}/codelists`, officer);
      const d = JSON.parse(detail.body) as {
        tables: { id: string; dimensions: { name: string; categories: { code: string }[] }[] }[];
        manifest: { dataset: { id: string } };
      };
      await get(`/v1/admin/datasets/${encodeURIComponent(d.manifest.dataset.id)}/ledger`, officer);
      for (const tb of d.tables) {
        const base = `/v1/releases/${id}/tables/${tb.id}`;
        for (const format of ['json', 'csv', 'jsonstat', 'sdmx-csv', 'xlsx', 'parquet']) {
          for (const labels of ['code', 'both']) await get(`${base}?format=${format}&labels=${labels}`, officer);
          // Selections: two codes of each dimension.
          const q = tb.dimensions
            .map(
              (dim) =>
                `${encodeURIComponent(dim.name)}=${dim.categories
                  .slice(0, 2)
                  .map((c) => encodeURIComponent(c.code))
                  .join(',')}`,
            )
            .join('&');
          await get(`${base}?format=${format}&${q}`, officer);
        }
        await get(`${base}?format=json`); // anonymous (404 for the contract release)
        // Metadata (issue 19): codelists, table metadata and SDMX structure; a language the release lacks.
        for (const m of ['codelists', 'metadata', 'structure']) await get(`${base}/${m}`, officer);
        await get(`${base}/metadata?lang=xx`, officer);
        // Error paths.
        await get(`${base}?${encodeURIComponent(tb.dimensions[0]!.name)}=NOPE`, officer);
        await get(`${base}?nodimension=1`, officer);
        await get(`${base}?format=xml`, officer);
        await get(`${base}x`, officer);
        await get(base, officer, small); // CELL_LIMIT
      }
      // Structural check: suppressed cells are null in json.
      for (const s of suppressedCoords.filter((x) => x.policy === policy)) {
        const js = JSON.parse(
          (
            await app.inject({
              url: `/v1/releases/${id}/tables/${s.table}?format=jsonstat`,
              headers: { authorization: `Bearer ${officer}` },
            })
          ).body,
        ) as { value: (number | null)[] };
        if (js.value[s.index] !== null)
          t.fail(`${policy}/${s.table} cell ${s.index} is suppressed but not null in jsonstat`);
      }
    }
    const odTexts = texts.length;
    const odSecrets = await scanOnDemand(t, app, researcher, od, texts, legit);
    secretsByPolicy.set('tables on demand', odSecrets);
    await get('/v1/admin/audit?limit=200', officer);
    texts.push({ where: 'fastify log', text: logLines.join('') });

    // Every text is read into its numbers once (it was once per secret searched: most of this test's scan time).
    const scanStarted = process.hrtime.bigint();
    const scanned = scanTexts(texts);
    let searched = 0;
    let skipped = 0;
    let leaks = 0;
    for (const secrets of secretsByPolicy.values()) {
      const found = findLeaks(secrets, legit, scanned);
      searched += found.searched;
      skipped += found.skipped;
      leaks += found.leaks.length;
      for (const l of found.leaks) t.fail(l);
    }
    t.equal(leaks, 0, 'no leak');
    const scanMs = Number(process.hrtime.bigint() - scanStarted) / 1e6;
    t.ok(searched > 50, `searched for ${searched} distinctive secret values`);
    const odSearched = findLeaks(odSecrets, legit, []).searched;
    t.ok(odSearched >= 100, `of them ${odSearched} exact values behind tables on demand`);
    t.ok(logLines.length > requests, `captured ${logLines.length} log lines`);
    console.log(
      `# no-leak: ${files.length} policies, ${requests} responses + ${texts.length - odTexts - 1} on-demand answers and refusals + ${logLines.length} log lines + CLI output scanned; ${searched} distinctive secret values searched (${odSearched} on demand; ${skipped} non-distinctive or coinciding with a published number skipped), ${suppressedCoords.length} suppressed cells checked structurally; leaks: ${leaks}; scan ${scanMs.toFixed(0)} ms`,
    );
  },
);

/**
 * Tables on demand (issue 20), scanned with everything else: a secure zone run in this process (the engine's
 * ResidentCache and computeOnDemand, as the worker runs them; no fork) serves the census on-demand policy under ckm
 * and its dp variant. The secrets are the exact values behind the protected cells, from the engine's own aggregation
 * of the same resident rows (`exactOnDemand`, secure-zone only): the unperturbed counts and sums of ckm tables (a
 * cell perturbed by 0 publishes its count, which is then public) and the pre-noise counts and sums of dp tables.
 */
async function onDemandZone(): Promise<{
  zone: SecureZone;
  plans: Map<string, OnDemandPlanOf>;
  resident: ResidentCache;
}> {
  const plans = new Map<string, OnDemandPlanOf>();
  for (const f of [ONDEMAND_POLICY, await dpPolicyFile()]) {
    const plan = onDemandOf(await loadPolicy(f));
    plans.set(plan.dataset.id, plan);
  }
  const resident = new ResidentCache(SEED);
  let draws = 0;
  const run = async <T>(f: () => Promise<T> | T): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw new SecureZoneError({ code: (e as { code?: string }).code ?? 'ON_DEMAND_FAILED', message: String(e) });
    }
  };
  const zone: SecureZone = {
    schema: (id) => run(() => publicSchema(plans.get(id)!)),
    input: (id) => run(async () => (await resident.get(plans.get(id)!)).inputSha256),
    compute: (id, q) =>
      run(async () => {
        const plan = plans.get(id)!;
        return computeOnDemand(plan, await resident.get(plan), q, { seed: `${SEED}:${++draws}` });
      }),
    close: async () => {},
  };
  return { zone, plans, resident };
}

const ON_DEMAND_QUERIES: readonly OnDemandQuery[] = [
  { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' },
  { dimensions: [{ name: 'region' }, { name: 'age_band' }], measure: 'count' },
  { dimensions: [{ name: 'age_band' }, { name: 'sex' }], measure: 'income' },
  { dimensions: [{ name: 'marital' }, { name: 'education' }], measure: 'income', filter: { region: ['A1', 'A2'] } },
  { dimensions: [{ name: 'education' }], measure: 'count', filter: { sex: ['2'] } },
];

/** Ask every query of every on-demand dataset in json, csv and jsonstat, and two refusals; returns its secrets. */
async function scanOnDemand(
  t: Test,
  app: FastifyInstance,
  researcher: string,
  od: Awaited<ReturnType<typeof onDemandZone>>,
  texts: { where: string; text: string }[],
  legit: Set<number>,
): Promise<Map<number, string>> {
  const secrets = new Map<number, string>();
  for (const [id, plan] of od.plans) {
    const schema = await app.inject({
      url: `/v1/datasets/${id}/schema`,
      headers: { authorization: `Bearer ${researcher}` },
    });
    t.equal(schema.statusCode, 200, `${id}: schema`);
    for (const n of numbersIn(schema.body)) legit.add(n); // declared facts (bounds, limits, costs)
    const data = await od.resident.get(plan);
    for (const q of ON_DEMAND_QUERIES) {
      const exact = exactOnDemand(plan, data, q);
      const div = exact.plan.measure.kind === 'count' ? 1 : 10 ** exact.plan.measure.decimals;
      const json = await post(app, id, researcher, { ...q, format: 'json' });
      const served = JSON.parse(json.body) as {
        cells: { value: number | null; noiseSd?: number; halfWidth95?: number }[];
      };
      t.equal(served.cells.length, exact.cells.length, `${id} ${JSON.stringify(q)}: served`);
      served.cells.forEach((c, i) => {
        for (const v of [c.value, c.noiseSd, c.halfWidth95]) if (typeof v === 'number') legit.add(v);
        const e = exact.cells[i]!;
        const what = `on demand ${id} ${JSON.stringify(q.dimensions)} ${q.measure} cell ${i}`;
        if (exact.plan.measure.kind === 'count') secrets.set(e.units, `${what} (exact count)`);
        else secrets.set(e.sum / div, `${what} (exact sum)`);
      });
      texts.push({ where: `POST on demand ${id} json ${JSON.stringify(q)}`, text: json.body });
      for (const format of ['csv', 'jsonstat']) {
        const r = await post(app, id, researcher, { ...q, format });
        texts.push({ where: `POST on demand ${id} ${format} ${JSON.stringify(q)}`, text: r.body });
      }
    }
    // Error paths: a level off the schema, a table wider than the gate allows.
    for (const bad of [
      { dimensions: [{ name: 'region', level: 9 }], measure: 'income' },
      { dimensions: ['region', 'sex', 'marital', 'education'].map((name) => ({ name })), measure: 'count' },
    ]) {
      const r = await post(app, id, researcher, bad);
      t.ok(r.statusCode >= 400 && r.statusCode < 500, `${id}: refused ${r.statusCode}`);
      texts.push({ where: `POST on demand ${id} refusal ${r.statusCode}`, text: r.body });
    }
  }
  // Control: the scan finds a searched value planted in a copy of an answer.
  const planted = [...secrets.keys()].find((v) => distinctive(v) && !legit.has(v))!;
  const copy = [{ where: 'planted', text: `${texts.at(-3)!.text},${planted}` }];
  t.equal(findLeaks(secrets, legit, scanTexts(copy)).leaks.length, 1, 'the scan finds a planted exact value');
  return secrets;
}
