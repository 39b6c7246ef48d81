/**
 * One preview as a job that runs in a worker thread (preview-worker.ts, started by preview-pool.ts): its input is
 * plain data (the policy documents, the store rows it needs), its output the response body as JSON text, so the
 * main thread neither computes nor serialises anything of the preview. `planFor` and `toApi` are shared with the
 * route, which validates and plans on the main thread first (cheap) to refuse bad or too large previews before any
 * worker starts.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { StatguardError } from '../engine/errors.ts';
import { planPolicy, validatePolicy } from '../engine/policy/index.ts';
import {
  aggregateExact,
  checkSweep,
  comparePreviews,
  previewFromExact,
  sweepPolicy,
  sweepSvg,
  type Preview,
  type Sweep,
  type SweepParam,
} from '../engine/preview/index.ts';
import { cellCount, type Plan } from '../engine/types.ts';
import { ApiError, type ApiErrorCode } from './errors.ts';
import { previewContextFromRows, type PreviewRows } from './preview-context.ts';

export interface PreviewJob {
  readonly policy: unknown;
  readonly compare?: unknown;
  readonly sweep?: { readonly param: SweepParam; readonly values: readonly number[] };
  readonly seed?: string;
  readonly policiesDir: string;
  readonly rows: PreviewRows;
}

/** What a worker answers: the response body, or the problem to answer with. */
export type PreviewOutcome =
  | { readonly ok: true; readonly json: string }
  | {
      readonly ok: false;
      readonly code: ApiErrorCode;
      readonly detail: string;
      readonly extra: Readonly<Record<string, unknown>>;
      /** For the server log only (an unexpected error's message). */
      readonly log?: string;
    };

/** Validate and plan a policy document; relative source paths resolve against the server's policies folder. */
export function planFor(json: unknown, where: 'policy' | 'compare', policiesDir: string): Plan {
  const v = validatePolicy(json);
  if (!v.ok) {
    throw new ApiError(
      'POLICY_INVALID',
      `${where}: the policy has ${v.errors.length} problem(s)${v.refused ? '; refused: a differential-privacy release never bases a decision on exact values' : ''}`,
      {
        problems: v.errors.map((e) => ({ path: e.path, message: e.message })),
      },
    );
  }
  const sha = createHash('sha256').update(JSON.stringify(json)).digest('hex');
  try {
    return planPolicy(v.policy, { policyPath: path.join(policiesDir, `${v.policy.id}.json`), policySha256: sha });
  } catch (e) {
    if (e instanceof StatguardError)
      throw new ApiError('POLICY_INVALID', `${where}: ${e.message}`, {
        problems: [
          { path: e.where.path ?? '', message: e.message },
          ...e.details.map((d) => ({ path: d.path ?? '', message: d.message })),
        ],
      });
    throw e;
  }
}

/** Cells one run of a plan computes (every table, with its margins). */
export function planCells(plan: Plan): number {
  return plan.tables.reduce((n, t) => n + cellCount(t.dimensions), 0);
}

/** Engine errors name columns, codes, paths and lines, never a protected value (engine/errors.ts), so their message is passed on. */
export function toApi(e: unknown): unknown {
  if (e instanceof StatguardError) {
    if (e.code === 'USAGE') return new ApiError('BAD_REQUEST', e.message);
    return new ApiError('PREVIEW_FAILED', e.message, {
      engineCode: e.code,
      ...(e.where.path ? { path: e.where.path } : {}),
      ...(e.where.line ? { line: e.where.line } : {}),
    });
  }
  return e;
}

/** The engine work of a preview (in a worker): plan, aggregate, protect, compare, sweep; the response body as JSON. */
export async function runPreviewJob(job: PreviewJob): Promise<PreviewOutcome> {
  try {
    const planA = planFor(job.policy, 'policy', job.policiesDir);
    const planB = job.compare !== undefined ? planFor(job.compare, 'compare', job.policiesDir) : null;
    const sweepSpec = job.sweep ? checkSweep({ param: job.sweep.param, values: [...job.sweep.values] }) : null;
    const opts = previewContextFromRows(job.rows);
    const dataA = await aggregateExact(planA, { seed: job.seed });
    const a: Preview = await previewFromExact(planA, dataA, opts);
    const b: Preview | null = planB
      ? await previewFromExact(planB, await aggregateExact(planB, { seed: job.seed }), opts)
      : null;
    const sweep: Sweep | null = sweepSpec ? await sweepPolicy(planA, sweepSpec, dataA) : null;
    return {
      ok: true,
      json: JSON.stringify({
        ...(b ? { comparison: comparePreviews(a, b) } : { preview: a }),
        ...(sweep ? { sweep, svg: sweepSvg(sweep) } : {}),
      }),
    };
  } catch (e) {
    const err = toApi(e);
    if (err instanceof ApiError) return { ok: false, code: err.code, detail: err.message, extra: err.extra };
    throw err;
  }
}
