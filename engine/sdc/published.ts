/**
 * Releases already published from the same dataset (read from the store by `statguard release`, or from directories
 * given with `--against`, read with the strict release reader `engine/release/read.ts`) become shadow tables of the
 * new release's audit.
 *
 * Guarantee: only an sdc release of the same dataset is linked, and only tables whose measure the new policy can
 * recompute (otherwise a USAGE error names the release and table, never a value). A published cell equal to the
 * recomputed one is a constant of the attacker's system; a published cell that differs (the microdata were
 * corrected since) is a cell of the difference table, which the primary rules judge (`linkPublished`,
 * `assessDifference`); a suppressed cell stays suppressed.
 */
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import { readReleaseDir, ReleaseInvalid, type Manifest, type VerifiedRelease } from '../release/index.ts';
import type { ConfStatus, DimensionPlan, ExactTable, MeasurePlan, Plan, TablePlan } from '../types.ts';
import { internalValue } from './primary.ts';

/**
 * A table of a release already published from the same dataset, rebuilt so it can join the audit system of a new
 * release (`statguard release --against <dir>`): its plan (dimensions with the published hierarchy, the measure of the
 * new policy's matching table) is aggregated again from the current microdata like any table, then its published
 * cells become constants and its suppressed cells unknowns of the attacker's system.
 */
export interface PublishedTableSpec {
  /** The release (store id, or directory given with --against) and table id, for messages. */
  readonly release: string;
  readonly tableId: string;
  /** Plan of the shadow table (id `against:<k>:<table id>`), aggregated with the new release's tables, never published. */
  readonly plan: TablePlan;
  /** Published values (natural unit) or null, in the table's dense cell order. */
  readonly values: readonly (number | null)[];
  readonly conf: readonly ConfStatus[];
}

/** A published table joined with its recomputed exact cells: what `protectSdc` takes as `published`. */
export interface PublishedTableLink {
  readonly release: string;
  readonly tableId: string;
  readonly table: ExactTable;
  /** Per cell: suppressed in that release (an unknown for the attacker). */
  readonly suppressed: readonly boolean[];
  /** Per cell: suppressed as a primary (status A, O, T or C): sensitive in the joint audit too. */
  readonly primary: readonly boolean[];
  /**
   * Per published cell: the change of its internal value from the published one to the current microdata's (a cell
   * of the difference table of a correction), or null when it is unchanged or suppressed.
   */
  readonly changed: readonly (number | null)[];
}

/** What the public has of one table of a published release: its structure, published values and statuses. */
export interface PublishedTable {
  readonly id: string;
  /** The measure as the manifest states it (kind, column). */
  readonly measure: { readonly kind?: string; readonly column?: string } | undefined;
  readonly dimensions: readonly DimensionPlan[];
  /** Published values (natural unit) or null for suppressed cells, in the table's dense cell order. */
  readonly values: readonly (number | null)[];
  readonly conf: readonly ConfStatus[];
  /** Where the table was read from, for messages. */
  readonly file: string;
}

/** A release already published from a dataset: read from the store (`ref` its id) or a directory (`ref` its path). */
export interface PublishedRelease {
  readonly ref: string;
  /** How messages name it: `--against <dir>` or `release <id>`. */
  readonly label: string;
  readonly manifestSha256: string;
  readonly datasetId: string;
  readonly regime: string;
  readonly tables: readonly PublishedTable[];
}

function bad(dir: string, message: string, file?: string): StatguardError {
  return new StatguardError('USAGE', `--against ${dir}: ${message}`, { file: file ?? dir });
}

function badRelease(r: PublishedRelease, message: string, file?: string): StatguardError {
  return new StatguardError('USAGE', `${r.label}: ${message}`, { file: file ?? r.ref });
}

