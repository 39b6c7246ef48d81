/**
 * statguard command line.
 *
 *   statguard validate <policy>
 *   statguard release <policy> --out <dir> [--seed N] [--force] [--reviewer-report <file>] [--against <release-dir>]...
 *
 * Exit codes: 0 success, 1 a run failed (bad input, invalid policy, audit),
 * 2 usage error. Errors go to stderr as one block naming what and where.
 * Progress is shown on a terminal only (stderr is a TTY) and never otherwise.
 */
import { parseArgs } from 'node:util';
import { readdir, readFile, writeFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StatguardError } from '../engine/errors.ts';
import { ENGINE_VERSION } from '../engine/version.ts';
import { API_USAGE } from '../api/usage.ts';

// The engine (policy loader, pipeline, writer, preview, lint) loads only for the commands that run it, as the store
// and API modules do below: `statguard publish` / `approve` start about 0.5 s of CPU faster without it.
const loadPolicy: typeof import('../engine/policy/index.ts').loadPolicy = async (...a) =>
  (await import('../engine/policy/index.ts')).loadPolicy(...a);

export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly isTty: boolean;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTty: Boolean(process.stderr.isTTY),
};

const USAGE = `statguard ${ENGINE_VERSION}: privacy-preserving statistics publication

Usage:
  statguard validate <policy.json>
  statguard release <policy.json> --out <dir> [--seed <seed>] [--force] [--reviewer-report <file>] [--against <release-dir>]...
  statguard demo [--out <dir>] [--policies <dir>] [--seed <seed>]
  statguard start [--policies <dir>]
  statguard preview <policy.json> [--compare <other.json>] [--format text|json|html] [--sweep <param>=<v1>,<v2>,...] [--svg <file>]
                    [--seed <seed>] [--store <dir>] [--out <file>]
  statguard lint <policy.json> [--no-data] [--store <dir>] [--format text|json]

Commands:
  validate   check a policy against the published schema and its semantic rules; lists every problem at once
  release    run a policy on its microdata and write a release directory (manifest.json, <table>.csv, <table>.json)
  demo       release every example policy of a folder (default: policies/) into <dir>/<policy id> (default: out/)
  preview    run a policy without writing or publishing anything and without spending budget: suppression, audit
             intervals, noise and realised error, risk signals, lint findings (secure zone); --compare two policies
             side by side, --sweep a parameter (epsilon, rho, threshold, p, n) and write the chart with --svg
  lint       what a reviewer should look at in a policy, each with its reason and policy path (exit 1 on errors)
  start      the embedded default: release the example policies (once), publish them in the store, serve the API

Options:
  --out <dir>               output directory (must not exist unless --force)
  --seed <seed>             reproducible randomness for tests and demos (seedrandom); marked "seeded" in the manifest
  --force                   replace an existing output directory
  --reviewer-report <file>  write the secure-zone reviewer report (audit intervals, budget accounting) to <file>
  --against <release-dir>   (sdc, repeatable) a release already published from the same dataset: its tables join the
                            audit, so the new suppressions also protect against combining the two releases
  -h, --help                this text

${API_USAGE}`;

class UsageError extends Error {}

