/**
 * Routes of access requests and table contracts (issue 20). Every route declares its roles (checked by the role
 * guard before the body is read) and is audited; the changing ones write their audit row inside their transaction.
 *
 * Researchers (`contractRoutes`, under /v1/):
 *   GET  /v1/me                          the caller's key id, name and role (any key; the web page shows its parts by it)
 *   POST /v1/access-requests             ask for a dataset's table service (purpose, terms, duration)
 *   GET  /v1/access-requests             the caller's own requests, with status and reason
 *   GET  /v1/contracts                   the caller's own contracts and their use
 *   GET  /v1/contracts/{id}/usage        a contract's use against every limit (researcher: own; officer: any)
 * Officers (`adminContractRoutes`, under /v1/admin/, not with `serve --public`):
 *   GET  /v1/admin/access-requests       every request (?status=pending|approved|refused)
 *   POST /v1/admin/access-requests/{id}/approve   creates the contract (terms as requested or narrowed)
 *   POST /v1/admin/access-requests/{id}/refuse    with a reason
 *   GET  /v1/admin/contracts             supervision: who took what, when, how close to the limits
 */
import type { FastifyInstance } from 'fastify';
import type { PluginOptions } from '../context.ts';
import { guardRoles } from '../hooks.ts';
import { errors, listOf } from '../schemas.ts';
import {
  approveAccessRequest,
  createAccessRequest,
  listAccessRequests,
  refuseAccessRequest,
  type Approval,
  type NewAccessRequest,
  type RequestStatus,
} from './requests.ts';
import { accessRequest, accessRequestBody, approveBody, contractUsageSchema, refuseBody } from './schemas.ts';
import { contractUsage, ownContracts, superviseContracts, type ContractUsage } from './usage.ts';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;
const statusQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { status: { type: 'string', enum: ['pending', 'approved', 'refused'] } },
} as const;

export async function contractRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;
  guardRoles(app);

  app.get(
    '/me',
    {
      config: { audit: 'key.me', roles: ['researcher', 'reviewer', 'officer'] },
      schema: {
        summary: "The caller's API key id, name and role",
        tags: ['contracts'],
        response: {
          200: {
            type: 'object',
            required: ['key', 'name', 'role'],
            properties: { key: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' } },
          },
          ...errors(401, 403, 429),
        },
      },
    },
    async (req) => {
      const k = await db.selectFrom('api_keys').select('name').where('id', '=', req.actor.caller).executeTakeFirst();
      return { key: req.actor.caller, name: k?.name ?? '', role: req.actor.role };
    },
  );

  app.post(
    '/access-requests',
    {
      config: { audit: 'access.request', roles: ['researcher'] },
      schema: {
        summary: "Ask for access to a dataset's on-demand tables: purpose, requested terms, duration (researcher)",
        tags: ['contracts'],
        body: accessRequestBody,
        response: { 201: accessRequest, ...errors(400, 401, 403, 404, 413, 429) },
      },
    },
    async (req, reply) => {
      const r = await createAccessRequest(db, req.actor, req.body as NewAccessRequest);
      req.auditDone = true;
      return reply.code(201).send(r);
    },
  );

  app.get(
    '/access-requests',
    {
      config: { audit: 'access.list-own', roles: ['researcher'] },
      schema: {
        summary: 'My access requests, newest first, with their status, reason and contract (researcher)',
        tags: ['contracts'],
        querystring: statusQuery,
        response: { 200: listOf(accessRequest), ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      const { status } = req.query as { status?: RequestStatus };
      return {
        items: await listAccessRequests(db, { key: req.actor.caller, ...(status ? { status } : {}) }),
      };
    },
  );

  app.get(
    '/contracts',
    {
      config: { audit: 'contract.list-own', roles: ['researcher'] },
      schema: {
        summary: 'My table contracts and their use against every limit (researcher)',
        tags: ['contracts'],
        response: { 200: listOf(contractUsageSchema), ...errors(401, 403, 429) },
      },
    },
    async (req) => ({ items: await ownContracts(db, req.actor.caller, ctx.now()) }),
  );

  app.get(
    '/contracts/:id/usage',
    {
      config: { audit: 'contract.usage', roles: ['researcher', 'officer'] },
      schema: {
        summary: "A contract's use against every limit: scale per day and in total, dp share, time (own or officer)",
        tags: ['contracts'],
        params: idParams,
        response: { 200: contractUsageSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (req): Promise<ContractUsage> => {
      const { id } = req.params as { id: string };
      return contractUsage(db, id, ctx.now(), req.actor.role === 'officer' ? null : req.actor.caller);
    },
  );
}

export async function adminContractRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const db = ctx.store.db;

  app.get(
    '/access-requests',
    {
      config: { audit: 'access.list', roles: ['officer'] },
      schema: {
        summary: 'Access requests of every researcher, newest first (officer)',
        tags: ['officer', 'contracts'],
        querystring: statusQuery,
        response: { 200: listOf(accessRequest), ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      const { status } = req.query as { status?: RequestStatus };
      return { items: await listAccessRequests(db, status ? { status } : {}) };
    },
  );

  app.post(
    '/access-requests/:id/approve',
    {
      config: { audit: 'access.approve', roles: ['officer'] },
      schema: {
        summary:
          'Approve an access request, as requested or with narrowed terms and time: creates its contract (officer)',
        tags: ['officer', 'contracts'],
        params: idParams,
        body: approveBody,
        response: {
          200: {
            type: 'object',
            required: ['request', 'contract'],
            properties: { request: accessRequest, contract: { type: 'string' } },
          },
          ...errors(400, 401, 403, 404, 409, 413, 429),
        },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const r = await approveAccessRequest(db, id, req.actor, (req.body ?? {}) as Approval, ctx.now());
      req.auditDone = true;
      return r;
    },
  );

  app.post(
    '/access-requests/:id/refuse',
    {
      config: { audit: 'access.refuse', roles: ['officer'] },
      schema: {
        summary: 'Refuse an access request with a reason the researcher sees (officer)',
        tags: ['officer', 'contracts'],
        params: idParams,
        body: refuseBody,
        response: { 200: accessRequest, ...errors(400, 401, 403, 404, 409, 413, 429) },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const r = await refuseAccessRequest(db, id, req.actor, (req.body as { reason: string }).reason);
      req.auditDone = true;
      return r;
    },
  );

  app.get(
    '/contracts',
    {
      config: { audit: 'contract.supervise', roles: ['officer'] },
      schema: {
        summary: 'Supervision across table contracts: who took what, when, how close to the limits (officer)',
        tags: ['officer', 'contracts'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            dataset: { type: 'string', maxLength: 200 },
            status: { type: 'string', enum: ['active', 'not-started', 'expired'] },
          },
        },
        response: { 200: listOf(contractUsageSchema), ...errors(400, 401, 403, 429) },
      },
    },
    async (req) => {
      const q = req.query as { dataset?: string; status?: ContractUsage['status'] };
      return { items: await superviseContracts(db, ctx.now(), q) };
    },
  );
}
