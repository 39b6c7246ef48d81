/**
 * The store's side of reading a release directory: the engine's strict reader (`engine/release/read.ts`) checks the
 * files; this module refuses a seeded release whose policy is not a demo, reports every problem as an ApiError
 * (RELEASE_INVALID / RELEASE_SEEDED) and gives each table's dimensions the shape of the stored rows.
 *
 * Guarantee: a LoadedRelease is a VerifiedRelease (consistent with its manifest; no suppressed value among its cells)
 * that is not a seeded non-demo release; its stored dimensions keep the JSON-stat node order, codes, labels and
 * parents.
 */
import {
  parseRelease as readRelease,
  readReleaseDir,
  ReleaseInvalid,
  type ReadOptions,
  type VerifiedRelease,
  type VerifiedTable,
} from '../../engine/release/index.ts';
import type { Manifest } from '../../engine/release/manifest.ts';
import type { DimensionPlan } from '../../engine/types.ts';
import { ApiError } from '../errors.ts';
import type { StoredCells, StoredDimension } from './schema.ts';

export interface LoadedTable extends Omit<VerifiedTable, 'dimensions' | 'cells'> {
  readonly dimensions: StoredDimension[];
  readonly cells: StoredCells;
}

export interface LoadedRelease {
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly tables: readonly LoadedTable[];
}

/** A seeded release is refused unless its policy marks it as a demo (before its table files are checked). */
const storeOptions: ReadOptions = {
  onManifest(manifest) {
    if (manifest.randomness.source === 'seeded' && manifest.release.demo !== true) {
      throw new ApiError(
        'RELEASE_SEEDED',
        `release of policy ${manifest.policy.id} used seeded randomness (seed ${JSON.stringify(manifest.randomness.seed)}) and its policy is not marked as a demo (release.demo)`,
      );
    }
  },
};

/** The stored row shape of a dimension: nodes in node order with their parent. */
function storedDimension(d: DimensionPlan): StoredDimension {
  return {
    name: d.name,
    label: d.label,
    nodes: d.nodes.map((n) => ({ code: n.code, label: n.label, parent: n.parent })),
  };
}

function loaded(rel: VerifiedRelease): LoadedRelease {
  return {
    manifest: rel.manifest,
    manifestSha256: rel.manifestSha256,
    tables: rel.tables.map((t) => ({ ...t, dimensions: t.dimensions.map(storedDimension) })),
  };
}

function apiError(e: unknown): unknown {
  return e instanceof ReleaseInvalid ? new ApiError('RELEASE_INVALID', e.message, { where: e.where }) : e;
}

/**
 * Check a release given as file name -> content (a directory read into memory,
 * or an upload). Every problem is a RELEASE_INVALID / RELEASE_SEEDED ApiError.
 */
export function parseRelease(files: ReadonlyMap<string, string | Buffer>): LoadedRelease {
  try {
    return loaded(readRelease(files, storeOptions));
  } catch (e) {
    throw apiError(e);
  }
}

/** Read a release directory (only the files the manifest names) and check it. */
export async function loadReleaseDir(dir: string): Promise<LoadedRelease> {
  try {
    return loaded(await readReleaseDir(dir, storeOptions));
  } catch (e) {
    throw apiError(e);
  }
}
