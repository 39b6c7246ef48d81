/**
 * Open domains (issue 18, "undeclared domains by private partition selection"), end to end through the engine with a
 * CSV source: an open column collects the codes it meets, private partition selection publishes the frequent ones and
 * never the rare ones, the manifest states the selection's threshold, budget and delta, and the guarantee names
 * delta. Also: the policy checks that refuse what open domains do not support, each at its JSON pointer.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runRelease } from '../../engine/pipeline.ts';
import { loadPolicy, validatePolicy } from '../../engine/policy/index.ts';
import { renderRelease } from '../../engine/release/write.ts';
import { parseRelease } from '../../engine/release/read.ts';
import { tempDir } from '../tmp-dir.ts';

/** Persons by occupation (open) and region (declared): frequent occupations, and rare ones held by 1 or 2 persons. */
const PEOPLE: readonly (readonly [string, number])[] = [
  ['clerk', 300],
  ['nurse', 200],
  ['teacher', 150],
  ['astronaut', 1],
  ['falconer', 2],
  ['luthier', 1],
];

function writeCsv(dir: string): string {
  const lines = ['pid,region,occupation'];
  let pid = 0;
  for (const [occ, n] of PEOPLE) for (let i = 0; i < n; i++) lines.push(`${++pid},${pid % 2 ? 'N' : 'S'},${occ}`);
  lines.push(`${++pid},N,`); // a missing occupation is never a candidate (the row is dropped)
  const file = path.join(dir, 'people.csv');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function policy(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'open-occupations',
    version: '1.0.0',
    release: { title: 'Persons by occupation', audience: 'public', demo: true },
    dataset: {
      id: 'people',
      source: { kind: 'csv', path: 'people.csv' },
      unit: { kind: 'person', column: 'pid', maxRowsPerUnit: 1 },
      onInvalidRow: 'drop',
      columns: [
        { name: 'pid', type: 'integer' },
        {
          name: 'region',
          type: 'categorical',
          categories: [
            { code: 'N', label: 'North' },
            { code: 'S', label: 'South' },
          ],
        },
        { name: 'occupation', type: 'categorical', domain: 'open' },
      ],
    },
    tables: [
      { id: 'by-occupation', title: 'Persons by occupation', dimensions: ['occupation'], measure: { kind: 'count' } },
      {
        id: 'by-occupation-region',
        title: 'Persons by occupation and region',
        dimensions: ['occupation', 'region'],
        measure: { kind: 'count' },
      },
    ],
    protection: {
      regime: 'dp',
      mechanism: 'discrete-laplace',
      budget: { epsilon: 3 },
      partitionSelection: { delta: 1e-6, threshold: 'minimum' },
    },
    ...overrides,
  };
}

async function planOf(doc: Record<string, unknown>) {
  const dir = tempDir('sg-open-');
  writeCsv(dir);
  const file = path.join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(doc));
  return loadPolicy(file);
}

const FREQUENT = ['clerk', 'nurse', 'teacher'];

/** A rendered release's files as the reader takes them (bytes). */
const asBuffers = (files: ReadonlyMap<string, string | Uint8Array>): Map<string, Buffer> =>
  new Map([...files].map(([k, v]) => [k, Buffer.from(v)] as const));
const RARE = ['astronaut', 'falconer', 'luthier'];

