/**
 * The one strict reader of a release directory written by `statguard release` (manifest.json + per table <id>.csv
 * and <id>.json JSON-stat 2.0), used by the store (`statguard publish`, uploads) and by `statguard release --against`.
 *
 * Guarantee: a VerifiedRelease is consistent with its manifest: the manifest has the shape `checkManifest` requires,
 * every table file exists, its SHA-256 and size match the manifest, the JSON-stat dimensions, sizes, cell and
 * suppression counts match the manifest's table entry, the CSV has one line per cell, and no cell with a
 * confidentiality status other than F carries a value (so a suppressed value can never be taken for a published
 * one); a signed release's signature.json covers exactly the files present and its policy.json is the policy the
 * manifest names (`signature.ts`; the store then checks the signature with a registered key). Every problem is a
 * ReleaseInvalid naming the file and JSON path.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ConfStatus, DimensionPlan, ObsStatus } from '../types.ts';
import { dimensionFromJsonStat } from './jsonstat-dimension.ts';
import type { Manifest } from './manifest.ts';
import { bad, isObj, obj, SAFE_NAME } from './read-check.ts';
import { checkManifest } from './read-manifest.ts';
import { POLICY_FILE, releaseSignatureOf, SIGNATURE_FILE, type ReleaseSignature } from './signature.ts';

/** A table's published cells, column-wise, in the table's dense cell order. */
export interface VerifiedCells {
  readonly value: readonly (number | null)[];
  readonly conf: readonly ConfStatus[];
  readonly obs: readonly ObsStatus[];
  readonly noiseSd: readonly (number | null)[] | null;
  readonly halfWidth95: readonly (number | null)[] | null;
}

export interface VerifiedTable {
  readonly id: string;
  /** Position in the manifest's table list. */
  readonly position: number;
  readonly title: string;
  readonly description: string;
  readonly measure: Record<string, unknown>;
  /** The published dimensions (from the JSON-stat file), in the table's dimension order. */
  readonly dimensions: readonly DimensionPlan[];
  readonly privacy: Record<string, unknown> | null;
  readonly cellCount: number;
  readonly suppressed: number;
  readonly cells: VerifiedCells;
}

export interface VerifiedRelease {
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly tables: readonly VerifiedTable[];
  /**
   * The signature (payload recomputed from the files present) and the exact policy bytes, or null when the release
   * has no signature.json (the store refuses it; `--against` reads it).
   */
  readonly signed: { readonly signature: ReleaseSignature; readonly policy: Buffer } | null;
}

export interface ReadOptions {
  /**
   * Called with the checked manifest before any table file is checked: a caller's own refusal (a seeded release, a
   * release of another dataset) is thrown from here, so it takes precedence over problems in the table files.
   */
  readonly onManifest?: (manifest: Manifest) => void;
}

const CONF = new Set(['F', 'A', 'O', 'T', 'C', 'D']);
const OBS = new Set(['A', 'E']);

const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** Per-cell accuracy of a noisy table, or nulls when the JSON-stat file has none. */
function accuracyOf(
  sg: Record<string, unknown>,
  cellCount: number,
  w: string,
): { noiseSd: (number | null)[] | null; halfWidth95: (number | null)[] | null } {
  if (sg.accuracy === undefined) return { noiseSd: null, halfWidth95: null };
  const acc = obj(sg, 'accuracy', `${w}/extension/statguard`);
  const okArr = (a: unknown): a is (number | null)[] =>
    Array.isArray(a) && a.length === cellCount && a.every((x) => x === null || typeof x === 'number');
  if (!okArr(acc.noiseSd) || !okArr(acc.halfWidth95))
    bad(`${w}/extension/statguard/accuracy`, `expected noiseSd and halfWidth95 arrays of ${cellCount}`);
  return { noiseSd: acc.noiseSd, halfWidth95: acc.halfWidth95 };
}

