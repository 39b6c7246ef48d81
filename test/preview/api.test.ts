import { symlink } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { writeSignedRun } from '../api/fixtures.ts';
import { ROOT, tinyDoc, tinyDpDoc, writeDoc } from './helpers.ts';
import { tempDir } from '../tmp-dir.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

t.test('POST /v1/previews', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  const db = store.db;
  // Publish the minimum-frequency-2 variant of tiny: it publishes the enterprise count N/C (2 units).
  const n2 = await tinyDoc();
  n2.id = 'tiny-n2';
  n2.protection.rules.minFrequency.n = 2;
  const dir = path.join(tempDir('sg-prev-api-'), 'rel');
  const plan = await loadPolicy(await writeDoc(n2));
  const run = await runRelease(plan, { seed: '1' });
  await writeSignedRun(run.content, dir, plan, db);
  const draft = await storeDraft(db, await loadReleaseDir(dir), system);
  await approveRelease(db, draft.id, system);
  const keys = {
    reviewer: (await createKey(db, 'reviewer', 'Rita', system)).key,
    officer: (await createKey(db, 'officer', 'Olga', system)).key,
    researcher: (await createKey(db, 'researcher', 'Rex', system)).key,
  };
  const app = await build({ store, config: { rateLimit: null } });
  t.teardown(() => app.close());
  const post = (body: unknown, key?: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/previews',
      payload: body as object,
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });

  const snapshot = async () =>
    JSON.stringify(
      await Promise.all([
        db.selectFrom('releases').selectAll().orderBy('id').execute(),
        db
          .selectFrom('release_tables')
          .select(['release_id', 'table_id', 'cells'])
          .orderBy('release_id')
          .orderBy('table_id')
          .execute(),
        db.selectFrom('budget_ledger').selectAll().orderBy('id').execute(),
        db.selectFrom('datasets').selectAll().orderBy('id').execute(),
      ]),
    );
  const before = await snapshot();

  const tiny = await tinyDoc();
  const res = await post({ policy: tiny, seed: '1' }, keys.reviewer);
  t.equal(res.statusCode, 200, res.body.slice(0, 300));
  const p = JSON.parse(res.body).preview;
  t.equal(p.policy.id, 'tiny-sdc');
  t.same(p.combination.releases, [draft.id]);
  t.ok(p.combination.linkedTables.includes(`${draft.id}/enterprises`));
  t.ok(
    p.combination.recovered.some(
      (r: { table: string; codes: string[]; how: string }) =>
        r.table === 'enterprises' && r.codes.join('/') === 'N/C' && r.how === 'published',
    ),
    'N/C, suppressed by tiny-sdc, is published by tiny-n2',
  );
  t.ok(p.tables[0].sdc.sensitive.length > 0, 'exact-derived intervals for the reviewer');

  // dp preview reads the ledger: default totals (the dataset has spent nothing: sdc costs no budget).
  const dp = await tinyDpDoc({ mechanism: 'discrete-laplace', budget: { epsilon: 1 } });
  const r2 = JSON.parse((await post({ policy: dp, sweep: { param: 'epsilon', values: [0.5, 2] } }, keys.officer)).body);
  t.same(r2.preview.budget.ledger, {
    totalRho: 5,
    totalEpsilon: 10,
    spentRho: 0,
    spentEpsilon: 0,
    remainingRho: 5,
    remainingEpsilon: 10,
    fits: true,
  });
  t.equal(r2.sweep.points.length, 2);
  t.match(r2.svg, /^<svg/);

  const cmp = JSON.parse((await post({ policy: tiny, compare: n2 }, keys.reviewer)).body);
  t.ok(
    cmp.comparison.rows.some(
      (r: { table: string; figure: string; diff: number }) =>
        r.table === 'enterprises' && r.figure === 'primary' && r.diff === -1,
    ),
  );

  t.equal(await snapshot(), before, 'releases, tables, ledger and datasets unchanged by previews');
  const audit = await db
    .selectFrom('audit_log')
    .select(['action', 'outcome'])
    .where('action', '=', 'policy.preview')
    .execute();
  t.equal(audit.length, 3, 'each preview is audited (the only write)');

  // Exact-derived figures are for reviewers and officers only.
  const anon = await post({ policy: tiny });
  t.equal(anon.statusCode, 401);
  const rex = await post({ policy: tiny }, keys.researcher);
  t.equal(rex.statusCode, 403);
  for (const r of [anon, rex]) t.notMatch(r.body, /sensitive|requiredUpper|meanAbsError/);
  t.equal(
    (await app.inject({ url: '/v1/previews/policies', headers: { authorization: `Bearer ${keys.researcher}` } }))
      .statusCode,
    403,
  );
  const pub = await build({ store, config: { rateLimit: null }, public: true });
  t.teardown(() => pub.close());
  t.equal(
    (
      await pub.inject({
        method: 'POST',
        url: '/v1/previews',
        payload: { policy: tiny },
        headers: { authorization: `Bearer ${keys.reviewer}` },
      })
    ).statusCode,
    404,
    'no preview route in the public zone',
  );

  // Sources outside the data roots are refused, before the file is read.
  for (const [what, p] of [
    ['absolute', '/etc/passwd'],
    ['relative escape', '../api/app.ts'],
    ['traversal', path.join(ROOT, 'fixtures', '..', 'package.json')],
  ] as const) {
    const d = await tinyDoc();
    d.dataset.source.path = p;
    const r = await post({ policy: d }, keys.reviewer);
    t.equal(r.statusCode, 403, what);
    t.equal(JSON.parse(r.body).code, 'SOURCE_FORBIDDEN');
  }
  // A symbolic link inside a data root pointing out of it is refused too.
  const rootDir = tempDir('sg-root-');
  await symlink(path.join(ROOT, 'package.json'), path.join(rootDir, 'link.csv'));
  const linkApp = await build({ store, config: { rateLimit: null, dataRoots: [rootDir] } });
  t.teardown(() => linkApp.close());
  const ld = await tinyDoc();
  ld.dataset.source.path = path.join(rootDir, 'link.csv');
  const lr = await linkApp.inject({
    method: 'POST',
    url: '/v1/previews',
    payload: { policy: ld },
    headers: { authorization: `Bearer ${keys.reviewer}` },
  });
  t.equal(JSON.parse(lr.body).code, 'SOURCE_FORBIDDEN');
  const pg = await tinyDoc();
  pg.dataset.source = { kind: 'postgres', table: 'pg_authid' };
  t.equal(JSON.parse((await post({ policy: pg }, keys.reviewer)).body).code, 'SOURCE_FORBIDDEN', 'no database source');

  const bad = await tinyDoc();
  bad.tables[0].measure.bounds = [10, 1];
  const br = JSON.parse((await post({ policy: bad }, keys.reviewer)).body);
  t.equal(br.code, 'POLICY_INVALID');
  t.ok(br.problems.some((x: { path: string }) => x.path === '/tables/0/measure/bounds'));

  const list = JSON.parse(
    (await app.inject({ url: '/v1/previews/policies', headers: { authorization: `Bearer ${keys.reviewer}` } })).body,
  );
  t.ok(list.items.some((x: { file: string }) => x.file === 'tiny-sdc.json'));
  t.equal(
    (
      await app.inject({
        url: '/v1/previews/policies/policy.schema.json',
        headers: { authorization: `Bearer ${keys.reviewer}` },
      })
    ).statusCode,
    404,
  );
  t.equal(
    (
      await app.inject({
        url: '/v1/previews/policies/..%2Fpackage.json',
        headers: { authorization: `Bearer ${keys.reviewer}` },
      })
    ).statusCode,
    400,
  );
  // The example policy served to the web page previews as is (relative source resolved against policies/).
  const ex = JSON.parse(
    (
      await app.inject({
        url: '/v1/previews/policies/tiny-sdc.json',
        headers: { authorization: `Bearer ${keys.reviewer}` },
      })
    ).body,
  );
  t.equal((await post({ policy: ex }, keys.reviewer)).statusCode, 200);
});
