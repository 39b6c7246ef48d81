/**
 * Shared contracts of the engine's data path.
 *
 *   Policy (JSON, validated) --plan--> Plan (frozen, fully resolved)
 *   rows --bound--> unit contributions --aggregate--> ExactTable[]
 *   ExactTable --protect (the plan's regime, engine/regime.ts)--> ProtectedTable --release--> files
 *
 * The kind of a table is carried in its type (`kind: 'exact' | 'protected'`),
 * so only protected tables can reach a sink (release writers accept
 * `ProtectedTable` only).
 */

/** A category of a dimension as declared in the policy (public knowledge). */
export interface Category {
  readonly code: string;
  /** Label in the policy's first (default) language. */
  readonly label: string;
  /** Multilingual policies only (`languages`): the label in every declared language (engine/policy/labels.ts). */
  readonly labels?: LabelMap;
}

/** A label per language tag (`{"en": "North", "fr": "Nord"}`): every language the policy declares. */
export type LabelMap = Readonly<Record<string, string>>;

/**
 * One node of a dimension: a leaf (a declared category, or a bin of a derived
 * column) or an aggregate (a hierarchy level or the dimension's total).
 * Nodes of a dimension are numbered 0..n-1; leaves come first
 * (`nodes[i].leaf === true` for i < leafCount), in declared order.
 */
export interface DimensionNode {
  readonly code: string;
  /** Label in the default language (the one written into the release files). */
  readonly label: string;
  /** Multilingual policies only: the label in every declared language. */
  readonly labels?: LabelMap;
  readonly leaf: boolean;
  /** Depth in the hierarchy: 0 for the total (root), leaves deepest. */
  readonly level: number;
  /** Parent node index, or null for the root (or a leaf of a table without total). */
  readonly parent: number | null;
  /** Direct children (node indices); empty for leaves. */
  readonly children: readonly number[];
  /** Leaf indices under this node (itself for a leaf). */
  readonly leaves: readonly number[];
}

export interface DimensionPlan {
  /** Column (or derived column) name in the microdata. */
  readonly name: string;
  readonly label: string;
  /** Multilingual policies only: the dimension label in every declared language. */
  readonly labels?: LabelMap;
  readonly nodes: readonly DimensionNode[];
  readonly leafCount: number;
  /** Index of the total node (root), or null when the table publishes no total on this dimension. */
  readonly total: number | null;
  /** Over an open column (dp): its leaves are candidates until private partition selection restricts them. */
  readonly open?: boolean;
}

/**
 * A sampling weight column (sdc and ckm only). Convention (tau-Argus): published values are weighted estimates
 * (weighted count = sum of weights, weighted sum = sum of weight * value); the minimum frequency rule counts
 * respondents (unweighted distinct units); dominance, p% and (p,q) judge each unit's weighted contribution against
 * the weighted cell total.
 */
export interface WeightPlan {
  readonly column: string;
  /** Decimals kept when reading the weight (scaled integer weight / 10^decimals). */
  readonly decimals: number;
}

/** The declared unit of measure (policy `measure.unit`): absent when the policy declares none. */
export interface MeasureUnit {
  /** In the default language (the release files' language). */
  readonly unit?: string;
  /** Every language of a multilingual policy. */
  readonly unitLabels?: LabelMap;
}

