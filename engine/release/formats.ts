/**
 * Output formats of a protected table: CSV, JSON-stat 2.0 and SDMX-CSV 2.0 (xlsx and Parquet: xlsx.ts, parquet.ts;
 * the notes every format shows: tableNotes).
 *
 * Safety property: these writers accept `ProtectedTable` only (never an
 * ExactTable), and read nothing but the protected cells' `value`, statuses
 * and accuracy. A suppressed cell has `value === null` and is written as an
 * empty field (CSV), `null` (JSON-stat) or an empty OBS_VALUE (SDMX), always
 * with its status code beside it.
 *
 * Every writer takes an optional cell selection (the API's dimension
 * filters); without it the whole table is written.
 */
import type { ConfStatus, DimensionPlan, ObsStatus, ProtectedCell, ProtectedTable } from '../types.ts';
import { cellCount, strides } from '../types.ts';
import { CONF_STATUS_LEGEND, OBS_STATUS_LEGEND } from './legend.ts';

/** Per dimension, the node indices kept (in node order); undefined = all nodes. */
export type Selection = readonly (readonly number[] | undefined)[];

/** Metadata written alongside the cells (comes from the manifest). */
export interface TableMeta {
  readonly releaseTitle: string;
  readonly source: string;
  readonly updated: string;
  /** Public privacy metadata (regime, guarantee, budget of this table), copied into JSON-stat `extension`. */
  readonly privacy: Readonly<Record<string, unknown>>;
}

/** Node lists per dimension after applying a selection. */
export function selectedNodes(dims: readonly DimensionPlan[], sel?: Selection): number[][] {
  return dims.map((d, i) => {
    const s = sel?.[i];
    return s ? [...s] : d.nodes.map((_, j) => j);
  });
}

/** Number of cells a selection returns. */
export function selectionSize(dims: readonly DimensionPlan[], sel?: Selection): number {
  return selectedNodes(dims, sel).reduce((n, l) => n * l.length, 1);
}

/**
 * Visit the selected cells in row-major order (first dimension slowest),
 * calling `fn(coords, cell)`; coords are node indices per dimension.
 */
