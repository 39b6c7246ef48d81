/**
 * `statguard serve --on-demand <policy>` (issue 20): the real command, in a process of its own, over a fresh embedded
 * store, offers the on-demand policy's dataset under contract. The officer (the server's credential file) registers
 * the dataset and a researcher key; without a contract a table is refused (CONTRACT_NONE); after a request and its
 * approval the researcher's table is computed by the secure-zone worker and served as CSV. A flag naming no file is a
 * usage error before anything starts (without the flag no on-demand route is registered: api/routes/v1.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../free-port.ts';
import t, { type Test } from 'tap';
import { freshPgliteDir } from '../api/pglite-template.ts';
import { tempDir } from '../tmp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/statguard.js');
const POLICY = path.join(ROOT, 'policies/census-ondemand.json');
const DATASET = 'synthetic-census-5000';

async function start(t: Test, args: string[]): Promise<{ url: string; officer: string }> {
  const dir = tempDir('sg-serve-od-');
  const db = path.join(dir, 'db');
  await freshPgliteDir(db);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, STATGUARD_DATA_DIR: db, STATGUARD_LOG_LEVEL: 'silent' };
  delete env.DATABASE_URL;
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--port', String(port), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void child.kill('SIGTERM'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('officer credential')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  return { url: `http://127.0.0.1:${port}`, officer: readFileSync(`${db}.officer.key`, 'utf8').trim() };
}

async function call(url: string, key: string, method: string, body?: unknown) {
  const r = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, text, json: (): Record<string, unknown> => JSON.parse(text) as Record<string, unknown> };
}

t.test('serve --on-demand: a contract opens the dataset, the worker computes the table', async (t) => {
  const { url, officer } = await start(t, ['--on-demand', POLICY]);
  const ds = await call(`${url}/v1/admin/datasets`, officer, 'POST', { id: DATASET, title: 'Census', regime: 'ckm' });
  t.equal(ds.status, 201, ds.text);
  const key = await call(`${url}/v1/admin/keys`, officer, 'POST', { role: 'researcher', name: 'r1' });
  t.equal(key.status, 201, key.text);
  const researcher = key.json().key as string;
  const q = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count', format: 'csv' };
  const none = await call(`${url}/v1/datasets/${DATASET}/tables`, researcher, 'POST', q);
  t.equal(none.status, 403, none.text);
  t.match(none.json(), { code: 'CONTRACT_NONE' });
  const terms = {
    scale: { tablesPerDay: 5, cellsPerDay: 1000, tablesTotal: 10, cellsTotal: 10000 },
    level: { variables: { region: { maxLevel: 1 }, sex: {} }, maxDimensions: 2, minPopulation: 100 },
    form: { measures: ['count'], formats: ['csv'] },
  };
  const req = await call(`${url}/v1/access-requests`, researcher, 'POST', {
    dataset: DATASET,
    purpose: 'e2e',
    terms,
    durationDays: 1,
  });
  t.equal(req.status, 201, req.text);
  const ok = await call(`${url}/v1/admin/access-requests/${req.json().id}/approve`, officer, 'POST', {});
  t.equal(ok.status, 200, ok.text);
  const table = await call(`${url}/v1/datasets/${DATASET}/tables`, researcher, 'POST', q);
  t.equal(table.status, 200, table.text);
  const lines = table.text.trim().split('\n');
  t.ok(lines.length > 5, `a CSV table of ${lines.length - 1} rows`);
  t.match(lines[0], /region/i, 'with the dimension columns');

  // The minimum population, judged on the published (perturbed) total of the filtered population: area A8 has about
  // 42 persons, A1 about 1,600.
  const bySex = (region: string) => ({
    dimensions: [{ name: 'sex' }],
    measure: 'count',
    format: 'csv',
    filter: { region: [region] },
  });
  const small = await call(`${url}/v1/datasets/${DATASET}/tables`, researcher, 'POST', bySex('A8'));
  t.equal(small.status, 403, small.text);
  t.match(small.json(), { code: 'CONTRACT_LEVEL', term: 'level.minPopulation' }, 'a filter to 42 persons is refused');
  t.notMatch(small.text, /\b4[0-4]\b/, 'the refusal names no population figure');
  const large = await call(`${url}/v1/datasets/${DATASET}/tables`, researcher, 'POST', bySex('A1'));
  t.equal(large.status, 200, large.text);
  // Asked again, the kept population figure decides the same way (the cached table and the refusal alike).
  const again = await call(`${url}/v1/datasets/${DATASET}/tables`, researcher, 'POST', bySex('A1'));
  t.equal(again.text, large.text, 'the same filtered table again');
  const smallAgain = await call(`${url}/v1/datasets/${DATASET}/tables`, researcher, 'POST', bySex('A8'));
  t.match(smallAgain.json(), { code: 'CONTRACT_LEVEL', term: 'level.minPopulation' }, 'and the same refusal');
});

t.test('a --on-demand naming no file is a usage error before anything starts', async (t) => {
  const bad = spawnSync(process.execPath, [BIN, 'serve', '--on-demand', '/nonexistent/od.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.equal(bad.status, 2, bad.stderr);
  t.match(bad.stderr, /--on-demand: no policy file at \/nonexistent\/od\.json/);
});
