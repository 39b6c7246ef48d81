/**
 * Reads and checks a release directory written by `statguard release`
 * (manifest.json + per table <id>.csv and <id>.json JSON-stat 2.0).
 *
 * Guarantee: a LoadedRelease is consistent with its manifest: every table
 * file exists, its SHA-256 and size match the manifest, the JSON-stat
 * dimensions, sizes, cell and suppression counts match the manifest's table
 * entry, and no cell with a confidentiality status other than F carries a
 * value (so a suppressed value can never enter the store). A seeded release is
 * refused unless its policy marks it as a demo.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_VERSION, type Manifest } from '../../engine/release/manifest.ts';
import { ApiError } from '../errors.ts';
import type { StoredCells, StoredDimension, StoredNode } from './schema.ts';

export interface LoadedTable {
  readonly id: string;
  readonly position: number;
  readonly title: string;
  readonly description: string;
  readonly measure: Record<string, unknown>;
  readonly dimensions: StoredDimension[];
  readonly privacy: Record<string, unknown> | null;
  readonly cellCount: number;
  readonly suppressed: number;
  readonly cells: StoredCells;
}

export interface LoadedRelease {
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly tables: readonly LoadedTable[];
}

const CONF = new Set(['F', 'A', 'O', 'T', 'C', 'D']);
const OBS = new Set(['A', 'E']);
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

function bad(where: string, msg: string): never {
  throw new ApiError('RELEASE_INVALID', `${where}: ${msg}`, { where });
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, key: string, where: string, allowEmpty = false): string {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) bad(`${where}/${key}`, 'expected a non-empty string');
  return v;
}

function obj(o: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = o[key];
  if (!isObj(v)) bad(`${where}/${key}`, 'expected an object');
  return v;
}

/** Checks the manifest's shape (the fields the store relies on). */
export function checkManifest(m: unknown): Manifest {
  const w = 'manifest.json';
  if (!isObj(m)) bad(w, 'expected a JSON object');
  if (m.manifestVersion !== MANIFEST_VERSION)
    bad(`${w}/manifestVersion`, `expected ${MANIFEST_VERSION}, found ${JSON.stringify(m.manifestVersion)}`);
  const policy = obj(m, 'policy', w);
  str(policy, 'id', `${w}/policy`);
  str(policy, 'version', `${w}/policy`);
  if (!/^[0-9a-f]{64}$/.test(String(policy.sha256))) bad(`${w}/policy/sha256`, 'expected a hex SHA-256');
  if (!SAFE_NAME.test(String(policy.id))) bad(`${w}/policy/id`, 'expected letters, digits, "_", "." or "-"');
  const dataset = obj(m, 'dataset', w);
  str(dataset, 'id', `${w}/dataset`);
  const release = obj(m, 'release', w);
  str(release, 'title', `${w}/release`);
  if (release.audience !== 'public' && release.audience !== 'contract')
    bad(`${w}/release/audience`, 'expected "public" or "contract"');
  if (typeof release.demo !== 'boolean') bad(`${w}/release/demo`, 'expected a boolean');
  if (release.expires !== null && release.expires !== undefined && typeof release.expires !== 'string')
    bad(`${w}/release/expires`, 'expected a date string or null');
  const rnd = obj(m, 'randomness', w);
  if (rnd.source !== 'crypto' && rnd.source !== 'seeded')
    bad(`${w}/randomness/source`, 'expected "crypto" or "seeded"');
  if (m.regime !== 'sdc' && m.regime !== 'dp' && m.regime !== 'ckm')
    bad(`${w}/regime`, 'expected "sdc", "dp" or "ckm"');
  const guarantee = obj(m, 'guarantee', w);
  str(guarantee, 'statement', `${w}/guarantee`);
  if (m.budget !== null && !isObj(m.budget)) bad(`${w}/budget`, 'expected an object or null');
  if (m.regime === 'dp' && !isObj(m.budget)) bad(`${w}/budget`, 'a dp release must state its budget');
  if (!Array.isArray(m.methods)) bad(`${w}/methods`, 'expected an array');
  str(obj(obj(m, 'internal', w), 'input', `${w}/internal`), 'sha256', `${w}/internal/input`);
  if (!Array.isArray(m.tables) || m.tables.length === 0) bad(`${w}/tables`, 'expected a non-empty array');
  const ids = new Set<string>();
  m.tables.forEach((t: unknown, i: number) => {
    const tw = `${w}/tables/${i}`;
    if (!isObj(t)) bad(tw, 'expected an object');
    const id = str(t, 'id', tw);
    if (!SAFE_NAME.test(id)) bad(`${tw}/id`, `table id ${JSON.stringify(id)} must be letters, digits, "_", "." or "-"`);
    if (ids.has(id)) bad(`${tw}/id`, `table id ${JSON.stringify(id)} appears twice`);
    ids.add(id);
    str(t, 'title', tw);
    if (!Array.isArray(t.dimensions)) bad(`${tw}/dimensions`, 'expected an array');
    if (!Number.isInteger(t.cells) || !Number.isInteger(t.suppressed)) bad(tw, 'cells and suppressed must be integers');
    const files = obj(t, 'files', tw);
    for (const k of ['csv', 'jsonstat'] as const) {
      const f = obj(files, k, `${tw}/files`);
      const p = str(f, 'path', `${tw}/files/${k}`);
      if (!SAFE_NAME.test(p))
        bad(
          `${tw}/files/${k}/path`,
          `file name ${JSON.stringify(p)} must be a plain file name inside the release directory`,
        );
      if (!/^[0-9a-f]{64}$/.test(String(f.sha256))) bad(`${tw}/files/${k}/sha256`, 'expected a hex SHA-256');
      if (!Number.isInteger(f.bytes)) bad(`${tw}/files/${k}/bytes`, 'expected an integer');
    }
  });
  return m as unknown as Manifest;
}

