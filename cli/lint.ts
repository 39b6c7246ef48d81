/**
 * statguard lint <policy> [--no-data] [--store <dir>] [--format text|json]
 *
 * Lists what a reviewer should look at, each finding with its reason and the
 * policy path it concerns: the validator's errors, then (for a valid policy)
 * the plan checks, the data checks (categories absent from the data, tables
 * mostly below the threshold; skipped with --no-data) and the ledger check
 * (with a store: --store, DATABASE_URL or STATGUARD_DATA_DIR).
 * Exit codes: 0 no error (warnings allowed), 1 errors found or the run failed, 2 usage.
 */
import { readFile } from 'node:fs/promises';
import { StatguardError } from '../engine/errors.ts';
import { loadPolicy } from '../engine/policy/index.ts';
import { aggregateExact, lintDocument, lintPlan, lintText, type LintFinding } from '../engine/preview/index.ts';
import { readPreviewContext } from '../api/preview-context.ts';
import { parse, usageFailure, UsageError, type Io } from './io.ts';
import { openStoreFor } from './preview.ts';

export async function cmdLint(args: readonly string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(args, {
      'no-data': { type: 'boolean' },
      store: { type: 'string' },
      format: { type: 'string' },
    }));
    if (positionals.length !== 1) throw new UsageError('lint takes exactly one policy file');
    if (values.format !== undefined && values.format !== 'text' && values.format !== 'json')
      throw new UsageError('--format must be text or json');
    if (io.json && values.format === 'text') throw new UsageError('--json and --format text disagree');
    if (io.json) values.format = 'json';
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, 'lint', e);
    throw e;
  }
  const file = positionals[0]!;
  let json: unknown;
  try {
    json = JSON.parse((await readFile(file, 'utf8')).replace(/^\uFEFF/, ''));
  } catch {
    // Unreadable or not JSON: loadPolicy names the file, line and column.
    await loadPolicy(file);
    throw new StatguardError('POLICY_UNREADABLE', `cannot read policy ${file}`, { file });
  }
  const findings: LintFinding[] = lintDocument(json);
  if (findings.length === 0) {
    const plan = await loadPolicy(file);
    const store = await openStoreFor(values.store as string | undefined);
    try {
      const ctx = store ? await readPreviewContext(store.db, plan.dataset.id) : null;
      // A dp policy's data is never read here: every data-level fact would be exact (engine/preview/lint.ts).
      const dp = plan.protection.regime === 'dp';
      const data = values['no-data'] === true || dp ? null : await aggregateExact(plan);
      if (dp && values.format !== 'json')
        io.out(`${file}: data-level checks are not run on a dp policy (they would state exact facts about the data)\n`);
      findings.push(
        ...lintPlan(plan, { ...(data ? { exact: data.tables, stats: data.stats } : {}), ledger: ctx?.ledger ?? null }),
      );
    } finally {
      await store?.close();
    }
  }
  if (values.format === 'json') io.out(`${JSON.stringify({ policy: file, findings }, null, io.json ? 0 : 2)}\n`);
  else io.out(`${file}: ${lintText(findings)}`);
  return findings.some((f) => f.severity === 'error') ? 1 : 0;
}
