/**
 * Writes a release directory atomically: everything goes to a hidden sibling
 * directory first, which is renamed into place only when complete. A failed
 * or interrupted run therefore leaves no partial output directory (at most a
 * `.<name>.partial-*` sibling that the next run removes).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import type { ProtectedTable } from '../types.ts';
import { toCsv, toJsonStat, type TableMeta } from './formats.ts';
import type { Manifest, ManifestTableEntry } from './manifest.ts';

export interface WriteOptions {
  /** Replace an existing output directory. */
  readonly force?: boolean;
}

export interface ReleaseContent {
  /** Manifest without the per-table file entries (they are computed here). */
  readonly manifest: Omit<Manifest, 'tables'> & { readonly tables: readonly Omit<ManifestTableEntry, 'files'>[] };
  readonly tables: readonly ProtectedTable[];
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** File names of a table inside a release directory. */
export function tableFiles(id: string): { csv: string; jsonstat: string } {
  return { csv: `${id}.csv`, jsonstat: `${id}.json` };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Render every file of a release in memory: name -> content. */
export function renderRelease(content: ReleaseContent): { files: Map<string, string>; manifest: Manifest } {
  const files = new Map<string, string>();
  const entries: ManifestTableEntry[] = [];
  content.tables.forEach((table, i) => {
    const entry = content.manifest.tables[i];
    if (!entry || entry.id !== table.plan.id)
      throw new Error(`manifest table ${i} does not match table ${table.plan.id}`);
    const meta: TableMeta = {
      releaseTitle: content.manifest.release.title,
      source: `statguard ${content.manifest.engine.version}, policy ${content.manifest.policy.id} ${content.manifest.policy.version}`,
      updated: content.manifest.createdAt,
      privacy: {
        regime: content.manifest.regime,
        guarantee: content.manifest.guarantee.statement,
        table: entry.privacy,
      },
    };
    const names = tableFiles(table.plan.id);
    const csv = toCsv(table);
    const json = `${JSON.stringify(toJsonStat(table, meta), null, 1)}\n`;
    files.set(names.csv, csv);
    files.set(names.jsonstat, json);
    entries.push({
      ...entry,
      files: {
        csv: { path: names.csv, sha256: sha256(csv), bytes: Buffer.byteLength(csv) },
        jsonstat: { path: names.jsonstat, sha256: sha256(json), bytes: Buffer.byteLength(json) },
      },
    });
  });
  const manifest: Manifest = { ...content.manifest, tables: entries };
  files.set('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  return { files, manifest };
}

export async function writeRelease(
  content: ReleaseContent,
  outDir: string,
  opts: WriteOptions = {},
): Promise<Manifest> {
  const target = path.resolve(outDir);
  const parent = path.dirname(target);
  const base = path.basename(target);
  if (await exists(target)) {
    if (!opts.force) {
      throw new StatguardError('OUTPUT_EXISTS', `output directory already exists; pass --force to replace it`, {
        file: target,
      });
    }
  }
  const { files, manifest } = renderRelease(content);
  try {
    await mkdir(parent, { recursive: true });
    // Remove leftovers of earlier interrupted runs for the same target.
    for (const name of await readdir(parent)) {
      if (name.startsWith(`.${base}.partial-`)) await rm(path.join(parent, name), { recursive: true, force: true });
    }
  } catch (e) {
    throw new StatguardError('OUTPUT_FAILED', `cannot prepare output directory: ${(e as Error).message}`, {
      file: parent,
    });
  }
  const tmp = path.join(parent, `.${base}.partial-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(tmp);
    for (const [name, text] of files) await writeFile(path.join(tmp, name), text, { flag: 'wx' });
    if (await exists(target)) {
      const old = path.join(parent, `.${base}.partial-old-${randomBytes(6).toString('hex')}`);
      await rename(target, old);
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target);
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof StatguardError) throw e;
    throw new StatguardError('OUTPUT_FAILED', `cannot write release: ${(e as Error).message}`, { file: target });
  }
  return manifest;
}
