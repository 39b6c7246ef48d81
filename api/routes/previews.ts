/**
 * Reviewer workbench routes (secure zone; officers and reviewers only, checked
 * by the plugin's role guard; not registered with --public):
 *
 *   GET  /v1/previews/policies         example policies of the server's policies folder
 *   GET  /v1/previews/policies/{file}  one of them, as its JSON document
 *   POST /v1/previews                  preview a policy document (optionally compare a second one, sweep a parameter)
 *
 * Safety: a preview reads microdata, so the policy's source must be a file
 * inside one of the configured data roots (checked lexically, then again after
 * resolving symbolic links; a database source is refused): a caller can never
 * make the server read an arbitrary file. The engine work runs in a worker
 * thread within limits on cells (413, before any work), time and memory (503)
 * and concurrent previews (503 PREVIEW_BUSY): api/preview-pool.ts. The
 * response holds figures derived
 * from exact values: it is served to officers and reviewers only. A preview
 * reads the store (ledger, published releases) without changing it; the only
 * write is its audit-log row.
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { checkSweep, SWEEP_PARAMS, MAX_SWEEP_POINTS, type SweepParam } from '../../engine/preview/index.ts';
import type { Plan } from '../../engine/types.ts';
import type { PluginOptions } from '../context.ts';
import { ApiError } from '../errors.ts';
import { guardRoles } from '../hooks.ts';
import { readPreviewRows } from '../preview-context.ts';
import { planCells, planFor, toApi } from '../preview-job.ts';
import { errors, listOf } from '../schemas.ts';

const FILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\.json$/;

export async function previewRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const cfg = ctx.config;
  guardRoles(app);

  app.get(
    '/previews/policies',
    {
      config: { audit: 'policy.list', roles: ['officer', 'reviewer'] },
      schema: {
        summary: 'Example policies a reviewer can preview (officer, reviewer)',
        tags: ['reviewer'],
        response: {
          200: listOf({
            type: 'object',
            required: ['file', 'id', 'title', 'regime', 'dataset'],
            properties: {
              file: { type: 'string' },
              id: { type: 'string' },
              title: { type: 'string' },
              regime: { type: 'string' },
              dataset: { type: 'string' },
            },
          }),
          ...errors(401, 403, 429),
        },
      },
    },
    async (req) => {
      return { items: await examplePolicies(cfg.policiesDir) };
    },
  );

  app.get(
    '/previews/policies/:file',
    {
      config: { audit: 'policy.read', roles: ['officer', 'reviewer'] },
      schema: {
        summary: 'One example policy document (officer, reviewer)',
        tags: ['reviewer'],
        params: {
          type: 'object',
          required: ['file'],
          properties: { file: { type: 'string', pattern: FILE_RE.source, maxLength: 200 } },
        },
        response: { 200: { type: 'object', additionalProperties: true }, ...errors(400, 401, 403, 404, 429) },
      },
    },
    async (req, reply) => {
      const { file } = req.params as { file: string };
      req.auditTarget = file;
      const known = (await examplePolicies(cfg.policiesDir)).some((p) => p.file === file);
      if (!known) throw new ApiError('NOT_FOUND', `no example policy ${JSON.stringify(file)}`);
      return reply.type('application/json').send(await readFile(path.join(cfg.policiesDir, file), 'utf8'));
    },
  );

  app.post(
    '/previews',
    {
      config: { audit: 'policy.preview', roles: ['officer', 'reviewer'] },
      bodyLimit: cfg.previewBodyLimit,
      schema: {
        summary:
          'Preview a policy on its microdata without writing, publishing or spending budget (officer, reviewer); optionally compare a second policy and sweep a parameter',
        description:
          'Body: `policy` (a policy document), optional `compare` (a second policy on the same dataset), optional `sweep` ({ param, values }), optional `seed` (reproducible noise). ' +
          "The policy's source must be a file inside the server's data roots. The response carries figures derived from exact values (secure zone).",
        tags: ['reviewer'],
        body: {
          type: 'object',
          required: ['policy'],
          additionalProperties: false,
          properties: {
            policy: { type: 'object', additionalProperties: true },
            compare: { type: 'object', additionalProperties: true },
            sweep: {
              type: 'object',
              required: ['param', 'values'],
              additionalProperties: false,
              properties: {
                param: { type: 'string', enum: [...SWEEP_PARAMS] },
                values: {
                  type: 'array',
                  minItems: 1,
                  maxItems: MAX_SWEEP_POINTS,
                  items: { type: 'number', exclusiveMinimum: 0 },
                },
              },
            },
            seed: { type: 'string', minLength: 1, maxLength: 100 },
          },
        },
        response: {
          200: { type: 'object', additionalProperties: true },
          ...errors(400, 401, 403, 413, 422, 429, 503),
        },
      },
    },
    async (req, reply) => {
      const body = req.body as {
        policy: unknown;
        compare?: unknown;
        sweep?: { param: SweepParam; values: number[] };
        seed?: string;
      };
      // The slot first, before any await: past the concurrency limit nothing is done at all.
      const slot = ctx.previews.acquire();
      try {
        const planA = planFor(body.policy, 'policy', cfg.policiesDir);
        const planB = body.compare !== undefined ? planFor(body.compare, 'compare', cfg.policiesDir) : null;
        req.auditTarget = planA.policyId;
        req.auditDetail = {
          dataset: planA.dataset.id,
          ...(planB ? { compare: planB.policyId } : {}),
          ...(body.sweep ? { sweep: body.sweep.param } : {}),
        };
        if (planB && planB.dataset.id !== planA.dataset.id) {
          throw new ApiError(
            'BAD_REQUEST',
            `compare needs two policies on the same dataset (${planA.dataset.id} vs ${planB.dataset.id})`,
          );
        }
        if (body.sweep) engine(() => checkSweep(body.sweep!));
        const cells = planCells(planA) * (1 + (body.sweep?.values.length ?? 0)) + (planB ? planCells(planB) : 0);
        if (cells > cfg.preview.maxCells)
          throw new ApiError(
            'PREVIEW_TOO_LARGE',
            `the preview would compute ${cells} cells; the limit is ${cfg.preview.maxCells}`,
            { cells, limit: cfg.preview.maxCells },
          );
        await checkSource(planA, cfg.dataRoots, 'policy');
        if (planB) await checkSource(planB, cfg.dataRoots, 'compare');
        const rows = await readPreviewRows(ctx.store.db, planA.dataset.id);
        const json = await slot.run({
          policy: body.policy,
          ...(body.compare !== undefined ? { compare: body.compare } : {}),
          ...(body.sweep ? { sweep: body.sweep } : {}),
          ...(body.seed !== undefined ? { seed: body.seed } : {}),
          policiesDir: cfg.policiesDir,
          rows,
        });
        return reply.type('application/json; charset=utf-8').send(json);
      } finally {
        slot.release();
      }
    },
  );
}

async function examplePolicies(
  dir: string,
): Promise<{ file: string; id: string; title: string; regime: string; dataset: string }[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => FILE_RE.test(f) && !f.endsWith('.schema.json')).sort();
  } catch {
    return [];
  }
  const out: { file: string; id: string; title: string; regime: string; dataset: string }[] = [];
  for (const file of files) {
    try {
      const doc = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as {
        id?: unknown;
        release?: { title?: unknown };
        protection?: { regime?: unknown };
        dataset?: { id?: unknown };
      };
      if (typeof doc.id !== 'string') continue;
      out.push({
        file,
        id: doc.id,
        title: String(doc.release?.title ?? doc.id),
        regime: String(doc.protection?.regime ?? ''),
        dataset: String(doc.dataset?.id ?? ''),
      });
    } catch {
      // Not a policy: not offered.
    }
  }
  return out;
}

function inside(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The source must be a file inside a data root. Checked on the lexical path first (so nothing outside the roots is
 * even looked at: no existence oracle), then on the real path (a symbolic link inside a root cannot lead out).
 */
async function checkSource(plan: Plan, roots: readonly string[], where: string): Promise<void> {
  const s = plan.dataset.source;
  const forbidden = (): ApiError =>
    new ApiError('SOURCE_FORBIDDEN', `${where}: the data source must be a file inside the server's data roots`, {
      path: '/dataset/source',
    });
  if (s.kind === 'postgres') throw forbidden();
  const file = path.resolve(s.path);
  const lexical = roots.map((r) => path.resolve(r));
  if (!lexical.some((r) => inside(file, r))) throw forbidden();
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    throw new ApiError('PREVIEW_FAILED', `${where}: the data source file does not exist or cannot be read`, {
      engineCode: 'SOURCE_UNREADABLE',
      path: '/dataset/source',
    });
  }
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => null)));
  if (!realRoots.some((r) => r !== null && inside(real, r))) throw forbidden();
}

function engine<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toApi(e);
  }
}
