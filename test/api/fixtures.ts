/**
 * Release directories for API tests, written with the engine's own writer
 * from small hand-built ProtectedTables (no policy loader, no CSV source).
 */
import path from 'node:path';
import { buildDimension } from '../../engine/policy/dimension.ts';
import type { Manifest } from '../../engine/release/manifest.ts';
import { writeRelease } from '../../engine/release/write.ts';
import type { ProtectedCell, ProtectedTable, TablePlan } from '../../engine/types.ts';
import { cellCount, cellIndex } from '../../engine/types.ts';
import type { Kysely } from 'kysely';
import type { Actor } from '../../api/store/audit.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, storeDraft, withdrawRelease } from '../../api/store/releases.ts';
import type { Database } from '../../api/store/schema.ts';
import { tempDir } from '../tmp-dir.ts';

export const region = buildDimension({
  name: 'region',
  label: 'Region',
  categories: [
    { code: 'N1', label: 'North, one' },
    { code: 'N2', label: 'North two' },
    { code: 'S1', label: 'South' },
  ],
  hierarchy: [{ code: 'N', label: 'North', children: ['N1', 'N2'] }, 'S1'],
});
export const sex = buildDimension({
  name: 'sex',
  label: 'Sex',
  categories: [
    { code: '1', label: 'Male' },
    { code: '2', label: 'Female' },
  ],
});

/** Distinctive value of a suppressed cell: it must never appear in any output. */
export const SECRET = 987654321;

export interface FixtureOptions {
  readonly policyId?: string;
  readonly datasetId?: string;
  readonly audience?: 'public' | 'contract';
  readonly demo?: boolean;
  readonly seeded?: boolean;
  /** dp release with this rho (zCDP) or epsilon (pure); sdc when both absent. */
  readonly rho?: number;
  readonly epsilon?: number;
  /** Distinguishes manifests of otherwise equal releases. */
  readonly createdAt?: string;
  readonly inputSha?: string;
  /** The release's expiry date (YYYY-MM-DD); none when absent. */
  readonly expires?: string;
  /** Add a large table `big` with (side+1)^2 cells. */
  readonly bigSide?: number;
  /**
   * The dataset's cumulative spend the manifest states (draw log). Default for a crypto dp release: this draw alone
   * (draws 1, its own cost); null for sdc and seeded releases.
   */
  readonly spend?: Manifest['spend'];
}

