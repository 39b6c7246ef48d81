/**
 * Previews run off the event loop, within limits (issue 17, finding 5): cells (413 before any work), time (503, the
 * worker is gone), memory (503), concurrency (503 PREVIEW_BUSY); a researcher's queries are answered while a large
 * preview runs.
 */
import t from 'tap';
import { build } from '../../api/app.ts';
import type { PreviewLimits } from '../../api/config.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';
import { bigPreviewPolicy } from '../../bench/big-preview.ts';
import { makeRelease, registerFixtures } from '../api/fixtures.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { tempDir } from '../tmp-dir.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };
const LIMITS: PreviewLimits = { maxCells: 2_000_000, timeoutMs: 120_000, memoryMb: 1536, concurrency: 2 };

t.test('preview limits', async (t) => {
  const store = await openPgliteStore();
  t.teardown(() => store.close());
  await registerFixtures(store.db, system);
  const rel = await storeDraft(store.db, await loadReleaseDir((await makeRelease({ policyId: 'pop' })).dir), system);
  await approveRelease(store.db, rel.id, system);
  const reviewer = (await createKey(store.db, 'reviewer', 'rv', system)).key;
  const researcher = (await createKey(store.db, 'researcher', 'rs', system)).key;
  const dir = tempDir('sg-preview-limits-');
  const medium = await bigPreviewPolicy(dir, 150); // 22,801 cells
  const large = await bigPreviewPolicy(dir, 499, 50_000); // 250,000 cells
  const appWith = async (preview: Partial<PreviewLimits>) => {
    const app = await build({
      store,
      config: { rateLimit: null, dataRoots: [dir, tempDir('sg-none-')], preview: { ...LIMITS, ...preview } },
    });
    t.teardown(() => app.close());
    return app;
  };
  const post = (app: Awaited<ReturnType<typeof appWith>>, policy: unknown, extra: object = {}) =>
    app.inject({
      method: 'POST',
      url: '/v1/previews',
      payload: { policy, ...extra },
      headers: { authorization: `Bearer ${reviewer}` },
    });
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 10));
  };

  t.test('too many cells: 413 before any work', async (t) => {
    const app = await appWith({ maxCells: medium.cells - 1 });
    const r = await post(app, medium.doc);
    t.equal(r.statusCode, 413);
    const p = JSON.parse(r.body);
    t.equal(p.code, 'PREVIEW_TOO_LARGE');
    t.equal(p.cells, medium.cells);
    t.equal(app.statguard.previews.threads, 0, 'no worker was started');
    // A sweep multiplies the cells: one run per point.
    const app2 = await appWith({ maxCells: medium.cells * 2 });
    t.equal((await post(app2, medium.doc)).statusCode, 200, 'within the limit');
    const sw = await post(app2, medium.doc, { sweep: { param: 'epsilon', values: [0.5, 1] } });
    t.equal(JSON.parse(sw.body).cells, medium.cells * 3, 'policy + 2 sweep points');
    t.equal(sw.statusCode, 413);
  });

  t.test('past its time limit: 503 and the worker is gone', async (t) => {
    const app = await appWith({ timeoutMs: 50 });
    const r = await post(app, large.doc);
    t.equal(r.statusCode, 503);
    t.equal(JSON.parse(r.body).code, 'PREVIEW_TIMEOUT');
    await until(() => app.statguard.previews.threads === 0);
    t.equal(app.statguard.previews.threads, 0, 'the terminated worker has exited');
    t.equal(app.statguard.previews.active, 0, 'its slot is free');
  });

  t.test('past its memory limit: 503', async (t) => {
    const app = await appWith({ memoryMb: 8 });
    const r = await post(app, large.doc);
    t.equal(r.statusCode, 503);
    t.equal(JSON.parse(r.body).code, 'PREVIEW_MEMORY');
    await until(() => app.statguard.previews.threads === 0);
    t.pass('the worker has exited');
  });

  t.test('N + 1 concurrent previews: one refused', async (t) => {
    const app = await appWith({ concurrency: 2 });
    const rs = await Promise.all([post(app, medium.doc), post(app, medium.doc), post(app, medium.doc)]);
    const codes = rs.map((r) => r.statusCode).sort();
    t.same(codes, [200, 200, 503]);
    const busy = rs.find((r) => r.statusCode === 503)!;
    t.equal(JSON.parse(busy.body).code, 'PREVIEW_BUSY');
    t.ok(Number(busy.headers['retry-after']) > 0, 'Retry-After');
    t.equal((await post(app, medium.doc)).statusCode, 200, 'a slot is free again afterwards');
  });

  t.test("a researcher's queries are answered while a large preview runs", async (t) => {
    const app = await appWith({});
    let done = false;
    const preview = post(app, large.doc).then((r) => {
      done = true;
      return r;
    });
    await until(() => app.statguard.previews.threads > 0);
    const answered: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await app.inject({
        url: `/v1/releases/${rel.id}/tables/pop?region=N1`,
        headers: { authorization: `Bearer ${researcher}` },
      });
      answered.push(r.statusCode);
    }
    t.notOk(done, 'the preview is still running');
    t.same(answered, Array(20).fill(200), 'every query answered meanwhile');
    const r = await preview;
    t.equal(r.statusCode, 200);
    t.equal(JSON.parse(r.body).preview.tables[0].cells, large.cells, 'and the preview completes');
  });
});
