/**
 * The request lifecycle shared by every route, as fastify hooks and handlers:
 *
 * - `limitAddress` (root onRequest, first): token bucket per client address,
 *   before authentication, so that a flood of bad keys is refused (429)
 *   before any key lookup.
 * - `authenticate` (root onRequest): no header = anonymous; a malformed,
 *   unknown or revoked key is 401, never anonymous.
 * - `rateLimit` (onRequest of the /v1 plugin, after authenticate): token
 *   bucket per key, per client address when anonymous; 429 with Retry-After.
 * - `guardRoles` (onRequest of the admin and preview plugins): the route's
 *   `config.roles`, declared on every route of those plugins (checked when the
 *   route is added); 401 for anonymous callers, 403 for other roles. It runs
 *   before the body is read or parsed (onRequest), so a caller without the
 *   role never costs a body parse (a 401 or 403 before 400).
 * - Every problem answered before the request body was read closes the
 *   connection, so an unread body (up to the route's limit) is not drained.
 * - `rejectControlChars` (root preValidation): 400 for a path parameter or
 *   query value with a control character (NUL), naming the parameter.
 * - `auditBeforeSend` (root onSend, first): every request to a route with
 *   `config.audit`, whatever its outcome; the response waits for its audit
 *   row's commit and becomes 503 AUDIT_UNAVAILABLE without it. Denials of
 *   anonymous callers, and every 401, 413 and 429, are counted per caller,
 *   route and minute (denials.ts) instead of one row each.
 * - `securityHeaders` (root onSend) on every response; `apiCsp` (onSend of the
 *   /v1 plugin) adds the JSON API's Content-Security-Policy.
 * - `errorHandler`, `notFound`, `frameworkErrors`: every error is
 *   application/problem+json with a code from errors.ts.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole } from './access.ts';
import type { AppContext } from './context.ts';
import { isCountedDenial, MAX_ROUTE } from './denials.ts';
import { ApiError, type ApiErrorCode } from './errors.ts';
import type { RateLimiter } from './rate-limit.ts';

export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

export function sendProblem(reply: FastifyReply, err: ApiError): FastifyReply {
  reply.request.problemCode = err.code;
  if (err.status === 401) reply.header('www-authenticate', 'Bearer realm="statguard"');
  if (typeof err.extra.retryAfter === 'number') reply.header('retry-after', String(err.extra.retryAfter));
  if (unreadBody(reply.request)) reply.header('connection', 'close');
  return reply.code(err.status).type('application/problem+json').send(JSON.stringify(err.toProblem()));
}

/** The request announced a body that has not been read (nor parsed): answering now leaves it unread. */
function unreadBody(req: FastifyRequest): boolean {
  const raw = req.raw;
  const announced = (raw.headers['content-length'] ?? '0') !== '0' || raw.headers['transfer-encoding'] !== undefined;
  return announced && req.body === undefined && !raw.complete;
}

/** Refusal of a rate limiter, with the seconds to wait. */
function rateLimited(wait: number, who: string): ApiError {
  return new ApiError('RATE_LIMITED', `too many requests from this ${who}; retry in ${Math.ceil(wait)} s`, {
    retryAfter: Math.ceil(wait),
  });
}

/** Before authentication: every request takes a token of its client address's bucket. */
export function limitAddress(limiter: RateLimiter) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const wait = limiter.take(`ip:${req.ip}`);
    return wait > 0 ? sendProblem(reply, rateLimited(wait, 'address')) : undefined;
  };
}

export function authenticate(ctx: AppContext) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    req.actor = { caller: 'anonymous', role: 'anonymous' };
    try {
      req.actor = await ctx.callers.authenticate(req.headers.authorization);
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
    return wait > 0 ? sendProblem(reply, rateLimited(wait, 'caller')) : undefined;
  };
}

/** Role guard of a plugin: every route it registers must declare `config.roles`. */
export function guardRoles(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (!route.config?.roles?.length) throw new Error(`route ${route.method} ${route.url} declares no roles`);
  });
  // onRequest: before the body is read, so a caller without the role never has a body parsed.
  app.addHook('onRequest', async (req) => {
    requireRole(req.actor, ...req.routeOptions.config.roles!);
  });
}

