/**
 * A policy whose preview is as large as asked: one dp count table over two categorical columns of `side` categories
 * each (with totals: (side + 1)^2 cells; side 999 gives 1,000,000 cells), on a generated CSV of `rows` rows (one row
 * per unit, categories spread evenly). Used by the abuse bench and the preview-limit tests.
 * Synthetic data only, no randomness.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface BigPreview {
  /** The policy document (its source an absolute path inside `dir`). */
  readonly doc: Record<string, unknown>;
  /** Cells of its one table. */
  readonly cells: number;
}

export async function bigPreviewPolicy(dir: string, side: number, rows = side * 20): Promise<BigPreview> {
  const csv = path.join(dir, `big-${side}.csv`);
  const lines = ['unit,a,b'];
  for (let i = 0; i < rows; i++) lines.push(`u${i},c${i % side},c${Math.floor(i / side) % side}`);
  await writeFile(csv, lines.join('\n') + '\n');
  const categories = Array.from({ length: side }, (_, i) => ({ code: `c${i}`, label: `Category ${i}` }));
  const doc = {
    id: `big-${side}`,
    version: '1.0.0',
    release: { title: `Preview of ${(side + 1) ** 2} cells`, audience: 'public', demo: true, contact: 'bench' },
    dataset: {
      id: `big-${side}`,
      source: { kind: 'csv', path: csv },
      unit: { kind: 'person', column: 'unit', maxRowsPerUnit: 1 },
      columns: [
        { name: 'unit', title: 'Unit', type: 'string' },
        { name: 'a', title: 'A', type: 'categorical', categories },
        { name: 'b', title: 'B', type: 'categorical', categories },
      ],
    },
    tables: [{ id: 'ab', title: 'Units by a and b', dimensions: ['a', 'b'], measure: { kind: 'count' } }],
    protection: { regime: 'dp', mechanism: 'discrete-laplace', budget: { epsilon: 1 } },
  };
  return { doc, cells: (side + 1) ** 2 };
}
