/**
 * One shape for the officer's revoke routes (`POST <path>/:id/revoke`): an API key, a signing key. The store function
 * audits the revocation inside its own transaction, so the route marks its audit done.
 */
import type { FastifyInstance } from 'fastify';
import type { Actor } from '../../store/audit.ts';
import { errors, idParams } from '../../schemas.ts';

export interface RevokeRoute {
  readonly path: string;
  readonly audit: string;
  readonly summary: string;
  revoke(id: string, actor: Actor): Promise<void>;
}

export function revokeRoute(app: FastifyInstance, r: RevokeRoute): void {
  app.post(
    r.path,
    {
      config: { audit: r.audit, roles: ['officer'] },
      schema: {
        summary: r.summary,
        tags: ['officer'],
        params: idParams,
        response: {
          200: {
            type: 'object',
            required: ['id', 'revoked'],
            properties: { id: { type: 'string' }, revoked: { type: 'boolean' } },
          },
          ...errors(401, 403, 404, 429),
        },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      await r.revoke(id, req.actor);
      req.auditDone = true;
      return { id, revoked: true };
    },
  );
}