export type MeasurePlan = MeasureUnit &
  (
    | {
        readonly kind: 'count';
        /** Sampling weight (policy `dataset.weight`): the cell value is the sum of the rows' weights. Absent: unweighted. */
        readonly weight?: WeightPlan;
      }
    | {
        readonly kind: 'sum' | 'mean';
        /** Sampling weight (policy `dataset.weight`): a row contributes weight * value. Absent: unweighted. */
        readonly weight?: WeightPlan;
        readonly column: string;
        /** Clamping bounds in scaled integer units (value * 10^decimals). */
        readonly lower: number;
        readonly upper: number;
        /** Number of decimals kept for the measure column: values are handled as integers value*10^decimals. */
        readonly decimals: number;
        /**
         * Means only: over what the mean is taken. 'unit' (absent: the same): the cell's sum over its units, each
         * unit's total in the cell counted once (sum / units). 'row': over the cell's rows (sum / rows).
         */
        readonly per?: 'unit' | 'row';
      }
    | {
        /** dp only (engine/dp/quantile.ts): the a/10000-quantile of the clamped column per cell, among declared candidates. */
        readonly kind: 'quantile';
        readonly weight?: undefined;
        readonly column: string;
        /** Clamping bounds in scaled integer units; candidates are lower + floor(j (upper - lower) / bins), j = 0..bins. */
        readonly lower: number;
        readonly upper: number;
        readonly decimals: number;
        /** The quantile times 10000 (an integer in 1..9999). */
        readonly a: number;
        readonly bins: number;
      }
  );

export interface TablePlan {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly dimensions: readonly DimensionPlan[];
  readonly measure: MeasurePlan;
  /** Share of the DP budget (weights normalised to sum to 1); 0 for sdc. */
  readonly budgetShare: number;
  /** Cells the officer marks (codes per dimension, in dimension order). */
  readonly neverSuppress: readonly (readonly string[])[];
  readonly alwaysSuppress: readonly (readonly string[])[];
}

export type ColumnType = 'categorical' | 'integer' | 'number' | 'string';

export interface ColumnPlan {
  readonly name: string;
  readonly type: ColumnType;
  /**
   * For categorical columns: the declared domain. An open column (`open: true`, dp only) has none in the policy's
   * plan; the source fills in the codes it meets (engine/policy/open-domain.ts) and private partition selection
   * (engine/dp/partition.ts) decides which are published.
   */
  readonly categories?: readonly Category[];
  /** A categorical column whose domain is not declared (policy `domain: "open"`). */
  readonly open?: boolean;
  /** Raw strings that mean "missing" for this column. */
  readonly missingValues: readonly string[];
  readonly required: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
}

export interface DerivedColumnPlan {
  readonly name: string;
  readonly from: string;
  /** Bins on a numeric column: value v falls in bin i when min <= v <= max (inclusive, integers or numbers). */
  readonly bins?: readonly {
    readonly code: string;
    readonly label: string;
    readonly min: number;
    readonly max: number;
  }[];
  /** Recoding of a categorical column: source code -> target code. */
  readonly map?: Readonly<Record<string, string>>;
  /** Resulting categories, in order. */
  readonly categories: readonly Category[];
}

export interface CsvSourcePlan {
  readonly kind: 'csv';
  /** Absolute path. */
  readonly path: string;
  readonly delimiter: string;
  readonly header: boolean;
  readonly encoding: 'utf8';
  /** Header names as in the file → the policy's column names (csv-records.ts `headerNames`); empty: none renamed. */
  readonly rename?: Readonly<Record<string, string>>;
}

/**
 * A PostgreSQL table or view: validation, bounding and aggregation run inside
 * the database as SQL (engine/source/sql/); only cells come back.
 */
export interface PostgresSourcePlan {
  readonly kind: 'postgres';
  /** Table or view name (unquoted identifier as stored in the catalog). */
  readonly table: string;
  /** Schema of the table, or null for the connection's search_path. */
  readonly schema: string | null;
  /** Name of the environment variable holding the connection URL; null means DATABASE_URL. */
  readonly connection: string | null;
  /** Column numbering the rows (e.g. the source file's line), used to locate the first invalid row; null if none. */
  readonly rowNumberColumn: string | null;
}

/** A CSV or Parquet file read by the embedded analytical engine (DuckDB), running the same SQL as PostgreSQL. */
export interface DuckdbFileSourcePlan {
  readonly kind: 'parquet' | 'csv-duckdb';
  /** Absolute path. */
  readonly path: string;
  /** CSV only: field delimiter. */
  readonly delimiter: string;
  readonly header: boolean;
}

