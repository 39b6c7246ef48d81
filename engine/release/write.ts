/**
 * Writes a release directory atomically: everything goes to a hidden sibling
 * directory first, which is renamed into place only when complete. A failed
 * or interrupted run therefore leaves no partial output directory (at most a
 * `.<name>.partial-*` sibling that the next run removes).
 *
 * A signed release (`sign`: the secure zone's key and the exact policy bytes) also holds `policy.json` (those bytes)
 * and `signature.json` (signature.ts), written in the same atomic step. The manifest holds no exact figure of the
 * data (manifest.ts): nothing written here is internal.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import type { ProtectedTable } from '../types.ts';
import { toCsv, toJsonStat, toNoisyCsv, type TableMeta } from './formats.ts';
import type { Manifest, ManifestTableEntry } from './manifest.ts';
import { payloadOf, POLICY_FILE, SIGNATURE_FILE, signatureFileText, type Signer } from './signature.ts';

/** How a release is signed: the signer and the exact bytes of the policy it ran. */
export interface SignOptions {
  readonly signer: Signer;
  readonly policy: Uint8Array;
}

export interface WriteOptions {
  /** Replace an existing output directory. */
  readonly force?: boolean;
  /** Sign the release (`statguard release` always does; unsigned directories are for engine tests only). */
  readonly sign?: SignOptions;
}

/** Every file of a release, rendered in memory. */
export interface RenderedRelease {
  readonly files: Map<string, string | Uint8Array>;
  readonly manifest: Manifest;
  /** SHA-256 of manifest.json (names the secure zone's internal record of the run). */
  readonly manifestSha256: string;
}

export interface ReleaseContent {
  /** Manifest without the per-table file entries (they are computed here). */
  readonly manifest: Omit<Manifest, 'tables'> & { readonly tables: readonly Omit<ManifestTableEntry, 'files'>[] };
  readonly tables: readonly ProtectedTable[];
}

const sha256 = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

/** File names of a table inside a release directory. */
export function tableFiles(id: string): { csv: string; jsonstat: string; noisy: string } {
  return { csv: `${id}.csv`, jsonstat: `${id}.json`, noisy: `${id}.noisy.csv` };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Render every file of a release in memory: name -> content (signed when `sign` is given). */
export function renderRelease(content: ReleaseContent, sign?: SignOptions): RenderedRelease {
  const files = new Map<string, string | Uint8Array>();
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
    // A consistent dp table: its unbiased noisy measurements beside it, named and hashed by the manifest (so signed).
    const noisy = table.consistent ? toNoisyCsv(table) : null;
    if (noisy !== null) files.set(names.noisy, noisy);
    entries.push({
      ...entry,
      files: {
        csv: { path: names.csv, sha256: sha256(csv), bytes: Buffer.byteLength(csv) },
        jsonstat: { path: names.jsonstat, sha256: sha256(json), bytes: Buffer.byteLength(json) },
        ...(noisy !== null
          ? { noisy: { path: names.noisy, sha256: sha256(noisy), bytes: Buffer.byteLength(noisy) } }
          : {}),
      },
    });
  });
  const manifest: Manifest = { ...content.manifest, tables: entries };
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  files.set('manifest.json', manifestText);
  if (sign) {
    if (sha256(Buffer.from(sign.policy)) !== manifest.policy.sha256)
      throw new Error('the policy bytes to sign are not the policy the manifest names');
    files.set(POLICY_FILE, sign.policy);
    files.set(SIGNATURE_FILE, signatureFileText(payloadOf(manifestText, sign.policy, manifest), sign.signer));
  }
  return { files, manifest, manifestSha256: sha256(manifestText) };
}

export async function writeRelease(
  content: ReleaseContent,
  outDir: string,
  opts: WriteOptions = {},
): Promise<Manifest> {
  return writeRendered(renderRelease(content, opts.sign), outDir, opts);
}

/** Write a rendered release directory atomically (see the header). */
export async function writeRendered(
  rendered: RenderedRelease,
  outDir: string,
  opts: Pick<WriteOptions, 'force'> = {},
): Promise<Manifest> {
  const { files, manifest } = rendered;
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