/** Dimension structure from a JSON-stat dimension: nodes in index order, parents from `category.child`. */
function dimensionFrom(name: string, d: unknown, where: string): StoredDimension {
  if (!isObj(d)) bad(where, 'expected a dimension object');
  const cat = obj(d, 'category', where);
  const index = cat.index;
  let codes: string[];
  if (Array.isArray(index)) codes = index.map(String);
  else if (isObj(index))
    codes = Object.entries(index)
      .sort((a, b) => Number(a[1]) - Number(b[1]))
      .map(([c]) => c);
  else bad(`${where}/category/index`, 'expected an array or object');
  const pos = new Map<string, number>();
  codes.forEach((c, i) => {
    if (pos.has(c)) bad(`${where}/category/index`, `code ${JSON.stringify(c)} appears twice`);
    pos.set(c, i);
  });
  const labels = isObj(cat.label) ? cat.label : {};
  const parent: (number | null)[] = codes.map(() => null);
  if (cat.child !== undefined) {
    if (!isObj(cat.child)) bad(`${where}/category/child`, 'expected an object');
    for (const [p, kids] of Object.entries(cat.child)) {
      const pi = pos.get(p);
      if (pi === undefined || !Array.isArray(kids)) bad(`${where}/category/child/${p}`, 'names an unknown code');
      for (const k of kids) {
        const ki = pos.get(String(k));
        if (ki === undefined)
          bad(`${where}/category/child/${p}`, `child ${JSON.stringify(k)} is not a code of the dimension`);
        if (parent[ki] !== null) bad(`${where}/category/child/${p}`, `code ${JSON.stringify(k)} has two parents`);
        parent[ki] = pi;
      }
    }
  }
  const nodes: StoredNode[] = codes.map((c, i) => ({
    code: c,
    label: typeof labels[c] === 'string' ? (labels[c] as string) : c,
    parent: parent[i]!,
  }));
  return { name, label: typeof d.label === 'string' ? d.label : name, nodes };
}

