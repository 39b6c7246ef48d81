/**
 * `statguard release --against <dir>`: releases already published from the same dataset, read with the strict release
 * reader (`engine/release/read.ts`), become shadow tables of the new release's audit.
 *
 * Guarantee: only an sdc release of the same dataset is linked, only tables whose measure the new policy can
 * recompute, and only when every published value equals the recomputed cell (`linkPublished`); otherwise a USAGE or
 * SDC_INFEASIBLE error names the release, table and codes, never a value.
 */
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import { readReleaseDir, ReleaseInvalid, type Manifest, type VerifiedRelease } from '../release/index.ts';
import { cellCoords } from '../types.ts';
import type { ConfStatus, DimensionPlan, ExactTable, MeasurePlan, Plan, TablePlan } from '../types.ts';
import { internalValue } from './primary.ts';

/**
 * A table of a release already published from the same dataset, rebuilt so it can join the audit system of a new
 * release (`statguard release --against <dir>`): its plan (dimensions with the published hierarchy, the measure of the
 * new policy's matching table) is aggregated again from the current microdata like any table, then its published
 * cells become constants and its suppressed cells unknowns of the attacker's system.
 */
export interface PublishedTableSpec {
  /** Release directory and table id, for messages. */
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
}

function bad(dir: string, message: string, file?: string): StatguardError {
  return new StatguardError('USAGE', `--against ${dir}: ${message}`, { file: file ?? dir });
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
        `table ${JSON.stringify(e.table)}: the ${e.fileKind === 'csv' ? 'CSV' : 'JSON-stat'} file does not match the SHA-256 in the manifest (altered release)`,
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
  const manifestFile = path.join(dir, 'manifest.json');
  const onManifest = (manifest: Manifest): void => {
    const dataset = manifest.dataset.id;
    if (dataset !== plan.dataset.id) {
      throw bad(
        dirArg,
        `the release is of dataset ${JSON.stringify(dataset)}, not ${JSON.stringify(plan.dataset.id)}: only releases of the same dataset can be linked`,
        manifestFile,
      );
    }
    if (manifest.regime !== 'sdc') {
      throw bad(
        dirArg,
        `the release was protected by ${JSON.stringify(manifest.regime)}, not suppression (sdc): its values are not exact, so they cannot be linked as constants`,
        manifestFile,
      );
    }
  };
  try {
    return await readReleaseDir(dir, { onManifest });
  } catch (e) {
    throw e instanceof ReleaseInvalid ? againstError(dirArg, dir, e) : e;
  }
}

/**
 * Read the release directories given with --against and keep the tables a new release must be audited with.
 *
 * A release is linked only when its manifest names the same dataset id and it was protected by suppression (regime
 * sdc: its published values are exact, so they are constants of the attacker's system; noisy dp or ckm values are
 * not linear constraints and are refused with a clear error). Within it, a table is linked when its measure is a
 * measure of some table of the new policy (count, or sum of the same column); mean tables are published as ratios and
 * are skipped (their sums are not published). The whole release is checked by the strict release reader
 * (`engine/release/read.ts`: manifest, sizes and SHA-256 of every file, JSON-stat structure).
 */
export async function readPublishedReleases(dirs: readonly string[], plan: Plan): Promise<PublishedTableSpec[]> {
  const out: PublishedTableSpec[] = [];
  for (const [k, dirArg] of dirs.entries()) {
    const dir = path.resolve(dirArg);
    const release = await readAgainst(dirArg, plan);
    for (const table of release.tables) {
      const entry = release.manifest.tables[table.position]!;
      const measure = matchingMeasure(plan, entry.measure);
      if (measure === null) continue;
      const file = path.join(dir, entry.files.jsonstat.path);
      const dims = table.dimensions.map((d) => againstDimension(d, plan, dirArg, file));
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
      out.push({ release: dirArg, tableId: table.id, plan: tp, values: table.cells.value, conf: table.cells.conf });
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
function againstDimension(d: DimensionPlan, plan: Plan, dirArg: string, file: string): DimensionPlan {
  const name = d.name;
  const declared =
    plan.dataset.derived.find((x) => x.name === name)?.categories ??
    plan.dataset.columns.find((c) => c.name === name)?.categories;
  if (!declared)
    throw bad(
      dirArg,
      `dimension ${JSON.stringify(name)} is not a categorical or derived column of this policy's dataset`,
      file,
    );
  const leafCodes = d.nodes.filter((n) => n.leaf).map((n) => n.code);
  if (leafCodes.length !== declared.length || declared.some((c, i) => c.code !== leafCodes[i])) {
    throw bad(
      dirArg,
      `dimension ${JSON.stringify(name)}: its categories differ from those declared in this policy`,
      file,
    );
  }
  return Object.freeze({ ...d, label: name });
}

/**
 * Join the published tables with their recomputed exact cells. Guarantee: every published value equals the cell
 * recomputed from the current microdata (within half a unit of the published precision), so the constants the audit
 * uses are what the public actually knows; otherwise the release was not made from the same data and linking it
 * would be meaningless: SDC_INFEASIBLE naming the release, table and cell codes (never a value).
 */
export function linkPublished(
  specs: readonly PublishedTableSpec[],
  exact: readonly ExactTable[],
): PublishedTableLink[] {
  return specs.map((s, i) => {
    const table = exact[i]!;
    const m = s.plan.measure;
    const scale = m.kind === 'count' ? 1 : 10 ** m.decimals;
    table.cells.forEach((c, k) => {
      const v = s.values[k];
      if (v === null || v === undefined) return;
      if (Math.abs(v * scale - internalValue(table, c)) > 0.5 + 1e-9 * Math.abs(v * scale)) {
        const dims = s.plan.dimensions;
        const codes = cellCoords(dims, k).map((n, d) => dims[d]!.nodes[n]!.code);
        throw new StatguardError(
          'SDC_INFEASIBLE',
          `--against ${s.release}: table ${JSON.stringify(s.tableId)}, cell (${codes.join(', ')}) does not match the current microdata: the release was not published from the same data (or with other bounds), so it cannot be linked`,
        );
      }
    });
    return {
      release: s.release,
      tableId: s.tableId,
      table,
      suppressed: s.values.map((v) => v === null),
      primary: s.values.map((v, k) => v === null && s.conf[k] !== 'D' && s.conf[k] !== 'F'),
    };
  });
}
