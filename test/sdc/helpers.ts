import { readFileSync, existsSync } from 'node:fs';
import { buildDimension } from '../../engine/policy/dimension.ts';
import type { DimensionSpec } from '../../engine/policy/dimension.ts';
import { TOP_K, cellCount, cellIndex } from '../../engine/types.ts';
import type { ExactCell, ExactTable, MeasurePlan, SdcPlan, TablePlan } from '../../engine/types.ts';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { cellCosts } from '../../engine/sdc/problem.ts';
import type { SecondaryInput } from '../../engine/sdc/problem.ts';
import { buildCellSystem } from '../../engine/sdc/relations.ts';

export const SHARED = new URL('../../../shared/data/', import.meta.url).pathname;
export const hasShared = existsSync(`${SHARED}sdctable/csv/microdata1.csv`);

/** Tiny CSV reader for the quoted, comma-separated sdcTable files. */
export function readCsv(path: string): Record<string, string>[] {
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
  const split = (l: string): string[] => l.split(',').map((s) => s.replace(/^"|"$/g, ''));
  const head = split(lines[0]!);
  return lines.slice(1).map((l) => {
    const f = split(l);
    return Object.fromEntries(head.map((h, i) => [h, f[i]!]));
  });
}

export const cats = (...codes: string[]) => codes.map((c) => ({ code: c, label: c }));

export interface Row {
  readonly codes: readonly string[];
  readonly value: number;
}

/** Build an ExactTable from rows (each row its own unit), with every margin of the dimensions' hierarchies. */
export function makeTable(
  id: string,
  specs: readonly DimensionSpec[],
  rows: readonly Row[],
  measure: MeasurePlan = { kind: 'count' },
  extra: Partial<TablePlan> = {},
): ExactTable {
  const dims = specs.map((s) => buildDimension(s));
  const plan: TablePlan = {
    id,
    title: id,
    description: '',
    dimensions: dims,
    measure,
    budgetShare: 0,
    neverSuppress: [],
    alwaysSuppress: [],
    ...extra,
  };
  const n = cellCount(dims);
  const contrib: number[][] = Array.from({ length: n }, () => []);
  for (const r of rows) {
    const leaves = r.codes.map((c, d) => {
      const i = dims[d]!.nodes.findIndex((x) => x.code === c && x.leaf);
      if (i < 0) throw new Error(`unknown code ${c}`);
      return i;
    });
    // every combination of ancestors
    let combos: number[][] = [[]];
    leaves.forEach((leaf, d) => {
      const anc: number[] = [];
      let cur: number | null = leaf;
      while (cur !== null) {
        anc.push(cur);
        cur = dims[d]!.nodes[cur]!.parent;
      }
      combos = combos.flatMap((c) => anc.map((a) => [...c, a]));
    });
    for (const c of combos) contrib[cellIndex(dims, c)]!.push(measure.kind === 'count' ? 1 : r.value);
  }
  const cells: ExactCell[] = contrib.map((xs) => {
    const sorted = [...xs].sort((a, b) => b - a);
    return { units: xs.length, rows: xs.length, sum: xs.reduce((s, x) => s + x, 0), top: sorted.slice(0, TOP_K) };
  });
  return { kind: 'exact', plan, cells };
}

export function sdcPlan(over: Partial<SdcPlan> = {}): SdcPlan {
  return {
    regime: 'sdc',
    minFrequency: null,
    frequencyProtection: 10,
    dominance: [],
    pPercent: null,
    pq: null,
    secondary: { method: 'optimal', cost: 'unity', timeLimitSeconds: 20 },
    zeroCells: 'publish',
    ...over,
  };
}

export const sumMeasure: MeasurePlan = { kind: 'sum', column: 'val', lower: 0, upper: 1_000_000, decimals: 0 };

/** region x gender from sdcTable's microdata1, region and gender with totals (order: Total first? see test). */
export function microdata1(measure: MeasurePlan = { kind: 'count' }): ExactTable {
  const rows = readCsv(`${SHARED}sdctable/csv/microdata1.csv`).map((r) => ({
    codes: [r.region!, r.gender!],
    value: Number(r.val),
  }));
  return makeTable(
    'md1',
    [
      { name: 'region', categories: cats('A', 'B', 'C', 'D'), totalCode: 'Total' },
      { name: 'gender', categories: cats('male', 'female'), totalCode: 'Total' },
    ],
    rows,
    measure,
  );
}

/**
 * sdcTable's cell numbering (1-based) of the full region x gender table: region varies slowest, each dimension
 * lists its total first then its codes in hierarchy order: (Total,Total), (Total,male), (Total,female), (A,Total), ...
 * Verified against the reference results: cell 6 = (A, female), the only cell with <= 2 units; cell 14 = (D, male),
 * the cell dominated by one contribution of 280.
 */
export function sdcTableNumber(t: ExactTable, codes: readonly string[]): number {
  const order = t.plan.dimensions.map((d) => {
    const root = d.nodes.findIndex((n) => n.parent === null && !n.leaf);
    const out: number[] = [];
    const walk = (i: number): void => {
      out.push(i);
      for (const c of d.nodes[i]!.children) walk(c);
    };
    walk(root);
    return out;
  });
  let num = 0;
  codes.forEach((code, d) => {
    const node = t.plan.dimensions[d]!.nodes.findIndex((n) => n.code === code);
    num = num * order[d]!.length + order[d]!.indexOf(node);
  });
  return num + 1;
}

export function codesOf(t: ExactTable, index: number): string[] {
  const dims = t.plan.dimensions;
  const out: string[] = [];
  let rest = index;
  for (let d = dims.length - 1; d >= 0; d--) {
    const n = dims[d]!.nodes.length;
    out.unshift(dims[d]!.nodes[rest % n]!.code);
    rest = Math.floor(rest / n);
  }
  return out;
}

/** The secondary-suppression input protectSdc builds for one table (unity or value costs; singleton rule on). */
export function secondaryInputOf(tab: ExactTable, plan: SdcPlan): SecondaryInput {
  const sys = buildCellSystem([tab]);
  const p = applyPrimaryRules(tab, plan);
  const primary = new Uint8Array(sys.cellCount);
  const sensitive = p.cells.flatMap((c, i) =>
    c.unsafe ? [{ id: sys.tableCells[0]![i]!, upper: c.upper, lower: c.lower }] : [],
  );
  for (const x of sensitive) primary[x.id] = 1;
  return {
    sys,
    tables: [tab],
    sensitive,
    primary,
    never: new Uint8Array(sys.cellCount),
    cost: cellCosts(sys, plan.secondary.cost),
    singletons: true,
  };
}