/**
 * Audit before the response leaves (root onSend, first of the onSend hooks): every request to a route with
 * `config.audit`, whatever its outcome. The response waits for its row's commit (group commit, audit-buffer.ts);
 * when the row cannot be committed, the payload is dropped and the caller gets 503 AUDIT_UNAVAILABLE instead: no
 * audit row, no data. Refusals of anonymous callers, and every 401, 413 and 429, are counted instead (denials.ts:
 * one row per caller, route and minute, written when the minute closes; a refusal serves no data).
 */
export function auditBeforeSend(ctx: AppContext) {
  return async (req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const action = req.routeOptions.config?.audit;
    const s = reply.statusCode;
    const actor = req.actor ?? { caller: 'anonymous', role: 'anonymous' };
    const counted = isCountedDenial(actor, s);
    if ((!action && !counted) || req.auditDone) return payload;
    const params = (req.params ?? {}) as Record<string, string>;
    const target =
      req.auditTarget ??
      (params.id !== undefined ? (params.table !== undefined ? `${params.id}/${params.table}` : params.id) : null);
    if (counted) {
      ctx.denials.count({
        actor,
        address: req.ip,
        action,
        route: req.routeOptions.url ?? null,
        method: req.method,
        status: s,
        code: req.problemCode,
        target,
      });
      return payload;
    }
    try {
      await ctx.audit.push({
        actor,
        action: action!,
        target: target === null ? null : target.slice(0, MAX_ROUTE),
        outcome: s < 400 ? 'ok' : s >= 500 ? 'error' : 'denied',
        status: s,
        detail: {
          method: req.method,
          request: req.id,
          ...(req.problemCode ? { code: req.problemCode } : {}),
          ...(req.auditDetail ?? {}),
        },
      });
      return payload;
    } catch (e) {
      req.log.error({ err: e }, 'audit row not committed: response withheld');
      if (payload && typeof (payload as { destroy?: unknown }).destroy === 'function')
        (payload as { destroy(): void }).destroy();
      for (const h of ['content-disposition', 'etag', 'last-modified', 'cache-control', 'content-length'])
        reply.removeHeader(h);
      const err = new ApiError(
        'AUDIT_UNAVAILABLE',
        'the audit row of this request could not be stored; nothing is served without it',
      );
      req.problemCode = err.code;
      reply.code(err.status).type('application/problem+json');
      return JSON.stringify(err.toProblem());
    }
  };
}

// C0 control characters and DEL: never a legitimate part of an id, a code or a filter.
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_IN_URL = /[\u0000-\u001f\u007f]|%[01][0-9a-f]|%7f/i;

/**
 * Path parameters and query values with a control character (NUL above all) are refused with 400 naming the
 * parameter (root preValidation: after authentication and the rate limit, before any value is used).
 */
export async function rejectControlChars(req: FastifyRequest): Promise<void> {
  // Decoded values hold a control character only if the raw URL has one, raw or percent-encoded: most have neither.
  if (!CONTROL_IN_URL.test(req.url)) return;
  const check = (where: string, values: unknown): void => {
    if (!values || typeof values !== 'object') return;
    for (const [k, v] of Object.entries(values as Record<string, unknown>)) {
      const bad = (Array.isArray(v) ? v : [v]).some((x) => typeof x === 'string' && CONTROL.test(x));
      if (bad || CONTROL.test(k)) {
        // The value itself is not echoed; the audit row stores a cleaned target.
        req.auditTarget = `${where}:${k.replace(CONTROL, '?').slice(0, 64)}`;
        throw new ApiError(
          'BAD_REQUEST',
          `${where} parameter ${JSON.stringify(k.replace(/[\u0000-\u001f\u007f]/g, '?'))} contains a control character`,
          {
            parameter: k,
            in: where,
          },
        );
      }
    }
  };
  check('path', req.params);
  check('query', req.query);
}

export async function securityHeaders(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  reply.header('x-request-id', req.id);
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
