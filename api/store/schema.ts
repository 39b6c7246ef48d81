/**
 * Kysely types of the publication store (see migrations.ts for the DDL).
 */
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;
type TimestampDefault = ColumnType<Date, Date | string | undefined, Date | string>;
/** JSON(B) columns: parsed on select, written as JSON text. */
type Json<T = unknown> = ColumnType<T, string | null, string | null>;

export type ReleaseStatus = 'draft' | 'published' | 'withdrawn';
export type Role = 'officer' | 'reviewer' | 'researcher';
export const ROLES: readonly Role[] = ['officer', 'reviewer', 'researcher'];

export interface DatasetsTable {
  id: string;
  /** Total privacy budget of the dataset over all its releases (zCDP rho; pure epsilon for pure-DP releases). */
  total_rho: number;
  total_epsilon: number;
  created_at: TimestampDefault;
  updated_at: TimestampDefault;
  updated_by: string | null;
  title: string | null;
  /** The one regime its releases use; null for a dataset created on first sight before registration existed. */
  regime: 'sdc' | 'dp' | 'ckm' | null;
  /** Only a demo dataset accepts seeded (reproducible, not private) releases. */
  demo: ColumnType<boolean, boolean | undefined, boolean>;
  created_by: string | null;
}

/** Input fingerprints, each bound to the first dataset that released it. */
export interface DatasetInputsTable {
  input_sha256: string;
  dataset_id: string;
  created_at: TimestampDefault;
  created_by: string;
}

/** Public keys whose release signatures the store accepts (revoked keys stay, refused). */
export interface SigningKeysTable {
  /** First 16 hex of the SHA-256 of the SPKI DER. */
  id: string;
  /** SPKI PEM. */
  public_key: string;
  name: string;
  created_at: TimestampDefault;
  created_by: string;
  revoked_at: NullableTimestamp;
  revoked_by: string | null;
}

export interface ReleasesTable {
  id: string;
  policy_id: string;
  policy_version: string;
  policy_sha256: string;
  input_sha256: string;
  manifest_sha256: string;
  dataset_id: string;
  status: ReleaseStatus;
  /** 1, 2, ... per policy id, in the order drafts are stored. */
  version: number;
  supersedes: string | null;
  superseded_by: string | null;
  title: string;
  regime: 'sdc' | 'dp' | 'ckm';
  audience: 'public' | 'contract';
  demo: boolean;
  expires: string | null;
  randomness: 'crypto' | 'seeded';
  /** Budget this release costs its dataset (0 for sdc). */
  rho: number;
  /** Pure-epsilon cost (only for pure-DP releases; null otherwise). */
  epsilon: number | null;
  /** The signed manifest (older rows may still hold an `internal` part: never served, see publicManifest). */
  manifest: Json<Record<string, unknown>>;
  created_at: TimestampDefault;
  created_by: string;
  approved_at: NullableTimestamp;
  approved_by: string | null;
  withdrawn_at: NullableTimestamp;
  withdrawn_by: string | null;
  withdraw_reason: string | null;
  /** Key id of the signature the store verified (null for releases stored before signatures). */
  signing_key: ColumnType<string | null, string | null | undefined, string | null>;
  signature: ColumnType<unknown, string | null | undefined, string | null>;
}

export interface StoredNode {
  readonly code: string;
  readonly label: string;
  /** Multilingual releases: the label in every language (from the signed policy; absent in older rows). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Index of the parent node in the same list, or null. */
  readonly parent: number | null;
}

