/**
 * The JSON API under /v1/ as one encapsulated plugin: its own rate limit
 * (onRequest, after the root's authentication), its Content-Security-Policy
 * (onSend) and its 404 handler, so unknown /v1/ paths are rate-limited and
 * answered like the routes. Public routes for every caller; the admin and
 * preview plugins (officers and reviewers, with their role guard) only when
 * the app is not the public zone.
 */
import type { FastifyInstance } from 'fastify';
import { contractRoutes } from '../contracts/routes.ts';
import type { PluginOptions } from '../context.ts';
import { apiCsp, notFound, rateLimit } from '../hooks.ts';
import { RateLimiter } from '../rate-limit.ts';
import { adminRoutes } from './admin/index.ts';
import { catalogRoutes } from './catalog.ts';
import { metadataRoutes } from './metadata.ts';
import { onDemandRoutes } from './ondemand.ts';
import { previewRoutes } from './previews.ts';
import { releaseRoutes } from './releases.ts';
import { serviceRoutes } from './service.ts';
import { tableRoutes } from './tables.ts';

export async function v1Routes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const { config, publicOnly } = ctx;
  const opts: PluginOptions = { ctx };
  if (config.rateLimit)
    app.addHook('onRequest', rateLimit(new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst)));
  app.addHook('onSend', apiCsp);
  app.setNotFoundHandler(notFound);
  await app.register(releaseRoutes, opts);
  await app.register(tableRoutes, opts);
  await app.register(metadataRoutes, opts);
  await app.register(catalogRoutes, opts);
  await app.register(serviceRoutes, opts);
  await app.register(contractRoutes, opts);
  // Tables on demand talk to the secure zone's worker (never to microdata), so the public zone may offer them too.
  if (ctx.onDemand) await app.register(onDemandRoutes, { ctx, service: ctx.onDemand });
  if (!publicOnly) {
    await app.register(adminRoutes, { ctx, prefix: '/admin' });
    await app.register(previewRoutes, opts);
  }
}
