import t from 'tap';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { censusPolicy, generateCensus, HEADER, REGIONS } from '../../bench/generate.ts';
import { planPolicy, validatePolicy } from '../../engine/policy/index.ts';
import { csvSource } from '../../engine/source/index.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-gen-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('generator is seeded, sized and matches its policy', async (t) => {
  const a = path.join(dir, 'a.csv');
  const b = path.join(dir, 'b.csv');
  const c = path.join(dir, 'c.csv');
  await generateCensus({ rows: 5000, seed: 1, out: a });
  await generateCensus({ rows: 5000, seed: 1, out: b });
  await generateCensus({ rows: 5000, seed: 2, out: c });
  const ta = fs.readFileSync(a, 'utf8');
  t.equal(ta, fs.readFileSync(b, 'utf8'), 'same seed, same file');
  t.not(ta, fs.readFileSync(c, 'utf8'), 'other seed, other file');
  const lines = ta.trimEnd().split('\n');
  t.equal(lines.length, 5001, 'header + rows');
  t.equal(lines[0], HEADER.join(','));

  for (const regime of ['sdc', 'dp'] as const) {
    for (const unit of ['household', 'person'] as const) {
      const doc = censusPolicy(a, regime, { unit });
      const v = validatePolicy(doc);
      t.ok(v.ok, `${regime}/${unit} policy is valid: ${v.ok ? '' : JSON.stringify(v.errors)}`);
      if (!v.ok) continue;
      const plan = planPolicy(v.policy, { policyPath: path.join(dir, 'p.json'), policySha256: '0'.repeat(64) });
      t.equal(plan.tables.length, 5);
      const r = await csvSource().aggregate(plan, { boundingKey: randomBytes(32) });
      t.equal(r.stats.rowsRead, 5000);
      t.equal(r.stats.rowsDropped, 0);
      const regionSex = r.tables[0]!;
      const dims = regionSex.plan.dimensions;
      t.equal(dims[0]!.nodes.length, REGIONS.length + 8 + 1, 'regions, 8 areas, total');
      const grand = regionSex.cells[regionSex.cells.length - 1]!;
      t.equal(grand.rows, r.stats.rowsAfterBounding, 'grand total counts every kept row');
      const income = r.tables[3]!;
      t.equal(income.plan.measure.kind, 'sum');
      if (unit === 'person') {
        // Missing income ('N', children) keeps the person out of the income table only.
        const withIncome = lines.slice(1).filter((l) => l.split(',')[8] !== 'N').length;
        t.ok(withIncome < 5000 && withIncome > 0);
        t.equal(income.cells[income.cells.length - 1]!.units, withIncome, 'income total over persons with an income');
        t.equal(grand.units, 5000);
      }
    }
  }
});
