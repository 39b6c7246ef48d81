/**
 * The release manifest: what was done, from what, with which guarantee.
 *
 * It has a public part (everything but `internal`) that the publication API
 * serves to researchers, and an `internal` part for the secure zone: exact
 * processing counts (rows read, dropped, units), the input fingerprint and
 * file location. Exact row counts are internal because under differential
 * privacy the exact dataset size is itself a statistic of the data.
 */
import type { ReleaseMeta } from '../types.ts';

export const MANIFEST_VERSION = 1;

export interface ManifestTableEntry {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly measure: { readonly kind: string; readonly column?: string; readonly bounds?: readonly [number, number] };
  readonly dimensions: readonly {
    readonly name: string;
    readonly label: string;
    readonly categories: number;
    readonly levels: number;
  }[];
  readonly cells: number;
  readonly suppressed: number;
  readonly files: Readonly<
    Record<'csv' | 'jsonstat', { readonly path: string; readonly sha256: string; readonly bytes: number }>
  >;
  /** DP: this table's share of the budget, sensitivity and noise scale. SDC: null. */
  readonly privacy: Readonly<Record<string, unknown>> | null;
}

export interface Guarantee {
  readonly regime: 'sdc' | 'dp' | 'ckm';
  /** One sentence a researcher can read. */
  readonly statement: string;
  readonly [key: string]: unknown;
}

export interface Manifest {
  readonly manifestVersion: number;
  readonly engine: { readonly name: 'statguard'; readonly version: string };
  readonly createdAt: string;
  readonly policy: { readonly id: string; readonly version: string; readonly sha256: string; readonly file: string };
  readonly dataset: {
    readonly id: string;
    readonly unit: { readonly kind: string; readonly maxRowsPerUnit: number; readonly column: string | null };
  };
  readonly release: ReleaseMeta;
  /** 'crypto' for real releases; 'seeded' marks a test or demo release (refused by publish unless the policy is a demo). */
  readonly randomness: { readonly source: 'crypto' | 'seeded'; readonly seed: string | null };
  readonly regime: 'sdc' | 'dp' | 'ckm';
  readonly guarantee: Guarantee;
  /** Budget spent (dp) per table and in total; null for sdc. */
  readonly budget: Readonly<Record<string, unknown>> | null;
  readonly methods: readonly string[];
  readonly tables: readonly ManifestTableEntry[];
  readonly internal: {
    readonly input: { readonly kind: string; readonly file: string; readonly bytes: number; readonly sha256: string };
    readonly rows: {
      readonly read: number;
      readonly dropped: number;
      readonly dropReasons: Readonly<Record<string, number>>;
      readonly afterBounding: number;
      readonly removedByBounding: number;
      readonly units: number;
      readonly valuesClamped: number;
    };
    readonly durationMs: number;
  };
}

/** The part of a manifest that may be shown outside the secure zone. */
export function publicManifest(m: Manifest): Omit<Manifest, 'internal'> {
  const { internal: _internal, ...rest } = m;
  return rest;
}
