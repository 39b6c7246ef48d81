import t from 'tap';
import { readFileSync } from 'node:fs';
import { loadPolicy } from '../../engine/policy/index.ts';
import type { Plan } from '../../engine/types.ts';
import { scaleExact } from '../../engine/policy/index.ts';

/** The fixtures have no quoted fields: a plain split is an exact parse (asserted). */
function readCsv(path: string, delimiter: string): { header: string[]; rows: string[][] } {
  const text = readFileSync(path, 'utf8');
  if (text.includes('"')) throw new Error(`${path} has quoted fields`);
  const lines = text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.replace(/\r$/, ''));
  return { header: lines[0]!.split(delimiter), rows: lines.slice(1).map((l) => l.split(delimiter)) };
}

/** Count rows of the policy's source that break its column schema (what onInvalidRow: error would stop on). */
function invalidRows(plan: Plan): { count: number; rows: number; examples: string[] } {
  const { header, rows } = readCsv(csvOf(plan).path, csvOf(plan).delimiter);
  const examples: string[] = [];
  let count = 0;
  for (const c of plan.dataset.columns) if (!header.includes(c.name)) examples.push(`header lacks ${c.name}`);
  const measureDecimals = new Map<string, number>();
  for (const tp of plan.tables)
    if (tp.measure.kind !== 'count') measureDecimals.set(tp.measure.column, tp.measure.decimals);
  rows.forEach((r, i) => {
    const problems: string[] = [];
    const value = (name: string): string => r[header.indexOf(name)] ?? '';
    for (const c of plan.dataset.columns) {
      const v = value(c.name);
      if (v === '' || c.missingValues.includes(v)) {
        if (c.required) problems.push(`${c.name} missing`);
        continue;
      }
      if (c.type === 'categorical' && !c.categories!.some((k) => k.code === v))
        problems.push(`${c.name}=${v} not declared`);
      if (c.type === 'integer' && !/^-?\d+$/.test(v)) problems.push(`${c.name}=${v} not an integer`);
      if (
        c.type === 'number' &&
        (Number.isNaN(Number(v)) || scaleExact(Number(v), measureDecimals.get(c.name) ?? 0) === null)
      )
        problems.push(`${c.name}=${v} not a number with the kept decimals`);
      if ((c.minimum !== undefined && Number(v) < c.minimum) || (c.maximum !== undefined && Number(v) > c.maximum))
        problems.push(`${c.name}=${v} out of range`);
    }
    for (const d of plan.dataset.derived) {
      const v = value(d.from);
      if (d.bins && v !== '' && !d.bins.some((b) => Number(v) >= b.min && Number(v) <= b.max))
        problems.push(`${d.from}=${v} in no bin of ${d.name}`);
      if (d.map && v !== '' && d.map[v] === undefined) problems.push(`${d.from}=${v} not mapped by ${d.name}`);
    }
    if (problems.length) {
      count++;
      if (examples.length < 5) examples.push(`line ${i + 2}: ${problems.join('; ')}`);
    }
  });
  return { count, rows: rows.length, examples };
}

for (const f of ['acs-ma-sdc', 'acs-tx-dp', 'acs-tx-dp-laplace', 'census-ckm', 'pums-dp', 'tiny-sdc']) {
  t.test(`${f}: every row of its fixture conforms to the declared schema`, async (t) => {
    const plan = await loadPolicy(`policies/${f}.json`);
    const r = invalidRows(plan);
    t.ok(r.rows > 0);
    t.equal(r.count, 0, r.examples.join('\n'));
    t.same(r.examples, []);
  });
}

t.test('tiny fixture: the unit structure described in its README', async (t) => {
  const { header, rows } = readCsv('fixtures/tiny/enterprises.csv', ',');
  t.same(header, ['ent', 'region', 'sector', 'employees', 'turnover']);
  const perUnit = new Map<string, number>();
  for (const r of rows) perUnit.set(r[0]!, (perUnit.get(r[0]!) ?? 0) + 1);
  t.equal(rows.length, 23);
  t.equal(perUnit.size, 21);
  t.same(
    [...perUnit]
      .filter(([, n]) => n > 1)
      .map(([u]) => u)
      .sort(),
    ['e02', 'e18'],
  );
  t.equal(
    Math.max(...perUnit.values()),
    (await loadPolicy('policies/tiny-sdc.json')).dataset.unit.maxRowsPerUnit,
    'maxRowsPerUnit keeps every row',
  );
  t.notOk(
    rows.some((r) => r[1] === 'W'),
    'region W is declared but empty (zero cells)',
  );
});

t.test('pums-dup fixture: 1 to 4 rows per pid, bounded to 2 by its policy', async (t) => {
  const { header, rows } = readCsv('fixtures/pums-dup/PUMS_dup.csv', ',');
  const pid = header.indexOf('pid');
  const perUnit = new Map<string, number>();
  for (const r of rows) perUnit.set(r[pid]!, (perUnit.get(r[pid]!) ?? 0) + 1);
  t.equal(perUnit.size, 1000);
  t.equal(Math.max(...perUnit.values()), 4);
  t.ok(
    [...perUnit.values()].some((n) => n > 2),
    'some persons lose rows to bounding',
  );
});

function csvOf(p: Plan): import('../../engine/types.ts').CsvSourcePlan {
  const s = p.dataset.source;
  if (s.kind !== 'csv') throw new Error(`expected a csv source, got ${s.kind}`);
  return s;
}