/** The reader's problem as a USAGE error of `--against`, worded for the option. */
function againstError(dirArg: string, dir: string, e: ReleaseInvalid): StatguardError {
  const manifestFile = path.join(dir, 'manifest.json');
  switch (e.reason) {
    case 'directory':
    case 'manifest':
      return bad(dirArg, `cannot read the release manifest: ${e.underlying ?? e.detail}`, manifestFile);
    case 'missing':
      return bad(dirArg, `cannot read table ${JSON.stringify(e.table)}: ${e.detail}`, path.join(dir, e.file));
    case 'altered':
      return bad(
        dirArg,
        `table ${JSON.stringify(e.table)}: the ${e.fileKind === 'csv' ? 'CSV' : e.fileKind === 'noisy' ? 'noisy measurement' : 'JSON-stat'} file does not match the SHA-256 in the manifest (altered release)`,
        path.join(dir, e.file),
      );
    default:
      return bad(dirArg, e.message, path.join(dir, e.file));
  }
}

/**
 * Read one release directory with the strict release reader. A release of another dataset, or one not protected by
 * suppression, is refused as soon as its manifest is read.
 */
async function readAgainst(dirArg: string, plan: Plan): Promise<VerifiedRelease> {
  const dir = path.resolve(dirArg);
  const onManifest = (manifest: Manifest): void =>
    checkLinkable({ label: `--against ${dirArg}`, ref: path.join(dir, 'manifest.json') }, manifest, plan);
  try {
    return await readReleaseDir(dir, { onManifest });
  } catch (e) {
    throw e instanceof ReleaseInvalid ? againstError(dirArg, dir, e) : e;
  }
}

/** Only a suppression (sdc) release of the plan's dataset can be linked. */
function checkLinkable(
  r: { readonly label: string; readonly ref: string },
  m: { readonly dataset: { readonly id: string }; readonly regime: string },
  plan: Plan,
): void {
  const fail = (message: string): never => {
    throw new StatguardError('USAGE', `${r.label}: ${message}`, { file: r.ref });
  };
  if (m.dataset.id !== plan.dataset.id)
    fail(
      `the release is of dataset ${JSON.stringify(m.dataset.id)}, not ${JSON.stringify(plan.dataset.id)}: only releases of the same dataset can be linked`,
    );
  if (m.regime !== 'sdc')
    fail(
      `the release was protected by ${JSON.stringify(m.regime)}, not suppression (sdc): its values are not exact, so they cannot be linked as constants`,
    );
}

/**
 * Read the release directories given with --against (checked by the strict release reader: manifest, sizes and
 * SHA-256 of every file, JSON-stat structure; a release of another dataset or regime refused).
 */
export async function readPublishedReleases(dirs: readonly string[], plan: Plan): Promise<PublishedRelease[]> {
  const out: PublishedRelease[] = [];
  for (const dirArg of dirs) {
    const dir = path.resolve(dirArg);
    const release = await readAgainst(dirArg, plan);
    out.push({
      ref: dirArg,
      label: `--against ${dirArg}`,
      manifestSha256: release.manifestSha256,
      datasetId: release.manifest.dataset.id,
      regime: release.manifest.regime,
      tables: release.tables.map((table) => {
        const entry = release.manifest.tables[table.position]!;
        return {
          id: table.id,
          measure: entry.measure,
          dimensions: table.dimensions,
          values: table.cells.value,
          conf: table.cells.conf,
          file: path.join(dir, entry.files.jsonstat.path),
        };
      }),
    });
  }
  return out;
}

/**
 * The tables a new release must be audited with, from releases already published (store or directories).
 *
 * A release is linked only when it names the same dataset id and was protected by suppression (regime sdc: its
 * published values are exact, so they are constants of the attacker's system; noisy dp or ckm values are not linear
 * constraints and are refused with a clear error). Within it, a table is linked when its measure is a measure of some
 * table of the new policy (count, or sum of the same column); mean tables are published as ratios and are skipped
 * (their sums are not published). A release listed twice (same manifest) is linked once.
 */
