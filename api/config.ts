/** Service limits, published at GET /v1/config. */
export interface ApiConfig {
  /** A table query returning more cells than this gets 403 CELL_LIMIT. */
  readonly maxCells: number;
  /** Token bucket per caller (API key, or client address for anonymous callers); null disables rate limiting. */
  readonly rateLimit: { readonly perSecond: number; readonly burst: number } | null;
  /**
   * Token bucket per client address, taken by every request before authentication (so a flood of bad keys costs no
   * key lookup past it); null: none. Left unset with `rateLimit: null`, it is off too.
   */
  readonly addressRateLimit: { readonly perSecond: number; readonly burst: number } | null;
  /** Largest upload accepted by POST /v1/admin/releases (the officer's upload route, and only it), bytes. */
  readonly bodyLimit: number;
  /** Largest body of every other route (checked before the body is parsed), bytes. */
  readonly requestBodyLimit: number;
  /** Largest body of POST /v1/previews (one or two policy documents), bytes. */
  readonly previewBodyLimit: number;
  /** Previews run in worker threads (api/preview-pool.ts), within these limits. */
  readonly preview: PreviewLimits;
  /** How long a release's status/audience may be cached (changes made through this process are seen at once). */
  readonly releaseInfoTtlMs: number;
  /**
   * How long a key's stored row and a researcher's active contracts may be cached (caller-cache.ts; keys revoked and
   * contracts created through this process are seen at once).
   */
  readonly callerCacheTtlMs: number;
  /**
   * POST /v1/previews: folders a previewed policy's data source must lie in (after resolving symbolic links);
   * a policy naming any other file, or a database source, is refused (403 SOURCE_FORBIDDEN).
   */
  readonly dataRoots: readonly string[];
  /** Example policies offered to reviewers (GET /v1/previews/policies); relative source paths of previewed policies resolve against it. */
  readonly policiesDir: string;
  /**
   * The OpenAPI document's `servers` (where clients reach this API): default one relative server "/", which clients
   * resolve against the URL they fetched the document from. A deployment behind a proxy or under a path names its
   * public URL(s) here; the first one is also the base of the absolute links of the DCAT catalogue.
   */
  readonly servers: readonly { readonly url: string; readonly description?: string }[];
  /** The DCAT-AP catalogue's own description (GET /v1/catalog): who publishes, under which title. */
  readonly catalog: CatalogConfig;
}

export interface CatalogConfig {
  readonly title: string;
  readonly description: string;
  /** The publishing organisation (dct:publisher, foaf:name). */
  readonly publisher: string;
  /** Its home page (foaf:homepage of the publisher), if any. */
  readonly homepage?: string;
}

export interface PreviewLimits {
  /** Cells a preview may compute (every table of the policy, of the compared policy, and once per sweep point): past it 413 PREVIEW_TOO_LARGE, before any work. */
  readonly maxCells: number;
  /** Wall time of one preview; past it the worker is terminated and the request gets 503 PREVIEW_TIMEOUT. */
  readonly timeoutMs: number;
  /** Old-generation heap of a preview's worker (resourceLimits); past it 503 PREVIEW_MEMORY. */
  readonly memoryMb: number;
  /** Previews running at once; one more gets 503 PREVIEW_BUSY with Retry-After. */
  readonly concurrency: number;
}

export const DEFAULT_CONFIG: ApiConfig = {
  maxCells: 100_000,
  rateLimit: { perSecond: 20, burst: 60 },
  addressRateLimit: { perSecond: 100, burst: 200 },
  bodyLimit: 50 * 1024 * 1024,
  requestBodyLimit: 16 * 1024,
  previewBodyLimit: 1024 * 1024,
  preview: { maxCells: 2_000_000, timeoutMs: 120_000, memoryMb: 1536, concurrency: 2 },
  releaseInfoTtlMs: 1000,
  callerCacheTtlMs: 1000,
  dataRoots: [new URL('../fixtures', import.meta.url).pathname],
  policiesDir: new URL('../policies', import.meta.url).pathname,
  servers: [{ url: '/', description: 'This server' }],
  catalog: {
    title: 'statguard releases',
    description: 'Statistical tables published with disclosure control or differential privacy by statguard.',
    publisher: 'statguard',
  },
};
