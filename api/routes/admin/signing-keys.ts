/**
 * Signing key routes (under /v1/admin, officer only): the public keys whose release signatures the store accepts.
 * Registering and revoking are audited inside their own transaction (api/store/signing-keys.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../../context.ts';
import { errors, listOf } from '../../schemas.ts';
import { revokeRoute } from './revoke-route.ts';
import { listSigningKeys, registerSigningKey, revokeSigningKey } from '../../store/signing-keys.ts';

const keySchema = {
  type: 'object',
  required: ['id', 'name', 'publicKey', 'createdAt', 'createdBy', 'revokedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    publicKey: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;

export async function adminSigningKeyRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.get(
    '/signing-keys',
    {
      config: { audit: 'signing-key.list', roles: ['officer'] },
      schema: {
        summary: 'Registered release signing keys (officer)',
        tags: ['officer'],
        response: {
          200: listOf(keySchema),
          ...errors(401, 403, 429),
        },
      },
    },
    async () => ({ items: await listSigningKeys(db) }),
  );

  app.post(
    '/signing-keys',
    {
      config: { audit: 'signing-key.register', roles: ['officer'] },
      schema: {
        summary: 'Register a release signing key (officer): an Ed25519 public key in PEM (SPKI) form',
        tags: ['officer'],
        body: {
          type: 'object',
          required: ['publicKey', 'name'],
          additionalProperties: false,
          properties: {
            publicKey: { type: 'string', minLength: 1, maxLength: 10000 },
            name: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['id', 'created'],
            properties: { id: { type: 'string' }, created: { type: 'boolean' } },
          },
          ...errors(400, 401, 403, 422, 429),
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { publicKey: string; name: string };
      const r = await registerSigningKey(db, b.publicKey, b.name, req.actor);
      req.auditDone = true;
      return reply.code(201).send(r);
    },
  );

  revokeRoute(app, {
    path: '/signing-keys/:id/revoke',
    audit: 'signing-key.revoke',
    summary: 'Revoke a release signing key (officer): releases it signed are no longer accepted',
    revoke: (id, actor) => revokeSigningKey(db, id, actor),
  });
}