export type SourcePlan = CsvSourcePlan | PostgresSourcePlan | DuckdbFileSourcePlan;

export interface UnitPlan {
  /** Column identifying the protected unit, or null when each row is its own unit. */
  readonly column: string | null;
  readonly kind: 'person' | 'household' | 'enterprise' | 'other';
  /** At most this many rows per unit are kept (chosen by keyed hash, independent of row order). */
  readonly maxRowsPerUnit: number;
  /**
   * Holding (enterprise group) column: dominance, p% and (p,q) use contributions summed per holding. Absent or null:
   * per unit. Each unit belongs to one holding.
   */
  readonly holding?: string | null;
}

export type InvalidRowPolicy = 'error' | 'drop';

export interface DatasetPlan {
  readonly id: string;
  readonly source: SourcePlan;
  readonly unit: UnitPlan;
  readonly columns: readonly ColumnPlan[];
  readonly derived: readonly DerivedColumnPlan[];
  readonly onInvalidRow: InvalidRowPolicy;
}

export interface DominanceRule {
  readonly n: number;
  readonly k: number;
}

/** Who the sdc audit counts as an attacker besides the public (see SdcPlan.secondary.insiders). */
export type InsiderModel = 'singletons' | 'lone-cell' | 'none';

export interface SdcPlan {
  readonly regime: 'sdc';
  /** Minimum frequency: a cell is unsafe when 0 < units < minFrequency. null = no rule. */
  readonly minFrequency: number | null;
  /** Protection level (percent of cell value) required for cells flagged by minimum frequency. */
  readonly frequencyProtection: number;
  readonly dominance: readonly DominanceRule[];
  /** p% rule, or null. */
  readonly pPercent: number | null;
  /** (p,q) prior-knowledge rule, or null. */
  readonly pq: { readonly p: number; readonly q: number } | null;
  readonly secondary: {
    readonly method: 'optimal' | 'heuristic' | 'auto';
    readonly cost: 'unity' | 'frequency' | 'value';
    readonly timeLimitSeconds: number;
    /**
     * Protection against a one-unit cell's contributor, who knows that cell's value (engine/sdc/insiders.ts):
     * 'singletons' (the plan builder's default) audits every such insider in full, 'lone-cell' only a relation whose
     * two hidden cells are the one-unit cell and a sensitive cell, 'none' neither. Absent: 'singletons'.
     */
    readonly insiders?: InsiderModel;
  };
  /** Zero cells (no contributor): 'publish' (safe) or 'suppress'. */
  readonly zeroCells: 'publish' | 'suppress';
}

export interface DpPlan {
  readonly regime: 'dp';
  readonly mechanism: 'discrete-laplace' | 'discrete-gaussian';
  /** Total budget for the release: epsilon for pure DP (Laplace), rho for zCDP (Gaussian). */
  readonly epsilon: number | null;
  readonly rho: number | null;
  /** delta at which (epsilon, delta) is reported for zCDP. */
  readonly delta: number;
  /** Post-processing: suppress cells whose NOISY value is below this; null = none. */
  readonly noisyThreshold: number | null;
  /** Granularity exponent k for non-integer quantities (noise in multiples of 2^k scaled units). */
  readonly granularityLog2: number;
  /**
   * Post-processing to tables that add up (engine/dp/consistency.ts): 'hierarchical' or 'none'. The plan builder
   * always sets it (policy default 'hierarchical'); absent means 'none'.
   */
  readonly consistency?: 'none' | 'hierarchical';
  /**
   * Truncation report (engine/dp/truncation.ts): noisy counts of the rows contribution bounding dropped and of the
   * values clamping moved, paid from the release's budget; absent or null when the policy does not ask.
   */
  readonly truncationReport?: TruncationReportPlan | null;
  /**
   * Private partition selection of the categories of open columns (engine/dp/partition.ts); absent when the policy
   * has no open column. `share` is the budget share of all selections together (with the tables' shares and the truncation report's, they sum to 1).
   */
  readonly partitionSelection?: {
    readonly share: number;
    readonly delta: number;
    /** 'minimum': the smallest threshold delta allows; else an integer threshold (refused when below it). */
    readonly threshold: 'minimum' | number;
  };
}

