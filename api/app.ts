/**
 * The statguard API as a fastify instance (no listen: see server.ts).
 *
 *   build({ store, config?, public? }) -> FastifyInstance
 *
 * Every request is rate-limited per client address first, then authenticated
 * (no header = anonymous; a bad key is 401, never anonymous), rate-limited per
 * caller on /v1/, and audited when its route reads a release or changes
 * anything (route config `audit`), whatever the outcome (ok, denied, error);
 * refusals are counted per caller, route and minute (denials.ts). Bodies are
 * limited per route before they are read (a few KB except the upload and
 * preview routes), and role guards run before any body is read. Errors are application/problem+json with a
 * code from errors.ts. The hooks are in hooks.ts, the routes in encapsulated
 * plugins under routes/ (see README.md), which get the shared state as their
 * `ctx` option. Logging is on by default: JSON lines to stderr with a request id
 * (see BuildOptions.logger).
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { DEFAULT_CONFIG, type ApiConfig } from './config.ts';
import { createContext } from './context.ts';
import type { OnDemandService } from './ondemand/service.ts';
import { ERRORS, problem, problemSchema, type ApiErrorCode } from './errors.ts';
import {
  auditBeforeSend,
  authenticate,
  errorHandler,
  frameworkErrors,
  limitAddress,
  notFound,
  rejectControlChars,
  securityHeaders,
} from './hooks.ts';
import { RateLimiter } from './rate-limit.ts';
import { registerOpenApi } from './openapi.ts';
import { v1Routes } from './routes/v1.ts';
import { webRoutes } from './routes/web.ts';
import { releaseDetail, releaseSummary, tableJson } from './schemas.ts';
import type { Actor } from './store/audit.ts';
import type { Store } from './store/db.ts';

export interface BuildOptions {
  readonly store: Store;
  readonly config?: Partial<ApiConfig>;
  /** Public zone: only the researcher routes are registered (no officer/reviewer routes). */
  readonly public?: boolean;
  /** Path of the policy JSON Schema served at /v1/policy-schema. */
  readonly policySchemaPath?: string;
  /**
   * Log options (fastify's pino; JSON lines): level (default STATGUARD_LOG_LEVEL, else 'info'; 'silent' turns it off)
   * and stream (default stderr; tests capture lines this way). `false` is `{ level: 'silent' }`. Authorization
   * headers are redacted whatever the options; bodies and cell values are never logged (only method, URL, status).
   */
  readonly logger?: false | { readonly level?: string; readonly stream?: { write(line: string): void } };
  /** The server's clock for release expiry (default: the system clock; tests move it). */
  readonly now?: () => Date;
  /** Tables on demand (routes/ondemand.ts): the secure zone's client and the contract gate; absent: not offered. */
  readonly onDemand?: OnDemandService;
}

/**
 * A request id: 20 random lower-case letters (about 94 bits). Letters only, so that an id can never be mistaken for
 * a figure when logs and audit rows are searched for values (test/robustness/no-leak.test.ts does). The random bytes
 * are drawn from node:crypto 4 KiB at a time (one call per 204 requests: a call per request cost 4% of a table read).
 */
const ID_BYTES = 20;
let idPool = Buffer.alloc(0);
let idAt = 0;
function requestId(): string {
  if (idAt + ID_BYTES > idPool.length) {
    idPool = randomBytes(ID_BYTES * 204);
    idAt = 0;
  }
  let id = '';
  for (let i = idAt; i < idAt + ID_BYTES; i++) id += String.fromCharCode(97 + (idPool[i]! % 26));
  idAt += ID_BYTES;
  return id;
}

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'key',
  '*.key',
  'body',
  '*.body',
];

function loggerOptions(o: BuildOptions['logger']): Record<string, unknown> {
  const level = o === false ? 'silent' : (o?.level ?? process.env.STATGUARD_LOG_LEVEL ?? 'info');
  return {
    level,
    stream: (o ? o.stream : undefined) ?? process.stderr,
    redact: { paths: REDACT, censor: '[redacted]' },
  };
}

export async function build(opts: BuildOptions): Promise<FastifyInstance> {
  const given = opts.config ?? {};
  const config: ApiConfig = {
    ...DEFAULT_CONFIG,
    // rateLimit: null turns every limiter off unless the address limit is given too.
    ...(given.rateLimit === null && !('addressRateLimit' in given) ? { addressRateLimit: null } : {}),
    ...given,
  };
  const app = Fastify({
    logger: loggerOptions(opts.logger),
    // Request ids are made here (never taken from a request header), returned as x-request-id, logged with every
    // line of the request and stored in its audit row (detail.request).
    genReqId: requestId,
    requestIdHeader: false,
    // Every route's body limit unless the route sets its own (the upload and preview routes); fastify refuses a larger
    // Content-Length before reading, and stops reading a chunked body at the limit.
    bodyLimit: config.requestBodyLimit,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: false } },
    frameworkErrors,
  });
  const ctx = createContext(
    {
      store: opts.store,
      config,
      policySchemaPath: opts.policySchemaPath ?? new URL('../policies/policy.schema.json', import.meta.url).pathname,
      publicOnly: opts.public === true,
      now: opts.now ?? (() => new Date()),
      onDemand: opts.onDemand,
    },
    () => app.log,
  );
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
  await registerOpenApi(app, config);

  // Root hooks, added before the route plugins so that every plugin inherits them: the address limit first, before
  // authentication looks a key up.
  if (config.addressRateLimit) {
    const { perSecond, burst } = config.addressRateLimit;
    app.addHook('onRequest', limitAddress(new RateLimiter(perSecond, burst)));
  }
  app.addHook('onRequest', authenticate(ctx));
  app.addHook('preValidation', rejectControlChars);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFound);
  app.addHook('onSend', auditBeforeSend(ctx));
  app.addHook('onSend', securityHeaders);
  app.addHook('onClose', async () => {
    ctx.previews.close();
    await ctx.onDemand?.zone.close();
    await ctx.denials.close();
    await ctx.audit.flush();
  });

  await app.register(v1Routes, { ctx, prefix: '/v1/' });
  await app.register(webRoutes, { ctx });
  return app;
}

/** Every error code, for docs and tests. */
export const ERROR_CODES = Object.keys(ERRORS) as ApiErrorCode[];
export { problem };
