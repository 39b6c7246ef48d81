/**
 * Release directories for API tests, written with the engine's own writer
 * from small hand-built ProtectedTables (no CSV source), signed like
 * `statguard release` signs them: with the fixture signing key TEST_SIGNER,
 * over the manifest, a real small policy (fixturePolicy, whose plan matches the
 * manifest's dataset, regime and budget) and every table file.
 *
 * `registerFixtures(db)` registers TEST_SIGNER and the datasets the fixtures
 * use (as an officer would), since the store refuses unsigned releases and
 * unregistered datasets.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKey } from '../../engine/secure/signing.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { registerSigningKey } from '../../api/store/signing-keys.ts';
import { buildDimension } from '../../engine/policy/dimension.ts';
import { MANIFEST_VERSION, type LinkedRelease, type Manifest } from '../../engine/release/manifest.ts';
import type { Signer } from '../../engine/release/signature.ts';
import { writeRelease, type ReleaseContent } from '../../engine/release/write.ts';
import type { MeasureUnit, Plan, ProtectedCell, ProtectedTable, TablePlan } from '../../engine/types.ts';
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
  /** Multiply the `pop` table's values (and half-widths) by this, for figures in the millions (default 1). */
  readonly valueScale?: number;
  /** Add a large table `big` with (side+1)^2 cells. */
  readonly bigSide?: number;
  /**
   * The dataset's cumulative spend the manifest states (draw log). Default for a crypto dp release: this draw alone
   * (draws 1, its own cost); null for sdc and seeded releases.
   */
  readonly spend?: Manifest['spend'];
  /** Labels in English and French (policy `languages`, French labels, a translated hierarchy). */
  readonly multilingual?: boolean;
  /** The `pop` table's declared unit of measure (policy `measure.unit`: a string, or per language). */
  readonly unit?: string | Readonly<Record<string, string>>;
  /** Sign with this key (default TEST_SIGNER); null: write an unsigned directory. */
  readonly signer?: Signer | null;
  /** State this budget in the manifest instead of the policy's (an attacker's understated cost). */
  readonly statedBudget?: Record<string, unknown>;
  /**
   * An sdc fixture states it was audited against every release of its dataset that this store holds as published or
   * withdrawn (as `statguard release` does after its joint audit), so the store's cross-release check accepts it.
   */
  readonly linkedFrom?: Kysely<Database>;
}

/** The fixture signing key (registered by `registerFixtures`). */
export const TEST_SIGNER = generateSigningKey();

/** Fingerprint of a fixture dataset's input (one per dataset unless a test sets `inputSha`). */
export const fixtureInputSha = (datasetId: string): string =>
  createHash('sha256').update(`fixture input of ${datasetId}`).digest('hex');

/** Datasets the fixtures use, with the regime their releases have. */
export const FIXTURE_DATASETS: readonly { id: string; regime: 'sdc' | 'dp' | 'ckm'; demo?: boolean }[] = [
  { id: 'census', regime: 'dp' },
  { id: 'census-sdc', regime: 'sdc' },
  { id: 'shared', regime: 'dp' },
  { id: 'concurrent', regime: 'dp' },
  { id: 'other', regime: 'sdc' },
  { id: 'demo-dp', regime: 'dp', demo: true },
  { id: 'demo-sdc', regime: 'sdc', demo: true },
];

/** Register TEST_SIGNER and the fixture datasets in a store (idempotent). */
export async function registerFixtures(db: Kysely<Database>, actor: Actor = FIXTURE_OFFICER): Promise<void> {
  await registerSigningKey(db, TEST_SIGNER.publicKeyPem, 'test fixtures', actor);
  for (const d of FIXTURE_DATASETS)
    await createDataset(db, { id: d.id, title: `Fixture ${d.id}`, regime: d.regime, demo: d.demo === true }, actor, {
      ifAbsent: true,
    });
}

const FIXTURE_OFFICER: Actor = { caller: 'cli:fixtures', role: 'officer' };

/** The DCAT theme of the multilingual fixture (EU data theme vocabulary: population and society). */
export const FIXTURE_THEME = 'http://publications.europa.eu/resource/authority/data-theme/SOCI';

