/**
 * Two previews on the same data, figure by figure, with the difference (b - a).
 * Both previews must come from the same dataset (same exact tables): the
 * caller aggregates once and previews both plans from the same ExactData when
 * the two policies read the same source.
 */
import type { Preview, TablePreview } from './preview.ts';

export interface FigureRow {
  /** Table id, or '*' for release-wide figures. */
  readonly table: string;
  readonly figure: string;
  readonly a: number | string | null;
  readonly b: number | string | null;
  /** b - a for numbers present on both sides, else null. */
  readonly diff: number | null;
}

export interface Comparison {
  readonly a: Preview;
  readonly b: Preview;
  readonly rows: readonly FigureRow[];
}

/** The headline figures of a preview, in a stable order. */
export function previewFigures(p: Preview): { table: string; figure: string; value: number | string | null }[] {
  const out: { table: string; figure: string; value: number | string | null }[] = [];
  const push = (table: string, figure: string, value: number | string | null): void => {
    out.push({ table, figure, value });
  };
  push('*', 'regime', p.regime);
  push('*', 'tables', p.tables.length);
  push(
    '*',
    'cells',
    p.tables.reduce((n, t) => n + t.cells, 0),
  );
  push(
    '*',
    'suppressed cells',
    p.tables.reduce((n, t) => n + t.suppressed, 0),
  );
  if (p.sdc) push('*', 'smallest audit margin', p.sdc.smallestMargin);
  if (p.budget) {
    push('*', 'budget epsilon', p.budget.total.epsilon);
    push('*', 'budget delta', p.budget.total.delta);
    push('*', 'budget rho', p.budget.total.rho);
    push('*', 'ledger cost rho', p.budget.cost.rho);
    push(
      '*',
      'remaining rho after',
      p.budget.ledger === 'unknown' ? 'unknown' : p.budget.ledger.remainingRho - p.budget.cost.rho,
    );
  }
  if (p.combination) push('*', 'cells recoverable with published releases', p.combination.recovered.length);
  push('*', 'lint findings', p.lint.length);
  for (const t of p.tables) tableFigures(t).forEach(([f, v]) => push(t.id, f, v));
  return out;
}

function tableFigures(t: TablePreview): [string, number | string | null][] {
  const rows: [string, number | string | null][] = [
    ['cells', t.cells],
    ['suppressed', t.suppressed],
    ['share of cells suppressed', t.shareCellsSuppressed],
  ];
  if (t.sdc) {
    for (const [rule, n] of Object.entries(t.sdc.primary)) rows.push([`primary: ${rule}`, n]);
    rows.push(
      ['primary', t.sdc.primaryTotal],
      ['secondary', t.sdc.secondary],
      ['share of value suppressed', t.sdc.shareValueSuppressed],
      ['smallest margin', t.sdc.smallestMargin],
    );
  }
  if (t.dp) {
    const d = t.dp;
    rows.push(
      ['epsilon', d.rho === null ? d.epsilon : d.approxEpsilon],
      ['delta', d.delta],
      ['rho', d.rho],
      ['noise scale', d.noiseScale],
      ['expected 95% half-width', d.halfWidth95],
      ['mean absolute error', d.error.meanAbsError],
      ['max absolute error', d.error.maxAbsError],
      ['share rel. error > 10%', d.error.shareRelAbove10],
      ['share rel. error > 50%', d.error.shareRelAbove50],
      ['share suppressed by noisy threshold', d.shareSuppressedByThreshold],
    );
  }
  rows.push(
    ['published cells with 1-2 units', t.risk.publishedOneOrTwo],
    ['sparsity share', t.risk.sparsityShare],
    ['sparse', t.risk.sparse ? 'yes' : 'no'],
  );
  return rows;
}

export function comparePreviews(a: Preview, b: Preview): Comparison {
  const fa = previewFigures(a);
  const fb = previewFigures(b);
  const key = (x: { table: string; figure: string }): string => `${x.table}\u0000${x.figure}`;
  const mb = new Map(fb.map((x) => [key(x), x.value]));
  const seen = new Set<string>();
  const rows: FigureRow[] = [];
  for (const x of fa) {
    const k = key(x);
    seen.add(k);
    const bv = mb.has(k) ? mb.get(k)! : null;
    rows.push({
      table: x.table,
      figure: x.figure,
      a: x.value,
      b: bv,
      diff: typeof x.value === 'number' && typeof bv === 'number' ? bv - x.value : null,
    });
  }
  for (const x of fb)
    if (!seen.has(key(x))) rows.push({ table: x.table, figure: x.figure, a: null, b: x.value, diff: null });
  return { a, b, rows };
}
