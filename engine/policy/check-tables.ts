/**
 * Semantic checks of a policy's tables: unique ids; dimensions that are declared categorical or derived columns, each
 * once, read from required columns, and buildable (hierarchy and total); a measure on a numeric column with ordered
 * bounds representable as scaled integers; marked cells (sdc only) naming one code of each dimension.
 *
 * Guarantee: problems are reported table by table in document order (id, dimensions, measure, marked cells); a
 * dimension whose domain is in `badDims` is skipped (reported where it is declared), and an optional column feeding
 * dimensions is reported once, at its first use.
 */
import { buildDimension, resolveHierarchy } from './dimension.ts';
import { arr, isObj, num, ptr, scaleExact, str, type Obj } from './json-read.ts';
import { SDC_ONLY_TABLE, type DatasetFacts, type Problems } from './problems.ts';

/** A table's dimensions; per dimension the set of its node codes, or null when it cannot be built. */
export function tableDimensions(
  p: Problems,
  t: Obj,
  base: string,
  { cols, dims, badDims }: DatasetFacts,
  hierarchies: Obj,
  optionalReported: Set<string>,
): (Set<string> | null)[] {
  const dimCodes: (Set<string> | null)[] = [];
  const used = new Set<string>();
  arr(t.dimensions).forEach((dm, j) => {
    const column = typeof dm === 'string' ? dm : isObj(dm) ? str(dm.column) : undefined;
    const dpath = typeof dm === 'string' ? `${base}/dimensions/${j}` : `${base}/dimensions/${j}/column`;
    if (column === undefined) {
      dimCodes.push(null);
      return;
    }
    const d = dims.get(column);
    if (d === undefined) {
      const c = cols.get(column);
      p.bad(
        dpath,
        c
          ? `dimension "${column}" must be a categorical or derived column, but it is ${c.type}`
          : `dimension "${column}" is not a declared categorical or derived column`,
      );
      dimCodes.push(null);
      return;
    }
    if (used.has(column)) p.bad(dpath, `dimension "${column}" appears twice in the table`);
    // A row must land in a leaf of every dimension: the column it is read from cannot be optional.
    const baseCol = d.base === undefined ? undefined : cols.get(d.base);
    if (baseCol && baseCol.required === false && !optionalReported.has(d.base!)) {
      optionalReported.add(d.base!);
      p.bad(
        ptr('dataset', 'columns', baseCol.index, 'required'),
        `column "${d.base}" feeds table dimensions (first ${dpath}), so it must be required; declare its missing code as a category instead`,
      );
    }
    used.add(column);
    if (badDims.has(column)) {
      dimCodes.push(null);
      return;
    }
    const total = isObj(dm) && dm.total === false ? false : true;
    const h = hierarchies[column];
    try {
      const built = buildDimension({
        name: column,
        categories: d.categories,
        hierarchy: resolveHierarchy(h, d.categories),
        total,
      });
      dimCodes.push(new Set(built.nodes.map((n) => n.code)));
    } catch (err) {
      p.bad(isObj(dm) ? `${base}/dimensions/${j}/total` : dpath, `dimension "${column}": ${(err as Error).message}`);
      dimCodes.push(null);
    }
  });
  return dimCodes;
}

/** Measure: numeric column, ordered bounds representable as scaled integers; quantiles under dp only. */
function checkMeasure(p: Problems, t: Obj, base: string, facts: DatasetFacts, isDp: boolean): void {
  checkMeasureAt(p, isObj(t.measure) ? t.measure : {}, `${base}/measure`, facts, isDp);
}

