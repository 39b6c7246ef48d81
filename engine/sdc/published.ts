import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import { cellCoords, cellCount } from '../types.ts';
import type { ConfStatus, DimensionNode, DimensionPlan, ExactTable, MeasurePlan, Plan, TablePlan } from '../types.ts';
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

interface JsonStatDim {
  category?: { index?: unknown; child?: unknown; label?: unknown };
}

function bad(dir: string, message: string, file?: string): StatguardError {
  return new StatguardError('USAGE', `--against ${dir}: ${message}`, { file: file ?? dir });
}

/**
 * Read the release directories given with --against and keep the tables a new release must be audited with.
 *
 * A release is linked only when its manifest names the same dataset id and it was protected by suppression (regime
 * sdc: its published values are exact, so they are constants of the attacker's system; noisy dp or ckm values are
 * not linear constraints and are refused with a clear error). Within it, a table is linked when its measure is a
 * measure of some table of the new policy (count, or sum of the same column); mean tables are published as ratios and
 * are skipped (their sums are not published). Each file is checked against the manifest's SHA-256.
 */
export async function readPublishedReleases(dirs: readonly string[], plan: Plan): Promise<PublishedTableSpec[]> {
  const out: PublishedTableSpec[] = [];
  for (const [k, dirArg] of dirs.entries()) {
    const dir = path.resolve(dirArg);
    const manifestFile = path.join(dir, 'manifest.json');
    let manifest: Record<string, unknown>;
    try {
      manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw bad(dirArg, `cannot read the release manifest: ${(e as Error).message}`, manifestFile);
    }
    const dataset = (manifest.dataset as { id?: unknown } | undefined)?.id;
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
    const tables = Array.isArray(manifest.tables) ? (manifest.tables as Record<string, unknown>[]) : [];
    for (const entry of tables) {
      const id = String(entry.id);
      const m = entry.measure as { kind?: string; column?: string; bounds?: [number, number] } | undefined;
      const measure = matchingMeasure(plan, m);
      if (measure === null) continue;
      const files = entry.files as { jsonstat?: { path?: string; sha256?: string } } | undefined;
      const rel = files?.jsonstat?.path;
      if (typeof rel !== 'string' || rel.includes('/') || rel.includes('\\'))
        throw bad(dirArg, `table ${JSON.stringify(id)} has no JSON-stat file in the manifest`, manifestFile);
      const file = path.join(dir, rel);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw bad(dirArg, `cannot read table ${JSON.stringify(id)}: ${(e as Error).message}`, file);
      }
      if (createHash('sha256').update(text).digest('hex') !== files?.jsonstat?.sha256) {
        throw bad(
          dirArg,
          `table ${JSON.stringify(id)}: the JSON-stat file does not match the SHA-256 in the manifest (altered release)`,
          file,
        );
      }
      const js = JSON.parse(text) as {
        id?: unknown;
        dimension?: Record<string, JsonStatDim>;
        value?: unknown;
        extension?: { statguard?: { confStatus?: unknown } };
      };
      const names = Array.isArray(js.id) ? js.id.map(String) : [];
      const dims = names.map((name) => dimensionFromJsonStat(name, js.dimension?.[name], plan, dirArg, file));
      const n = cellCount(dims);
      const values = Array.isArray(js.value) ? (js.value as (number | null)[]) : [];
      const conf = (js.extension?.statguard?.confStatus ?? []) as ConfStatus[];
      if (values.length !== n || !Array.isArray(conf) || conf.length !== n) {
        throw bad(
          dirArg,
          `table ${JSON.stringify(id)}: ${values.length} values for ${n} cells (only complete tables can be linked)`,
          file,
        );
      }
      const tp: TablePlan = {
        id: `against:${k}:${id}`,
        title: id,
        description: '',
        dimensions: dims,
        measure,
        budgetShare: 0,
        neverSuppress: [],
        alwaysSuppress: [],
      };
      out.push({ release: dirArg, tableId: id, plan: tp, values, conf });
    }
  }
  return out;
}

/** The new policy's measure plan equal to a published measure (same kind and column; mean tables skipped), or null. */
function matchingMeasure(
  plan: Plan,
  m: { kind?: string; column?: string; bounds?: [number, number] } | undefined,
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
 * The published dimension as a DimensionPlan: JSON-stat `category.index` lists every node in node order (leaves first,
 * then aggregates, as the writer emits them) and `category.child` the hierarchy. Its leaves must be the declared
 * categories of the column in the new policy (the same variable), else the table cannot be recomputed.
 */
function dimensionFromJsonStat(
  name: string,
  d: JsonStatDim | undefined,
  plan: Plan,
  dirArg: string,
  file: string,
): DimensionPlan {
  const index = Array.isArray(d?.category?.index) ? (d!.category!.index as unknown[]).map(String) : null;
  if (index === null) throw bad(dirArg, `dimension ${JSON.stringify(name)} has no category index`, file);
  const child = (d?.category?.child ?? {}) as Record<string, string[]>;
  const labels = (d?.category?.label ?? {}) as Record<string, string>;
  const pos = new Map(index.map((c, i) => [c, i]));
  const parent = new Array<number | null>(index.length).fill(null);
  for (const [agg, kids] of Object.entries(child)) {
    for (const c of kids) {
      const i = pos.get(c);
      if (i === undefined)
        throw bad(
          dirArg,
          `dimension ${JSON.stringify(name)}: child code ${JSON.stringify(c)} is not in the index`,
          file,
        );
      parent[i] = pos.get(agg) ?? null;
    }
  }
  const declared =
    plan.dataset.derived.find((x) => x.name === name)?.categories ??
    plan.dataset.columns.find((c) => c.name === name)?.categories;
  if (!declared)
    throw bad(
      dirArg,
      `dimension ${JSON.stringify(name)} is not a categorical or derived column of this policy's dataset`,
      file,
    );
  const leafCodes = index.filter((c) => !Object.hasOwn(child, c));
  if (leafCodes.length !== declared.length || declared.some((c, i) => c.code !== leafCodes[i])) {
    throw bad(
      dirArg,
      `dimension ${JSON.stringify(name)}: its categories differ from those declared in this policy`,
      file,
    );
  }
  const leavesOf = (i: number): number[] => {
    const kids = child[index[i]!];
    return kids ? kids.flatMap((c) => leavesOf(pos.get(c)!)) : [i];
  };
  const level = (i: number): number => (parent[i] === null ? 0 : 1 + level(parent[i]!));
  const nodes: DimensionNode[] = index.map((code, i) =>
    Object.freeze({
      code,
      label: labels[code] ?? code,
      leaf: !Object.hasOwn(child, code),
      level: level(i),
      parent: parent[i]!,
      children: Object.freeze((child[code] ?? []).map((c) => pos.get(c)!)),
      leaves: Object.freeze(leavesOf(i)),
    }),
  );
  const total = nodes.findIndex((x) => x.parent === null && !x.leaf);
  return Object.freeze({
    name,
    label: name,
    nodes: Object.freeze(nodes),
    leafCount: declared.length,
    total: total < 0 ? null : total,
  });
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