/** What the truncation report costs and counts (`protection.truncationReport` of a dp policy). */
export interface TruncationReportPlan {
  /** Share of the release's total budget (epsilon or rho) spent on the report, in (0, 1); the tables share the rest. */
  readonly share: number;
  /** A unit's dropped rows are counted up to this many (the dropped-row count's sensitivity). */
  readonly maxDroppedPerUnit: number;
}

/**
 * Cell key method (ABS TableBuilder; 2021 UK and German censuses): every cell is perturbed by a value looked up in a
 * perturbation table (ptable) from its original count and its cell key (fractional part of the sum of its
 * contributors' record keys), so the same cell always gets the same perturbation.
 */
export interface CkmPlan {
  readonly regime: 'ckm';
  /** Ptable parameters (generated by maximum entropy, engine/ckm), or null when a ptable file is given. */
  readonly ptable: {
    readonly D: number;
    readonly V: number;
    readonly js: number;
    readonly pstay: number | null;
  } | null;
  /** Absolute path of a ptable file in the tau-Argus layout, or null when generated from parameters. */
  readonly ptableFile: string | null;
  /** Record keys read from a column (decimals: keys are value * 10^decimals modulo 10^decimals), or null: drawn per unit by the engine. */
  readonly recordKey: { readonly column: string; readonly decimals: number } | null;
  /** Magnitude tables: the perturbation is (v / D) * magnitudePercent% of the cell's largest contribution. */
  readonly magnitudePercent: number;
  /** Random rounding of perturbed values to a multiple of this base (driven by the cell key), or null. */
  readonly roundingBase: number | null;
}

export type ProtectionPlan = SdcPlan | DpPlan | CkmPlan;

export interface ReleaseMeta {
  readonly title: string;
  readonly description: string;
  readonly audience: 'public' | 'contract';
  readonly demo: boolean;
  readonly expires: string | null;
  readonly contact: string | null;
  /**
   * Languages of the labels (policy `languages`; the first is the default and the language of the release files).
   * Absent when the policy declares none: one language, `en`.
   */
  readonly languages?: readonly string[];
  /** Themes of the release for data portals (policy `release.themes`: URIs, e.g. of the EU data theme vocabulary). */
  readonly themes?: readonly string[];
}

export interface Plan {
  readonly policyId: string;
  readonly policyVersion: string;
  /** SHA-256 (hex) of the policy file bytes. */
  readonly policySha256: string;
  readonly policyPath: string;
  readonly release: ReleaseMeta;
  readonly dataset: DatasetPlan;
  readonly tables: readonly TablePlan[];
  readonly protection: ProtectionPlan;
  /** Tables on demand (policy `onDemand`, ckm or dp only; engine/ondemand); absent when the dataset offers none. */
  readonly onDemand?: OnDemandPlan;
}

/** A measure an on-demand query may name (`count` is always offered). */
export interface OnDemandMeasurePlan {
  readonly name: string;
  readonly title: string;
  readonly measure: MeasurePlan;
}

/** The on-demand section of a plan: the declared schema a query picks from, and its limits. */
export interface OnDemandPlan {
  readonly maxCells: number;
  readonly maxDimensions: number;
  /** Answers kept per dataset in the API's cache. */
  readonly cacheEntries: number;
  /** Every dimension offered, at its finest level, with its hierarchy and total (as `buildDimension` resolves it). */
  readonly dimensions: readonly DimensionPlan[];
  /** Every measure offered, `count` first. */
  readonly measures: readonly OnDemandMeasurePlan[];
  /** dp: what each query costs (the mechanism's parameter only); null under ckm. */
  readonly dp: { readonly epsilon: number | null; readonly rho: number | null } | null;
}

