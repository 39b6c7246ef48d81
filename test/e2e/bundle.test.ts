/**
 * The bundled command (bin/build.js, bin/bundle.js): it runs only while every source file it was built from is
 * unchanged, and it runs the same commands as the sources. `npm test` builds it before the suite.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
// @ts-expect-error plain JavaScript module without types
import { bundleIsCurrent } from '../../bin/bundle.js';

const root = path.resolve(import.meta.dirname, '../..');
const isCurrent = bundleIsCurrent as (root: URL) => boolean;

t.test('the bundle runs only while its sources are unchanged', async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-bundle-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const url = pathToFileURL(tmp + '/');
  mkdirSync(path.join(tmp, 'dist'));
  mkdirSync(path.join(tmp, 'src'));
  const src = path.join(tmp, 'src/a.ts');
  writeFileSync(src, 'export const a = 1;\n');
  const list = (size: number, mtimeMs: number) =>
    writeFileSync(
      path.join(tmp, 'dist/statguard.inputs.json'),
      JSON.stringify({ inputs: [{ file: 'src/a.ts', size, mtimeMs }] }),
    );
  const stamp = new Date('2026-01-02T03:04:05Z');
  utimesSync(src, stamp, stamp);
  list(20, stamp.getTime());
  t.equal(isCurrent(url), false, 'no bundle file: the sources run');
  writeFileSync(path.join(tmp, 'dist/statguard.mjs'), '');
  t.equal(isCurrent(url), false, 'no bundled preview worker: the sources run');
  writeFileSync(path.join(tmp, 'dist/preview-worker.mjs'), '');
  t.equal(isCurrent(url), true, 'bundle and unchanged sources: the bundle runs');
  utimesSync(src, stamp, new Date(stamp.getTime() + 1000));
  t.equal(isCurrent(url), false, 'a source touched since the build: the sources run');
  utimesSync(src, stamp, stamp);
  writeFileSync(src, 'export const a = 2;;\n');
  utimesSync(src, stamp, stamp);
  t.equal(isCurrent(url), false, 'a source of another size (same time stamp): the sources run');
  rmSync(src);
  t.equal(isCurrent(url), false, 'a source gone: the sources run');
  writeFileSync(path.join(tmp, 'dist/statguard.inputs.json'), '{"inputs": []}');
  t.equal(isCurrent(url), false, 'an empty list is not a build');
  process.env.STATGUARD_NO_BUNDLE = '1';
  t.teardown(() => delete process.env.STATGUARD_NO_BUNDLE);
  t.equal(isCurrent(pathToFileURL(root + '/')), false, 'STATGUARD_NO_BUNDLE forces the sources');
});

t.test('the built bundle is current after the build and answers as the sources do', async (t) => {
  delete process.env.STATGUARD_NO_BUNDLE;
  t.equal(
    isCurrent(pathToFileURL(root + '/')),
    true,
    'the bundle is current (npm test builds it; after editing sources run npm run build)',
  );
  const run = async (env: Record<string, string>) => {
    const r = await promisify(execFile)(
      process.execPath,
      [path.join(root, 'bin/statguard.js'), 'validate', path.join(root, 'policies/tiny-sdc.json')],
      { cwd: root, env: { ...process.env, ...env } },
    );
    return r.stdout;
  };
  const fromBundle = await run({});
  const fromSources = await run({ STATGUARD_NO_BUNDLE: '1' });
  t.match(fromBundle, /tiny-sdc/, 'the bundle validates a policy');
  t.equal(fromBundle, fromSources, 'same output from the bundle and from the sources');
});

t.test('a preview worker answers the same from the bundle and from the sources', async (t) => {
  const { PreviewPool } = await import('../../api/preview-pool.ts');
  const answer = async (noBundle: boolean): Promise<unknown> => {
    if (noBundle) process.env.STATGUARD_NO_BUNDLE = '1';
    else delete process.env.STATGUARD_NO_BUNDLE;
    const pool = new PreviewPool({ maxCells: 1000, timeoutMs: 60_000, memoryMb: 256, concurrency: 1 });
    const slot = pool.acquire();
    try {
      // Not a policy: the worker loads the engine and answers with the policy's validation errors.
      return await slot.run({} as never).catch((e: unknown) => ({ code: (e as { code?: string }).code }));
    } finally {
      slot.release();
      await pool.close();
    }
  };
  const fromBundle = await answer(false);
  const fromSources = await answer(true);
  delete process.env.STATGUARD_NO_BUNDLE;
  t.match(fromBundle, { code: 'POLICY_INVALID' }, 'the bundled worker loads and validates');
  t.same(fromSources, fromBundle, 'the worker started through tsx answers the same');
});
