/**
 * The request lifecycle shared by every route, as fastify hooks and handlers:
 *
 * - `authenticate` (root onRequest): no header = anonymous; a malformed,
 *   unknown or revoked key is 401, never anonymous.
 * - `rateLimit` (onRequest of the /v1 plugin, after authenticate): token
 *   bucket per key, per client address when anonymous; 429 with Retry-After.
 * - `guardRoles` (preHandler of the admin and preview plugins): the route's
 *   `config.roles`, declared on every route of those plugins (checked when the
 *   route is added); 401 for anonymous callers, 403 for other roles. It runs
 *   after schema validation, so a malformed request is 400 whoever sends it.
 * - `auditResponse` (root onResponse): every request to a route with
 *   `config.audit`, and every 401, whatever its outcome.
 * - `securityHeaders` (root onSend) on every response; `apiCsp` (onSend of the
 *   /v1 plugin) adds the JSON API's Content-Security-Policy.
 * - `errorHandler`, `notFound`, `frameworkErrors`: every error is
 *   application/problem+json with a code from errors.ts.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole } from './access.ts';
import type { AppContext } from './context.ts';
import { ApiError, type ApiErrorCode } from './errors.ts';
import type { RateLimiter } from './rate-limit.ts';
import { authenticate as authenticateKey } from './store/keys.ts';

export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

export function sendProblem(reply: FastifyReply, err: ApiError): FastifyReply {
  reply.request.problemCode = err.code;
  if (err.code === 'RATE_LIMITED' && typeof err.extra.retryAfter === 'number')
    reply.header('retry-after', String(err.extra.retryAfter));
  return reply.code(err.status).type('application/problem+json').send(JSON.stringify(err.toProblem()));
}

export function authenticate(ctx: AppContext) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    req.actor = { caller: 'anonymous', role: 'anonymous' };
    try {
      req.actor = await authenticateKey(ctx.store.db, req.headers.authorization);
    } catch (e) {
      if (e instanceof ApiError) return sendProblem(reply, e);
      throw e;
    }
    return undefined;
  };
}

export function rateLimit(limiter: RateLimiter) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const who = req.actor.role === 'anonymous' ? `ip:${req.ip}` : `key:${req.actor.caller}`;
    const wait = limiter.take(who);
    if (wait > 0)
      return sendProblem(
        reply,
        new ApiError('RATE_LIMITED', `too many requests from this caller; retry in ${Math.ceil(wait)} s`, {
          retryAfter: Math.ceil(wait),
        }),
      );
    return undefined;
  };
}

/** Role guard of a plugin: every route it registers must declare `config.roles`. */
export function guardRoles(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (!route.config?.roles?.length) throw new Error(`route ${route.method} ${route.url} declares no roles`);
  });
  app.addHook('preHandler', async (req) => {
    requireRole(req.actor, ...req.routeOptions.config.roles!);
  });
}

export function auditResponse(ctx: AppContext) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
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
  };
}

export async function securityHeaders(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  return payload;
}

/** The JSON API forbids any active content (the Swagger UI under /docs and the web page keep their own needs). */
export async function apiCsp(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  reply.header('content-security-policy', API_CSP);
  return payload;
}

export function errorHandler(err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
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
}

export function notFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, new ApiError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
}

/**
 * Router-level rejections (malformed URL encoding, a path parameter longer than maxParamLength) are problem+json like
 * every other error (fastify would answer them with its own JSON otherwise). They happen before routing: no hook runs.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void sendProblem(
    reply,
    new ApiError(
      'BAD_REQUEST',
      err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'malformed URL',
    ),
  );
}
