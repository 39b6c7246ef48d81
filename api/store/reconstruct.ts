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
import type { TableMeta } from '../../engine/release/formats.ts';
import type {
  CellAccuracy,
  ConfStatus,
  DimensionNode,
  DimensionPlan,
  MeasurePlan,
  ObsStatus,
  ProtectedCell,
  ProtectedTable,
} from '../../engine/types.ts';
import type { StoredCells, StoredDimension } from './schema.ts';

export function dimensionPlan(d: StoredDimension): DimensionPlan {
  const n = d.nodes.length;
  const children: number[][] = Array.from({ length: n }, () => []);
  d.nodes.forEach((node, i) => {
    if (node.parent !== null) children[node.parent]!.push(i);
  });
  const isLeaf = children.map((c) => c.length === 0);
  const leafOrdinal = new Map<number, number>();
  isLeaf.forEach((l, i) => {
    if (l) leafOrdinal.set(i, leafOrdinal.size);
  });
  const leavesOf: number[][] = new Array(n);
  const collect = (i: number): number[] => {
    if (leavesOf[i]) return leavesOf[i]!;
    const r = isLeaf[i] ? [leafOrdinal.get(i)!] : children[i]!.flatMap(collect);
    leavesOf[i] = r;
    return r;
  };
  const level = new Array<number>(n).fill(0);
  const setLevel = (i: number, l: number): void => {
    level[i] = l;
    for (const c of children[i]!) setLevel(c, l + 1);
  };
  d.nodes.forEach((node, i) => {
    if (node.parent === null) setLevel(i, 0);
  });
  const nodes: DimensionNode[] = d.nodes.map((node, i) =>
    Object.freeze({
      code: node.code,
      label: node.label,
      leaf: isLeaf[i]!,
      level: level[i]!,
      parent: node.parent,
      children: Object.freeze(children[i]!),
      leaves: Object.freeze(collect(i)),
    }),
  );
  const roots = nodes.map((x, i) => (x.parent === null && !x.leaf ? i : -1)).filter((i) => i >= 0);
  return Object.freeze({
    name: d.name,
    label: d.label,
    nodes: Object.freeze(nodes),
    leafCount: leafOrdinal.size,
    total: roots.length === 1 ? roots[0]! : null,
  });
}

function measurePlan(m: Record<string, unknown>): MeasurePlan {
  if (m.kind === 'count') return { kind: 'count' };
  const bounds = Array.isArray(m.bounds) ? (m.bounds as number[]) : [0, 0];
  // Bounds are informational here (formatters read only the kind and column).
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
