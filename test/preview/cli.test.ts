import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { main } from '../../cli/main.ts';
import { TINY, tinyDoc, tinyDpDoc, writeDoc } from './helpers.ts';
import { tempDir } from '../tmp-dir.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), isTty: false },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

t.test('statguard preview and lint', async (t) => {
  const env = { ...process.env };
  delete process.env.DATABASE_URL;
  delete process.env.STATGUARD_DATA_DIR;
  t.teardown(() => {
    Object.assign(process.env, env);
  });
  const doc = await tinyDoc();
  doc.id = 'tiny-n2';
  doc.protection.rules.minFrequency.n = 2;
  const n2 = await writeDoc(doc);

  const a = capture();
  t.equal(await main(['preview', TINY, '--format', 'json', '--seed', '1'], a.io), 0, a.err());
  const p = JSON.parse(a.out()).preview;
  t.equal(p.tables.find((x: { id: string }) => x.id === 'enterprises').sdc.primaryTotal, 1);

  const c = capture();
  t.equal(await main(['preview', TINY, '--compare', n2, '--seed', '1'], c.io), 0, c.err());
  t.match(c.out(), /enterprises\s+primary\s+1\s+0\s+-1/);

  const dir = tempDir('sg-cli-prev-');
  const s = capture();
  t.equal(
    await main(
      [
        'preview',
        TINY,
        '--sweep',
        'n=2,3',
        '--svg',
        path.join(dir, 'c.svg'),
        '--format',
        'html',
        '--out',
        path.join(dir, 'p.html'),
      ],
      s.io,
    ),
    0,
    s.err(),
  );
  t.match(await readFile(path.join(dir, 'c.svg'), 'utf8'), /<title id="sg-title">/);
  t.match(await readFile(path.join(dir, 'p.html'), 'utf8'), /<svg[^>]*role="img"/);

  const u = capture();
  t.equal(await main(['preview', TINY, '--svg', 'x.svg'], u.io), 2, '--svg without --sweep is a usage error');
  const l = capture();
  t.equal(await main(['lint', n2, '--format', 'json'], l.io), 0, 'warnings only');
  t.same(
    JSON.parse(l.out())
      .findings.map((f: { code: string }) => f.code)
      .sort(),
    ['CATEGORY_NOT_IN_DATA', 'LOW_THRESHOLD'],
  );
  const bad = await tinyDoc();
  bad.id = 'tiny-bad';
  bad.tables[0].measure.bounds = [10, 1];
  const b = capture();
  t.equal(await main(['lint', await writeDoc(bad)], b.io), 1, 'validator errors fail lint');
  t.match(b.out(), /error INVALID at \/tables\/0\/measure\/bounds/);
});

t.test('lint states no exact fact about a dp policy data (issue 18, item 4)', async (t) => {
  // The tiny data: region W has no enterprise (an sdc lint says so) and sector C holds rows the dp policy below does
  // not declare (dropped rows, counted by an sdc lint).
  const sdc = await tinyDoc();
  sdc.id = 'tiny-lint-sdc';
  sdc.dataset.onInvalidRow = 'drop';
  sdc.dataset.columns.find((c: { name: string }) => c.name === 'sector').categories.pop();
  const a = capture();
  t.equal(await main(['lint', await writeDoc(sdc), '--format', 'json'], a.io), 0, a.err());
  const sdcCodes = JSON.parse(a.out()).findings.map((f: { code: string }) => f.code);
  t.ok(sdcCodes.includes('CATEGORY_NOT_IN_DATA') && sdcCodes.includes('CATEGORY_NOT_DECLARED'), 'sdc: data facts');

  const dp = await tinyDpDoc({ mechanism: 'discrete-laplace', budget: { epsilon: 1 } });
  dp.dataset = sdc.dataset;
  for (const format of ['json', 'text']) {
    const b = capture();
    t.equal(await main(['lint', await writeDoc(dp), '--format', format], b.io), 0, b.err());
    t.notMatch(b.out(), /CATEGORY_NOT_IN_DATA|CATEGORY_NOT_DECLARED|MOSTLY_BELOW_THRESHOLD|row\(s\) dropped|no unit/);
    if (format === 'text') t.match(b.out(), /data-level checks are not run on a dp policy/);
  }
});
