/**
 * Reads every table format back into one cell list, with readers independent of the writers: fast-csv for CSV and
 * SDMX-CSV, jsonstat-toolkit for JSON-stat, read-excel-file for xlsx, DuckDB's read_parquet for Parquet. Used by the
 * round-trip tests (test/release/round-trip.test.ts, test/api/binary-formats.test.ts). Not a test file.
 *
 * `unzipTexts` opens an xlsx (a zip) with node:zlib only, from its central directory, so that the leak scan sees every
 * decompressed XML part whatever the writer or the reader does.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { parseString } from 'fast-csv';
import JSONstat from 'jsonstat-toolkit';
import readXlsxFile from 'read-excel-file/node';
import type { DuckDBConnection } from '@duckdb/node-api';

/** One cell as every format can state it. */
export interface Cell {
  readonly key: readonly string[];
  readonly labels: readonly string[];
  readonly value: number | null;
  readonly conf: string;
  readonly obs: string;
  readonly noiseSd: number | null;
  readonly halfWidth95: number | null;
}

const numOrNull = (s: unknown): number | null =>
  s === null || s === undefined || s === '' ? null : typeof s === 'bigint' ? Number(s) : Number(s);

/** The API's json format (labels=both) as cells. */
export function fromJson(body: string): Cell[] {
  const j = JSON.parse(body) as { cells: Record<string, unknown>[] };
  return j.cells.map((c) => ({
    key: c.key as string[],
    labels: c.labels as string[],
    value: c.value as number | null,
    conf: c.conf as string,
    obs: c.obs as string,
    noiseSd: numOrNull(c.noiseSd),
    halfWidth95: numOrNull(c.halfWidth95),
  }));
}

/** CSV (RFC 4180) through fast-csv: the header row and the rows keyed by it. */
async function parseCsv(text: string): Promise<{ header: string[]; rows: Record<string, string>[] }> {
  const all = await new Promise<string[][]>((resolve, reject) => {
    const rows: string[][] = [];
    parseString<string[], string[]>(text)
      .on('error', reject)
      .on('data', (r: string[]) => rows.push(r))
      .on('end', () => resolve(rows));
  });
  const header = all[0] ?? [];
  const rows = all.slice(1).map((r) => {
    if (r.length !== header.length) throw new Error(`CSV row of ${r.length} fields under ${header.length} columns`);
    return Object.fromEntries(header.map((h, i) => [h, r[i]!]));
  });
  return { header, rows };
}

/** Our CSV format: per dimension `<name>` and `<name>_label`, then value, statuses and accuracy. */
export async function fromCsv(text: string, dims: readonly string[]): Promise<Cell[]> {
  return (await parseCsv(text)).rows.map((r) => ({
    key: dims.map((d) => r[d]!),
    labels: dims.map((d) => r[`${d}_label`]!),
    value: numOrNull(r.value),
    conf: r.conf_status!,
    obs: r.obs_status!,
    noiseSd: numOrNull(r.noise_sd),
    halfWidth95: numOrNull(r.half_width_95),
  }));
}

/** "ID: name" split at the first ": " (SDMX-CSV 2.0 labels=both); without it, the whole text is the ID. */
export function splitIdName(s: string): [string, string | null] {
  const i = s.indexOf(': ');
  return i < 0 ? [s, null] : [s.slice(0, i), s.slice(i + 2)];
}

/**
 * SDMX-CSV 2.0 (labels=id or both): columns found by the ID part of their header; labels are filled from "code:
 * name" values, or left empty with labels=id. Returns the header IDs and names too.
 */
export async function fromSdmxCsv(
  text: string,
  dims: readonly string[],
): Promise<{ cells: Cell[]; header: [string, string | null][]; rows: Record<string, string>[] }> {
  const { header: raw, rows } = await parseCsv(text);
  const header = raw.map(splitIdName);
  const col = (id: string): string => {
    const i = header.findIndex(([h]) => h === id);
    if (i < 0) throw new Error(`SDMX-CSV has no column ${id}`);
    return raw[i]!;
  };
  const cells = rows.map((r) => {
    const dimParts = dims.map((d) => splitIdName(r[col(d.toUpperCase())]!));
    return {
      key: dimParts.map(([c]) => c),
      labels: dimParts.map(([, l]) => l ?? ''),
      value: numOrNull(r[col('OBS_VALUE')]),
      conf: splitIdName(r[col('CONF_STATUS')]!)[0],
      obs: splitIdName(r[col('OBS_STATUS')]!)[0],
      noiseSd: numOrNull(r[col('NOISE_SD')]),
      halfWidth95: numOrNull(r[col('HALF_WIDTH_95')]),
    };
  });
  return { cells, header, rows };
}

interface JsDataset {
  id: string[];
  n: number;
  extension: {
    statguard: {
      confStatus: string[];
      obsStatus: string[];
      accuracy?: { noiseSd: (number | null)[]; halfWidth95: (number | null)[] };
    };
  };
  Dimension(i: number): { id: string[]; Category(j: number): { label: string } };
  Data(i: number): { value: number | null; status: string | null };
}