export function publishedSpecs(releases: readonly PublishedRelease[], plan: Plan): PublishedTableSpec[] {
  const out: PublishedTableSpec[] = [];
  const seen = new Set<string>();
  for (const [k, release] of releases.entries()) {
    if (seen.has(release.manifestSha256)) continue;
    seen.add(release.manifestSha256);
    checkLinkable(release, { dataset: { id: release.datasetId }, regime: release.regime }, plan);
    for (const table of release.tables) {
      const measure = matchingMeasure(plan, table.measure);
      if (measure === null) continue;
      const dims = table.dimensions.map((d) => againstDimension(d, plan, release, table.file));
      const tp: TablePlan = {
        id: `against:${k}:${table.id}`,
        title: table.id,
        description: '',
        dimensions: dims,
        measure,
        budgetShare: 0,
        neverSuppress: [],
        alwaysSuppress: [],
      };
      out.push({ release: release.ref, tableId: table.id, plan: tp, values: table.values, conf: table.conf });
    }
  }
  return out;
}

/** The new policy's measure plan equal to a published measure (same kind and column; mean tables skipped), or null. */
function matchingMeasure(
  plan: Plan,
  m: { readonly kind?: string; readonly column?: string } | undefined,
): MeasurePlan | null {
  if (!m) return null;
  for (const t of plan.tables) {
    const tm = t.measure;
    if (m.kind === 'count' && tm.kind === 'count' && tm.weight === undefined) return tm;
    if (m.kind === 'sum' && tm.kind !== 'count' && tm.column === m.column && tm.weight === undefined)
      return { ...tm, kind: 'sum' };
  }
  return null;
}

/**
 * A published dimension (read from JSON-stat by the release reader) as the shadow table's dimension. Its leaves must
 * be the declared categories of the column in the new policy (the same variable), else the table cannot be
 * recomputed. The shadow dimension is labelled with its column name.
 */
function againstDimension(d: DimensionPlan, plan: Plan, release: PublishedRelease, file: string): DimensionPlan {
  const name = d.name;
  const declared =
    plan.dataset.derived.find((x) => x.name === name)?.categories ??
    plan.dataset.columns.find((c) => c.name === name)?.categories;
  if (!declared)
    throw badRelease(
      release,
      `dimension ${JSON.stringify(name)} is not a categorical or derived column of this policy's dataset`,
      file,
    );
  const leafCodes = d.nodes.filter((n) => n.leaf).map((n) => n.code);
  if (leafCodes.length !== declared.length || declared.some((c, i) => c.code !== leafCodes[i])) {
    throw badRelease(
      release,
      `dimension ${JSON.stringify(name)}: its categories differ from those declared in this policy`,
      file,
    );
  }
  return Object.freeze({ ...d, label: name });
}

/**
 * Join the published tables with their recomputed exact cells. A published value equal to the recomputed cell (within
 * half a unit of the published precision) is what the public knows of the current data: a constant. A published
 * value that differs means the microdata changed since (a correction): the difference, the sum of the changed units'
 * contributions, is recorded per cell (`changed`) for the primary rules of the difference table; never a value in a
 * message.
 */
export function linkPublished(
  specs: readonly PublishedTableSpec[],
  exact: readonly ExactTable[],
): PublishedTableLink[] {
  return specs.map((s, i) => {
    const table = exact[i]!;
    const m = s.plan.measure;
    const scale = m.kind === 'count' ? 1 : 10 ** m.decimals;
    const changed = table.cells.map((c, k): number | null => {
      const v = s.values[k];
      if (v === null || v === undefined) return null;
      const now = internalValue(table, c);
      return Math.abs(v * scale - now) > 0.5 + 1e-9 * Math.abs(v * scale) ? now - Math.round(v * scale) : null;
    });
    return {
      release: s.release,
      tableId: s.tableId,
      table,
      suppressed: s.values.map((v) => v === null),
      primary: s.values.map((v, k) => v === null && s.conf[k] !== 'D' && s.conf[k] !== 'F'),
      changed,
    };
  });
}
