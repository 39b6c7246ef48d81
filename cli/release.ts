/**
 * The engine commands:
 *
 *   statguard validate <policy>
 *   statguard release <policy> --out <dir> [--seed N] [--force] [--reviewer-report <file>] [--against <release-dir>]...
 *                    [--offline]
 *   statguard demo [--out <dir>] [--policies <dir>] [--seed <seed>] [--force]
 *
 * The engine (policy loader, pipeline, writer) is imported when a command
 * runs, not when this module loads. Progress is shown on a terminal only.
 *
 * An sdc `release` is audited together with every release of its dataset that is or was published, read from the store
 * (unless --offline; `--against` adds release directories), and its signed manifest lists them (`audit.linked`).
 *
 * `release` signs the directory with the secure zone's key (engine/secure/signing.ts; created on first use) over the
 * manifest, the exact policy bytes it ran (written as policy.json) and every table file; the run's exact figures go
 * to the secure zone's internal record (engine/secure/internal.ts), whose path it prints, never into the directory.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StatguardError } from '../engine/errors.ts';
import type { PublishedRelease } from '../engine/regime.ts';
import type { ConfStatus, Plan } from '../engine/types.ts';
import { note, parse, result, UsageError, type Io } from './io.ts';

// The engine (policy loader, pipeline, writer, preview, lint) loads only for the commands that run it, as the store
// and API modules do: `statguard publish` / `approve` start about 0.5 s of CPU faster without it.
export const loadPolicy: typeof import('../engine/policy/index.ts').loadPolicy = async (...a) =>
  (await import('../engine/policy/index.ts')).loadPolicy(...a);

export async function cmdValidate(args: readonly string[], io: Io): Promise<number> {
  const { positionals } = parse(args, {});
  if (positionals.length !== 1) throw new UsageError('validate takes exactly one policy file');
  const plan = await loadPolicy(positionals[0]!);
  const cells = plan.tables.map((t) => t.dimensions.reduce((n, d) => n * d.nodes.length, 1));
  const total = cells.reduce((a, b) => a + b, 0);
  result(
    io,
    {
      file: positionals[0],
      valid: true,
      policy: plan.policyId,
      version: plan.policyVersion,
      regime: plan.protection.regime,
      tables: plan.tables.map((t, i) => ({ id: t.id, cells: cells[i] })),
      cells: total,
    },
    `${positionals[0]}: valid (policy ${plan.policyId} ${plan.policyVersion}, regime ${plan.protection.regime}, ` +
      `${plan.tables.length} table(s), ${total} cells)\n`,
  );
  return 0;
}

export async function cmdRelease(args: readonly string[], io: Io): Promise<number> {
  const { positionals, values } = parse(args, {
    out: { type: 'string' },
    seed: { type: 'string' },
    force: { type: 'boolean' },
    'reviewer-report': { type: 'string' },
    against: { type: 'string', multiple: true },
    offline: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError('release takes exactly one policy file');
  const against = (values.against ?? []) as string[];
  if (against.some((a) => a === '')) throw new UsageError('--against needs a release directory');
  if (typeof values.out !== 'string' || values.out === '') throw new UsageError('release needs --out <dir>');
  if (values.seed !== undefined && values.seed === '') throw new UsageError('--seed needs a value');
  const plan = await loadPolicy(positionals[0]!);
  // The exact bytes the plan was made from: signed and shipped as policy.json (refused if the file changed meanwhile).
  const policyBytes = new Uint8Array(await readFile(plan.policyPath));
  if (createHash('sha256').update(policyBytes).digest('hex') !== plan.policySha256)
    throw new StatguardError('POLICY_UNREADABLE', 'the policy file changed while it was read; run release again', {
      file: positionals[0]!,
    });
  const [{ runRelease }, { renderRelease, writeRendered }, { localSigningKey, writeInternalRecord }, { makeProgress }] =
    await Promise.all([
      import('../engine/pipeline.ts'),
      import('../engine/release/write.ts'),
      import('../engine/secure/index.ts'),
      import('./progress.ts'),
    ]);
  const outDir = path.resolve(values.out);
  if (
    values.force !== true &&
    (await stat(outDir).then(
      () => true,
      () => false,
    ))
  )
    throw new StatguardError('OUTPUT_EXISTS', 'output directory already exists; pass --force to replace it', {
      file: outDir,
    });
  const signer = localSigningKey();
  const published = values.offline === true ? [] : await storeHistory(plan, io);
  const progress = makeProgress(io);
  let run;
  try {
    run = await runRelease(plan, {
      seed: values.seed as string | undefined,
      onProgress: progress.update,
      ...(against.length > 0 ? { against } : {}),
      ...(published.length > 0 ? { published } : {}),
    });
  } finally {
    progress.done();
  }
  const rendered = renderRelease(run.content, { signer, policy: policyBytes });
  const internalFile = await writeInternalRecord(plan.dataset.id, rendered.manifestSha256, {
    policy: plan.policyId,
    createdAt: rendered.manifest.createdAt,
    ...run.internal,
  });
  const manifest = await writeRendered(rendered, values.out, { force: values.force === true });
  if (typeof values['reviewer-report'] === 'string') {
    const file = path.resolve(values['reviewer-report']);
    const tmp = `${file}.partial`;
    try {
      await writeFile(
        tmp,
        `${JSON.stringify({ policy: plan.policyId, createdAt: manifest.createdAt, ...run.reviewer }, null, 2)}\n`,
      );
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new StatguardError('OUTPUT_FAILED', `cannot write reviewer report: ${(e as Error).message}`, { file });
    }
  }
  const suppressed = manifest.tables.reduce((n, t) => n + t.suppressed, 0);
  const cells = manifest.tables.reduce((n, t) => n + t.cells, 0);
  result(
    io,
    {
      release: plan.policyId,
      dir: path.resolve(values.out),
      tables: manifest.tables.map((t) => ({ id: t.id, cells: t.cells, suppressed: t.suppressed })),
      cells,
      suppressed,
      regime: manifest.regime,
      randomness: manifest.randomness.source,
      signingKey: signer.keyId,
      internalRecord: internalFile,
    },
    `release ${plan.policyId} written to ${path.resolve(values.out)}: ${manifest.tables.length} table(s), ${cells} cells, ` +
      `${suppressed} suppressed; regime ${manifest.regime}; randomness ${manifest.randomness.source}\n` +
      `signed with key ${signer.keyId}; exact figures of the run (secure zone only): ${internalFile}\n`,
  );
  return 0;
}

/**
 * Cross-release disclosure control: the releases of an sdc plan's dataset that are or were published, read from the
 * store (directly, or through the server that holds it), so the new release is audited together with them and its
 * signed manifest lists them (the store refuses to publish an sdc release that misses one). Other regimes link none.
 */