/** The JSON-stat dimensions of a table, checked against the manifest entry's names and level counts. */
function dimensionsOf(entry: Manifest['tables'][number], js: Record<string, unknown>, w: string): DimensionPlan[] {
  const ids = js.id;
  const size = js.size;
  if (!Array.isArray(ids) || !Array.isArray(size) || ids.length !== size.length)
    bad(w, 'id and size must be arrays of the same length');
  const manifestDims = entry.dimensions;
  if (ids.length !== manifestDims.length || ids.some((n, i) => n !== manifestDims[i]!.name)) {
    bad(
      w,
      `dimensions ${JSON.stringify(ids)} do not match the manifest's ${JSON.stringify(manifestDims.map((d) => d.name))}`,
    );
  }
  const dimObj = obj(js, 'dimension', w);
  return ids.map((n, i) => {
    const dim = dimensionFromJsonStat(String(n), dimObj[String(n)], `${w}/dimension/${String(n)}`);
    if (dim.nodes.length !== size[i] || dim.nodes.length !== manifestDims[i]!.levels) {
      bad(
        `${w}/dimension/${String(n)}`,
        `has ${dim.nodes.length} categories; size says ${String(size[i])}, manifest says ${manifestDims[i]!.levels}`,
      );
    }
    return dim;
  });
}