/** A measure object at `mpath` (a table's `measure`, or an on-demand measure). */
export function checkMeasureAt(p: Problems, m: Obj, mpath: string, { cols }: DatasetFacts, isDp: boolean): void {
  const base = mpath.replace(/\/measure$/, '');
  if (m.kind === 'quantile') checkQuantile(p, m, base, cols, isDp);
  if (m.kind === 'sum' || m.kind === 'mean' || m.kind === 'quantile') {
    const column = str(m.column);
    const c = column === undefined ? undefined : cols.get(column);
    if (column !== undefined && c === undefined)
      p.bad(`${mpath}/column`, `measure column "${column}" is not a declared column`);
    else if (c && c.type !== 'integer' && c.type !== 'number')
      p.bad(`${mpath}/column`, `measure column "${column}" must be integer or number, but it is ${c.type}`);
    const b = Array.isArray(m.bounds) && m.bounds.length === 2 ? m.bounds.map(num) : null;
    if (b && b[0] !== undefined && b[1] !== undefined) {
      const [lo, hi] = b as [number, number];
      if (lo > hi) p.bad(`${mpath}/bounds`, `lower bound ${lo} is greater than upper bound ${hi}`);
      if (c && (c.type === 'integer' || c.type === 'number')) {
        const dec = c.type === 'integer' ? 0 : c.decimals;
        for (const [k, v] of [
          [0, lo],
          [1, hi],
        ] as const) {
          if (scaleExact(v, dec) === null) {
            p.bad(
              `${mpath}/bounds/${k}`,
              `bound ${v} is not a multiple of 10^-${dec} (column "${column}" keeps ${dec} decimals) or is too large to scale exactly`,
            );
          }
        }
      }
    }
  }
}

/** Quantile: dp only (exponential mechanism), a quantile with at most 4 decimals, candidates distinct on the column's steps. */
function checkQuantile(p: Problems, m: Obj, base: string, cols: DatasetFacts['cols'], isDp: boolean): void {
  if (!isDp)
    p.bad(
      `${base}/measure/kind`,
      'quantile tables need the dp regime (exponential mechanism over declared candidates); sdc and ckm publish counts, sums and means',
    );
  const q = num(m.quantile);
  if (q !== undefined && q > 0 && q < 1 && scaleExact(q, 4) === null)
    p.bad(`${base}/measure/quantile`, `quantile ${q} has more than 4 decimals`);
  const c = cols.get(str(m.column) ?? '');
  const b = Array.isArray(m.bounds) && m.bounds.length === 2 ? m.bounds.map(num) : null;
  const bins = num(m.bins);
  if (!c || (c.type !== 'integer' && c.type !== 'number') || !b || bins === undefined) return;
  const dec = c.type === 'integer' ? 0 : c.decimals;
  const lo = scaleExact(b[0] ?? NaN, dec);
  const hi = scaleExact(b[1] ?? NaN, dec);
  if (lo !== null && hi !== null && hi - lo < bins)
    p.bad(
      `${base}/measure/bins`,
      `${bins} bins need bounds at least ${bins} steps of 10^-${dec} wide (candidates must be distinct), got ${hi - lo}`,
    );
}

/** Marked cells: sdc only; each a tuple of node codes, one per dimension. */
function checkMarkedCells(
  p: Problems,
  t: Obj,
  base: string,
  dimCodes: readonly (Set<string> | null)[],
  isDp: boolean,
): void {
  for (const key of SDC_ONLY_TABLE) {
    if (t[key] === undefined) continue;
    if (isDp) {
      p.refuse(`${base}/${key}`, `"${key}" (a suppression decision)`);
      continue;
    }
    arr(t[key]).forEach((tuple, k) => {
      if (!Array.isArray(tuple)) return;
      const tpath = `${base}/${key}/${k}`;
      if (dimCodes.length > 0 && tuple.length !== dimCodes.length) {
        p.bad(tpath, `a cell needs ${dimCodes.length} codes (one per dimension), got ${tuple.length}`);
        return;
      }
      tuple.forEach((code, d) => {
        const codes = dimCodes[d];
        if (typeof code === 'string' && codes && !codes.has(code))
          p.bad(`${tpath}/${d}`, `"${code}" is not a code of dimension ${d + 1} of the table`);
      });
    });
  }
}

/** Every table's problems, in document order. */
export function checkTables(p: Problems, tables: unknown, facts: DatasetFacts, hierarchies: Obj, isDp: boolean): void {
  const tableIds = new Map<string, number>();
  const optionalReported = new Set<string>();
  arr(tables).forEach((t, i) => {
    if (!isObj(t)) return;
    const base = ptr('tables', i);
    const id = str(t.id);
    if (id !== undefined) {
      if (tableIds.has(id))
        p.bad(`${base}/id`, `table id "${id}" is used twice (first at ${ptr('tables', tableIds.get(id)!)})`);
      else tableIds.set(id, i);
    }
    const dimCodes = tableDimensions(p, t, base, facts, hierarchies, optionalReported);
    checkMeasure(p, t, base, facts, isDp);
    checkMarkedCells(p, t, base, dimCodes, isDp);
  });
}
