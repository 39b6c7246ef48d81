/** Service limits, published at GET /v1/config. */
export interface ApiConfig {
  /** A table query returning more cells than this gets 403 CELL_LIMIT. */
  readonly maxCells: number;
  /** Token bucket per caller (API key, or client address for anonymous callers); null disables rate limiting. */
  readonly rateLimit: { readonly perSecond: number; readonly burst: number } | null;
  /** Largest upload accepted by POST /v1/admin/releases, bytes. */
  readonly bodyLimit: number;
  /** How long a release's status/audience may be cached (changes made through this process are seen at once). */
  readonly releaseInfoTtlMs: number;
  /**
   * POST /v1/previews: folders a previewed policy's data source must lie in (after resolving symbolic links);
   * a policy naming any other file, or a database source, is refused (403 SOURCE_FORBIDDEN).
   */
  readonly dataRoots: readonly string[];
  /** Example policies offered to reviewers (GET /v1/previews/policies); relative source paths of previewed policies resolve against it. */
  readonly policiesDir: string;
}

export const DEFAULT_CONFIG: ApiConfig = {
  maxCells: 100_000,
  rateLimit: { perSecond: 20, burst: 60 },
  bodyLimit: 50 * 1024 * 1024,
  releaseInfoTtlMs: 1000,
  dataRoots: [new URL('../fixtures', import.meta.url).pathname],
  policiesDir: new URL('../policies', import.meta.url).pathname,
};
