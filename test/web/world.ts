/**
 * The store the browser test browses (not a test file): dataset tiny-enterprises with two versions of tiny-sdc
 * (version 1 superseded by version 2, audited against it as `statguard release --against` does), and dataset
 * census with a dp release whose values are in the millions (thousands separators, ± half-widths, flags A and D),
 * labelled in English and French, its unit of measure declared (residents).
 * Example policies for the reviewer are written to a temp folder: tiny-sdc and tiny-n2 (minimum frequency 2).
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { build } from '../../api/app.ts';
import type { Actor } from '../../api/store/audit.ts';
import type { Store } from '../../api/store/db.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft } from '../../api/store/releases.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { runRelease } from '../../engine/pipeline.ts';
import { makeRelease, registerFixtures, writeSignedRun } from '../api/fixtures.ts';
import { openPgliteStore } from '../api/pglite-template.ts';
import { tinyDoc, writeDoc, type Doc } from '../preview/helpers.ts';
import { tempDir } from '../tmp-dir.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

/** Values of the dp table `pop` are (100 + i) * SCALE; the half-width is 3 * SCALE. */
export const SCALE = 123457;

export interface WebWorld {
  readonly store: Store;
  readonly app: FastifyInstance;
  readonly base: string;
  readonly reviewer: string;
  readonly tinyV1: string;
  readonly tinyV2: string;
  readonly pop: string;
  /** A valid policy to upload (tiny-sdc with minimum frequency 2, id tiny-n2), as a file. */
  readonly uploadFile: string;
  /** tiny-sdc broken in two places (schema errors with JSON paths). */
  readonly broken: Doc;
}

export async function webWorld(): Promise<WebWorld> {
  const store = await openPgliteStore();
  const policiesDir = tempDir('sg-web-pol-');
  await writeDoc(await tinyDoc(), policiesDir);
  const n2 = await tinyDoc();
  n2.id = 'tiny-n2';
  n2.release.title = 'Tiny with minimum frequency 2';
  n2.protection.rules.minFrequency.n = 2;
  const uploadFile = await writeDoc(n2, tempDir('sg-web-upload-'));

  const plan = await loadPolicy(path.join(policiesDir, 'tiny-sdc.json'));
  const publishRun = async (seed: string, against: string[]): Promise<{ id: string; dir: string }> => {
    const dir = path.join(policiesDir, `release-${seed}`);
    const run = await runRelease(plan, { seed, against });
    await writeSignedRun(run.content, dir, plan, store.db);
    const draft = await storeDraft(store.db, await loadReleaseDir(dir), system);
    await approveRelease(store.db, draft.id, system);
    return { id: draft.id, dir };
  };
  const v1 = await publishRun('web1', []);
  const v2 = await publishRun('web2', [v1.dir]);

  await registerFixtures(store.db, system);
  const popDir = await makeRelease({
    policyId: 'pub',
    rho: 0.5,
    valueScale: SCALE,
    // Labels in English and French, and a declared unit of measure: the page's language selector and unit.
    multilingual: true,
    unit: { en: 'residents', fr: 'résidents' },
  });
  const popDraft = await storeDraft(store.db, await loadReleaseDir(popDir.dir), system);
  await approveRelease(store.db, popDraft.id, system);

  const reviewer = (await createKey(store.db, 'reviewer', 'Rita', system)).key;
  const app = await build({ store, config: { rateLimit: null, policiesDir } });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });

  const broken = await tinyDoc();
  broken.protection.rules.minFrequency.n = 'three';
  broken.tables[0].measure.kind = 'median';
  return { store, app, base, reviewer, tinyV1: v1.id, tinyV2: v2.id, pop: popDraft.id, uploadFile, broken };
}