export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  try {
    const [cmd, ...rest] = argv;
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      case '--version':
        io.out(`${ENGINE_VERSION}\n`);
        return 0;
      case 'validate':
        return await cmdValidate(rest, io);
      case 'release':
        return await cmdRelease(rest, io);
      case 'demo':
        return await cmdDemo(rest, io);
      case 'start':
        return await cmdStart(rest, io);
      case 'preview':
        return await (await import('./preview.ts')).cmdPreview(rest, io);
      case 'lint':
        return await (await import('./lint.ts')).cmdLint(rest, io);
      default: {
        // The store and API modules load only for the commands that need them (fast start for release/validate).
        const { runApiCommand } = await import('../api/commands.ts');
        const code = await runApiCommand(cmd, rest, io);
        if (code === undefined) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
        return code;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`statguard: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof StatguardError) {
      io.err(`statguard: ${e.describe()}\n`);
      return 1;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) {
      io.err(`statguard: ${code}: ${(e as Error).message}\n`);
      return 1;
    }
    io.err(`statguard: internal error: ${(e as Error).message}\n`);
    return 1;
  }
}

type ParseOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function parse(args: readonly string[], options: ParseOptions) {
  try {
    return parseArgs({ args: [...args], options: options ?? {}, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function cmdValidate(args: readonly string[], io: Io): Promise<number> {
  const { positionals } = parse(args, {});
  if (positionals.length !== 1) throw new UsageError('validate takes exactly one policy file');
  const plan = await loadPolicy(positionals[0]!);
  const cells = plan.tables.map((t) => t.dimensions.reduce((n, d) => n * d.nodes.length, 1));
  io.out(
    `${positionals[0]}: valid (policy ${plan.policyId} ${plan.policyVersion}, regime ${plan.protection.regime}, ` +
      `${plan.tables.length} table(s), ${cells.reduce((a, b) => a + b, 0)} cells)\n`,
  );
  return 0;
}

async function cmdRelease(args: readonly string[], io: Io): Promise<number> {
  const { positionals, values } = parse(args, {
    out: { type: 'string' },
    seed: { type: 'string' },
    force: { type: 'boolean' },
    'reviewer-report': { type: 'string' },
    against: { type: 'string', multiple: true },
  });
  if (positionals.length !== 1) throw new UsageError('release takes exactly one policy file');
  const against = (values.against ?? []) as string[];
  if (against.some((a) => a === '')) throw new UsageError('--against needs a release directory');
  if (typeof values.out !== 'string' || values.out === '') throw new UsageError('release needs --out <dir>');
  if (values.seed !== undefined && values.seed === '') throw new UsageError('--seed needs a value');
  const plan = await loadPolicy(positionals[0]!);
  const [{ runRelease }, { writeRelease }, { makeProgress }] = await Promise.all([
    import('../engine/pipeline.ts'),
    import('../engine/release/write.ts'),
    import('./progress.ts'),
  ]);
  const progress = makeProgress(io);
  let run;
  try {
    run = await runRelease(plan, {
      seed: values.seed as string | undefined,
      onProgress: progress.update,
      ...(against.length > 0 ? { against } : {}),
    });
  } finally {
    progress.done();
  }
  const manifest = await writeRelease(run.content, values.out, { force: values.force === true });
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
  io.out(
    `release ${plan.policyId} written to ${path.resolve(values.out)}: ${manifest.tables.length} table(s), ${cells} cells, ` +
      `${suppressed} suppressed; regime ${manifest.regime}; randomness ${manifest.randomness.source}\n`,
  );
  return 0;
}

async function cmdDemo(args: readonly string[], io: Io): Promise<number> {
  const { positionals, values } = parse(args, {
    out: { type: 'string' },
    policies: { type: 'string' },
    seed: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('demo takes no positional arguments');
  const dir = path.resolve(typeof values.policies === 'string' ? values.policies : defaultPoliciesDir());
  const outRoot = path.resolve(typeof values.out === 'string' ? values.out : 'out');
  for (const f of await examplePolicyFiles(dir)) {
    const plan = await loadPolicy(f);
    const extra = typeof values.seed === 'string' ? ['--seed', values.seed] : [];
    const code = await cmdRelease([f, '--out', path.join(outRoot, plan.policyId), '--force', ...extra], io);
    if (code !== 0) return code;
  }
  return 0;
}

const defaultPoliciesDir = (): string => new URL('../policies', import.meta.url).pathname;

async function examplePolicyFiles(dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json')).sort();
  if (files.length === 0) throw new StatguardError('USAGE', 'no policy files found', { file: dir });
  return files.map((f) => path.join(dir, f));
}

/**
 * The embedded default (`npm start`): release each example policy once into
 * <STATGUARD_HOME>/releases/<policy id> (kept while the policy file is unchanged,
 * so noise is drawn once and never redrawn), publish the releases in the store
 * (already published ones are reused, never duplicated) and serve the API
 * until SIGINT/SIGTERM.
 */
async function cmdStart(args: readonly string[], io: Io): Promise<number> {
  const { positionals, values } = parse(args, { policies: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError('start takes no positional arguments');
  const home = path.resolve(process.env.STATGUARD_HOME ?? '.statguard');
  const dirs: string[] = [];
  for (const file of await examplePolicyFiles(
    path.resolve(typeof values.policies === 'string' ? values.policies : defaultPoliciesDir()),
  )) {
    const plan = await loadPolicy(file);
    const dir = path.join(home, 'releases', plan.policyId);
    let current = false;
    try {
      const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { policy?: { sha256?: string } };
      current = m.policy?.sha256 === plan.policySha256;
    } catch {
      current = false;
    }
    if (!current) {
      const code = await cmdRelease([file, '--out', dir, '--force'], io);
      if (code !== 0) return code;
    }
    dirs.push(dir);
  }
  const { start } = await import('../api/start.ts');
  const started = await start({ releaseDirs: dirs, log: io.out });
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await started.close();
  return 0;
}