for (const mechanism of ['discrete-laplace', 'discrete-gaussian'] as const) {
  t.test(`${mechanism}: frequent categories published, rare ones never; manifest states the selection`, async (t) => {
    const doc = policy();
    (doc.protection as Record<string, unknown>).mechanism = mechanism;
    (doc.protection as Record<string, unknown>).budget = mechanism === 'discrete-laplace' ? { epsilon: 3 } : { rho: 1 };
    const plan = await planOf(doc);
    for (let s = 0; s < 8; s++) {
      const run = await runRelease(plan, { seed: `open ${mechanism} ${s}` });
      const m = run.content.manifest;
      for (const tab of run.content.tables) {
        const occ = tab.plan.dimensions[0]!;
        const codes = occ.nodes.slice(0, occ.leafCount).map((n) => n.code);
        t.same(codes, FREQUENT, `seed ${s}, ${tab.plan.id}: exactly the frequent occupations, in code order`);
        t.equal(occ.nodes[occ.total!]!.code, '_T', 'the total over the open dimension is kept');
      }
      const files = renderRelease(run.content).files;
      // The strict reader (the store's) accepts the release and reads the published categories back.
      const read = parseRelease(asBuffers(files));
      t.same(
        read.tables.map((x) => x.dimensions[0]!.nodes.map((n) => n.code)),
        [
          [...FREQUENT, '_T'],
          [...FREQUENT, '_T'],
        ],
      );
      const all = [...files.values()].map(String).join('\n');
      for (const r of RARE) t.notOk(all.includes(r), `seed ${s}: ${r} appears in no file`);
      // Stated in the budget (a seeded run's guarantee states nothing; a real one repeats it, see below).
      const sel = (m.budget as { partitionSelection?: { column: string; threshold: number; delta: number }[] })
        .partitionSelection!;
      t.equal(sel.length, 1);
      t.equal(sel[0]!.column, 'occupation');
      t.equal(sel[0]!.delta, 1e-6);
      t.ok(sel[0]!.threshold > 2, 'the threshold is above the rare counts');
      t.match(m.methods.join('\n'), /partition selection/);
      const budget = m.budget as { delta: number };
      t.ok(budget.delta >= 1e-6, 'the release delta includes the selection delta');
    }
    // A real (unseeded) statement names delta.
    const { describeDp } = await import('../../engine/dp/describe.ts');
    const run = await runRelease(plan, { seed: 'statement' });
    const acc = run.reviewer.dp!;
    const said = describeDp(plan as never, acc);
    t.match(said.guarantee.statement, /delta = /);
    t.match(said.guarantee.statement, /occupation/);
    t.ok((said.guarantee as { partitionSelection?: unknown }).partitionSelection, 'the guarantee lists the selection');
  });
}

t.test('an integer threshold above the minimum is used; below it is refused', async (t) => {
  const doc = policy();
  (doc.protection as Record<string, unknown>).partitionSelection = { delta: 1e-6, threshold: 160 };
  const run = await runRelease(await planOf(doc), { seed: 'high threshold' });
  const occ = run.content.tables[0]!.plan.dimensions[0]!;
  t.same(
    occ.nodes.slice(0, occ.leafCount).map((n) => n.code),
    ['clerk', 'nurse'],
    'teacher (150 units) is below a threshold of 160 (noise sd about 2)',
  );
  (doc.protection as Record<string, unknown>).partitionSelection = { delta: 1e-6, threshold: 3 };
  // Refused when the policy is loaded: before any data is read or any noise drawn (and charged).
  await t.rejects(planOf(doc), {
    code: 'POLICY_INVALID',
    message: /threshold 3 is below \d+/,
    where: { path: '/protection/partitionSelection/threshold' },
  });
});

t.test('what open domains do not support is refused at its JSON pointer', async (t) => {
  const problems = (doc: Record<string, unknown>) => {
    const v = validatePolicy(doc);
    return v.ok ? [] : v.errors.map((e) => `${e.path}: ${e.message}`);
  };
  t.same(problems(policy()), [], 'the test policy is valid');
  const noSel = policy();
  delete (noSel.protection as Record<string, unknown>).partitionSelection;
  t.match(problems(noSel).join('\n'), /\/protection: tables use the open column\(s\) "occupation"/);
  const sdc = policy({
    protection: { regime: 'sdc', rules: { minFrequency: { n: 3 } } },
  });
  t.match(
    problems(sdc).join('\n'),
    /\/dataset\/columns\/2\/domain: column "occupation" has an open domain, which needs the dp regime/,
  );
  const hier = policy();
  (hier.dataset as Record<string, unknown>).hierarchies = { occupation: { prefixLengths: [1] } };
  t.match(problems(hier).join('\n'), /\/dataset\/hierarchies\/occupation: column "occupation" has an open domain/);
  const cons = policy();
  (cons.protection as Record<string, unknown>).consistency = 'hierarchical';
  t.match(problems(cons).join('\n'), /\/protection\/consistency: consistency "hierarchical" with the open dimension/);
  const zeroDelta = policy();
  (zeroDelta.protection as Record<string, unknown>).partitionSelection = { delta: 0, threshold: 'minimum' };
  t.match(problems(zeroDelta).join('\n'), /\/protection\/partitionSelection\/delta/);
  const noRule = policy();
  (noRule.protection as Record<string, unknown>).partitionSelection = { delta: 1e-6 };
  t.match(problems(noRule).join('\n'), /\/protection\/partitionSelection.*threshold/);
  const cats = policy();
  (cats.dataset as { columns: Record<string, unknown>[] }).columns[2]!.categories = [{ code: 'x', label: 'x' }];
  t.match(problems(cats).join('\n'), /\/dataset\/columns\/2/);
  const noOpen = policy();
  (noOpen.dataset as { columns: Record<string, unknown>[] }).columns[2]!.domain = 'declared';
  t.ok(problems(noOpen).length > 0, 'a declared column still needs its categories');
});

