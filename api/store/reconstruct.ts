/**
 * Rebuilds engine tables from the stored structure, so that the engine's own
 * formatters (toCsv, toJsonStat, toSdmxCsv, forEachSelected) serve every
 * format: the API has no formatter of its own.
 *
 * Guarantee: the rebuilt DimensionPlan has the same node order, codes, labels
 * and parent/child links as the JSON-stat file it was loaded from (node order
 * is the JSON-stat index order, which is the engine's node order), so cell
 * index i refers to the same cell as in the release files.
 */
import { dimensionFromTree, type TableMeta } from '../../engine/release/index.ts';
import type {
  CellAccuracy,
  ConfStatus,
  DimensionPlan,
  MeasurePlan,
  MeasureUnit,
  ObsStatus,
  ProtectedCell,
  ProtectedTable,
} from '../../engine/types.ts';
import type { StoredCells, StoredDimension } from './schema.ts';

/** The stored dimension rows as a DimensionPlan (children in node order), by the engine's one builder. */
export function dimensionPlan(d: StoredDimension): DimensionPlan {
  return dimensionFromTree(d.name, d.label, d.nodes);
}

/** The stored measure's declared unit, if any (manifest `measure.unit`, `measure.unitLabels`). */
function unitOf(m: Record<string, unknown>): MeasureUnit {
  return {
    ...(typeof m.unit === 'string' ? { unit: m.unit } : {}),
    ...(m.unitLabels !== null && typeof m.unitLabels === 'object'
      ? { unitLabels: m.unitLabels as Record<string, string> }
      : {}),
  };
}

function measurePlan(m: Record<string, unknown>): MeasurePlan {
  return { ...measureKind(m), ...unitOf(m) };
}

function measureKind(m: Record<string, unknown>): MeasurePlan {
  if (m.kind === 'count') return { kind: 'count' };
  const bounds = Array.isArray(m.bounds) ? (m.bounds as number[]) : [0, 0];
  // Bounds are informational here (formatters read only the kind and column).
  if (m.kind === 'quantile')
    return {
      kind: 'quantile',
      column: String(m.column ?? ''),
      lower: bounds[0] ?? 0,
      upper: bounds[1] ?? 0,
      decimals: 0,
      a: Math.round(Number(m.quantile ?? 0.5) * 10000),
      bins: Number(m.bins ?? 1),
    };
  return {
    kind: m.kind === 'mean' ? 'mean' : 'sum',
    column: String(m.column ?? ''),
    lower: bounds[0] ?? 0,
    upper: bounds[1] ?? 0,
    decimals: 0,
  };
}

export interface StoredTableInput {
  readonly table_id: string;
  readonly title: string;
  readonly description: string;
  readonly measure: Record<string, unknown>;
  readonly dimensions: readonly StoredDimension[];
  readonly privacy: Record<string, unknown> | null;
  readonly cells: StoredCells;
}

export function protectedTable(row: StoredTableInput): ProtectedTable {
  const dims = row.dimensions.map(dimensionPlan);
  const c = row.cells;
  const scale = typeof row.privacy?.scale === 'number' ? row.privacy.scale : NaN;
  const cells: ProtectedCell[] = c.value.map((value, i) => {
    const sd = c.noiseSd?.[i] ?? null;
    const hw = c.halfWidth95?.[i] ?? null;
    const accuracy: CellAccuracy | null =
      sd === null && hw === null ? null : { noiseSd: sd ?? NaN, scale, halfWidth95: hw ?? NaN };
    return { value, conf: c.conf[i] as ConfStatus, obs: c.obs[i] as ObsStatus, accuracy };
  });
  return {
    kind: 'protected',
    plan: {
      id: row.table_id,
      title: row.title,
      description: row.description,
      dimensions: dims,
      measure: measurePlan(row.measure),
      budgetShare: 0,
      neverSuppress: [],
      alwaysSuppress: [],
    },
    cells,
  };
}

/** The metadata the engine's writer put into JSON-stat (same strings as renderRelease). */
export function tableMeta(
  manifest: {
    release: { title: string };
    engine: { version: string };
    policy: { id: string; version: string };
    createdAt: string;
    regime: string;
    guarantee: { statement: string };
  },
  privacy: Record<string, unknown> | null,
): TableMeta {
  return {
    releaseTitle: manifest.release.title,
    source: `statguard ${manifest.engine.version}, policy ${manifest.policy.id} ${manifest.policy.version}`,
    updated: manifest.createdAt,
    privacy: { regime: manifest.regime, guarantee: manifest.guarantee.statement, table: privacy },
  };
}
