/**
 * Worker separation (issue 20): the API process never opens a microdata file. This test process is the API process
 * (fastify app with the on-demand routes, the secure zone forked as a child process): every way node:fs opens a file
 * is wrapped to record the path, and /proc/self/fd is sampled while the tables are computed. The microdata file must
 * appear in neither; the control at the end opens it once on purpose and both detectors see it.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';
import t from 'tap';

const CSV = resolve('fixtures/synthetic/census-5000.csv');
const opened: string[] = [];
const record = (p: unknown): void => {
  if (typeof p === 'string' || p instanceof URL || Buffer.isBuffer(p))
    opened.push(resolve(String(p instanceof URL ? p.pathname : p)));
};
type AnyFn = (...a: unknown[]) => unknown;
const wrap = (o: Record<string, unknown>, names: string[]): void => {
  for (const n of names) {
    const orig = o[n] as AnyFn;
    o[n] = function (this: unknown, ...a: unknown[]) {
      record(a[0]);
      return orig.apply(this, a);
    };
  }
};
wrap(fs as unknown as Record<string, unknown>, [
  'open',
  'openSync',
  'createReadStream',
  'readFile',
  'readFileSync',
  'openAsBlob',
]);
wrap(fs.promises as unknown as Record<string, unknown>, ['open', 'readFile']);
syncBuiltinESMExports();

/** Paths of the files this process holds open now. */
function openFds(): string[] {
  if (!fs.existsSync('/proc/self/fd')) return [];
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

t.test('the API process opens no microdata file or source while serving tables on demand', async (t) => {
  const { dpPolicyFile, onDemandApp, post } = await import('./api-helpers.ts');
  // The harness writes the dp dataset's generated microdata first; what the API process opens is recorded from here.
  const dpPolicy = await dpPolicyFile();
  opened.length = 0;
  const { app, store, zone, keys } = await onDemandApp({ dpPolicy });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  const held = new Set<string>();
  const sampler = setInterval(() => openFds().forEach((p) => held.add(p)), 2);
  const queries = [
    ['synthetic-census-5000', { dimensions: [{ name: 'region' }, { name: 'sex' }], measure: 'count' }],
    ['synthetic-census-5000', { dimensions: [{ name: 'age_band' }], measure: 'income', format: 'csv' }],
    ['synthetic-census-dp', { dimensions: [{ name: 'marital' }], measure: 'count', filter: { sex: ['2'] } }],
  ] as const;
  for (const [ds, q] of queries) t.equal((await post(app, ds, keys.researcher, q)).statusCode, 200);
  clearInterval(sampler);
  t.equal(zone.computed, 3, 'the tables were computed (by the secure zone)');
  t.notOk(opened.includes(CSV), 'no open of the microdata file through node:fs');
  t.notOk(held.has(CSV), 'the microdata file never among the open file descriptors');
  t.notOk(
    opened.some((p) => p.endsWith('.csv') || p.endsWith('.parquet')),
    `no data file opened at all (${opened.filter((p) => p.endsWith('.csv')).join(', ')})`,
  );

  // Control: both detectors see the file when this process does open it.
  const fd = fs.openSync(CSV, 'r');
  t.ok(opened.includes(CSV), 'the fs wrapper sees an open');
  t.ok(openFds().includes(CSV), 'the fd sample sees an open file');
  fs.closeSync(fd);
  opened.length = 0;
  const named = await import('node:fs/promises');
  await (await named.open(CSV)).close();
  t.ok(opened.includes(CSV), 'the wrapper also sees opens through ES module named imports');
});