/** French labels of the multilingual fixture (`multilingual`), by code. */
export const FRENCH: Readonly<Record<string, string>> = {
  N1: 'Nord, un',
  N2: 'Nord deux',
  S1: 'Sud',
  N: 'Nord',
  'sex:1': 'Hommes',
  'sex:2': 'Femmes',
};

/** A small valid policy whose plan has this dataset, regime and budget (the bytes signed as policy.json). */
export function fixturePolicy(o: {
  policyId: string;
  datasetId: string;
  rho?: number | undefined;
  epsilon?: number | undefined;
  multilingual?: boolean | undefined;
  unit?: FixtureOptions['unit'] | undefined;
}): Uint8Array {
  const dp = o.rho !== undefined || o.epsilon !== undefined;
  const policy = {
    id: o.policyId,
    version: '1',
    ...(o.multilingual ? { languages: ['en', 'fr'] } : {}),
    release: {
      title: `Release ${o.policyId}`,
      audience: 'public',
      ...(o.multilingual ? { themes: [FIXTURE_THEME] } : {}),
    },
    dataset: {
      id: o.datasetId,
      source: { kind: 'csv', path: 'microdata.csv' },
      unit: { kind: 'person', column: 'pid', maxRowsPerUnit: 1 },
      columns: [
        { name: 'pid', title: 'Person', type: 'string' },
        {
          name: 'region',
          title: 'Region',
          type: 'categorical',
          categories: region.nodes
            .slice(0, region.leafCount)
            .map((n) => ({ code: n.code, label: o.multilingual ? { en: n.label, fr: FRENCH[n.code]! } : n.label })),
          ...(o.multilingual ? { title: { en: 'Region', fr: 'Région' } } : {}),
        },
        {
          name: 'sex',
          title: 'Sex',
          type: 'categorical',
          categories: sex.nodes.slice(0, sex.leafCount).map((n) => ({
            code: n.code,
            label: o.multilingual ? { en: n.label, fr: FRENCH[`sex:${n.code}`]! } : n.label,
          })),
        },
      ],
      ...(o.multilingual
        ? { hierarchies: { region: [{ code: 'N', label: { en: 'North', fr: 'Nord' }, children: ['N1', 'N2'] }, 'S1'] } }
        : {}),
    },
    tables: [
      {
        id: 'pop',
        title: 'Population',
        dimensions: ['region', 'sex'],
        measure: { kind: 'count', ...(o.unit ? { unit: o.unit } : {}) },
      },
    ],
    protection: dp
      ? {
          regime: 'dp',
          mechanism: o.rho !== undefined ? 'discrete-gaussian' : 'discrete-laplace',
          budget: o.rho !== undefined ? { rho: o.rho } : { epsilon: o.epsilon },
        }
      : { regime: 'sdc', rules: { minFrequency: { n: 3 } }, secondary: { method: 'auto' } },
  };
  return new Uint8Array(Buffer.from(`${JSON.stringify(policy, null, 2)}\n`));
}

/** The measure's unit fields as the planner writes them (manifest `measure.unit`, `unitLabels`), or none. */
function unitFields(unit: FixtureOptions['unit']): MeasureUnit {
  if (unit === undefined) return {};
  return typeof unit === 'string' ? { unit } : { unit: unit.en ?? Object.values(unit)[0]!, unitLabels: unit };
}

