/**
 * Parquet output (hyparquet-writer, pure JS): one file per table query, one row per cell, typed columns:
 *
 *   <dim> STRING, <dim>_label STRING      per dimension, required
 *   value INT64 | DOUBLE                  optional: null for a suppressed cell; INT64 when the table's measure is a
 *                                         count and every selected value is an integer (always, unless the count is
 *                                         weighted, which a table rebuilt from the store no longer says), else DOUBLE
 *   conf_status, obs_status STRING        required (SDMX codes)
 *   noise_sd, half_width_95 DOUBLE        optional: null for a cell without noise
 *
 * The column names are those of the CSV format (toCsv), so a reader can switch between them. The file's key-value
 * metadata carries `statguard.release` (id), `statguard.release_title`, `statguard.table`, `statguard.title`,
 * `statguard.measure`, `statguard.regime`, `statguard.guarantee`, `statguard.source`, `statguard.updated`,
 * `statguard.notes` (JSON array: tableNotes) and `statguard.legend` (JSON: the CONF_STATUS and OBS_STATUS codes used).
 *
 * hyparquet-writer is loaded on first use, so that importing the engine costs nothing for it.
 *
 * Safety property (as formats.ts): only `ProtectedTable` cells are read, and a suppressed cell is a null (its
 * definition level says so; no value is stored for it). Column statistics (min/max) are computed by the writer from
 * the stored values, i.e. published values only; no bloom filter is written.
 */
import type { ColumnSource } from 'hyparquet-writer';
import type { ConfStatus, ObsStatus, ProtectedTable } from '../types.ts';
import { describeMeasure, forEachSelected, tableNotes, type Selection, type TableMeta } from './formats.ts';
import { CONF_STATUS_LEGEND, OBS_STATUS_LEGEND } from './legend.ts';

const FIXED_COLUMNS = ['value', 'conf_status', 'obs_status', 'noise_sd', 'half_width_95'];

/** The column names of a table's Parquet file; a clash between a dimension and a fixed column is refused, named. */
export function parquetColumns(table: ProtectedTable): string[] {
  const names = [...table.plan.dimensions.flatMap((d) => [d.name, `${d.name}_label`]), ...FIXED_COLUMNS];
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n))
      throw new Error(
        `table ${table.plan.id}: Parquet column ${JSON.stringify(n)} would appear twice (rename the dimension)`,
      );
    seen.add(n);
  }
  return names;
}

/** A Parquet file of a table (or a selection of it); see the header. */
export async function toParquet(
  table: ProtectedTable,
  meta: TableMeta,
  releaseId: string,
  sel?: Selection,
): Promise<Uint8Array> {
  const dims = table.plan.dimensions;
  const names = parquetColumns(table);
  const codes: string[][] = dims.map(() => []);
  const labels: string[][] = dims.map(() => []);
  const values: (number | null)[] = [];
  const conf: ConfStatus[] = [];
  const obs: ObsStatus[] = [];
  const sd: (number | null)[] = [];
  const hw: (number | null)[] = [];
  forEachSelected(table, sel, (coords, cell) => {
    coords.forEach((n, d) => {
      codes[d]!.push(dims[d]!.nodes[n]!.code);
      labels[d]!.push(dims[d]!.nodes[n]!.label);
    });
    values.push(cell.value);
    conf.push(cell.conf);
    obs.push(cell.obs);
    sd.push(cell.accuracy?.noiseSd ?? null);
    hw.push(cell.accuracy?.halfWidth95 ?? null);
  });
  const m = table.plan.measure;
  const integer = m.kind === 'count' && values.every((v) => v === null || Number.isSafeInteger(v));
  const str = (name: string, data: string[]): ColumnSource => ({ name, data, type: 'STRING', nullable: false });
  const columnData: ColumnSource[] = [
    ...dims.flatMap((_d, k) => [str(names[2 * k]!, codes[k]!), str(names[2 * k + 1]!, labels[k]!)]),
    integer
      ? { name: 'value', data: values.map((v) => (v === null ? null : BigInt(v))), type: 'INT64' }
      : { name: 'value', data: values, type: 'DOUBLE' },
    str('conf_status', conf),
    str('obs_status', obs),
    { name: 'noise_sd', data: sd, type: 'DOUBLE' },
    { name: 'half_width_95', data: hw, type: 'DOUBLE' },
  ];
  const usedConf = [...new Set(conf)].sort();
  const usedObs = [...new Set(obs)].sort();
  const kv: Record<string, string> = {
    'statguard.release': releaseId,
    'statguard.release_title': meta.releaseTitle,
    'statguard.table': table.plan.id,
    'statguard.title': table.plan.title,
    'statguard.measure': describeMeasure(table),
    'statguard.regime': String(meta.privacy.regime ?? ''),
    'statguard.guarantee': String(meta.privacy.guarantee ?? ''),
    'statguard.source': meta.source,
    'statguard.updated': meta.updated,
    'statguard.notes': JSON.stringify(tableNotes(table, meta)),
    'statguard.legend': JSON.stringify({
      CONF_STATUS: Object.fromEntries(usedConf.map((c) => [c, CONF_STATUS_LEGEND[c]])),
      OBS_STATUS: Object.fromEntries(usedObs.map((c) => [c, OBS_STATUS_LEGEND[c]])),
    }),
  };
  const { parquetWriteBuffer } = await import('hyparquet-writer');
  const buf = parquetWriteBuffer({
    columnData,
    kvMetadata: Object.entries(kv).map(([key, value]) => ({ key, value })),
    createdBy: 'statguard',
  });
  return new Uint8Array(buf);
}