/* ------------------------------------------------------------------ */
/* Tables moving through the pipeline                                  */
/* ------------------------------------------------------------------ */

/**
 * Exact aggregate of one cell. Contributions are per unit (a unit's rows in
 * the cell are summed first), in scaled integer units.
 */
export interface ExactCell {
  /** Number of distinct units contributing (after bounding). */
  readonly units: number;
  /** Number of rows contributing (after bounding). */
  readonly rows: number;
  /** Sum of the (clamped) measure, scaled integer units; equals `units` for count tables. */
  readonly sum: number;
  /** Largest per-unit contributions, descending (at most TOP_K). For count tables each unit contributes 1. */
  readonly top: readonly number[];
  /**
   * Cell key of the cell key method (ckm regime only): the fractional part of the sum of the contributing units'
   * record keys, in [0, 1). Depends only on which units contribute, so a cell has the same key in every table.
   */
  readonly cellKey?: number;
}

/** How many largest contributions are kept per cell (enough for (n,k) with n <= 4, p%, (p,q)). */
export const TOP_K = 4;

/**
 * Cells are stored densely in row-major order over the dimensions' nodes:
 * index = sum_d node[d] * stride[d], stride[last] = 1.
 */
export interface ExactTable {
  readonly kind: 'exact';
  readonly plan: TablePlan;
  readonly cells: readonly ExactCell[];
  /**
   * Quantile tables (engine/aggregate/quantile-hist.ts): per cell, the rows in each of `slots` = 2 bins + 1 slots
   * (a candidate, or strictly between two), cell-major.
   */
  readonly histogram?: { readonly slots: number; readonly counts: Int32Array };
}

/** SDMX CONF_STATUS: F free, A primary (small count), O dominance by one unit, T by two, C confidential (other primary), D secondary. */
export type ConfStatus = 'F' | 'A' | 'O' | 'T' | 'C' | 'D';
/** SDMX OBS_STATUS: A normal, E estimated (noisy). */
export type ObsStatus = 'A' | 'E';

export interface CellAccuracy {
  /** Standard deviation of the noise, in the published unit. */
  readonly noiseSd: number;
  /** Mechanism scale parameter (b for Laplace, sigma for Gaussian), in the published unit. */
  readonly scale: number;
  /** Half-width of the 95% interval: |noise| <= halfWidth95 with probability >= 0.95. */
  readonly halfWidth95: number;
}

export interface ProtectedCell {
  /** Published value (in the measure's natural unit), or null when suppressed. */
  readonly value: number | null;
  readonly conf: ConfStatus;
  readonly obs: ObsStatus;
  readonly accuracy: CellAccuracy | null;
}

/** The unbiased noisy measurements of a consistent dp table (before fit, clamp and rounding), published unit. */
export interface NoisyMeasurements {
  readonly values: readonly number[];
  readonly noiseSd: number;
  readonly halfWidth95: number;
}

export interface ProtectedTable {
  readonly kind: 'protected';
  readonly plan: TablePlan;
  readonly cells: readonly ProtectedCell[];
  /** dp with consistency: the table adds up at every level and margin; its noisy measurements are published beside it. */
  readonly consistent?: { readonly note: string; readonly measurements: NoisyMeasurements };
}

// The dense cell layout's arithmetic lives in cells.ts (code, not types); re-exported for the existing importers.
export { cellCoords, cellCount, cellIndex, strides } from './cells.ts';

/**
 * Source of uniform random bytes. `crypto` draws from node:crypto and is the
 * only kind a real release may use; `seeded` (seedrandom) is for tests and
 * reproducible demos and is marked so in the manifest.
 */
export interface RandomSource {
  readonly kind: 'crypto' | 'seeded';
  /** The seed, for seeded sources (recorded in the manifest of demo releases). */
  readonly seed: string | null;
  /** n independent uniform bytes. */
  bytes(n: number): Uint8Array;
}
