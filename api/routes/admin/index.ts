/**
 * The officer and reviewer routes under /v1/admin (secure zone; not
 * registered with `serve --public`). Every route declares its roles in
 * `config.roles` (checked by the plugin's role guard) and is audited; the
 * changing ones write their audit row inside their own transaction.
 */
import type { FastifyInstance } from 'fastify';
import { adminContractRoutes } from '../../contracts/routes.ts';
import type { PluginOptions } from '../../context.ts';
import { guardRoles } from '../../hooks.ts';
import { adminAccessRoutes } from './access.ts';
import { adminAuditRoutes } from './audit.ts';
import { adminDatasetCreateRoutes, adminDatasetRoutes } from './datasets.ts';
import { adminReleaseRoutes } from './releases.ts';
import { adminSigningKeyRoutes } from './signing-keys.ts';

export async function adminRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const opts: PluginOptions = { ctx };
  guardRoles(app);
  await app.register(adminReleaseRoutes, opts);
  await app.register(adminDatasetRoutes, opts);
  await app.register(adminDatasetCreateRoutes, opts);
  await app.register(adminAuditRoutes, opts);
  await app.register(adminAccessRoutes, opts);
  await app.register(adminContractRoutes, opts);
  await app.register(adminSigningKeyRoutes, opts);
}
