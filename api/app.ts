/**
 * The statguard API as a fastify instance (no listen: see server.ts).
 *
 *   build({ store, config?, public? }) -> FastifyInstance
 *
 * Every request is authenticated first (no header = anonymous; a bad key is
 * 401, never anonymous), rate-limited per caller, and audited when its route
 * reads a release or changes anything (route config `audit`), whatever the
 * outcome (ok, denied, error). Errors are application/problem+json with a
 * code from errors.ts.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ENGINE_VERSION } from '../engine/version.ts';
import { ReleaseCache } from './cache.ts';
import { DEFAULT_CONFIG, type ApiConfig } from './config.ts';
import { ApiError, ERRORS, problem, problemSchema, type ApiErrorCode } from './errors.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerPreviewRoutes } from './routes/previews.ts';
import { registerPublicRoutes } from './routes/public.ts';
import { registerWebRoutes } from './routes/web.ts';
import { releaseDetail, releaseSummary, tableJson } from './schemas.ts';
import type { Actor } from './store/audit.ts';
import { AuditBuffer } from './audit-buffer.ts';
import type { Store } from './store/db.ts';
import { authenticate } from './store/keys.ts';
import { RateLimiter } from './rate-limit.ts';

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
  }
}

export interface BuildOptions {
  readonly store: Store;
  readonly config?: Partial<ApiConfig>;
  /** Public zone: only the researcher routes are registered (no officer/reviewer routes). */
  readonly public?: boolean;
  /** Path of the policy JSON Schema served at /v1/policy-schema. */
  readonly policySchemaPath?: string;
  /** fastify logger option (default off): true, or pino options such as { level, stream } (tests capture log lines this way). */
  readonly logger?: boolean | { readonly level?: string; readonly stream?: { write(line: string): void } };
}

export interface AppContext {
  readonly store: Store;
  readonly config: ApiConfig;
  readonly cache: ReleaseCache;
  readonly policySchemaPath: string;
  readonly publicOnly: boolean;
  readonly audit: AuditBuffer;
  /** Release status and audience, cached briefly (see releaseInfo). */
  releaseInfo(
    id: string,
  ): Promise<{ id: string; status: 'draft' | 'published' | 'withdrawn'; audience: 'public' | 'contract' } | undefined>;
  /** Forget cached state of a release (after approve/withdraw). */
  invalidate(id: string): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    statguard: AppContext;
  }
}

export function sendProblem(reply: FastifyReply, err: ApiError): FastifyReply {
  reply.request.problemCode = err.code;
  if (err.code === 'RATE_LIMITED' && typeof err.extra.retryAfter === 'number')
    reply.header('retry-after', String(err.extra.retryAfter));
  return reply.code(err.status).type('application/problem+json').send(JSON.stringify(err.toProblem()));
}

