/**
 * Issue 6.2: fuzzing with fast-check (seeded, bounded runtime).
 * - policy validation: arbitrary JSON and mutations of a valid policy never
 *   throw from validatePolicy, and loadPolicy fails only with StatguardError;
 * - the CSV reader (source + bounding + aggregation): arbitrary bytes / near-valid CSV either aggregate or fail
 *   with a StatguardError (never another exception, never a hang);
 * - every query parameter of the table route and the list route: never a 500,
 *   always a documented status with problem+json on errors.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { build } from '../../api/app.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';
import { StatguardError } from '../../engine/errors.ts';
import { loadPolicy, validatePolicy } from '../../engine/policy/index.ts';
import { csvSource } from '../../engine/source/index.ts';
import { makeRelease, registerFixtures } from '../api/fixtures.ts';
import { tmp } from './lib/harness.ts';
import { readFile } from 'node:fs/promises';

const SEED = 20261130;
const basePolicy = JSON.parse(await readFile(path.resolve('policies/tiny-sdc.json'), 'utf8')) as Record<
  string,
  unknown
>;
const counts: string[] = [];

t.test('policy validation never crashes', async (t) => {
  let n = 0;
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      n++;
      const r = validatePolicy(v);
      return typeof r.ok === 'boolean';
    }),
    { seed: SEED, numRuns: 2000 },
  );
  // Mutations of a valid policy: replace one value at a random path by a random JSON value.
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]): void => {
    paths.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(basePolicy, []);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: paths.length - 1 }), fc.jsonValue({ maxDepth: 2 }), (i, v) => {
      n++;
      const doc = structuredClone(basePolicy) as Record<string, unknown>;
      const p = paths[i]!;
      let o = doc as Record<string | number, unknown>;
      for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
      o[p[p.length - 1]!] = v;
      const r = validatePolicy(doc);
      return typeof r.ok === 'boolean' && (r.ok || r.errors.length > 0);
    }),
    { seed: SEED, numRuns: 3000 },
  );
  counts.push(`policy validation: ${n} cases`);
  t.pass(`${n} generated policies validated without a crash`);
});

// A fixed number of generated files (not a time budget: the count, and so what is tested, must not depend on the
// machine's load; a loaded machine got through 833 of them in the 25 s the run was once allowed). 1,200: the count
// the time budget gave on a quiet machine, so the suite's CPU stays what it was.
const CSV_RUNS = 1200;

t.test('the CSV reader fails only with StatguardError', async (t) => {
  const dir = await tmp('sg-fuzz-csv-');
  const csv = path.join(dir, 'in.csv');
  const pol = path.join(dir, 'policy.json');
  await writeFile(
    pol,
    JSON.stringify({
      ...basePolicy,
      dataset: { ...(basePolicy.dataset as object), source: { kind: 'csv', path: csv } },
    }),
  );
  const plan = await loadPolicy(pol);
  const field = fc.oneof(
    fc.constantFrom(
      'N',
      'S',
      'W',
      'A',
      'B',
      'C',
      '5',
      '60',
      '120.5',
      '',
      '"',
      '""',
      '-1',
      'NaN',
      '1e400',
      'e01',
      '\u00e9',
      '\r',
      '\n',
      ';',
    ),
    fc.string({ maxLength: 6 }),
  );
  const validRow = fc
    .tuple(
      fc.integer({ min: 1, max: 40 }),
      fc.constantFrom('N', 'S', 'W'),
      fc.constantFrom('A', 'B', 'C'),
      fc.integer({ min: 0, max: 500 }),
      fc.integer({ min: 0, max: 99999 }),
    )
    .map(([e, r, s, m, v]) => `e${e},${r},${s},${m},${v / 10}`);
  // Mostly valid rows with some broken ones: exercises both the accepting and the refusing paths.
  const row = fc.oneof(
    { weight: 6, arbitrary: validRow },
    { weight: 1, arbitrary: fc.array(field, { minLength: 0, maxLength: 7 }).map((f) => f.join(',')) },
  );
  const text = fc
    .array(row, { minLength: 0, maxLength: 8 })
    .map(
      (rows) => `ent,region,sector,employees,turnover\n${rows.join(fc.sample(fc.constantFrom('\n', '\r\n'), 1)[0])}`,
    );
  const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
  let ok = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        text.map((s) => Buffer.from(s)),
        bytes,
      ),
      async (buf) => {
        await writeFile(csv, buf);
        try {
          await csvSource().aggregate(plan, { boundingKey: new Uint8Array(32) });
          ok++;
        } catch (e) {
          if (!(e instanceof StatguardError)) throw e;
          refused++;
        }
      },
    ),
    { seed: SEED, numRuns: CSV_RUNS },
  );
  counts.push(`CSV reader: ${ok + refused} files (${ok} released, ${refused} refused with a StatguardError)`);
  t.equal(ok + refused, CSV_RUNS, `${ok + refused} generated files: ${ok} released, ${refused} refused cleanly`);
  t.ok(ok > 0 && refused > 0, 'both the accepting and the refusing paths were exercised');
});

t.test('every query parameter: no 500', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  const actor = { caller: 't', role: 'officer' } as const;
  await registerFixtures(store.db, actor);
  const r = await storeDraft(store.db, await loadReleaseDir((await makeRelease({ policyId: 'fz' })).dir), actor);
  await approveRelease(store.db, r.id, actor);
  const app = await build({ store, config: { rateLimit: null, maxCells: 10 } });
  t.teardown(() => app.close());
  const word = fc.oneof(
    fc.constantFrom(
      'region',
      'sex',
      'format',
      'labels',
      'limit',
      'offset',
      'status',
      'policy',
      'N1',
      'N',
      'S1',
      '_T',
      '1',
      '2',
      'json',
      'csv',
      'jsonstat',
      'sdmx-csv',
      'both',
      'code',
      '-1',
      '0',
      '1e9',
      ',',
      '%',
      '%00',
      "'",
      ';--',
    ),
    fc.string({ maxLength: 8 }),
  );
  const param = fc
    .tuple(word, fc.array(word, { maxLength: 3 }))
    .map(([k, vs]) => `${encodeURIComponent(k)}=${vs.map(encodeURIComponent).join(',')}`);
  const raw = fc.string({ maxLength: 30 }).map((s) => s.replace(/[#\s]/g, ''));
  const statuses = new Map<number, number>();
  let n = 0;
  // The same seeded 3,000 cases fast-check's property would run, sent 16 at a time (as concurrent clients would):
  // the group commit then batches their audit rows instead of committing one per request. A failure names the case.
  const cases = fc.sample(
    fc.tuple(
      fc.constantFrom(
        `/v1/releases/${r.id}/tables/pop`,
        '/v1/releases',
        `/v1/releases/${r.id}`,
        '/v1/releases/x/tables/pop',
      ),
      fc.oneof(
        fc.array(param, { maxLength: 4 }).map((ps) => ps.join('&')),
        raw,
      ),
    ),
    { seed: SEED, numRuns: 3000 },
  );
  const failures: string[] = [];
  const one = async ([route, q]: [string, string]): Promise<void> => {
    const res = await app.inject({ url: `${route}?${q}` });
    n++;
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    if (res.statusCode >= 500) failures.push(`${route}?${q} -> ${res.statusCode}: ${res.body}`);
    else if (res.statusCode >= 400 && !/problem\+json/.test(String(res.headers['content-type'])))
      failures.push(`${route}?${q}: error without problem+json`);
  };
  for (let i = 0; i < cases.length; i += 16) await Promise.all(cases.slice(i, i + 16).map(one));
  t.same(failures.slice(0, 5), [], `no 500 and problem+json on every error (${failures.length} failing cases)`);
  t.equal(n, 3000, 'every generated case was sent');
  counts.push(`query parameters: ${n} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.pass(`${n} generated queries, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
});

t.teardown(() => console.log(`# fuzz (seed ${SEED}): ${counts.join('; ')}`));
