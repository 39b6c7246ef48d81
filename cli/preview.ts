/**
 * statguard preview <policy> [--compare <other>] [--format text|json|html] [--sweep <param>=v1,v2,...] [--svg <file>]
 *                    [--seed <seed>] [--store <dir>] [--out <file>]
 *
 * Runs the policy on its microdata and reports what the release would look
 * like; writes no release, publishes nothing, spends no budget. The store
 * (for the remaining budget and the combination check with published
 * releases) is read only, when one is named: --store <PGlite dir>, or
 * DATABASE_URL / STATGUARD_DATA_DIR; otherwise the ledger is "unknown".
 * Secure zone: the output holds figures derived from exact values.
 */
import { access, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { StatguardError } from '../engine/errors.ts';
import { loadPolicy } from '../engine/policy/index.ts';
import {
  aggregateExact,
  comparePreviews,
  compareText,
  parseSweep,
  previewFromExact,
  previewHtml,
  previewText,
  sweepPolicy,
  sweepSvg,
  sweepText,
  type Preview,
  type PreviewOptions,
  type Sweep,
} from '../engine/preview/index.ts';
import { readPreviewContext } from '../api/preview-context.ts';
import { openStore, type Store } from '../api/store/db.ts';
import { parse, result, usageFailure, UsageError, type Io } from './io.ts';

export async function cmdPreview(args: readonly string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(args, {
      compare: { type: 'string' },
      format: { type: 'string' },
      sweep: { type: 'string' },
      svg: { type: 'string' },
      seed: { type: 'string' },
      store: { type: 'string' },
      out: { type: 'string' },
    }));
    if (positionals.length !== 1) throw new UsageError('preview takes exactly one policy file');
    if (io.json && values.format !== undefined && values.format !== 'json')
      throw new UsageError(`--json and --format ${values.format} disagree`);
    if (io.json) values.format = 'json';
    const format = values.format ?? 'text';
    if (format !== 'text' && format !== 'json' && format !== 'html')
      throw new UsageError(`--format must be text, json or html (got ${JSON.stringify(format)})`);
    if (values.svg !== undefined && values.sweep === undefined) throw new UsageError('--svg needs --sweep');
    if (values.seed === '') throw new UsageError('--seed needs a value');
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, 'preview', e);
    throw e;
  }
  const format = (values.format ?? 'text') as 'text' | 'json' | 'html';
  const seed = values.seed as string | undefined;
  const sweepSpec = typeof values.sweep === 'string' ? parseSweep(values.sweep) : null;

  const planA = await loadPolicy(positionals[0]!);
  const planB = typeof values.compare === 'string' ? await loadPolicy(values.compare) : null;
  if (planB && planB.dataset.id !== planA.dataset.id) {
    throw new StatguardError(
      'USAGE',
      `--compare needs two policies on the same dataset (${planA.dataset.id} vs ${planB.dataset.id})`,
    );
  }

  const store = await openStoreFor(values.store as string | undefined);
  let a: Preview;
  let b: Preview | null = null;
  let sweep: Sweep | null = null;
  try {
    const ctx = store ? await readPreviewContext(store.db, planA.dataset.id) : null;
    const opts: PreviewOptions = ctx ? { ledger: ctx.ledger, published: ctx.published } : {};
    const dataA = await aggregateExact(planA, { seed });
    a = await previewFromExact(planA, dataA, opts);
    if (planB) b = await previewFromExact(planB, await aggregateExact(planB, { seed }), opts);
    // The sweep reuses policy A's exact tables (one aggregation).
    if (sweepSpec) sweep = await sweepPolicy(planA, sweepSpec, dataA);
  } finally {
    await store?.close();
  }

  let text: string;
  if (format === 'json') {
    const doc = b ? { comparison: comparePreviews(a, b) } : { preview: a };
    text = `${JSON.stringify(sweep ? { ...doc, sweep } : doc, null, io.json && values.out === undefined ? 0 : 2)}\n`;
  } else if (format === 'html') {
    text = previewHtml(a, b ?? undefined, sweep ? sweepSvg(sweep) : undefined);
  } else {
    text = (b ? compareText(comparePreviews(a, b)) : previewText(a)) + (sweep ? `\n${sweepText(sweep)}` : '');
  }
  if (sweep && typeof values.svg === 'string') await writeAtomic(values.svg, sweepSvg(sweep));
  if (typeof values.out === 'string') {
    await writeAtomic(values.out, text);
    result(io, { preview: path.resolve(values.out) }, `preview written to ${path.resolve(values.out)}\n`);
  } else {
    io.out(text);
  }
  if (sweep && typeof values.svg === 'string')
    result(io, { sweepChart: path.resolve(values.svg) }, `sweep chart written to ${path.resolve(values.svg)}\n`);
  return 0;
}

/**
 * The store named by --store (must exist), DATABASE_URL or STATGUARD_DATA_DIR (when it exists), or null (ledger
 * unknown). Never created here.
 */
export async function openStoreFor(
  dir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Store | null> {
  if (dir !== undefined) {
    await mustExist(dir);
    return openStore({ dataDir: dir });
  }
  if (env.DATABASE_URL) return openStore({ databaseUrl: env.DATABASE_URL });
  // The environment's embedded store only once it exists (as `release` reads it): no store yet, no ledger.
  if (env.STATGUARD_DATA_DIR && existsSync(env.STATGUARD_DATA_DIR))
    return openStore({ dataDir: env.STATGUARD_DATA_DIR });
  return null;
}

async function mustExist(dir: string): Promise<void> {
  try {
    await access(dir);
  } catch {
    throw new StatguardError('USAGE', `no store at ${dir} (a preview only reads an existing store)`, { file: dir });
  }
}

export async function writeAtomic(file: string, text: string): Promise<void> {
  const abs = path.resolve(file);
  const tmp = `${abs}.partial`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, abs);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new StatguardError('OUTPUT_FAILED', `cannot write ${file}: ${(e as Error).message}`, { file });
  }
}
