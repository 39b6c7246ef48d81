/** JSON Schemas shared by the routes (they validate requests and document the OpenAPI). */
export const problemRef = { $ref: 'Problem#' } as const;

const wwwAuthenticate = {
  type: 'string',
  description: 'The authentication scheme to use: `Bearer realm="statguard"` (an API key as bearer token)',
} as const;

/** Error responses a route may give, as problem+json (a 401 also declares its WWW-Authenticate header). */
export function errors(...statuses: number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of statuses) {
    out[String(s)] = {
      description: 'Problem (RFC 9457); see the `code` table in the API README',
      // hooks.ts sendProblem sets it on every 401 (RFC 9110 section 11.6.1).
      ...(s === 401 ? { headers: { 'WWW-Authenticate': wwwAuthenticate } } : {}),
      content: { 'application/problem+json': { schema: problemRef } },
    };
  }
  return out;
}

export const nullableNumber = { type: ['number', 'null'] } as const;

export const releaseSummary = {
  $id: 'ReleaseSummary',
  type: 'object',
  required: [
    'id',
    'policyId',
    'policyVersion',
    'version',
    'title',
    'status',
    'regime',
    'audience',
    'demo',
    'datasetId',
    'createdAt',
    'tables',
  ],
  properties: {
    id: { type: 'string' },
    policyId: { type: 'string' },
    policyVersion: { type: 'string' },
    version: { type: 'integer', description: 'Version of this release among the releases of its policy (1, 2, ...)' },
    title: { type: 'string' },
    status: { type: 'string', enum: ['draft', 'published', 'withdrawn'] },
    regime: { type: 'string', enum: ['sdc', 'dp', 'ckm'] },
    audience: { type: 'string', enum: ['public', 'contract'] },
    demo: { type: 'boolean' },
    expires: { type: ['string', 'null'], description: 'Served through this date (UTC); null: no expiry' },
    expired: {
      type: 'boolean',
      description: 'Past its expiry: not served (410), listed for officers and reviewers only',
    },
    datasetId: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    approvedAt: { type: ['string', 'null'], format: 'date-time' },
    withdrawnAt: { type: ['string', 'null'], format: 'date-time' },
    withdrawReason: { type: ['string', 'null'] },
    supersedes: { type: ['string', 'null'] },
    supersededBy: { type: ['string', 'null'] },
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'title', 'cells', 'suppressed'],
        properties: {
          id: { type: 'string' },
          title: { type: 'string' },
          cells: { type: 'integer' },
          suppressed: { type: 'integer' },
        },
      },
    },
  },
} as const;

export const releaseDetail = {
  $id: 'ReleaseDetail',
  type: 'object',
  required: ['release', 'manifest', 'tables'],
  properties: {
    release: { $ref: 'ReleaseSummary#' },
    manifest: {
      type: 'object',
      additionalProperties: true,
      description:
        'Public part of the release manifest (regime, guarantee, budget, methods, tables); never its internal part',
    },
    tables: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'title', 'description', 'measure', 'cells', 'suppressed', 'dimensions'],
        properties: {
          id: { type: 'string' },
          title: { type: 'string' },
          description: { type: 'string' },
          measure: { type: 'object', additionalProperties: true },
          cells: { type: 'integer' },
          suppressed: { type: 'integer' },
          privacy: { type: ['object', 'null'], additionalProperties: true },
          dimensions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'label', 'categories'],
              properties: {
                name: { type: 'string' },
                label: { type: 'string' },
                categories: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['code', 'label', 'parent'],
                    properties: {
                      code: { type: 'string' },
                      label: { type: 'string' },
                      parent: { type: ['string', 'null'] },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

export const tableJson = {
  $id: 'TableData',
  type: 'object',
  required: ['release', 'table', 'title', 'measure', 'dimensions', 'cells', 'legend'],
  properties: {
    release: { type: 'string' },
    table: { type: 'string' },
    title: { type: 'string' },
    measure: { type: 'string' },
    unit: {
      type: 'string',
      description: "The table's declared unit of measure in the requested language (absent when none is declared).",
    },
    dimensions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'label', 'codes'],
        properties: {
          name: { type: 'string' },
          label: { type: 'string' },
          codes: { type: 'array', items: { type: 'string' } },
          labels: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    cells: {
      type: 'array',
      description:
        'Selected cells in row-major order (first dimension slowest). value is null for a suppressed cell; conf/obs are its SDMX CONF_STATUS and OBS_STATUS.',
      items: {
        type: 'object',
        required: ['key', 'value', 'conf', 'obs'],
        properties: {
          key: { type: 'array', items: { type: 'string' }, description: 'category code per dimension' },
          labels: {
            type: 'array',
            items: { type: 'string' },
            description: 'category label per dimension (labels=both)',
          },
          value: nullableNumber,
          conf: { type: 'string', enum: ['F', 'A', 'O', 'T', 'C', 'D'] },
          obs: { type: 'string', enum: ['A', 'E'] },
          noiseSd: nullableNumber,
          halfWidth95: nullableNumber,
        },
      },
    },
    notes: {
      type: 'array',
      items: { type: 'string' },
      description:
        'dp tables: whether the table adds up (consistency) and what moves its values besides the noise (bounding, clamping, granularity, non-negativity, the truncation report); absent when there is nothing to say',
    },
    legend: { type: 'object', additionalProperties: true },
  },
} as const;

export const pageQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  offset: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 },
} as const;

/** Path parameter `id` (a release or dataset id). */
export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

/** A dataset's privacy budget: totals and what its published releases spent. */
export const budgetSchema = {
  type: 'object',
  required: ['totalRho', 'totalEpsilon', 'spentRho', 'spentEpsilon'],
  properties: {
    totalRho: { type: 'number' },
    totalEpsilon: { type: 'number' },
    spentRho: { type: 'number' },
    spentEpsilon: { type: 'number' },
  },
} as const;

/** A list response: `{ items: [item, ...] }` (every list route answers in this shape). */
export function listOf<T extends object>(item: T) {
  return { type: 'object', required: ['items'], properties: { items: { type: 'array', items: item } } } as const;
}