t.test('preview and lint of an open-domain policy never show a candidate that is not published', async (t) => {
  const { previewPolicy, lintPlan } = await import('../../engine/preview/index.ts');
  const { previewText, previewHtml } = await import('../../engine/preview/render.ts');
  const plan = await planOf(policy());
  const p = await previewPolicy(plan, { seed: 'preview open' });
  const text = JSON.stringify(p) + previewText(p) + previewHtml(p);
  for (const r of RARE) t.notOk(text.includes(r), `${r} appears nowhere in the preview`);
  t.equal(p.tables[0]!.cells, FREQUENT.length + 1, 'the preview shows the published categories and the total');
  const findings = lintPlan(plan, {});
  t.same(
    findings.map((f) => [f.code, f.path]),
    [['OPEN_DOMAIN', '/dataset/columns/2/domain']],
    'lint: plan-level checks only, nothing about the data',
  );
  t.match(findings[0]!.message, /published only when its noisy unit count reaches \d+/);
});

t.test('no category passes: the tables keep only the total over the open dimension', async (t) => {
  const doc = policy();
  (doc.protection as Record<string, unknown>).partitionSelection = { delta: 1e-6, threshold: 1_000_000 };
  (doc.tables as unknown[]).push({
    id: 'no-total',
    title: 'Persons by occupation, no total',
    dimensions: [{ column: 'occupation', total: false }],
    measure: { kind: 'count' },
  });
  const run = await runRelease(await planOf(doc), { seed: 'none pass' });
  const [one, two, three] = run.content.tables;
  t.equal(three!.cells.length, 0, 'without a total and with no category, a table has no cell');
  t.same(
    one!.plan.dimensions[0]!.nodes.map((n) => n.code),
    ['_T'],
  );
  t.equal(one!.cells.length, 1);
  t.equal(two!.cells.length, 3, 'total x (N, S, total)');
  const read = parseRelease(asBuffers(renderRelease(run.content).files));
  t.equal(read.tables[0]!.dimensions[0]!.nodes.length, 1, 'the strict reader accepts it');
  t.equal(
    (run.content.manifest.budget as { partitionSelection: { released: number }[] }).partitionSelection[0]!.released,
    0,
  );
});

t.test('CLI: release, lint and preview of an open-domain policy print no candidate left out', async (t) => {
  const { main } = await import('../../cli/main.ts');
  const { capture } = await import('../capture-io.ts');
  const dir = tempDir('sg-open-cli-');
  writeCsv(dir);
  const file = path.join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(policy()));
  process.env.STATGUARD_SECURE_DIR = path.join(dir, 'secure');
  const outputs: string[] = [];
  for (const args of [
    ['lint', file],
    ['lint', file, '--format', 'json'],
    ['preview', file, '--seed', 'cli preview'],
    ['release', file, '--out', path.join(dir, 'rel'), '--seed', 'cli release', '--offline'],
  ]) {
    const io = capture();
    const code = await main(args, io);
    t.equal(code, 0, `${args.join(' ')}: ${io.stderr()}`);
    outputs.push(io.stdout() + io.stderr());
  }
  t.match(outputs[0]!, /data-level checks are not run on a dp policy/);
  const { readdirSync, readFileSync } = await import('node:fs');
  const files = readdirSync(path.join(dir, 'rel')).map((f) => readFileSync(path.join(dir, 'rel', f), 'utf8'));
  const all = [...outputs, ...files].join('\n');
  for (const r of RARE) t.notOk(all.includes(r), `${r} is printed and written nowhere`);
  t.ok(all.includes('clerk'), 'the published categories are there');
});

