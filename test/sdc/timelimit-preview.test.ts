import t from 'tap';
import seedrandom from 'seedrandom';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadPolicy } from '../../engine/policy/index.ts';
import { previewPolicy, previewText } from '../../engine/preview/index.ts';
import { tempDir } from '../tmp-dir.ts';

/**
 * preview of a sparse 4-dimension count table (the table of timelimit.test.ts, from a CSV through a policy) whose
 * search cannot finish in 6 s: the officer sees the coarse pattern and the figures to coarsen.
 */
t.test('preview names the time-limit fallback, the share of sensitive cells and suggested groupings', async (t) => {
  const dir = tempDir('sg-timelimit-');
  const sizes = [5, 4, 6, 5];
  const rng = seedrandom('sparse4');
  const rows = Array.from(
    { length: 800 },
    (_, i) => `p${i},${sizes.map((n, d) => `c${d}_${Math.floor(rng() ** 1.5 * n)}`).join(',')}`,
  );
  const csv = path.join(dir, 'people.csv');
  writeFileSync(csv, ['pid,d0,d1,d2,d3', ...rows].join('\n') + '\n');
  const policy = {
    id: 'sparse-4d',
    version: '1.0.0',
    release: { title: 'Sparse 4-d', description: 'time limit test', audience: 'public', demo: true, contact: 'tests' },
    dataset: {
      id: 'sparse-people',
      source: { kind: 'csv', path: csv },
      unit: { kind: 'person', column: 'pid' },
      columns: [
        { name: 'pid', title: 'Person', type: 'string' },
        ...sizes.map((n, d) => ({
          name: `d${d}`,
          title: `Dimension ${d}`,
          type: 'categorical',
          categories: Array.from({ length: n }, (_, i) => ({ code: `c${d}_${i}`, label: `c${d}_${i}` })),
        })),
      ],
    },
    tables: [{ id: 'sparse', title: 'Persons', dimensions: ['d0', 'd1', 'd2', 'd3'], measure: { kind: 'count' } }],
    protection: {
      regime: 'sdc',
      rules: { minFrequency: { n: 10 } },
      // The lone-cell rule, as before the insider model: under the default, the loaded shared machine can run out of
      // time proving the coarse rung against every insider, and the run is refused (insiders-timelimit.test.ts).
      secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: 6, insiders: 'lone-cell' },
      zeroCells: 'publish',
    },
  };
  const file = path.join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(policy));
  const plan = await loadPolicy(file);
  const p = await previewPolicy(plan, { seed: 'timelimit' });
  const text = previewText(p);
  t.equal(p.sdc!.auditPasses, true);
  t.same(p.sdc!.optimalStops, []);
  if (p.sdc!.coarse) {
    t.match(
      text,
      /TIME LIMIT: the heuristic did not finish within the time limit \(6 s; stopped in [^)]*\); coarse pattern: /,
    );
    t.match(
      text,
      / 61\.[12]\d*% of the cells are sensitive; to coarsen: table sparse: without dimension d\d \d+% of its cells/,
    );
    t.equal(p.sdc!.coarse.shareSensitive, 771 / 1260);
  } else t.comment('the search finished within the limit on this machine: no coarse pattern to show');
});
