/**
 * TypeScript shape of a policy document (policies/policy.schema.json).
 * Optional fields keep the document as written; `planPolicy` fills defaults.
 */
import type { HierarchyNodeSpec, PrefixHierarchySpec } from './dimension.ts';

/**
 * Labels are read as strings: `planPolicy` and the checks see the document through `withDefaultLabels` (labels.ts),
 * which turns a label given per language into its default-language string. As written, a label may be an object.
 */
export interface CategoryDoc {
  code: string;
  label: string;
}

export interface ReleaseDoc {
  title: string;
  description?: string;
  audience: 'public' | 'contract';
  demo?: boolean;
  expires?: string;
  contact?: string;
  /** DCAT themes (URIs). */
  themes?: string[];
}

export interface CsvSourceDoc {
  kind: 'csv';
  path: string;
  delimiter?: string;
  header?: true;
  /** Header names (as in the file, e.g. with spaces) → the column names the policy uses. */
  rename?: Record<string, string>;
}

export interface PostgresSourceDoc {
  kind: 'postgres';
  table: string;
  schema?: string;
  /** Name of the environment variable holding the connection URL (default DATABASE_URL). */
  connection?: string;
  rowNumberColumn?: string;
}

export interface FileSourceDoc {
  kind: 'parquet' | 'csv-duckdb';
  path: string;
  delimiter?: string;
  header?: true;
}

export type SourceDoc = CsvSourceDoc | PostgresSourceDoc | FileSourceDoc;

export interface UnitDoc {
  kind: 'person' | 'household' | 'enterprise' | 'other';
  column?: string;
  maxRowsPerUnit?: number;
  /** Holding (enterprise group) column: dominance, p% and (p,q) sum contributions per holding. */
  holding?: string;
}

export interface ColumnDoc {
  name: string;
  title?: string;
  description?: string;
  type: 'categorical' | 'integer' | 'number' | 'string';
  categories?: CategoryDoc[];
  /** `open` (dp only): no declared categories; published ones come from private partition selection. */
  domain?: 'declared' | 'open';
  missingValues?: string[];
  required?: boolean;
  constraints?: { minimum?: number; maximum?: number };
  decimals?: number;
}

export interface BinDoc {
  code: string;
  label: string;
  min: number;
  max: number;
}

export interface DerivedDoc {
  name: string;
  title?: string;
  from: string;
  bins?: BinDoc[];
  map?: Record<string, string>;
  categories?: CategoryDoc[];
}

export type HierarchyChildDoc = string | HierarchyNodeSpec;

export interface DatasetDoc {
  id: string;
  source: SourceDoc;
  unit: UnitDoc;
  columns: ColumnDoc[];
  derived?: DerivedDoc[];
  /** Nested codes (array), or derived from code prefixes ({ prefixLengths, labels? }). */
  hierarchies?: Record<string, HierarchyChildDoc[] | PrefixHierarchySpec>;
  onInvalidRow?: 'error' | 'drop';
  /** Sampling weight column (sdc and ckm). */
  weight?: string;
}

export type DimensionDoc = string | { column: string; total?: boolean };

/** Unit of measure (optional): a string, or per language (labels.ts). */
export type MeasureUnitDoc = { unit?: string | Record<string, string> };

export type MeasureDoc = MeasureUnitDoc &
  (
    | { kind: 'count' }
    | { kind: 'sum' | 'mean'; column: string; bounds: [number, number]; per?: 'unit' | 'row' }
    | { kind: 'quantile'; column: string; bounds: [number, number]; quantile: number; bins: number }
  );

export interface TableDoc {
  id: string;
  title: string;
  description?: string;
  dimensions: DimensionDoc[];
  measure: MeasureDoc;
  weight?: number;
  neverSuppress?: string[][];
  alwaysSuppress?: string[][];
}

export interface SdcProtectionDoc {
  regime: 'sdc';
  rules: {
    minFrequency?: { n: number; protectionPercent?: number };
    dominance?: { n: number; k: number }[];
    pPercent?: { p: number };
    pq?: { p: number; q: number };
  };
  secondary?: {
    method?: 'optimal' | 'heuristic' | 'auto';
    cost?: 'unity' | 'frequency' | 'value';
    timeLimitSeconds?: number;
    insiders?: 'singletons' | 'lone-cell' | 'none';
  };
  zeroCells?: 'publish' | 'suppress';
}

export interface DpProtectionDoc {
  regime: 'dp';
  mechanism: 'discrete-laplace' | 'discrete-gaussian';
  budget: { epsilon?: number; rho?: number };
  delta?: number;
  noisyThreshold?: number;
  granularityLog2?: number;
  consistency?: 'none' | 'hierarchical';
  truncationReport?: {
    share?: number;
    budget?: { epsilon?: number; rho?: number };
    maxDroppedPerUnit?: number;
  };
  partitionSelection?: { delta: number; threshold: 'minimum' | number; weight?: number };
}

export interface CkmProtectionDoc {
  regime: 'ckm';
  ptable: { maxDeviation?: number; variance?: number; js?: number; pstay?: number; file?: string };
  recordKey?: { column: string; decimals?: number };
  magnitudePercent?: number;
  roundingBase?: number;
}

export type ProtectionDoc = SdcProtectionDoc | DpProtectionDoc | CkmProtectionDoc;

export interface PolicyDoc {
  $schema?: string;
  id: string;
  version: string;
  /** Languages of the labels, the default first (labels.ts). */
  languages?: string[];
  release: ReleaseDoc;
  dataset: DatasetDoc;
  tables: TableDoc[];
  /** Tables on demand (engine/ondemand): what a query may cross, how large, and what it costs under dp. */
  onDemand?: OnDemandDoc;
  protection: ProtectionDoc;
}

export interface OnDemandMeasureDoc {
  name: string;
  title?: string;
  kind: 'sum' | 'mean';
  column: string;
  bounds: [number, number];
  /** Not offered on demand (a mean is per unit). */
  per?: undefined;
}

export interface OnDemandDoc {
  maxCells: number;
  maxDimensions: number;
  cacheEntries?: number;
  dimensions?: string[];
  measures?: OnDemandMeasureDoc[];
  dp?: { epsilon?: number; rho?: number };
}
