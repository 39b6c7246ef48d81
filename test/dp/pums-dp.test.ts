/**
 * `pums-dp` publishes what its title says (issue 18): through the command, its release has the mean income per person
 * (each person once: one row kept per person, mean over units), the median income per person by sex (quantile table)
 * within the stated rank bound of the persons' exact median, and the truncation report it asks for.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { main } from '../../cli/main.ts';
import { tempDir } from '../tmp-dir.ts';

const POLICY = path.resolve('policies/pums-dp.json');

/** Each person once (their rows are repeats of one record): sex and income clamped to [0, 200000]. */
function persons(): { sex: string; income: number; raw: number }[] {
  const [head, ...lines] = readFileSync('fixtures/pums-dup/PUMS_dup.csv', 'utf8').trim().split('\n');
  const cols = head!.split(',');
  const byPid = new Map<string, { sex: string; income: number; raw: number }>();
  for (const l of lines) {
    const f = l.split(',');
    const raw = Number(f[cols.indexOf('income')]);
    const income = Math.min(200000, Math.max(0, raw));
    byPid.set(f[cols.indexOf('pid')]!, { sex: f[cols.indexOf('sex')]!, income, raw });
  }
  return [...byPid.values()];
}

/** Rank error of v as the median of xs, in rows: |L - G| / 2 (L below v, G above). */
const rankError = (xs: readonly number[], v: number): number =>
  Math.abs(xs.filter((x) => x < v).length - xs.filter((x) => x > v).length) / 2;

t.test('pums-dp through the command: per-person mean, median by sex, truncation report', async (t) => {
  const out = path.join(tempDir('sg-pums-dp-'), 'release');
  let said = '';
  const io = { out: (x: string) => void (said += x), err: (x: string) => void (said += x), isTty: false };
  t.equal(await main(['release', POLICY, '--out', out, '--seed', 'pums-dp title'], io), 0, said);
  const m = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
    dataset: { unit: { maxRowsPerUnit: number } };
    tables: {
      id: string;
      title: string;
      measure: { kind: string; per?: string; quantile?: number; bounds?: number[] };
      privacy: { quantile?: { rankBound95: number; candidateSpacing: number } };
    }[];
    truncation?: { counts: { quantity: string; value: number; halfWidth95: number }[] };
  };
  t.equal(m.dataset.unit.maxRowsPerUnit, 1, 'one row per person');
  const mean = m.tables.find((x) => x.measure.kind === 'mean')!;
  t.match(mean.title, /Mean income per person/);
  t.equal(mean.measure.per, 'unit', 'a mean over persons (units), each counted once');

  const median = m.tables.find((x) => x.id === 'median-income-sex')!;
  t.match(median.title, /Median income per person by sex/);
  t.same(median.measure, {
    kind: 'quantile',
    column: 'income',
    bounds: [0, 200000],
    quantile: 0.5,
    bins: 400,
    unit: 'USD',
  });
  const bound = median.privacy.quantile!.rankBound95;
  const ps = persons();
  const rows = readFileSync(path.join(out, 'median-income-sex.csv'), 'utf8').trim().split('\n').slice(1);
  t.equal(rows.length, 3, 'two sexes and the total');
  for (const line of rows) {
    const [sex, , value] = line.split(',');
    const xs = ps.filter((p) => sex === '_T' || p.sex === sex).map((p) => p.income);
    const sorted = [...xs].sort((a, b) => a - b);
    const exact = sorted[Math.ceil(sorted.length / 2) - 1]!;
    const best = Math.min(...Array.from({ length: 401 }, (_, j) => rankError(xs, j * 500)));
    const e = rankError(xs, Number(value)) - best;
    t.ok(
      e <= bound,
      `sex ${sex}: median ${value} (exact ${exact}), excess rank error ${e} <= stated ${bound.toFixed(1)}`,
    );
  }

  // The truncation report: rows left out (948 exactly: 582 persons with 2 to 4 rows) and incomes above 200,000.
  const counts = m.truncation!.counts;
  t.same(
    counts.map((c) => c.quantity),
    ['rows-dropped', 'values-clamped'],
  );
  t.ok(Math.abs(counts[0]!.value - 948) <= counts[0]!.halfWidth95, `rows dropped about ${counts[0]!.value}`);
  const above = ps.filter((p) => p.raw > 200000).length;
  t.ok(
    above > 0 && Math.abs(counts[1]!.value - above) <= counts[1]!.halfWidth95,
    `incomes clamped: ${counts[1]!.value}`,
  );
});