t.test('sum, mean and quantile tables over an open dimension are restricted like counts', async (t) => {
  const dir = tempDir('sg-open-measures-');
  const lines = ['pid,region,occupation,income'];
  let pid = 0;
  for (const [occ, n] of PEOPLE)
    for (let i = 0; i < n; i++) lines.push(`${++pid},${pid % 2 ? 'N' : 'S'},${occ},${(pid * 37) % 1000}`);
  writeFileSync(path.join(dir, 'people.csv'), lines.join('\n') + '\n');
  const doc = policy();
  (doc.dataset as { columns: unknown[] }).columns.push({ name: 'income', type: 'integer' });
  doc.tables = [
    {
      id: 'sum',
      title: 's',
      dimensions: ['occupation'],
      measure: { kind: 'sum', column: 'income', bounds: [0, 1000] },
    },
    {
      id: 'mean',
      title: 'm',
      dimensions: ['occupation'],
      measure: { kind: 'mean', column: 'income', bounds: [0, 1000] },
    },
    {
      id: 'median',
      title: 'q',
      dimensions: ['occupation', 'region'],
      measure: { kind: 'quantile', column: 'income', bounds: [0, 1000], quantile: 0.5, bins: 20 },
    },
  ];
  const file = path.join(dir, 'policy.json');
  writeFileSync(file, JSON.stringify(doc));
  const run = await runRelease(await loadPolicy(file), { seed: 'open measures' });
  for (const tab of run.content.tables) {
    const occ = tab.plan.dimensions[0]!;
    t.same(
      occ.nodes.slice(0, occ.leafCount).map((n) => n.code),
      FREQUENT,
      `${tab.plan.id}: the frequent occupations only`,
    );
    t.ok(
      tab.cells.every((c) => c.value === null || Number.isFinite(c.value)),
      `${tab.plan.id}: values`,
    );
  }
  const median = run.content.tables[2]!;
  t.equal(median.cells.length, (FREQUENT.length + 1) * 3);
});

t.test(
  'a sweep over epsilon of an open-domain policy: one aggregation, the selection redone at each value',
  async (t) => {
    const { aggregateExact, parseSweep, sweepPolicy, sweepText } = await import('../../engine/preview/index.ts');
    const plan = await planOf(policy());
    const data = await aggregateExact(plan, { seed: 'sweep open' });
    const s = await sweepPolicy(plan, parseSweep('epsilon=0.5,1,3'), data);
    t.equal(s.points.length, 3);
    const text = sweepText(s) + JSON.stringify(s);
    for (const r of RARE) t.notOk(text.includes(r), `${r} appears nowhere in the sweep`);
  },
);

t.test('a truncation report and a partition selection share the budget with the tables', async (t) => {
  const doc = policy();
  const p = doc.protection as Record<string, unknown>;
  p.truncationReport = { share: 0.1 };
  p.partitionSelection = { delta: 1e-6, threshold: 'minimum', weight: 2 };
  const plan = await planOf(doc);
  const dp = plan.protection;
  if (dp.regime !== 'dp') throw new Error('dp plan expected');
  // The report takes its share first; the two tables (weight 1 each) and the selection (weight 2) share the rest.
  t.equal(dp.truncationReport?.share, 0.1);
  t.ok(Math.abs(dp.partitionSelection!.share - 0.45) < 1e-12, `selection share ${dp.partitionSelection!.share}`);
  for (const tab of plan.tables) t.ok(Math.abs(tab.budgetShare - 0.225) < 1e-12, `${tab.id}: ${tab.budgetShare}`);
  const run = await runRelease(plan, { seed: 'report and selection' });
  const m = run.content.manifest as unknown as {
    budget: { epsilon: number; tables: { epsilon: number }[]; partitionSelection?: { epsilon?: number }[] };
    truncation?: unknown;
  };
  t.ok(m.truncation, 'the manifest carries the truncation report');
  t.equal(m.budget.epsilon, 3, 'the release spends its declared total, no more');
});