function popTable(dp: boolean): ProtectedTable {
  const plan: TablePlan = {
    id: 'pop',
    title: 'Population',
    description: 'Persons by region and sex',
    dimensions: [region, sex],
    measure: { kind: 'count' },
    budgetShare: dp ? 1 : 0,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const cells: ProtectedCell[] = Array.from({ length: cellCount(plan.dimensions) }, (_, i) => ({
    value: 100 + i,
    conf: 'F',
    obs: dp ? 'E' : 'A',
    accuracy: dp ? { noiseSd: 1.5, scale: 1, halfWidth95: 3 } : null,
  }));
  // (N1, 2) primary, (N2, 2) secondary.
  cells[cellIndex(plan.dimensions, [0, 1])] = { value: null, conf: 'A', obs: 'A', accuracy: null };
  cells[cellIndex(plan.dimensions, [1, 1])] = { value: null, conf: 'D', obs: 'A', accuracy: null };
  return { kind: 'protected', plan, cells };
}

function bigTable(side: number): ProtectedTable {
  const cats = (p: string) =>
    Array.from({ length: side }, (_, i) => ({
      code: `${p}${String(i).padStart(3, '0')}`,
      label: `${p.toUpperCase()} ${i}`,
    }));
  const a = buildDimension({ name: 'area', label: 'Area', categories: cats('a') });
  const b = buildDimension({ name: 'activity', label: 'Activity', categories: cats('b') });
  const plan: TablePlan = {
    id: 'big',
    title: 'Big',
    description: 'Large table',
    dimensions: [a, b],
    measure: { kind: 'count' },
    budgetShare: 0,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const cells: ProtectedCell[] = Array.from({ length: cellCount(plan.dimensions) }, (_, i) =>
    i % 97 === 5
      ? { value: null, conf: 'A', obs: 'A', accuracy: null }
      : { value: i % 1000, conf: 'F', obs: 'A', accuracy: null },
  );
  return { kind: 'protected', plan, cells };
}

export async function tmpDir(prefix = 'sg-api-'): Promise<string> {
  return tempDir(prefix);
}

/** Write a release directory; returns its path and manifest. */
export async function makeRelease(o: FixtureOptions = {}, dir?: string): Promise<{ dir: string; manifest: Manifest }> {
  const out = dir ?? path.join(await tmpDir(), 'release');
  const dp = o.rho !== undefined || o.epsilon !== undefined;
  const tables = [popTable(dp), ...(o.bigSide ? [bigTable(o.bigSide)] : [])];
  const policyId = o.policyId ?? 'pop';
  const manifest = await writeRelease(
    {
      tables,
      manifest: {
        manifestVersion: 1,
        engine: { name: 'statguard', version: '0.1.0' },
        createdAt: o.createdAt ?? new Date().toISOString(),
        policy: { id: policyId, version: '1', sha256: 'a'.repeat(64), file: `${policyId}.json` },
        // One regime family per dataset (the store refuses mixing): sdc fixtures default to a dataset of their own.
        dataset: {
          id: o.datasetId ?? (dp ? 'census' : 'census-sdc'),
          unit: { kind: 'person', maxRowsPerUnit: 1, column: 'pid' },
        },
        release: {
          title: `Release ${policyId}`,
          description: 'test',
          audience: o.audience ?? 'public',
          demo: o.demo ?? false,
          expires: o.expires ?? null,
          contact: null,
        },
        randomness: o.seeded ? { source: 'seeded', seed: '42' } : { source: 'crypto', seed: null },
        regime: dp ? 'dp' : 'sdc',
        guarantee: { regime: dp ? 'dp' : 'sdc', statement: dp ? 'zCDP' : 'minimum frequency 3' },
        budget: dp
          ? o.rho !== undefined
            ? { rho: o.rho, epsilon: 10, delta: 1e-10 }
            : { epsilon: o.epsilon!, delta: 0, rho: null }
          : null,
        spend: o.spend !== undefined ? o.spend : dp && !o.seeded ? ownSpend(o) : null,
        methods: ['test'],
        tables: tables.map((t) => ({
          id: t.plan.id,
          title: t.plan.title,
          description: t.plan.description,
          measure: { kind: 'count' },
          dimensions: t.plan.dimensions.map((d) => ({
            name: d.name,
            label: d.label,
            categories: d.leafCount,
            levels: d.nodes.length,
          })),
          cells: t.cells.length,
          suppressed: t.cells.filter((c) => c.value === null).length,
          privacy: dp ? { share: 1 } : null,
        })),
        internal: {
          input: { kind: 'csv', file: '/secret/microdata.csv', bytes: 1234, sha256: o.inputSha ?? 'b'.repeat(64) },
          rows: {
            read: 4242,
            dropped: 0,
            dropReasons: {},
            afterBounding: 4242,
            removedByBounding: 0,
            units: 4242,
            valuesClamped: 0,
          },
          durationMs: 1,
        },
      },
    },
    out,
  );
  return { dir: out, manifest };
}

/** The spend of a dataset's only draw: this release's own cost (budget rule: pure epsilon costs epsilon^2/2 in rho). */
function ownSpend(o: FixtureOptions): NonNullable<Manifest['spend']> {
  const rho = o.rho ?? (o.epsilon! * o.epsilon!) / 2;
  return { draws: 1, rho, epsilon: o.rho !== undefined ? 0 : o.epsilon!, drawId: 'f'.repeat(24) };
}

/**
 * The release world the route and access tests share, stored and approved as `actor`: `pub` (dp, public),
 * `restricted` (sdc, contract audience), `draft` (never approved) and `gone` (approved, then withdrawn with
 * `withdrawReason`).
 */
export async function seedReleases(
  db: Kysely<Database>,
  actor: Actor,
  withdrawReason: string,
): Promise<{ pub: string; restricted: string; draft: string; gone: string }> {
  const publish = async (o: FixtureOptions, approve = true): Promise<string> => {
    const r = await storeDraft(db, await loadReleaseDir((await makeRelease(o)).dir), actor);
    if (approve) await approveRelease(db, r.id, actor);
    return r.id;
  };
  const pub = await publish({ policyId: 'pub', rho: 0.5 });
  const restricted = await publish({ policyId: 'restricted', audience: 'contract' });
  const draft = await publish({ policyId: 'draft' }, false);
  const gone = await publish({ policyId: 'gone' });
  await withdrawRelease(db, gone, withdrawReason, actor);
  return { pub, restricted, draft, gone };
}
