/**
 * Honest accuracy (issue 18, item 3): a dp manifest states, per table, what moves its values besides the noise
 * (bounding, clamping, granularity, non-negativity, the range of a mean), from the plan only; JSON-stat carries the
 * same notes (`note`), so any reader shows them next to the stated half-widths.
 */
import t from 'tap';
import { runRelease } from '../../engine/pipeline.ts';
import { loadPolicy } from '../../engine/policy/index.ts';
import { renderRelease } from '../../engine/release/write.ts';

interface Bias {
  source: string;
  direction: string;
  bound: number | null;
  note: string;
}

t.test('pums-dp: bias notes per table in the manifest and in JSON-stat', async (t) => {
  const plan = await loadPolicy(new URL('../../policies/pums-dp.json', import.meta.url).pathname);
  const run = await runRelease(plan, { seed: 'bias notes' });
  const m = run.content.manifest;
  const bias = (id: string): Bias[] => (m.tables.find((x) => x.id === id)!.privacy as { bias: Bias[] }).bias;
  t.same(
    bias('persons-sex-age').map((b) => [b.source, b.direction]),
    [
      ['bounding', 'down'],
      ['non-negativity', 'up'],
    ],
  );
  const mean = bias('mean-income-sex-married');
  t.same(
    mean.map((b) => b.source),
    ['bounding', 'clamping', 'non-negativity', 'mean-range'],
  );
  t.match(mean.find((b) => b.source === 'clamping')!.note, /outside \[0, 200000\]/);
  // Laplace or Gaussian at a true 0: the upward bias bound is stated as a figure in the published unit.
  const nn = bias('persons-sex-age').find((b) => b.source === 'non-negativity')!;
  t.ok(nn.bound !== null && nn.bound > 0);
  t.match(m.methods.join('\n'), /covers the noise only/);
  const files = renderRelease(run.content).files;
  const js = JSON.parse(String(files.get('mean-income-sex-married.json'))) as { note: string[] };
  t.same(
    js.note,
    ['Unit of measure: USD.', ...mean.map((b) => b.note)],
    'JSON-stat notes carry the same text (after the declared unit)',
  );
});

t.test('no bounding note when each row is its own unit; granularity stated when sums are rounded', async (t) => {
  const plan = await loadPolicy(new URL('../../policies/acs-tx-dp.json', import.meta.url).pathname);
  const g = { ...plan, protection: { ...plan.protection, granularityLog2: 3 } } as typeof plan;
  const run = await runRelease(g, { seed: 'bias notes 2' });
  for (const e of run.content.manifest.tables) {
    const bias = (e.privacy as { bias: Bias[] }).bias;
    const tp = plan.tables.find((x) => x.id === e.id)!;
    t.equal(
      bias.some((b) => b.source === 'bounding'),
      plan.dataset.unit.column !== null,
      `${e.id}: bounding noted iff units have several rows`,
    );
    if (tp.measure.kind !== 'count') {
      const gr = bias.find((b) => b.source === 'granularity');
      t.ok(gr && gr.bound! > 0, `${e.id}: granularity stated`);
    }
  }
});