export interface StoredDimension {
  readonly name: string;
  readonly label: string;
  /** Multilingual releases: the dimension label in every language. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly nodes: readonly StoredNode[];
}

/** A table's protected cells, column-wise (one JSONB document per table; see README for why). */
export interface StoredCells {
  readonly value: readonly (number | null)[];
  readonly conf: readonly string[];
  readonly obs: readonly string[];
  readonly noiseSd: readonly (number | null)[] | null;
  readonly halfWidth95: readonly (number | null)[] | null;
}

export interface ReleaseTablesTable {
  release_id: string;
  table_id: string;
  position: number;
  title: string;
  description: string;
  measure: Json<Record<string, unknown>>;
  dimensions: Json<StoredDimension[]>;
  privacy: Json<Record<string, unknown> | null>;
  cell_count: number;
  suppressed: number;
  cells: Json<StoredCells>;
}

export interface BudgetLedgerTable {
  id: Generated<number>;
  dataset_id: string;
  /** The release charged, or null for a dp on-demand table (migration 006; `created_by` is then `contract:<id>`). */
  release_id: string | null;
  rho: number;
  epsilon: number | null;
  created_at: TimestampDefault;
  created_by: string;
  /** Hash chain (migration 004, set by the insert trigger): position, hash of the previous row, hash of this one. */
  seq: Generated<string>;
  prev_hash: Generated<string>;
  hash: Generated<string>;
}

export interface ApiKeysTable {
  id: string;
  /** SHA-256 (hex) of the secret part; the key itself is shown once and never stored. */
  hash: string;
  role: Role;
  name: string;
  created_at: TimestampDefault;
  revoked_at: NullableTimestamp;
}

export interface ContractsTable {
  id: string;
  key_id: string;
  release_id: string;
  /** Table ids covered, or null for every table of the release. */
  tables: Json<string[] | null>;
  expires_at: Timestamp;
  created_at: TimestampDefault;
  created_by: string;
}

/** A researcher's request for a dataset's table service (migration 006; api/contracts/). */
export interface AccessRequestsTable {
  id: string;
  key_id: string;
  dataset_id: string;
  purpose: string;
  /** The requested terms (scale, level, form; api/contracts/terms.ts). */
  terms: Json<Record<string, unknown>>;
  duration_days: number;
  status: ColumnType<'pending' | 'approved' | 'refused', 'pending' | undefined, 'approved' | 'refused'>;
  reason: string | null;
  contract_id: string | null;
  created_at: TimestampDefault;
  decided_at: NullableTimestamp;
  decided_by: string | null;
}

/** The terms granted on an access request (never changed; migration 006). */
export interface TableContractsTable {
  id: string;
  request_id: string;
  key_id: string;
  dataset_id: string;
  /** Scale, level and form (api/contracts/terms.ts); time is starts_at / ends_at. */
  terms: Json<Record<string, unknown>>;
  starts_at: Timestamp;
  ends_at: Timestamp;
  created_at: TimestampDefault;
  created_by: string;
}

/** One table taken (or reserved) under a table contract (migration 006). */
export interface ContractUsageTable {
  id: Generated<string>;
  contract_id: string;
  at: TimestampDefault;
  /** UTC day the use counts against (YYYY-MM-DD). */
  day: ColumnType<string, string, string>;
  state: 'reserved' | 'used' | 'cancelled';
  cells: number;
  rho: ColumnType<number, number | undefined, number>;
  epsilon: ColumnType<number, number | undefined, number>;
  /** The query's shape (dimensions, levels, measure, filter codes, format): never a value. */
  query: Json<Record<string, unknown>>;
  recorded_at: NullableTimestamp;
}

export interface AuditLogTable {
  id: Generated<string>;
  at: TimestampDefault;
  /** API key id, 'anonymous', or 'cli:<user>' / 'system:start'. */
  caller: string;
  role: string;
  action: string;
  target: string | null;
  /** 'ok', 'denied' or 'error'. */
  outcome: string;
  status: number | null;
  detail: Json<Record<string, unknown> | null>;
  /** Hash chain (migration 004, set by the insert trigger): position, hash of the previous row, hash of this one. */
  seq: Generated<string>;
  prev_hash: Generated<string>;
  hash: Generated<string>;
}

/** The head of each hash chain: its row count and the hash of its last row (migration 004). */
export interface ChainHeadsTable {
  chain: 'audit_log' | 'budget_ledger';
  seq: string;
  hash: string;
}

export interface Database {
  datasets: DatasetsTable;
  dataset_inputs: DatasetInputsTable;
  signing_keys: SigningKeysTable;
  releases: ReleasesTable;
  release_tables: ReleaseTablesTable;
  budget_ledger: BudgetLedgerTable;
  api_keys: ApiKeysTable;
  contracts: ContractsTable;
  access_requests: AccessRequestsTable;
  table_contracts: TableContractsTable;
  contract_usage: ContractUsageTable;
  audit_log: AuditLogTable;
  chain_heads: ChainHeadsTable;
}

export type ReleaseRow = Selectable<ReleasesTable>;
export type ReleaseTableRow = Selectable<ReleaseTablesTable>;
export type NewAudit = Insertable<AuditLogTable>;