export async function build(opts: BuildOptions): Promise<FastifyInstance> {
  const config: ApiConfig = { ...DEFAULT_CONFIG, ...opts.config };
  const app = Fastify({
    logger: (opts.logger ?? false) as boolean,
    bodyLimit: config.bodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: false } },
    // Router-level rejections (malformed URL encoding, a path parameter longer than maxParamLength) are
    // problem+json like every other error (fastify would answer them with its own JSON otherwise).
    frameworkErrors: (err, _req, reply) => {
      void sendProblem(
        reply,
        new ApiError(
          'BAD_REQUEST',
          err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'malformed URL',
        ),
      );
    },
  });
  type Info = { id: string; status: 'draft' | 'published' | 'withdrawn'; audience: 'public' | 'contract' };
  const infos = new Map<string, { at: number; info: Info }>();
  const cache = new ReleaseCache(opts.store.db);
  const ctx: AppContext = {
    store: opts.store,
    config,
    cache,
    audit: new AuditBuffer(opts.store.db, config.auditFlushMs, (e) => app.log.error({ err: e }, 'audit write failed')),
    // Status/audience cache: exact within this process (approve/withdraw routes invalidate); changes made by another
    // process (CLI against a PostgreSQL server) are seen within releaseInfoTtlMs. Only existing rows are cached.
    async releaseInfo(id) {
      const hit = infos.get(id);
      const now = performance.now();
      if (hit && now - hit.at < config.releaseInfoTtlMs) return hit.info;
      const row = await opts.store.db
        .selectFrom('releases')
        .select(['id', 'status', 'audience'])
        .where('id', '=', id)
        .executeTakeFirst();
      if (row) {
        infos.set(id, { at: now, info: row });
        if (infos.size > 10_000) infos.delete(infos.keys().next().value!);
      }
      return row;
    },
    invalidate(id) {
      infos.delete(id);
      cache.invalidate(id);
    },
    policySchemaPath: opts.policySchemaPath ?? new URL('../policies/policy.schema.json', import.meta.url).pathname,
    publicOnly: opts.public === true,
  };
  app.decorate('statguard', ctx);
  app.decorateRequest('actor', null as unknown as Actor);
  app.decorateRequest('auditTarget', null);
  app.decorateRequest('auditDetail', null);
  app.decorateRequest('auditDone', false);
  app.decorateRequest('problemCode', null);

  app.addSchema(problemSchema);
  app.addSchema(releaseSummary);
  app.addSchema(releaseDetail);
  app.addSchema(tableJson);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'statguard publication API',
        version: ENGINE_VERSION,
        description:
          'Protected statistics published by statguard. Suppressed cells are null with their SDMX CONF_STATUS; noisy (differentially private) cells carry OBS_STATUS E and their accuracy. ' +
          'Authenticate with `Authorization: Bearer <key>`; without it you are anonymous. Errors are application/problem+json with a stable `code`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }, {}],
    },
    refResolver: {
      buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('application/json').send(JSON.stringify(app.swagger())),
  );

  const limiter = config.rateLimit ? new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst) : null;

  app.addHook('onRequest', async (req, reply) => {
    req.actor = { caller: 'anonymous', role: 'anonymous' };
    try {
      req.actor = await authenticate(ctx.store.db, req.headers.authorization);
    } catch (e) {
      if (e instanceof ApiError) return sendProblem(reply, e);
      throw e;
    }
    if (limiter && req.url.startsWith('/v1/')) {
      const who = req.actor.role === 'anonymous' ? `ip:${req.ip}` : `key:${req.actor.caller}`;
      const wait = limiter.take(who);
      if (wait > 0)
        return sendProblem(
          reply,
          new ApiError('RATE_LIMITED', `too many requests from this caller; retry in ${Math.ceil(wait)} s`, {
            retryAfter: Math.ceil(wait),
          }),
        );
    }
    return undefined;
  });

  // Audit: every request to an audited route, whatever its outcome (ok / denied / error).
  app.addHook('onResponse', async (req, reply) => {
    const action = req.routeOptions.config?.audit;
    const unauth = reply.statusCode === 401;
    if ((!action && !unauth) || req.auditDone) return;
    const s = reply.statusCode;
    const outcome = s < 400 ? 'ok' : s >= 500 ? 'error' : 'denied';
    const params = (req.params ?? {}) as Record<string, string>;
    const target =
      req.auditTarget ??
      (params.id !== undefined ? (params.table !== undefined ? `${params.id}/${params.table}` : params.id) : null);
    try {
      await ctx.audit.push({
        actor: req.actor ?? { caller: 'anonymous', role: 'anonymous' },
        action: action ?? 'auth',
        target: target ?? (unauth ? req.url.split('?')[0]! : null),
        outcome,
        status: s,
        detail: {
          method: req.method,
          ...(req.problemCode ? { code: req.problemCode } : {}),
          ...(req.auditDetail ?? {}),
        },
      });
    } catch (e) {
      req.log.error({ err: e }, 'audit write failed');
    }
  });

  app.setErrorHandler((err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ApiError) return sendProblem(reply, err);
    const fe = err as FastifyError;
    if (fe.validation) {
      return sendProblem(
        reply,
        new ApiError(
          'BAD_REQUEST',
          `${fe.validationContext ?? 'request'}${fe.validation[0]?.instancePath ?? ''} ${fe.validation[0]?.message ?? 'is invalid'}`.trim(),
        ),
      );
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code: ApiErrorCode =
        fe.statusCode === 404
          ? 'NOT_FOUND'
          : fe.statusCode === 429
            ? 'RATE_LIMITED'
            : fe.statusCode === 413
              ? 'PAYLOAD_TOO_LARGE'
              : 'BAD_REQUEST';
      return sendProblem(reply, new ApiError(code, fe.message));
    }
    req.log.error({ err }, 'internal error');
    return sendProblem(reply, new ApiError('INTERNAL', 'internal error'));
  });
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, new ApiError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)),
  );

  // Security headers on every response; the JSON API (/v1/) also gets a CSP that forbids any active content
  // (the Swagger UI under /docs and other HTML pages keep their own needs).
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    if (req.url.startsWith('/v1/'))
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    return payload;
  });

  app.addHook('onClose', async () => ctx.audit.flush());
  registerPublicRoutes(app, ctx);
  registerWebRoutes(app, ctx);
  if (!ctx.publicOnly) {
    registerAdminRoutes(app, ctx);
    registerPreviewRoutes(app, ctx);
  }
  return app;
}

/** Every error code, for docs and tests. */
export const ERROR_CODES = Object.keys(ERRORS) as ApiErrorCode[];
export { problem };
