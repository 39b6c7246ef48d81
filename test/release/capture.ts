/**
 * A seeded release of a plan from its CSV source that also hands back the exact tables the source aggregated (the
 * values a leak test searches every output for). Not a test file.
 */
import { runRelease } from '../../engine/pipeline.ts';
import { csvSource } from '../../engine/source/index.ts';
import type { ExactTable, Plan } from '../../engine/types.ts';

export async function releaseCapturingExact(plan: Plan, seed: string) {
  let exact: ExactTable[] = [];
  const real = csvSource();
  const run = await runRelease(plan, {
    seed,
    source: {
      kind: 'capture',
      aggregate: async (p, ctx) => {
        const r = await real.aggregate(p, ctx);
        exact = r.tables;
        return r;
      },
    },
  });
  return { run, exact };
}