/** Parse and check one table's JSON-stat document (and its CSV's line count) against its manifest entry. */
function tableFrom(
  entry: Manifest['tables'][number],
  position: number,
  jsonText: string,
  csvText: string,
): VerifiedTable {
  const w = entry.files.jsonstat.path;
  let js: unknown;
  try {
    js = JSON.parse(jsonText);
  } catch (e) {
    bad(w, `not valid JSON: ${(e as Error).message}`);
  }
  if (!isObj(js) || js.version !== '2.0' || js.class !== 'dataset') bad(w, 'expected a JSON-stat 2.0 dataset');
  const dimensions = dimensionsOf(entry, js, w);
  const cellCount = dimensions.reduce((n, d) => n * d.nodes.length, 1);
  if (cellCount !== entry.cells) bad(w, `has ${cellCount} cells; the manifest says ${entry.cells}`);
  const value = js.value;
  if (!Array.isArray(value) || value.length !== cellCount)
    bad(`${w}/value`, `expected an array of ${cellCount} values`);
  const sg = obj(obj(js, 'extension', w), 'statguard', `${w}/extension`);
  if (sg.table !== entry.id)
    bad(
      `${w}/extension/statguard/table`,
      `names table ${JSON.stringify(sg.table)}, expected ${JSON.stringify(entry.id)}`,
    );
  const conf = sg.confStatus;
  const obs = sg.obsStatus;
  if (!Array.isArray(conf) || conf.length !== cellCount || conf.some((c) => !CONF.has(c as string)))
    bad(`${w}/extension/statguard/confStatus`, `expected ${cellCount} CONF_STATUS codes`);
  if (!Array.isArray(obs) || obs.length !== cellCount || obs.some((c) => !OBS.has(c as string)))
    bad(`${w}/extension/statguard/obsStatus`, `expected ${cellCount} OBS_STATUS codes`);
  const { noiseSd, halfWidth95 } = accuracyOf(sg, cellCount, w);
  let suppressed = 0;
  for (let i = 0; i < cellCount; i++) {
    const v = value[i];
    if (v === null) suppressed++;
    else if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${w}/value/${i}`, 'expected a number or null');
    // Safety: a cell whose CONF_STATUS is not F must not carry a value (never store a suppressed value).
    else if (conf[i] !== 'F') bad(`${w}/value/${i}`, `cell has CONF_STATUS ${String(conf[i])} but carries a value`);
  }
  if (suppressed !== entry.suppressed)
    bad(w, `has ${suppressed} suppressed cells; the manifest says ${entry.suppressed}`);
  const csvLines = csvText.endsWith('\n') ? csvText.slice(0, -1).split('\n').length : csvText.split('\n').length;
  // CSV fields may be quoted but never contain newlines here (labels are single-line), so lines = cells + header.
  if (csvLines !== cellCount + 1)
    bad(entry.files.csv.path, `has ${csvLines - 1} data lines; the manifest says ${cellCount} cells`);
  return {
    id: entry.id,
    position,
    title: entry.title,
    description: entry.description ?? '',
    measure: { ...entry.measure },
    dimensions,
    privacy: entry.privacy ? { ...entry.privacy } : null,
    cellCount,
    suppressed,
    cells: {
      value: value as (number | null)[],
      conf: conf as ConfStatus[],
      obs: obs as ObsStatus[],
      noiseSd,
      halfWidth95,
    },
  };
}

/** A noisy measurement file (a consistent dp table's): one line per cell after its header. */
function checkNoisyLines(file: string, text: string, cellCount: number): void {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n').length : text.split('\n').length;
  if (lines !== cellCount + 1) bad(file, `has ${lines - 1} data lines; the manifest says ${cellCount} cells`);
}

/** The csv and JSON-stat texts of a table, each checked against the manifest's size and SHA-256. */
function tableTexts(
  entry: Manifest['tables'][number],
  files: ReadonlyMap<string, string | Buffer>,
): Record<'csv' | 'jsonstat' | 'noisy', string> {
  const texts: Record<'csv' | 'jsonstat' | 'noisy', string> = { csv: '', jsonstat: '', noisy: '' };
  for (const k of ['csv', 'jsonstat', ...(entry.files.noisy ? ['noisy' as const] : [])] as const) {
    const f = entry.files[k]!;
    const info = { table: entry.id, fileKind: k };
    const content = files.get(f.path);
    if (content === undefined) bad(f.path, `file of table ${entry.id} is missing`, { ...info, reason: 'missing' });
    const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
    if (buf.length !== f.bytes)
      bad(f.path, `has ${buf.length} bytes; the manifest says ${f.bytes}`, { ...info, reason: 'altered' });
    if (sha256(buf) !== f.sha256) bad(f.path, 'SHA-256 does not match the manifest', { ...info, reason: 'altered' });
    texts[k] = buf.toString('utf8');
  }
  return texts;
}

/**
 * Check a release given as file name -> content (a directory read into memory, or an upload). Every problem is a
 * ReleaseInvalid; `options.onManifest` may refuse the release once its manifest is checked.
 */
export function parseRelease(files: ReadonlyMap<string, string | Buffer>, options: ReadOptions = {}): VerifiedRelease {
  const mtext = files.get('manifest.json');
  if (mtext === undefined) bad('manifest.json', 'missing', { reason: 'manifest' });
  let raw: unknown;
  try {
    raw = JSON.parse(mtext.toString());
  } catch (e) {
    const message = (e as Error).message;
    bad('manifest.json', `not valid JSON: ${message}`, { reason: 'manifest', underlying: message });
  }
  const manifest = checkManifest(raw);
  options.onManifest?.(manifest);
  const tables = manifest.tables.map((entry, i) => {
    const texts = tableTexts(entry, files);
    const table = tableFrom(entry, i, texts.jsonstat, texts.csv);
    if (entry.files.noisy) checkNoisyLines(entry.files.noisy.path, texts.noisy, table.cellCount);
    return table;
  });
  const signed = files.has(SIGNATURE_FILE) || files.has(POLICY_FILE) ? releaseSignatureOf(files, manifest) : null;
  return { manifest, manifestSha256: sha256(mtext), tables, signed };
}

/** Read a release directory (only the files the manifest names) and check it with `parseRelease`. */
export async function readReleaseDir(dir: string, options: ReadOptions = {}): Promise<VerifiedRelease> {
  return parseRelease(await readReleaseFiles(dir), options);
}

/**
 * The files of a release directory that make the release (manifest.json and the files its manifest names), by name,
 * unchecked: what `readReleaseDir` checks and what `statguard publish` uploads to a serving store. Nothing else in
 * the directory is read.
 */
export async function readReleaseFiles(dir: string): Promise<Map<string, Buffer>> {
  const root = path.resolve(dir);
  let names: string[];
  try {
    names = await readdir(root);
  } catch (e) {
    bad(root, `cannot read the release directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      reason: 'directory',
      underlying: (e as Error).message,
    });
  }
  if (!names.includes('manifest.json')) bad(path.join(root, 'manifest.json'), 'missing', { reason: 'manifest' });
  const files = new Map<string, Buffer>();
  files.set('manifest.json', await readFile(path.join(root, 'manifest.json')));
  let wanted: string[] = [];
  try {
    const m = JSON.parse(files.get('manifest.json')!.toString()) as {
      tables?: { files?: Record<string, { path?: unknown }> }[];
    };
    wanted = (m.tables ?? []).flatMap((t) => Object.values(t.files ?? {}).map((f) => String(f?.path)));
  } catch {
    /* parseRelease reports the JSON error */
  }
  wanted.push(SIGNATURE_FILE, POLICY_FILE);
  for (const n of wanted) if (SAFE_NAME.test(n) && names.includes(n)) files.set(n, await readFile(path.join(root, n)));
  return files;
}
