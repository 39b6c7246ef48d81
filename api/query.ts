/**
 * Table queries: dimension selections in the PxWeb style
 * (`?region=N,S1&sex=1`, a dimension left out means all its categories) and
 * rendering through the engine's formatters only (toCsv, toJsonStat,
 * toSdmxCsv, toXlsx, toParquet, forEachSelected), so every format shows a
 * suppressed cell as null/empty with its status, exactly as in the release files.
 * Binary formats (xlsx, Parquet) are built in memory: a query is bounded by the
 * cell limit before it is rendered.
 */
import {
  forEachSelected,
  selectedNodes,
  selectionSize,
  toCsv,
  toJsonStat,
  toSdmxCsv,
  describeMeasure,
  tableNotes,
  type Selection,
} from '../engine/release/formats.ts';
import { CONF_STATUS_LEGEND, OBS_STATUS_LEGEND } from '../engine/release/legend.ts';
import { toParquet } from '../engine/release/parquet.ts';
import { toXlsx } from '../engine/release/xlsx.ts';
import type { Rendered, ServedTable } from './cache.ts';
import { ApiError } from './errors.ts';

export const FORMATS = ['json', 'csv', 'jsonstat', 'sdmx-csv', 'xlsx', 'parquet'] as const;
export type Format = (typeof FORMATS)[number];
export const RESERVED_PARAMS = new Set(['format', 'labels', 'lang']);

export const CONTENT_TYPES: Readonly<Record<Format, string>> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  jsonstat: 'application/json; charset=utf-8',
  'sdmx-csv': 'application/vnd.sdmx.data+csv; version=2.0.0; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  parquet: 'application/vnd.apache.parquet',
};

/** File name extension of each format, for Content-Disposition. */
export const EXTENSIONS: Readonly<Record<Format, string>> = {
  json: 'json',
  csv: 'csv',
  jsonstat: 'json',
  'sdmx-csv': 'csv',
  xlsx: 'xlsx',
  parquet: 'parquet',
};

/** Formats a browser should save rather than show. */
export const BINARY_FORMATS: ReadonlySet<Format> = new Set(['xlsx', 'parquet']);

/** Parse dimension parameters into a selection; every problem names the parameter and code. */
export function parseSelection(t: ServedTable, query: Readonly<Record<string, unknown>>): Selection {
  const dims = t.table.plan.dimensions;
  const sel: (number[] | undefined)[] = dims.map(() => undefined);
  for (const [name, raw] of Object.entries(query)) {
    if (RESERVED_PARAMS.has(name)) continue;
    const d = dims.findIndex((x) => x.name === name);
    if (d < 0) {
      throw new ApiError(
        'UNKNOWN_DIMENSION',
        `table ${t.table.plan.id} has no dimension ${JSON.stringify(name)}; its dimensions are ${dims.map((x) => x.name).join(', ')}`,
        { dimension: name },
      );
    }
    if (typeof raw !== 'string')
      throw new ApiError(
        'BAD_SELECTION',
        `dimension ${name}: give one comma-separated list of codes (the parameter is repeated)`,
        { dimension: name },
      );
    const codes = raw.split(',').map((c) => c.trim());
    if (raw.trim() === '' || codes.some((c) => c === ''))
      throw new ApiError('BAD_SELECTION', `dimension ${name}: empty code in selection ${JSON.stringify(raw)}`, {
        dimension: name,
      });
    const seen = new Set<number>();
    const idx = codes.map((c) => {
      const i = t.codeIndex[d]!.get(c);
      if (i === undefined)
        throw new ApiError('UNKNOWN_CODE', `dimension ${name} has no category ${JSON.stringify(c)}`, {
          dimension: name,
          value: c,
        });
      if (seen.has(i))
        throw new ApiError('BAD_SELECTION', `dimension ${name}: code ${JSON.stringify(c)} is selected twice`, {
          dimension: name,
          value: c,
        });
      seen.add(i);
      return i;
    });
    sel[d] = idx;
  }
  return sel;
}

export function countCells(t: ServedTable, sel: Selection): number {
  return selectionSize(t.table.plan.dimensions, sel);
}

/** Canonical cache key of a query. */
export function queryKey(format: Format, labels: string, sel: Selection): string {
  return `${format}|${labels}|${sel.map((s) => (s ? s.join(',') : '*')).join('/')}`;
}

export async function render(
  t: ServedTable,
  releaseId: string,
  format: Format,
  labels: 'code' | 'both',
  sel: Selection,
): Promise<Rendered> {
  const type = CONTENT_TYPES[format];
  switch (format) {
    case 'csv':
      return { body: toCsv(t.table, sel), type };
    case 'jsonstat':
      return { body: JSON.stringify(toJsonStat(t.table, t.meta, sel)), type };
    case 'sdmx-csv':
      return { body: toSdmxCsv(t.table, { labels: labels === 'both' ? 'both' : 'id' }, sel), type };
    case 'json':
      return { body: JSON.stringify(toJson(t, releaseId, labels, sel)), type };
    case 'xlsx':
      return { body: await toXlsx([{ table: t.table, meta: t.meta, sel }], { releaseId }), type };
    case 'parquet': {
      const bytes = await toParquet(t.table, t.meta, releaseId, sel);
      return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), type };
    }
  }
}

function toJson(t: ServedTable, releaseId: string, labels: 'code' | 'both', sel: Selection): Record<string, unknown> {
  const dims = t.table.plan.dimensions;
  const lists = selectedNodes(dims, sel);
  const cells: Record<string, unknown>[] = [];
  const conf = new Set<string>();
  const obs = new Set<string>();
  forEachSelected(t.table, sel, (coords, cell) => {
    const o: Record<string, unknown> = { key: coords.map((n, d) => dims[d]!.nodes[n]!.code) };
    if (labels === 'both') o.labels = coords.map((n, d) => dims[d]!.nodes[n]!.label);
    o.value = cell.value;
    o.conf = cell.conf;
    o.obs = cell.obs;
    if (cell.accuracy) {
      o.noiseSd = cell.accuracy.noiseSd;
      o.halfWidth95 = cell.accuracy.halfWidth95;
    }
    conf.add(cell.conf);
    obs.add(cell.obs);
    cells.push(o);
  });
  const notes = tableNotes(t.table, t.meta);
  return {
    release: releaseId,
    table: t.table.plan.id,
    title: t.table.plan.title,
    measure: describeMeasure(t.table),
    ...(t.table.plan.measure.unit !== undefined ? { unit: t.table.plan.measure.unit } : {}),
    dimensions: dims.map((d, k) => ({
      name: d.name,
      label: d.label,
      codes: lists[k]!.map((i) => d.nodes[i]!.code),
      ...(labels === 'both' ? { labels: lists[k]!.map((i) => d.nodes[i]!.label) } : {}),
    })),
    cells,
    // What moves the values besides the noise, and whether the table adds up (dp): as JSON-stat's note and xlsx's Notes.
    ...(notes.length > 0 ? { notes } : {}),
    legend: {
      CONF_STATUS: Object.fromEntries(
        [...conf].sort().map((c) => [c, CONF_STATUS_LEGEND[c as keyof typeof CONF_STATUS_LEGEND]]),
      ),
      OBS_STATUS: Object.fromEntries(
        [...obs].sort().map((c) => [c, OBS_STATUS_LEGEND[c as keyof typeof OBS_STATUS_LEGEND]]),
      ),
    },
  };
}
