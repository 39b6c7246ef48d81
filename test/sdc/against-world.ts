/**
 * The linked-release test data (`--against`, cross-release control): region r1..r4 x sector s1..s4 counts where
 * (r1, s1) has one unit (the only primary under n = 3). A release that forbids (r2, s1) as a secondary hides the
 * rectangle r1, r3 x s1, s2; a policy alone (frequency costs) prefers r1, r2 x s1, s2, which combined with the first
 * discloses (r1, s1). Not a test file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadPolicy } from '../../engine/policy/index.ts';
import { buildCellSystem, linkPublished, publishedSpecs, readPublishedReleases } from '../../engine/sdc/index.ts';
import { csvSource } from '../../engine/source/index.ts';

export interface WorldPolicy {
  readonly dataset: string;
  /** Cells the officer marks neverSuppress in table rs. */
  readonly never?: string[][] | null;
  /** Add a table `r` by region (margins). */
  readonly extraTable?: boolean;
  /** The release's `demo` flag (seeded runs need a demo dataset at publish). */
  readonly demo?: boolean;
}

/** Writes the microdata into `dir`; `policy(id, o)` writes a policy file there and returns its path. */
export function againstWorld(dir: string): { csv: string; policy: (id: string, o: WorldPolicy) => string } {
  const counts: Record<string, number> = { r1s1: 1, r1s2: 5, r2s1: 4, r2s2: 4, r3s1: 9, r3s2: 9 };
  const lines = ['region,sector'];
  for (const r of ['r1', 'r2', 'r3', 'r4'])
    for (const s of ['s1', 's2', 's3', 's4']) for (let k = 0; k < (counts[r + s] ?? 10); k++) lines.push(`${r},${s}`);
  const csv = path.join(dir, 'micro.csv');
  writeFileSync(csv, `${lines.join('\n')}\n`);
  const cat = (p: string) => [1, 2, 3, 4].map((i) => ({ code: `${p}${i}`, label: `${p}${i}` }));
  const policy = (id: string, o: WorldPolicy): string => {
    const doc = {
      id,
      version: '1',
      release: { title: id, audience: 'public', ...(o.demo ? { demo: true } : {}) },
      dataset: {
        id: o.dataset,
        source: { kind: 'csv', path: csv },
        unit: { kind: 'person' },
        columns: [
          { name: 'region', type: 'categorical', categories: cat('r') },
          { name: 'sector', type: 'categorical', categories: cat('s') },
        ],
      },
      tables: [
        {
          id: 'rs',
          title: 'region x sector',
          dimensions: ['region', 'sector'],
          measure: { kind: 'count' },
          ...(o.never ? { neverSuppress: o.never } : {}),
        },
        ...(o.extraTable ? [{ id: 'r', title: 'by region', dimensions: ['region'], measure: { kind: 'count' } }] : []),
      ],
      protection: {
        regime: 'sdc',
        rules: { minFrequency: { n: 3 } },
        secondary: { method: 'optimal', cost: 'frequency', timeLimitSeconds: 20 },
      },
    };
    const file = path.join(dir, `${id}.json`);
    writeFileSync(file, JSON.stringify(doc));
    return file;
  };
  return { csv, policy };
}

/**
 * The attacker holding a new release (directory `newDir`, made with `policyFile`) and an earlier one (`oldDir`): the
 * joint cell system over the new tables and the earlier release's tables recomputed from the policy's microdata, the
 * links (which earlier cells are suppressed or changed), and the cells still unknown once the new release's published
 * cells are read (`unknown`: 1 = suppressed by the new release; the caller marks what the earlier release tells).
 */
export async function attackerSystem(policyFile: string, newDir: string, oldDir: string) {
  const plan = await loadPolicy(policyFile);
  const specs = publishedSpecs(await readPublishedReleases([oldDir], plan), plan);
  const agg = await csvSource().aggregate(
    { ...plan, tables: [...plan.tables, ...specs.map((s) => s.plan)] },
    { boundingKey: new Uint8Array(32) },
  );
  const n = plan.tables.length;
  const fresh = agg.tables.slice(0, n);
  const links = linkPublished(specs, agg.tables.slice(n));
  const sys = buildCellSystem([...fresh, ...links.map((l) => l.table)]);
  const unknown = new Uint8Array(sys.cellCount).fill(1);
  fresh.forEach((tab, ti) =>
    (
      JSON.parse(readFileSync(path.join(newDir, `${tab.plan.id}.json`), 'utf8')) as { value: (number | null)[] }
    ).value.forEach((v, i) => {
      if (v !== null) unknown[sys.tableCells[ti]![i]!] = 0;
    }),
  );
  return { plan, n, fresh, links, sys, unknown };
}
