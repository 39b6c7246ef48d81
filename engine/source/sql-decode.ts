/**
 * Decoding the cell rows of the pushdown statements into ExactTables identical to the CSV path's: each row's grouping
 * set from its GROUPING() chunks, each level value mapped back to the table's node, counts, sums and top lists checked
 * for exactness (a cell's sum is bounded by rows * max(|L|,|U|) < 2^53).
 */
import { StatguardError } from '../errors.ts';
import type { ExactCell, ExactTable } from '../types.ts';
import { TOP_K, cellCount, strides } from '../types.ts';
import { toInt } from './sql-run.ts';
import type { AggStatement, SqlQueryPlan } from './sql/index.ts';

/** Set key (sorted grouped level columns) of an output row, from its GROUPING() chunks. */
function setKeyOf(chunks: readonly (readonly string[])[], r: Record<string, unknown>): string {
  const grouped: string[] = [];
  chunks.forEach((chunk, i) => {
    const g = toInt(r[`g${i}`]);
    // GROUPING(a, b, c): bit set (1) when the column is NOT grouped; the last argument is the lowest bit.
    chunk.forEach((name, j) => {
      if (((g >> (chunk.length - 1 - j)) & 1) === 0) grouped.push(name);
    });
  });
  return grouped.sort().join(',');
}

/** A text list of integers from the database: DuckDB "[9, 7]" or PostgreSQL "{9,7}" (NULL: empty). */
export function parseList(v: unknown): number[] {
  if (v === null || v === undefined) return [];
  const s = String(v)
    .replace(/^[[{]|[\]}]$/g, '')
    .trim();
  return s === '' ? [] : s.split(',').map((x) => toInt(x.trim()));
}

/** The cells of one table as they are decoded. */
export interface TableAcc {
  readonly b: SqlQueryPlan['layout']['tables'][number];
  readonly cells: (ExactCell | undefined)[];
  readonly st: number[];
  readonly codeMaps: Map<string, number>[];
}

export function emptyTables(q: SqlQueryPlan): TableAcc[] {
  return q.layout.tables.map((b) => ({
    b,
    cells: new Array<ExactCell | undefined>(cellCount(b.plan.dimensions)),
    st: strides(b.plan.dimensions),
    codeMaps: b.plan.dimensions.map((d) => new Map(d.nodes.map((x, i) => [x.code, i] as const))),
  }));
}

/** The cell of a decoded row for a table (its count, or the sum figures of its clamp). */
function cellOf(q: SqlQueryPlan, b: TableAcc['b'], r: Record<string, unknown>): ExactCell {
  if (b.clamp < 0) {
    const units = toInt(r.units);
    return { units, rows: toInt(r.rows), sum: units, top: new Array<number>(Math.min(units, TOP_K)).fill(1) };
  }
  const ci = b.clamp;
  const units = toInt(r[`units${ci}`]);
  const rowsN = toInt(r[`rows${ci}`]);
  const sum = toInt(r[`sum${ci}`]);
  const c = q.layout.clamps[ci]!;
  // Exactness, as in the CSV path: a cell's sum is bounded by rows * max(|L|,|U|), checked against 2^53.
  if (rowsN * Math.max(Math.abs(c.lower), Math.abs(c.upper)) > Number.MAX_SAFE_INTEGER) {
    throw new StatguardError(
      'ARITHMETIC_OVERFLOW',
      `table ${JSON.stringify(b.plan.id)}: a cell sums ${rowsN} rows with bound ${Math.max(Math.abs(c.lower), Math.abs(c.upper))}, beyond exact integer range (2^53); lower the bounds or decimals`,
    );
  }
  // top: the TOP_K largest per-unit contributions, descending (the database sorted them).
  const top = parseList(r[`top${ci}`]).slice(0, Math.min(units, TOP_K));
  return { units, rows: rowsN, sum: sum + 0, top };
}

/**
 * Decode the rows of statement `st` into the cells of every table using their sets; `topsOnly`: set only the top
 * contributions of cells decoded before (sum tables whose clamp the row carries).
 */
export function decodeInto(
  out: TableAcc[],
  q: SqlQueryPlan,
  st: AggStatement,
  rows: readonly Record<string, unknown>[],
  topsOnly = false,
): void {
  const colByName = new Map(st.cols.map((c) => [c.name, c] as const));
  for (const r of rows) {
    const key = setKeyOf(st.chunks, r);
    const set = q.sets.get(key);
    if (!set || !st.sets.includes(key)) continue;
    for (const ti of set.tables) {
      const t = out[ti]!;
      const b = t.b;
      let idx = 0;
      b.plan.dimensions.forEach((dim, d) => {
        const vi = b.dimVar[d]!;
        const colName = set.cols.find((c) => colByName.get(c)!.variable === vi);
        let node: number;
        if (colName === undefined) node = dim.total!;
        else {
          const canonNode = toInt(r[colName]);
          const code = q.canon[vi]!.dim.nodes[canonNode]!.code;
          node = t.codeMaps[d]!.get(code)!;
        }
        idx += node * t.st[d]!;
      });
      if (topsOnly) {
        const prev = t.cells[idx];
        const v = b.clamp >= 0 ? r[`top${b.clamp}`] : null;
        if (prev === undefined || v === null || v === undefined) continue;
        t.cells[idx] = { ...prev, top: parseList(v).slice(0, Math.min(prev.units, TOP_K)) };
        continue;
      }
      t.cells[idx] = cellOf(q, b, r);
    }
  }
}

export function finish(out: TableAcc[]): ExactTable[] {
  return out.map((t) => ({
    kind: 'exact' as const,
    plan: t.b.plan,
    cells: Array.from(t.cells, (c) => c ?? { units: 0, rows: 0, sum: 0, top: [] }),
  }));
}
