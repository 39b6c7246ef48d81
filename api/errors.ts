/**
 * Every error the API (and the store's commands) reports: one table of stable
 * codes, each with its HTTP status and a one-line meaning. Responses are
 * RFC 9457 `application/problem+json` documents carrying `code`.
 *
 * Safety property: problem details name releases, tables, dimensions and
 * codes, never a cell value (a suppressed value is never loaded into memory by
 * the API in the first place: the store holds only protected cells).
 *
 * test/api/errors.test.ts keeps this table and api/README.md in sync.
 */
export const ERRORS = {
  BAD_REQUEST: {
    status: 400,
    title: 'Bad request',
    description: 'The request does not match the route schema (parameters, query or body).',
  },
  BAD_SELECTION: {
    status: 400,
    title: 'Malformed selection',
    description: 'A dimension selection is empty, repeats a code or is not a comma-separated code list.',
  },
  UNKNOWN_DIMENSION: {
    status: 400,
    title: 'Unknown dimension',
    description: 'A query parameter names a dimension the table does not have.',
  },
  UNKNOWN_CODE: {
    status: 400,
    title: 'Unknown category code',
    description: 'A selection names a code that is not a category of that dimension.',
  },
  UNKNOWN_LANGUAGE: {
    status: 400,
    title: 'Unknown language',
    description: "`lang` names a language the release's labels do not have; the problem lists the languages it has.",
  },
  UNAUTHORIZED: {
    status: 401,
    title: 'Unauthorized',
    description:
      'The Authorization header is malformed, or the key is unknown or revoked (never treated as anonymous).',
  },
  FORBIDDEN: { status: 403, title: 'Forbidden', description: "The caller's role may not perform this action." },
  SOURCE_FORBIDDEN: {
    status: 403,
    title: 'Data source not allowed',
    description: "The previewed policy's data source is not a file inside the data roots configured on this server.",
  },
  CELL_LIMIT: {
    status: 403,
    title: 'Too many cells',
    description: 'The selection returns more cells than the published limit (see GET /v1/config).',
  },
  NOT_FOUND: { status: 404, title: 'Not found', description: 'No such route.' },
  RELEASE_NOT_FOUND: {
    status: 404,
    title: 'Release not found',
    description:
      'No release with this id exists for the caller (restricted releases outside an active contract and drafts for researchers do not exist).',
  },
  TABLE_NOT_FOUND: {
    status: 404,
    title: 'Table not found',
    description: "The release has no table with this id (or the caller's contract does not cover it).",
  },
  CODELIST_NOT_FOUND: {
    status: 404,
    title: 'Codelist not found',
    description: "The release has no codelist with this id (a dimension name of one of the caller's visible tables).",
  },
  DATASET_NOT_FOUND: {
    status: 404,
    title: 'Dataset not found',
    description:
      'No dataset with this id (GET /v1/datasets/{id}/codelists: no release of it is visible to the caller).',
  },
  KEY_NOT_FOUND: { status: 404, title: 'Key not found', description: 'No API key with this id.' },
  RELEASE_WITHDRAWN: {
    status: 410,
    title: 'Release withdrawn',
    description: 'The release was withdrawn; its data is no longer served (its metadata and the reason stay visible).',
  },
  RELEASE_EXPIRED: {
    status: 410,
    title: 'Release expired',
    description:
      'The release passed its expiry date (`expires`, named in the problem): it is no longer served, listed for researchers or approvable.',
  },
  INVALID_STATE: {
    status: 409,
    title: 'Invalid state',
    description: 'The release is not in a state that allows this action (e.g. approving a published release).',
  },
  BUDGET_EXCEEDED: {
    status: 409,
    title: 'Privacy budget exceeded',
    description: "Publishing the release would exceed its dataset's total privacy budget.",
  },
  REGIME_CONFLICT: {
    status: 409,
    title: 'Protection regime conflict',
    description:
      'The dataset already has published (or withdrawn) releases under a regime that would void this one: all published releases of a dataset use one protection regime (sdc, dp or ckm), since the output of one regime voids the guarantee of another.',
  },
  RELEASE_NOT_AUDITED: {
    status: 409,
    title: 'Release not audited against the published releases of its dataset',
    description:
      'An sdc release is published only when its signed manifest lists every release of its dataset that is or was published (cross-release disclosure control: the secure zone audited it together with them). The message names the releases it was not audited against and the cells a comparison exposes (suppressed there but published here, or changed since), never a value; run `statguard release` again (it reads the published releases from the store) and publish the new directory.',
  },
  STORE_LOCKED: {
    status: 409,
    title: 'Store held by another process',
    description:
      'A store command found the embedded store held by another process (a server without a readable officer credential, a public-zone server, or another command); the message names its pid and URL, and nothing was changed.',
  },
  RELEASE_DUPLICATE: {
    status: 409,
    title: 'Duplicate release',
    description: 'A release with the same manifest is already stored.',
  },
  RELEASE_INVALID: {
    status: 422,
    title: 'Invalid release',
    description:
      'The release directory is incomplete or inconsistent: manifest fields, table files, checksums or sizes.',
  },
  POLICY_INVALID: {
    status: 422,
    title: 'Invalid policy',
    description:
      'The previewed policy document fails the policy schema or its semantic rules (every problem is listed in `problems`).',
  },
  PREVIEW_FAILED: {
    status: 422,
    title: 'Preview failed',
    description:
      'The policy could not be run on its data (unreadable or invalid microdata, infeasible protection); `engineCode` names the engine error.',
  },
  RELEASE_SEEDED: {
    status: 422,
    title: 'Seeded release refused',
    description:
      'The release used seeded (reproducible) randomness, which protects nothing; only a dataset registered as demo accepts one.',
  },
  RELEASE_UNSIGNED: {
    status: 422,
    title: 'Release not signed',
    description:
      'The release directory has no signature.json or no policy.json: only releases signed in the secure zone by `statguard release` are stored.',
  },
  SIGNATURE_INVALID: {
    status: 422,
    title: 'Signature invalid',
    description:
      'The release signature does not verify: a signed file (manifest, policy or table file) was changed after signing, or signature.json is malformed.',
  },
  SIGNING_KEY_UNKNOWN: {
    status: 422,
    title: 'Unknown signing key',
    description:
      'The release was signed by a key that is not registered in the store (`statguard signing-keys register`).',
  },
  SIGNING_KEY_REVOKED: {
    status: 422,
    title: 'Signing key revoked',
    description: 'The release was signed by a key an officer revoked; a revoked key is never accepted again.',
  },
  SIGNING_KEY_INVALID: {
    status: 400,
    title: 'Invalid signing key',
    description: 'The key to register is not an Ed25519 public key in PEM (SPKI) form.',
  },
  SIGNING_KEY_NOT_FOUND: { status: 404, title: 'Signing key not found', description: 'No signing key with this id.' },
  DATASET_NOT_REGISTERED: {
    status: 422,
    title: 'Dataset not registered',
    description:
      'The signed policy names a dataset an officer has not registered (`statguard datasets create`, POST /v1/admin/datasets); the store never creates a dataset on first sight.',
  },
  DATASET_EXISTS: {
    status: 409,
    title: 'Dataset already registered',
    description: 'A dataset with this id is already registered (its regime and demo flag never change).',
  },
  INPUT_OTHER_DATASET: {
    status: 409,
    title: 'Input bound to another dataset',
    description:
      "The release's input fingerprint (SHA-256 of its microdata) is already bound to another dataset: a new dataset name is not a new budget.",
  },
  RELEASE_MISMATCH: {
    status: 422,
    title: 'Manifest disagrees with its signed policy',
    description:
      "The manifest's policy id, dataset, regime or stated budget differs from what its signed policy.json plans; the store takes them from the policy.",
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    title: 'Payload too large',
    description:
      "The request body exceeds its route's limit: a few KB on most routes, the preview limit on POST /v1/previews, the upload limit (bodyLimit) on the officer's upload route only.",
  },
  PREVIEW_TOO_LARGE: {
    status: 413,
    title: 'Preview too large',
    description:
      "The preview would compute more cells than the server's preview limit (every table, the compared policy's, and once per sweep point); refused before any work.",
  },
  QUERY_INVALID: {
    status: 400,
    title: 'Invalid on-demand query',
    description:
      "The on-demand query does not fit the dataset's declared schema (GET /v1/datasets/{id}/schema); `errors` lists every problem with its JSON path.",
  },
  ON_DEMAND_NOT_OFFERED: {
    status: 409,
    title: 'Tables on demand not offered',
    description:
      'The dataset offers no tables on demand: it is registered under suppression (sdc), which is not safe against ad-hoc overlapping tables, or no on-demand policy is registered for it.',
  },
  ON_DEMAND_INPUT_BOUND: {
    status: 409,
    title: 'Microdata bound to another dataset',
    description:
      "The dataset's microdata (its input fingerprint) is already bound to another registered dataset, by a release or a table on demand: a new dataset name is not a new key or budget. The other dataset is not named.",
  },
  ON_DEMAND_UNAVAILABLE: {
    status: 503,
    title: 'Secure zone unavailable',
    description:
      'The secure zone that computes tables on demand did not answer in time or stopped, or its microdata file changed since it was bound to the dataset (the next request binds it anew); nothing was charged to the dp budget. Retry later.',
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Too many requests',
    description:
      'The client address (before authentication) or the caller (API key, or address when anonymous) exceeded its request rate; retry after the Retry-After seconds.',
  },
  PREVIEW_BUSY: {
    status: 503,
    title: 'Previews busy',
    description: 'As many previews as the server runs at once are running; retry after the Retry-After seconds.',
  },
  RENDER_BUSY: {
    status: 503,
    title: 'File formats busy',
    description:
      'As many xlsx and Parquet files as the server builds at once are being built or waiting; retry after the Retry-After seconds (csv and json are not limited).',
  },
  PREVIEW_TIMEOUT: {
    status: 503,
    title: 'Preview timed out',
    description: "The preview ran longer than the server's time limit; its worker thread was stopped.",
  },
  PREVIEW_MEMORY: {
    status: 503,
    title: 'Preview out of memory',
    description: "The preview needed more memory than the server's limit; its worker thread was stopped.",
  },
  AUDIT_UNAVAILABLE: {
    status: 503,
    title: 'Audit unavailable',
    description:
      'The audit row of this request could not be committed (store full, read-only or failing); no data is served without its audit row. Retry later.',
  },
  AUDIT_CHAIN_BROKEN: {
    status: 409,
    title: 'Audit chain broken',
    description:
      'The hash chain of the audit log or the budget ledger does not verify (a row deleted, edited or re-ordered): no checkpoint is issued for it; `statguard audit verify` names the first broken link.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    title: 'Store unavailable',
    description:
      "The embedded store's folder could not be opened: it is not writable (read-only file system or permissions), or PGlite failed on it; the message names the folder.",
  },
  ACCESS_REQUEST_NOT_FOUND: {
    status: 404,
    title: 'Access request not found',
    description: 'No access request with this id (a researcher sees only its own).',
  },
  CONTRACT_NOT_FOUND: {
    status: 404,
    title: 'Contract not found',
    description: 'No table contract with this id (a researcher sees only its own).',
  },
  CONTRACT_NONE: {
    status: 403,
    title: 'No contract',
    description:
      'The caller has no table contract for this dataset: request access first (POST /v1/access-requests); `term` is `contract`.',
  },
  CONTRACT_NOT_STARTED: {
    status: 403,
    title: 'Contract not started',
    description: "The caller's contract for this dataset starts later (`term` is `time.start`, the start is named).",
  },
  CONTRACT_EXPIRED: {
    status: 403,
    title: 'Contract expired',
    description:
      "The caller's contract for this dataset has ended: nothing is served after its end (`term` is `time.end`).",
  },
  CONTRACT_SCALE: {
    status: 403,
    title: 'Contract scale exceeded',
    description:
      'The table would take more than the contract allows: tables or cells in total, or its dp budget share (403); tables or cells per day are 429 with Retry-After. `term` names the limit, e.g. `scale.cellsPerDay`.',
  },
  CONTRACT_LEVEL: {
    status: 403,
    title: 'Contract level exceeded',
    description:
      'The table is more detailed than the contract allows: a variable not allowed, a hierarchy level too deep, too many dimensions, or a filter below the minimum population. `term` names it, e.g. `level.variables.region.maxLevel`.',
  },
  CONTRACT_FORM: {
    status: 403,
    title: 'Contract form not allowed',
    description:
      'The measure or the format is not one the contract allows (`term` is `form.measures` or `form.formats`).',
  },
  INTERNAL: {
    status: 500,
    title: 'Internal error',
    description: 'An unexpected failure; details are in the server log.',
  },
} as const satisfies Record<string, { status: number; title: string; description: string }>;

export type ApiErrorCode = keyof typeof ERRORS;

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ApiErrorCode;
  readonly detail: string;
  readonly [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  /** Extra members of the problem document (e.g. `dimension`, `value`), never a protected cell value. */
  readonly extra: Readonly<Record<string, unknown>>;

  /** `status` overrides the code's usual status (CONTRACT_SCALE per day is 429). */
  constructor(code: ApiErrorCode, detail: string, extra: Record<string, unknown> = {}, status?: number) {
    super(detail);
    this.name = 'ApiError';
    this.code = code;
    this.status = status ?? ERRORS[code].status;
    this.extra = extra;
  }

  toProblem(): Problem {
    return { ...problem(this.code, this.message, this.extra), status: this.status };
  }
}

export function problem(code: ApiErrorCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  const e = ERRORS[code];
  return {
    type: `https://statguard.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: e.title,
    status: e.status,
    code,
    detail,
    ...extra,
  };
}

/** JSON Schema of a problem document (used in every route's error responses). */
export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status', 'code', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string', enum: Object.keys(ERRORS) },
    detail: { type: 'string' },
  },
  additionalProperties: true,
} as const;