/** JSON-stat 2.0 through jsonstat-toolkit: values and sparse status from the cube, full flags from `extension`. */
export function fromJsonStat(doc: unknown): { cells: Cell[]; status: (string | null)[]; ds: JsDataset } {
  const ds = JSONstat(doc) as JsDataset;
  const dims = ds.id.map((_, k) => ds.Dimension(k));
  const sizes = dims.map((d) => d.id.length);
  const ext = ds.extension.statguard;
  const cells: Cell[] = [];
  const status: (string | null)[] = [];
  for (let i = 0; i < ds.n; i++) {
    let rest = i;
    const coords = sizes.map(() => 0);
    for (let k = sizes.length - 1; k >= 0; k--) {
      coords[k] = rest % sizes[k]!;
      rest = Math.floor(rest / sizes[k]!);
    }
    const d = ds.Data(i);
    status.push(d.status);
    cells.push({
      key: coords.map((c, k) => dims[k]!.id[c]!),
      labels: coords.map((c, k) => dims[k]!.Category(c).label),
      value: d.value,
      conf: ext.confStatus[i]!,
      obs: ext.obsStatus[i]!,
      noiseSd: ext.accuracy?.noiseSd[i] ?? null,
      halfWidth95: ext.accuracy?.halfWidth95[i] ?? null,
    });
  }
  return { cells, status, ds };
}

/** xlsx through read-excel-file: every sheet's rows (null for an empty cell). */
export async function xlsxSheets(bytes: Buffer): Promise<Map<string, unknown[][]>> {
  const sheets = await readXlsxFile(bytes);
  return new Map(sheets.map((s) => [s.sheet, s.data as unknown[][]]));
}

/** A table sheet of our xlsx: per dimension "<label> (code)" and "<label>", Value, CONF_STATUS, OBS_STATUS, Flag, accuracy. */
export function fromXlsxSheet(rows: unknown[][], ndims: number): { cells: Cell[]; header: string[]; flags: string[] } {
  const header = rows[0] as string[];
  const at = (name: string): number => header.findIndex((h) => h === name || h.startsWith(`${name} (`));
  const [value, conf, obs, flag, sd, hw] = [
    'Value',
    'CONF_STATUS',
    'OBS_STATUS',
    'Flag',
    'Noise SD',
    '95% half-width',
  ].map(at);
  const body = rows.slice(1);
  return {
    header,
    flags: body.map((r) => (r[flag!] as string | null) ?? ''),
    cells: body.map((r) => ({
      key: Array.from({ length: ndims }, (_, k) => String(r[2 * k])),
      labels: Array.from({ length: ndims }, (_, k) => String(r[2 * k + 1])),
      value: numOrNull(r[value!]),
      conf: r[conf!] as string,
      obs: r[obs!] as string,
      noiseSd: sd! >= 0 ? numOrNull(r[sd!]) : null,
      halfWidth95: hw! >= 0 ? numOrNull(r[hw!]) : null,
    })),
  };
}

/** Parquet through DuckDB: cells, the column types and the key-value metadata. */
export async function fromParquet(
  conn: DuckDBConnection,
  bytes: Uint8Array,
  dir: string,
  name: string,
  dims: readonly string[],
): Promise<{ cells: Cell[]; types: Record<string, string>; kv: Record<string, string>; file: string }> {
  const file = path.join(dir, `${name}.parquet`);
  await writeFile(file, bytes);
  const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet($1)`, [file])).getRowObjectsJS();
  const schema = (
    await conn.runAndReadAll(`SELECT name, type, repetition_type FROM parquet_schema($1) WHERE num_children IS NULL`, [
      file,
    ])
  ).getRowObjectsJS();
  const kvRows = (
    await conn.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata($1)`, [file])
  ).getRowObjectsJS();
  return {
    file,
    types: Object.fromEntries(schema.map((s) => [String(s.name), `${String(s.type)} ${String(s.repetition_type)}`])),
    kv: Object.fromEntries(kvRows.map((r) => [String(r.k), String(r.v)])),
    cells: rows.map((r) => ({
      key: dims.map((d) => String(r[d])),
      labels: dims.map((d) => String(r[`${d}_label`])),
      value: numOrNull(r.value),
      conf: String(r.conf_status),
      obs: String(r.obs_status),
      noiseSd: numOrNull(r.noise_sd),
      halfWidth95: numOrNull(r.half_width_95),
    })),
  };
}

/** Every entry of a zip (an xlsx) decompressed, by name, read from the central directory with node:zlib only. */
export function unzipTexts(zip: Buffer): Map<string, string> {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('not a zip: no end of central directory');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`zip: bad central directory entry ${i}`);
    const method = zip.readUInt16LE(p + 10);
    const size = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + size);
    out.set(name, (method === 8 ? inflateRawSync(data) : data).toString('utf8'));
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}
