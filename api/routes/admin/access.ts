/**
 * Access routes (under /v1/admin, officer): grant a researcher key a contract
 * on a release, create an API key (shown in the response only), list keys
 * (never their secrets), revoke a key (its next request is 401).
 */
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../../context.ts';
import { errors, listOf } from '../../schemas.ts';
import { revokeRoute } from './revoke-route.ts';
import { createKey, listKeys, revokeKey } from '../../store/keys.ts';
import { createContract } from '../../store/releases.ts';

export async function adminAccessRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.post(
    '/contracts',
    {
      config: { audit: 'contract.create', roles: ['officer'] },
      schema: {
        summary: 'Grant a researcher key access to a contract release, or some of its tables, until a date (officer)',
        tags: ['officer'],
        body: {
          type: 'object',
          required: ['key', 'release', 'expires'],
          additionalProperties: false,
          properties: {
            key: { type: 'string' },
            release: { type: 'string' },
            tables: { type: 'array', items: { type: 'string' }, minItems: 1 },
            expires: { type: 'string', format: 'date-time' },
          },
        },
        response: {
          201: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
          ...errors(400, 401, 403, 404, 429),
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { key: string; release: string; tables?: string[]; expires: string };
      const r = await createContract(
        db,
        { keyId: b.key, releaseId: b.release, tables: b.tables ?? null, expiresAt: b.expires },
        req.actor,
      );
      ctx.callers.forgetContracts(b.key);
      req.auditDone = true;
      return reply.code(201).send(r);
    },
  );

  app.post(
    '/keys',
    {
      config: { audit: 'key.create', roles: ['officer'] },
      schema: {
        summary: 'Create an API key (officer); the key is in this response only',
        tags: ['officer'],
        body: {
          type: 'object',
          required: ['role', 'name'],
          additionalProperties: false,
          properties: {
            role: { type: 'string', enum: ['officer', 'reviewer', 'researcher'] },
            name: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['id', 'key', 'role', 'name'],
            properties: {
              id: { type: 'string' },
              key: { type: 'string' },
              role: { type: 'string' },
              name: { type: 'string' },
            },
          },
          ...errors(400, 401, 403, 429),
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { role: string; name: string };
      const r = await createKey(db, b.role, b.name, req.actor);
      ctx.callers.forgetKey(r.id); // in case its (random) id was looked up before
      req.auditDone = true;
      return reply.code(201).send(r);
    },
  );

  app.get(
    '/keys',
    {
      config: { audit: 'key.list', roles: ['officer'] },
      schema: {
        summary: 'API keys: id, role, name, created, revoked (officer); never a secret',
        tags: ['officer'],
        response: {
          200: listOf({
            type: 'object',
            required: ['id', 'role', 'name', 'createdAt', 'revokedAt'],
            properties: {
              id: { type: 'string' },
              role: { type: 'string' },
              name: { type: 'string' },
              createdAt: { type: 'string', format: 'date-time' },
              revokedAt: { type: ['string', 'null'], format: 'date-time' },
            },
          }),
          ...errors(401, 403, 429),
        },
      },
    },
    async () => ({ items: await listKeys(db) }),
  );

  revokeRoute(app, {
    path: '/keys/:id/revoke',
    audit: 'key.revoke',
    summary: 'Revoke an API key (officer): its next request is 401',
    revoke: async (id, actor) => {
      await revokeKey(db, id, actor);
      ctx.callers.forgetKey(id); // its next request is 401 (not a cached row's 200)
    },
  });
}