async function storeHistory(plan: Plan, io: Io): Promise<PublishedRelease[]> {
  if (plan.protection.regime !== 'sdc') return [];
  const [{ publishedInStore }, { dimensionFromTree }] = await Promise.all([
    import('./store-commands.ts'),
    import('../engine/release/index.ts'),
  ]);
  const found = await publishedInStore(plan.dataset.id, io);
  if (found === null) {
    note(io, `no store holds dataset ${plan.dataset.id}: no published release to audit against\n`);
    return [];
  }
  note(
    io,
    `audited against ${found.entries.length} release(s) of dataset ${plan.dataset.id} that are or were published` +
      `${found.entries.length > 0 ? ` (${found.entries.map((e) => e.id).join(', ')})` : ''}, read from ${found.via}\n`,
  );
  return found.entries.map((e) => ({
    ref: e.id,
    label: `release ${e.id}`,
    manifestSha256: e.manifestSha256,
    datasetId: plan.dataset.id,
    regime: e.regime,
    tables: e.tables.map((t) => ({
      id: t.id,
      measure: t.measure as { kind?: string; column?: string },
      dimensions: t.dimensions.map((d) => dimensionFromTree(d.name, d.label, d.nodes)),
      values: t.value,
      conf: t.conf as ConfStatus[],
      file: `release ${e.id}, table ${t.id}`,
    })),
  }));
}

export async function cmdDemo(args: readonly string[], io: Io): Promise<number> {
  const { positionals, values } = parse(args, {
    out: { type: 'string' },
    policies: { type: 'string' },
    seed: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError('demo takes no positional arguments');
  const dir = path.resolve(typeof values.policies === 'string' ? values.policies : defaultPoliciesDir());
  const outRoot = path.resolve(typeof values.out === 'string' ? values.out : 'out');
  const runs: { file: string; out: string }[] = [];
  for (const f of await examplePolicyFiles(dir))
    runs.push({ file: f, out: path.join(outRoot, (await loadPolicy(f)).policyId) });
  // Nothing is replaced without --force (a published out/ may be what the store holds), and nothing runs before the
  // check: every existing output directory is named at once.
  if (values.force !== true) {
    const existing = [];
    for (const r of runs) if (await exists(r.out)) existing.push(r.out);
    if (existing.length > 0)
      throw new StatguardError(
        'OUTPUT_EXISTS',
        `demo would replace ${existing.length} existing release director${existing.length === 1 ? 'y' : 'ies'} (${existing.join(', ')}); pass --force to replace them`,
        { file: existing[0]! },
      );
  }
  for (const r of runs) {
    const extra = typeof values.seed === 'string' ? ['--seed', values.seed] : [];
    const code = await cmdRelease(
      [r.file, '--out', r.out, ...(values.force === true ? ['--force'] : []), ...extra],
      io,
    );
    if (code !== 0) return code;
  }
  return 0;
}

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

export const defaultPoliciesDir = (): string => new URL('../policies', import.meta.url).pathname;

/** The example policies that publish tables (an on-demand-only policy, `tables: []`, has no release to run). */
export async function examplePolicyFiles(dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json')).sort();
  if (files.length === 0) throw new StatguardError('USAGE', 'no policy files found', { file: dir });
  const out: string[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    let doc: { tables?: unknown } | null = null;
    try {
      doc = JSON.parse(await readFile(file, 'utf8')) as { tables?: unknown };
    } catch {
      // left in the list: the release names what is wrong with it
    }
    // Unreadable or odd files stay in the list: the release names what is wrong with them.
    if (!(doc && Array.isArray(doc.tables) && doc.tables.length === 0)) out.push(file);
  }
  return out;
}
