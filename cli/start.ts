/**
 * statguard start [--policies <dir>]: the embedded default (`npm start`).
 * The API modules are imported when the command runs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_VERSION } from '../engine/release/manifest.ts';
import { note, parse, UsageError, type Io } from './io.ts';
import { cmdRelease, defaultPoliciesDir, examplePolicyFiles, loadPolicy } from './release.ts';

/**
 * The embedded default (`npm start`): release each example policy once into
 * <STATGUARD_HOME>/releases/<policy id> (kept while the policy file is unchanged,
 * so noise is drawn once and never redrawn), publish the releases in the store
 * (already published ones are reused, never duplicated) and serve the API
 * until SIGINT/SIGTERM.
 */
export async function cmdStart(args: readonly string[], io: Io): Promise<number> {
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
      const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
        manifestVersion?: number;
        policy?: { sha256?: string };
      };
      // A directory written before releases were signed (manifest version 1, no signature.json) is released again.
      await readFile(path.join(dir, 'signature.json'));
      current = m.manifestVersion === MANIFEST_VERSION && m.policy?.sha256 === plan.policySha256;
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
  const started = await start({ releaseDirs: dirs, log: (s) => note(io, s) });
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await started.close();
  return 0;
}
