/**
 * `statguard export`: a checked release directory as an xlsx workbook (every table a sheet, and the Notes sheet) or
 * as Parquet files (one per table), for offices that publish files rather than an API.
 *
 * Guarantee: the tables come from the strict reader (read.ts: sizes, SHA-256, cell and suppression counts, and no
 * value beside a status other than F), never from anything else in the directory, so an export holds exactly the
 * published cells, with the same metadata the release files carry (TableMeta as renderRelease builds it). The output
 * appears whole or not at all: it is written beside its target under a hidden name and renamed into place.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import type { CellAccuracy, MeasurePlan, ProtectedCell, ProtectedTable } from '../types.ts';
import type { TableMeta } from './formats.ts';
import type { Manifest } from './manifest.ts';
import { toParquet } from './parquet.ts';
import type { VerifiedRelease, VerifiedTable } from './read.ts';
import { toXlsx } from './xlsx.ts';

export const EXPORT_FORMATS = ['xlsx', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What the formatters read of a measure (kind and column; a quantile's level), from the manifest's entry. */
function measureOf(m: Record<string, unknown>): MeasurePlan {
  if (m.kind === 'count') return { kind: 'count' };
  const column = String(m.column ?? '');
  if (m.kind === 'quantile')
    return {
      kind: 'quantile',
      column,
      lower: 0,
      upper: 0,
      decimals: 0,
      a: Math.round(Number(m.quantile ?? 0.5) * 10000),
      bins: Number(m.bins ?? 1),
    };
  return { kind: m.kind === 'mean' ? 'mean' : 'sum', column, lower: 0, upper: 0, decimals: 0 };
}

/** A verified table as the formatters take it (published cells only). */
export function verifiedTable(v: VerifiedTable): ProtectedTable {
  const c = v.cells;
  const scale = typeof v.privacy?.scale === 'number' ? v.privacy.scale : NaN;
  const cells: ProtectedCell[] = c.value.map((value, i) => {
    const sd = c.noiseSd?.[i] ?? null;
    const hw = c.halfWidth95?.[i] ?? null;
    const accuracy: CellAccuracy | null =
      sd === null && hw === null ? null : { noiseSd: sd ?? NaN, scale, halfWidth95: hw ?? NaN };
    return { value, conf: c.conf[i]!, obs: c.obs[i]!, accuracy };
  });
  return {
    kind: 'protected',
    plan: {
      id: v.id,
      title: v.title,
      description: v.description,
      dimensions: v.dimensions,
      measure: measureOf(v.measure),
      budgetShare: 0,
      neverSuppress: [],
      alwaysSuppress: [],
    },
    cells,
  };
}

/** The metadata of a table as renderRelease writes it into JSON-stat. */
export function metaOf(manifest: Manifest, privacy: Record<string, unknown> | null): TableMeta {
  return {
    releaseTitle: manifest.release.title,
    source: `statguard ${manifest.engine.version}, policy ${manifest.policy.id} ${manifest.policy.version}`,
    updated: manifest.createdAt,
    privacy: { regime: manifest.regime, guarantee: manifest.guarantee.statement, table: privacy },
  };
}

/** The files of an export, rendered in memory: name -> bytes (xlsx: one file; Parquet: one per table). */
export async function renderExport(
  release: VerifiedRelease,
  format: ExportFormat,
  releaseId: string,
): Promise<Map<string, Uint8Array>> {
  const tables = release.tables.map((v) => ({
    table: verifiedTable(v),
    meta: metaOf(release.manifest, v.privacy),
  }));
  const files = new Map<string, Uint8Array>();
  if (format === 'xlsx') files.set(`${releaseId}.xlsx`, await toXlsx(tables, { releaseId }));
  else for (const t of tables) files.set(`${t.table.plan.id}.parquet`, await toParquet(t.table, t.meta, releaseId));
  return files;
}

/**
 * Whether `target` may be replaced by an export of `format`: nothing there, or (with force) what an earlier export of
 * the same format left: a file for xlsx, a directory holding only .parquet files for Parquet. Anything else is never
 * removed (a mistyped --out must not delete a folder).
 */
async function checkTarget(target: string, format: ExportFormat, force: boolean): Promise<boolean> {
  const st = await stat(target).catch(() => null);
  if (st === null) return false;
  const refuse = (why: string) => new StatguardError('OUTPUT_EXISTS', why, { file: target });
  if (!force) throw refuse('output already exists; pass --force to replace it');
  if (format === 'xlsx' && !st.isFile())
    throw refuse('output exists and is not a file; an xlsx export replaces only a file');
  if (format === 'parquet') {
    if (!st.isDirectory()) throw refuse('output exists and is not a directory of Parquet files');
    const others = (await readdir(target)).filter((n) => !n.endsWith('.parquet'));
    if (others.length > 0)
      throw refuse(`output directory holds other files than Parquet (${others.slice(0, 3).join(', ')}); not replaced`);
  }
  return true;
}

/**
 * Write an export: xlsx to the file `out`, Parquet into the directory `out` (`<table>.parquet`); an existing target
 * is replaced only with `force`, and only when it is an earlier export of the same format. Returns the paths written.
 */
export async function writeExport(
  files: ReadonlyMap<string, Uint8Array>,
  format: ExportFormat,
  out: string,
  force = false,
): Promise<string[]> {
  const target = path.resolve(out);
  const replace = await checkTarget(target, format, force);
  const hidden = (what: string) =>
    path.join(path.dirname(target), `.${path.basename(target)}.${what}-${randomBytes(6).toString('hex')}`);
  const tmp = hidden('partial');
  try {
    await mkdir(path.dirname(target), { recursive: true });
    if (format === 'xlsx') await writeFile(tmp, [...files.values()][0]!, { flag: 'wx' });
    else {
      await mkdir(tmp);
      for (const [name, bytes] of files) await writeFile(path.join(tmp, name), bytes, { flag: 'wx' });
    }
    if (replace) {
      const old = hidden('old');
      await rename(target, old);
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw new StatguardError('OUTPUT_FAILED', `cannot write the export: ${(e as Error).message}`, { file: target });
  }
  return format === 'xlsx' ? [target] : [...files.keys()].map((n) => path.join(target, n));
}