function popTable(dp: boolean, scale: number, unit?: FixtureOptions['unit']): ProtectedTable {
  const plan: TablePlan = {
    id: 'pop',
    title: 'Population',
    description: 'Persons by region and sex',
    dimensions: [region, sex],
    measure: { kind: 'count', ...unitFields(unit) },
    budgetShare: dp ? 1 : 0,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const cells: ProtectedCell[] = Array.from({ length: cellCount(plan.dimensions) }, (_, i) => ({
    value: (100 + i) * scale,
    conf: 'F',
    obs: dp ? 'E' : 'A',
    accuracy: dp ? { noiseSd: 1.5 * scale, scale: 1, halfWidth95: 3 * scale } : null,
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
  const tables = [popTable(dp, o.valueScale ?? 1, o.unit), ...(o.bigSide ? [bigTable(o.bigSide)] : [])];
  const policyId = o.policyId ?? 'pop';
  const datasetId = o.datasetId ?? (dp ? 'census' : 'census-sdc');
  const policy = fixturePolicy({
    policyId,
    datasetId,
    rho: o.rho,
    epsilon: o.epsilon,
    multilingual: o.multilingual,
    unit: o.unit,
  });
  const policySha = createHash('sha256').update(policy).digest('hex');
  const signer = o.signer === undefined ? TEST_SIGNER : o.signer;
  const manifest = await writeRelease(
    {
      tables,
      manifest: {
        manifestVersion: MANIFEST_VERSION,
        engine: { name: 'statguard', version: '0.1.0' },
        createdAt: o.createdAt ?? new Date().toISOString(),
        policy: { id: policyId, version: '1', sha256: policySha, file: `${policyId}.json` },
        // One regime family per dataset (the store refuses mixing): sdc fixtures default to a dataset of their own.
        dataset: {
          id: datasetId,
          unit: { kind: 'person', maxRowsPerUnit: 1, column: 'pid' },
        },
        release: {
          title: `Release ${policyId}`,
          description: 'test',
          audience: o.audience ?? 'public',
          demo: o.demo ?? false,
          expires: o.expires ?? null,
          contact: null,
          ...(o.multilingual ? { languages: ['en', 'fr'], themes: [FIXTURE_THEME] } : {}),
        },
        randomness: o.seeded ? { source: 'seeded', seed: '42' } : { source: 'crypto', seed: null },
        regime: dp ? 'dp' : 'sdc',
        guarantee: { regime: dp ? 'dp' : 'sdc', statement: dp ? 'zCDP' : 'minimum frequency 3' },
        budget: o.statedBudget
          ? o.statedBudget
          : dp
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
          measure: { kind: 'count', ...(t.plan.id === 'pop' ? unitFields(o.unit) : {}) },
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
        input: { sha256: o.inputSha ?? fixtureInputSha(datasetId) },
        ...(!dp && o.linkedFrom ? { audit: { linked: await publishedLinks(o.linkedFrom, datasetId) } } : {}),
      },
    },
    out,
    signer ? { sign: { signer, policy } } : {},
  );
  return { dir: out, manifest };
}

/** The releases of a dataset the store holds as published or withdrawn, as a manifest's `audit.linked` lists them. */
export async function publishedLinks(db: Kysely<Database>, datasetId: string): Promise<LinkedRelease[]> {
  const rows = await db
    .selectFrom('releases')
    .select(['id', 'manifest_sha256'])
    .where('dataset_id', '=', datasetId)
    .where('status', 'in', ['published', 'withdrawn'])
    .execute();
  return rows.map((r) => ({ release: r.id, manifestSha256: r.manifest_sha256, corrected: false }));
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
  await registerFixtures(db, actor);
  const publish = async (o: FixtureOptions, approve = true): Promise<string> => {
    const r = await storeDraft(db, await loadReleaseDir((await makeRelease({ ...o, linkedFrom: db })).dir), actor);
    if (approve) await approveRelease(db, r.id, actor);
    return r.id;
  };
  const pub = await publish({ policyId: 'pub', rho: 0.5 });
  const restricted = await publish({ policyId: 'restricted', audience: 'contract' });
  const gone = await publish({ policyId: 'gone' });
  await withdrawRelease(db, gone, withdrawReason, actor);
  // Made last: audited against every release of census-sdc published so far (the withdrawn one included).
  const draft = await publish({ policyId: 'draft' }, false);
  return { pub, restricted, draft, gone };
}

/**
 * Write a real run's release directory signed with TEST_SIGNER (as `statguard release` signs with the secure zone's
 * key), and register TEST_SIGNER and the plan's dataset in `db` (demo when the run was seeded), as an officer would.
 */
export async function writeSignedRun(
  content: ReleaseContent,
  dir: string,
  plan: Plan,
  db?: Kysely<Database>,
  actor: Actor = FIXTURE_OFFICER,
): Promise<Manifest> {
  const policy = new Uint8Array(await readFile(plan.policyPath));
  const manifest = await writeRelease(content, dir, { force: true, sign: { signer: TEST_SIGNER, policy } });
  if (db) {
    await registerSigningKey(db, TEST_SIGNER.publicKeyPem, 'test fixtures', actor);
    await createDataset(
      db,
      {
        id: plan.dataset.id,
        title: `Fixture ${plan.dataset.id}`,
        regime: plan.protection.regime,
        demo: manifest.randomness.source === 'seeded',
      },
      actor,
      { ifAbsent: true },
    );
  }
  return manifest;
}
