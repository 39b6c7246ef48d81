/**
 * The state every route plugin shares, created once per app by `build()` and
 * passed to the plugins as their `ctx` option: the store, the service limits,
 * the release cache, the audit buffer, the denial counter, the preview worker
 * pool and a short-lived cache of release status and audience.
 *
 * Also declares what fastify carries for statguard: the request's actor and
 * audit fields, and the route config keys `audit` (audit action) and `roles`
 * (who may call the route; checked by the role guard of the admin and
 * preview plugins).
 */
import type { FastifyBaseLogger } from 'fastify';
import { AuditBuffer } from './audit-buffer.ts';
import { ReleaseCache } from './cache.ts';
import { CallerCache } from './caller-cache.ts';
import type { ApiConfig } from './config.ts';
import { DenialCounter } from './denials.ts';
import type { ApiErrorCode } from './errors.ts';
import { PreviewPool } from './preview-pool.ts';
import type { Actor } from './store/audit.ts';
import type { Store } from './store/db.ts';
import type { OnDemandService } from './ondemand/service.ts';
import { TtlCache } from './ttl-cache.ts';

export interface ReleaseInfo {
  id: string;
  status: 'draft' | 'published' | 'withdrawn';
  audience: 'public' | 'contract';
  /** Expiry date (YYYY-MM-DD) or null; see store/expiry.ts. */
  expires: string | null;
}

export interface AppContext {
  readonly store: Store;
  readonly config: ApiConfig;
  readonly cache: ReleaseCache;
  readonly policySchemaPath: string;
  readonly publicOnly: boolean;
  readonly audit: AuditBuffer;
  /** Key rows and researchers' contracts, cached briefly (caller-cache.ts). */
  readonly callers: CallerCache;
  /** Refusals counted per caller, route and minute, written through `audit` (denials.ts). */
  readonly denials: DenialCounter;
  /** The worker threads previews run in, within the configured limits (preview-pool.ts). */
  readonly previews: PreviewPool;
  /** Tables on demand: the secure zone and the contract gate (routes/ondemand.ts); null when not offered. */
  readonly onDemand: OnDemandService | null;
  /** The clock release expiry is judged by (store/expiry.ts). */
  now(): Date;
  /** Release status and audience, cached briefly (see releaseInfo). */
  releaseInfo(id: string): Promise<ReleaseInfo | undefined>;
  /** Forget cached state of a release (after approve/withdraw). */
  invalidate(id: string): void;
}

/** Options of every route plugin. */
export interface PluginOptions {
  readonly ctx: AppContext;
}

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor;
    /** What the audit row names as target (set by the route; defaults to the :id param). */
    auditTarget: string | null;
    auditDetail: Record<string, unknown> | null;
    /** Set when the operation wrote its own audit row inside its transaction. */
    auditDone: boolean;
    problemCode: ApiErrorCode | null;
  }
  interface FastifyContextConfig {
    /** Audit action name; requests to routes without it are not audited. */
    audit?: string;
    /** Roles allowed to call the route (checked by the role guard of the plugin that registers it). */
    roles?: readonly Actor['role'][];
  }
  interface FastifyInstance {
    statguard: AppContext;
  }
}

export function createContext(
  opts: {
    store: Store;
    config: ApiConfig;
    policySchemaPath: string;
    publicOnly: boolean;
    now: () => Date;
    onDemand?: OnDemandService | undefined;
  },
  log: () => FastifyBaseLogger,
): AppContext {
  const { store, config } = opts;
  const infos = new TtlCache<ReleaseInfo | undefined>(config.releaseInfoTtlMs);
  const cache = new ReleaseCache(store.db);
  const onAuditError = (e: unknown): void => log().error({ err: e }, 'audit write failed');
  const audit = new AuditBuffer(store.db, onAuditError, store.copyCsv);
  return {
    store,
    config,
    cache,
    audit,
    callers: new CallerCache(store.db, config.callerCacheTtlMs),
    denials: new DenialCounter((e) => audit.push(e), opts.now, onAuditError),
    previews: new PreviewPool(config.preview, (msg) => log().error(msg)),
    // Status/audience cache: exact within this process (upload/approve/withdraw routes invalidate); changes made by
    // another process (CLI against a PostgreSQL server) are seen within releaseInfoTtlMs. Absent ids are cached too.
    // Absent ids are cached like existing ones (issue 17, finding 6): a restricted release and an absent one take
    // the same path (one lookup, then the cache), so neither answers faster than the other.
    releaseInfo: (id) =>
      infos.get(id, () =>
        store.db
          .selectFrom('releases')
          .select(['id', 'status', 'audience', 'expires'])
          .where('id', '=', id)
          .executeTakeFirst(),
      ),
    invalidate(id) {
      infos.forget(id);
      cache.invalidate(id);
    },
    now: opts.now,
    onDemand: opts.onDemand ?? null,
    policySchemaPath: opts.policySchemaPath,
    publicOnly: opts.publicOnly,
  };
}