/** Parse and check one table's JSON-stat document against its manifest entry. */
function tableFrom(
  entry: Manifest['tables'][number],
  position: number,
  jsonText: string,
  csvText: string,
): LoadedTable {
  const w = entry.files.jsonstat.path;
  let js: unknown;
  try {
    js = JSON.parse(jsonText);
  } catch (e) {
    bad(w, `not valid JSON: ${(e as Error).message}`);
  }
  if (!isObj(js) || js.version !== '2.0' || js.class !== 'dataset') bad(w, 'expected a JSON-stat 2.0 dataset');
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
  const dimensions = ids.map((n, i) => {
    const dim = dimensionFrom(String(n), dimObj[String(n)], `${w}/dimension/${String(n)}`);
    if (dim.nodes.length !== size[i] || dim.nodes.length !== manifestDims[i]!.levels) {
      bad(
        `${w}/dimension/${String(n)}`,
        `has ${dim.nodes.length} categories; size says ${String(size[i])}, manifest says ${manifestDims[i]!.levels}`,
      );
    }
    return dim;
  });
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
  let noiseSd: (number | null)[] | null = null;
  let halfWidth95: (number | null)[] | null = null;
  if (sg.accuracy !== undefined) {
    const acc = obj(sg, 'accuracy', `${w}/extension/statguard`);
    const okArr = (a: unknown): a is (number | null)[] =>
      Array.isArray(a) && a.length === cellCount && a.every((x) => x === null || typeof x === 'number');
    if (!okArr(acc.noiseSd) || !okArr(acc.halfWidth95))
      bad(`${w}/extension/statguard/accuracy`, `expected noiseSd and halfWidth95 arrays of ${cellCount}`);
    noiseSd = acc.noiseSd;
    halfWidth95 = acc.halfWidth95;
  }
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
    cells: { value: value as (number | null)[], conf: conf as string[], obs: obs as string[], noiseSd, halfWidth95 },
  };
}

/**
 * Check a release given as file name -> content (a directory read into memory,
 * or an upload). Every problem is a RELEASE_INVALID / RELEASE_SEEDED ApiError.
 */
export function parseRelease(files: ReadonlyMap<string, string | Buffer>): LoadedRelease {
  const mtext = files.get('manifest.json');
  if (mtext === undefined) bad('manifest.json', 'missing');
  let raw: unknown;
  try {
    raw = JSON.parse(mtext.toString());
  } catch (e) {
    bad('manifest.json', `not valid JSON: ${(e as Error).message}`);
  }
  const manifest = checkManifest(raw);
  if (manifest.randomness.source === 'seeded' && manifest.release.demo !== true) {
    throw new ApiError(
      'RELEASE_SEEDED',
      `release of policy ${manifest.policy.id} used seeded randomness (seed ${JSON.stringify(manifest.randomness.seed)}) and its policy is not marked as a demo (release.demo)`,
    );
  }
  const tables = manifest.tables.map((entry, i) => {
    const texts: Record<'csv' | 'jsonstat', string> = { csv: '', jsonstat: '' };
    for (const k of ['csv', 'jsonstat'] as const) {
      const f = entry.files[k];
      const content = files.get(f.path);
      if (content === undefined) bad(f.path, `file of table ${entry.id} is missing`);
      const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
      if (buf.length !== f.bytes) bad(f.path, `has ${buf.length} bytes; the manifest says ${f.bytes}`);
      if (sha256(buf) !== f.sha256) bad(f.path, 'SHA-256 does not match the manifest');
      texts[k] = buf.toString('utf8');
    }
    return tableFrom(entry, i, texts.jsonstat, texts.csv);
  });
  return { manifest, manifestSha256: sha256(mtext), tables };
}

/** Read a release directory (only the files the manifest names) and check it. */
export async function loadReleaseDir(dir: string): Promise<LoadedRelease> {
  const root = path.resolve(dir);
  let names: string[];
  try {
    names = await readdir(root);
  } catch (e) {
    throw new ApiError(
      'RELEASE_INVALID',
      `${root}: cannot read the release directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      { where: root },
    );
  }
  if (!names.includes('manifest.json')) bad(path.join(root, 'manifest.json'), 'missing');
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
  for (const n of wanted) if (SAFE_NAME.test(n) && names.includes(n)) files.set(n, await readFile(path.join(root, n)));
  return parseRelease(files);
}