export function forEachSelected(
  table: ProtectedTable,
  sel: Selection | undefined,
  fn: (coords: readonly number[], cell: ProtectedCell) => void,
): void {
  const dims = table.plan.dimensions;
  const lists = selectedNodes(dims, sel);
  const st = strides(dims);
  if (table.cells.length !== cellCount(dims))
    throw new Error(`table ${table.plan.id}: cell count does not match its dimensions`);
  if (lists.some((l) => l.length === 0)) return;
  const pos = new Array<number>(dims.length).fill(0);
  const coords = lists.map((l) => l[0]!);
  for (;;) {
    let idx = 0;
    for (let d = 0; d < dims.length; d++) idx += coords[d]! * st[d]!;
    fn(coords, table.cells[idx]!);
    let d = dims.length - 1;
    while (d >= 0) {
      pos[d]! += 1;
      if (pos[d]! < lists[d]!.length) {
        coords[d] = lists[d]![pos[d]!]!;
        break;
      }
      pos[d] = 0;
      coords[d] = lists[d]![0]!;
      d--;
    }
    if (d < 0) return;
  }
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

function num(v: number | null | undefined): string {
  return v === null || v === undefined ? '' : String(v);
}

/**
 * CSV: one line per cell; per dimension its code and label, then value,
 * CONF_STATUS, OBS_STATUS, noise standard deviation and 95% half-width
 * (empty for cells without noise). RFC 4180 quoting, CRLF-free (LF).
 */
export function toCsv(table: ProtectedTable, sel?: Selection): string {
  const dims = table.plan.dimensions;
  const header = [
    ...dims.flatMap((d) => [d.name, `${d.name}_label`]),
    'value',
    'conf_status',
    'obs_status',
    'noise_sd',
    'half_width_95',
  ];
  const lines: string[] = [header.map(csvField).join(',')];
  forEachSelected(table, sel, (coords, cell) => {
    const fields: string[] = [];
    coords.forEach((n, d) => {
      const node = dims[d]!.nodes[n]!;
      fields.push(csvField(node.code), csvField(node.label));
    });
    fields.push(num(cell.value), cell.conf, cell.obs, num(cell.accuracy?.noiseSd), num(cell.accuracy?.halfWidth95));
    lines.push(fields.join(','));
  });
  return `${lines.join('\n')}\n`;
}

/**
 * The noisy measurement file of a consistent dp table (Census practice): one line per cell, per dimension its code
 * and label, then the unbiased noisy measurement (no clamp, no fit, no rounding), its noise standard deviation and
 * 95% half-width. The published table is a post-processing of exactly these values.
 */
export function toNoisyCsv(table: ProtectedTable): string {
  const m = table.consistent?.measurements;
  if (!m) throw new Error(`table ${table.plan.id} has no noisy measurements`);
  const dims = table.plan.dimensions;
  const header = [...dims.flatMap((d) => [d.name, `${d.name}_label`]), 'noisy_value', 'noise_sd', 'half_width_95'];
  const lines: string[] = [header.map(csvField).join(',')];
  let i = 0;
  forEachSelected(table, undefined, (coords) => {
    const fields = coords.flatMap((n, d) => [csvField(dims[d]!.nodes[n]!.code), csvField(dims[d]!.nodes[n]!.label)]);
    fields.push(num(m.values[i++]), num(m.noiseSd), num(m.halfWidth95));
    lines.push(fields.join(','));
  });
  return `${lines.join('\n')}\n`;
}

/** JSON-stat `category.child`: aggregate node code -> child codes, restricted to selected nodes. */
function childMap(dim: DimensionPlan, kept: readonly number[]): Record<string, string[]> | undefined {
  const keep = new Set(kept);
  const out: Record<string, string[]> = {};
  for (const i of kept) {
    const node = dim.nodes[i]!;
    const kids = node.children.filter((c) => keep.has(c)).map((c) => dim.nodes[c]!.code);
    if (kids.length > 0) out[node.code] = kids;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * JSON-stat 2.0 dataset. `value` has null for suppressed cells; `status`
 * (sparse object form) carries the CONF_STATUS of suppressed cells and
 * OBS_STATUS E for noisy ones; the full status arrays, legends, accuracy and
 * privacy metadata sit in `extension.statguard`. Hierarchies and totals are
 * declared with `category.child`.
 */
export function toJsonStat(table: ProtectedTable, meta: TableMeta, sel?: Selection): Record<string, unknown> {
  const dims = table.plan.dimensions;
  const lists = selectedNodes(dims, sel);
  const value: (number | null)[] = [];
  const status: Record<string, string> = {};
  const conf: ConfStatus[] = [];
  const obs: ObsStatus[] = [];
  const sd: (number | null)[] = [];
  const hw: (number | null)[] = [];
  let anyAccuracy = false;
  forEachSelected(table, sel, (_c, cell) => {
    const i = value.length;
    value.push(cell.value);
    if (cell.conf !== 'F') status[String(i)] = cell.conf;
    else if (cell.obs === 'E') status[String(i)] = 'E';
    conf.push(cell.conf);
    obs.push(cell.obs);
    sd.push(cell.accuracy?.noiseSd ?? null);
    hw.push(cell.accuracy?.halfWidth95 ?? null);
    if (cell.accuracy) anyAccuracy = true;
  });
  const dimension: Record<string, unknown> = {};
  dims.forEach((d, k) => {
    const kept = lists[k]!;
    const label: Record<string, string> = {};
    for (const i of kept) label[d.nodes[i]!.code] = d.nodes[i]!.label;
    const child = childMap(d, kept);
    dimension[d.name] = {
      label: d.label,
      category: { index: kept.map((i) => d.nodes[i]!.code), label, ...(child ? { child } : {}) },
    };
  });
  const usedConf = [...new Set(conf)].sort() as ConfStatus[];
  const usedObs = [...new Set(obs)].sort() as ObsStatus[];
  const unit = table.plan.measure.unit;
  // No metric dimension, so JSON-stat's `category.unit` has no place: the unit goes in `extension.unit` and a note.
  const notes = [...(unit !== undefined ? [unitNote(unit)] : []), ...tableNotes(table, meta)];
  return {
    version: '2.0',
    class: 'dataset',
    label: table.plan.title,
    ...(notes.length > 0 ? { note: notes } : {}),
    source: meta.source,
    updated: meta.updated,
    id: dims.map((d) => d.name),
    size: lists.map((l) => l.length),
    dimension,
    value,
    status,
    extension: {
      ...(unit !== undefined ? { unit: { label: unit } } : {}),
      statguard: {
        table: table.plan.id,
        ...(table.consistent ? { consistency: 'hierarchical' } : {}),
        release: meta.releaseTitle,
        measure: describeMeasure(table),
        confStatus: conf,
        obsStatus: obs,
        ...(anyAccuracy ? { accuracy: { noiseSd: sd, halfWidth95: hw } } : {}),
        legend: {
          CONF_STATUS: Object.fromEntries(usedConf.map((c) => [c, CONF_STATUS_LEGEND[c]])),
          OBS_STATUS: Object.fromEntries(usedObs.map((c) => [c, OBS_STATUS_LEGEND[c]])),
          status: Object.fromEntries([
            ...usedConf.filter((c) => c !== 'F').map((c) => [c, CONF_STATUS_LEGEND[c]]),
            ...(usedObs.includes('E') ? [['E', OBS_STATUS_LEGEND.E]] : []),
          ]),
        },
        privacy: meta.privacy,
      },
    },
  };
}

/**
 * The notes every format shows beside a table: its consistency (dp; from the table when it was just computed, from
 * the manifest's privacy entry when it was rebuilt from the store) and what moves its values besides the noise
 * (dp: privacy.bias). Public metadata only: the plan's and the regime's statements, never a cell.
 */
export function tableNotes(table: ProtectedTable, meta: TableMeta): string[] {
  const p = meta.privacy.table as
    { bias?: readonly { note?: unknown }[]; consistency?: Record<string, unknown> } | null | undefined;
  const c = p?.consistency;
  const consistency = table.consistent
    ? [table.consistent.note]
    : c && c.method === 'hierarchical'
      ? [
          `Consistent table: every total equals the sum of its children at every level and margin (${String(c.fit)}, ${String(c.rounding)}); the unbiased noisy measurements are in ${String(c.noisyFile)}.`,
        ]
      : [];
  const bias = p?.bias;
  return [
    ...consistency,
    ...(Array.isArray(bias) ? bias.map((b) => b.note).filter((n): n is string => typeof n === 'string') : []),
  ];
}

/** The note naming a declared unit of measure (JSON-stat `note`). */
export function unitNote(unit: string): string {
  return `Unit of measure: ${unit}.`;
}

export function describeMeasure(table: ProtectedTable): string {
  const m = table.plan.measure;
  return m.kind === 'count' ? 'count of units' : `${m.kind} of ${m.column}`;
}

/** The SDMX-CSV attribute columns after OBS_VALUE: ID, name (for `labels=both`) and, for coded ones, the legend. */
const SDMX_ATTRIBUTES = [
  { id: 'OBS_STATUS', name: 'Observation status' },
  { id: 'CONF_STATUS', name: 'Confidentiality status' },
  { id: 'NOISE_SD', name: 'Standard deviation of the noise' },
  { id: 'HALF_WIDTH_95', name: 'Half-width of the 95% interval of the noise' },
] as const;

/**
 * SDMX-CSV 2.0: STRUCTURE, STRUCTURE_ID, ACTION, one column per dimension, the measure OBS_VALUE, then the attributes
 * OBS_STATUS and CONF_STATUS (coded) and NOISE_SD and HALF_WIDTH_95 (the accuracy of a noisy cell, empty otherwise;
 * always present so that a table's columns do not depend on its cells). With `labels: 'both'` the SDMX-CSV 2.0
 * "ID: name" convention is applied throughout: every component's header (`REGION: Region`, `OBS_VALUE: count of
 * units`, `CONF_STATUS: Confidentiality status`), the structure id (`STATGUARD:POP(1.0): Population`) and every coded
 * value (`N1: North`, `D: Secondary suppression: ...`); non-coded values (OBS_VALUE, accuracy) stay numbers.
 */
export function toSdmxCsv(
  table: ProtectedTable,
  opts: { agency?: string; labels?: 'id' | 'both' } = {},
  sel?: Selection,
): string {
  const dims = table.plan.dimensions;
  const both = opts.labels === 'both';
  const named = (id: string, name: string): string => (both ? `${id}: ${name}` : id);
  const agency = opts.agency ?? 'STATGUARD';
  const structureId = named(
    `${agency}:${table.plan.id.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}(1.0)`,
    table.plan.title,
  );
  const header = [
    'STRUCTURE',
    'STRUCTURE_ID',
    'ACTION',
    ...dims.map((d) => named(d.name.toUpperCase(), d.label)),
    named('OBS_VALUE', describeMeasure(table)),
    ...SDMX_ATTRIBUTES.map((a) => named(a.id, a.name)),
  ];
  const lines: string[] = [header.map(csvField).join(',')];
  const sid = csvField(structureId);
  forEachSelected(table, sel, (coords, cell) => {
    const dimFields = coords.map((n, d) => {
      const node = dims[d]!.nodes[n]!;
      return csvField(named(node.code, node.label));
    });
    lines.push(
      [
        'dataflow',
        sid,
        'I',
        ...dimFields,
        num(cell.value),
        csvField(named(cell.obs, OBS_STATUS_LEGEND[cell.obs])),
        csvField(named(cell.conf, CONF_STATUS_LEGEND[cell.conf])),
        num(cell.accuracy?.noiseSd),
        num(cell.accuracy?.halfWidth95),
      ].join(','),
    );
  });
  return `${lines.join('\n')}\n`;
}
