/**
 * Semantic checks of a policy's dataset: declared columns, derived columns, and the unit, holding and weight columns.
 *
 * Guarantee: problems are reported in document order (columns, derived columns, then unit, holding and weight); the
 * returned facts hold every column by name and every categorical or derived column's domain, and name in `badDims`
 * the domains found broken (duplicate or reserved codes, an unusable derivation).
 */
import { TOTAL_CODE } from './dimension.ts';
import { arr, escapePointer, isObj, num, ptr, str, type Obj } from './json-read.ts';
import { categoryList, type ColInfo, type DatasetFacts, type DimInfo, type Problems } from './problems.ts';

/** Columns: unique names, unique category codes, ordered constraints, missing values distinct from codes. */
function checkColumns(p: Problems, dataset: Obj, badDims: Set<string>): Map<string, ColInfo> {
  const cols = new Map<string, ColInfo>();
  arr(dataset.columns).forEach((c, i) => {
    if (!isObj(c)) return;
    const name = str(c.name);
    if (name === undefined) return;
    if (cols.has(name)) {
      p.bad(
        ptr('dataset', 'columns', i, 'name'),
        `column "${name}" is declared twice (first at ${ptr('dataset', 'columns', cols.get(name)!.index)})`,
      );
      return;
    }
    const cats = categoryList(c.categories);
    const seen = new Map<string, number>();
    arr(c.categories).forEach((cat, j) => {
      const code = isObj(cat) ? str(cat.code) : undefined;
      if (code === undefined) return;
      if (seen.has(code)) {
        p.bad(
          ptr('dataset', 'columns', i, 'categories', j, 'code'),
          `category code "${code}" of column "${name}" is declared twice`,
        );
        badDims.add(name);
      }
      if (code === TOTAL_CODE) {
        p.bad(
          ptr('dataset', 'columns', i, 'categories', j, 'code'),
          `category code "${TOTAL_CODE}" is reserved for the dimension total`,
        );
        badDims.add(name);
      }
      seen.set(code, j);
    });
    const missing = arr(c.missingValues).filter((m): m is string => typeof m === 'string');
    for (const m of missing)
      if (seen.has(m))
        p.bad(
          ptr('dataset', 'columns', i, 'missingValues'),
          `"${m}" is both a missing value and a category code of column "${name}"`,
        );
    if (isObj(c.constraints)) {
      const lo = num(c.constraints.minimum);
      const hi = num(c.constraints.maximum);
      if (lo !== undefined && hi !== undefined && lo > hi)
        p.bad(ptr('dataset', 'columns', i, 'constraints'), `minimum ${lo} is greater than maximum ${hi}`);
    }
    cols.set(name, {
      index: i,
      type: str(c.type) ?? '',
      codes: cats.map((x) => x.code),
      decimals: num(c.decimals) ?? 0,
      required: c.required,
    });
  });
  return cols;
}

/** The domains of the categorical columns (usable as table dimensions as declared). */
function columnDomains(dataset: Obj, cols: ReadonlyMap<string, ColInfo>): Map<string, DimInfo> {
  const dims = new Map<string, DimInfo>();
  for (const [name, c] of cols) {
    if (c.type === 'categorical') {
      const col = arr(dataset.columns)[c.index] as Obj;
      dims.set(name, {
        kind: 'column',
        base: name,
        codes: c.codes,
        categories: categoryList(col.categories),
        path: ptr('dataset', 'columns', c.index),
      });
    }
  }
  return dims;
}

/** A derived column being checked: its raw declaration, name, source column name and info, and JSON pointer. */
interface Derivation {
  readonly d: Obj;
  readonly name: string;
  readonly from: string | undefined;
  readonly src: ColInfo | undefined;
  readonly base: string;
}

/** Bins on a numeric column: unique codes, min <= max, no overlap. */
function binsDomain(
  p: Problems,
  { d, from, src, base }: Derivation,
  dBins: unknown[],
): { ok: boolean; categories: { code: string; label: string }[] } {
  let ok = true;
  if (src && src.type !== 'integer' && src.type !== 'number') {
    p.bad(`${base}/from`, `bins need an integer or number column, but "${from}" is ${src.type}`);
    ok = false;
  }
  const bins = dBins
    .map((b, j) => ({ j, b: isObj(b) ? b : {} }))
    .map(({ j, b }) => ({ j, code: str(b.code), min: num(b.min), max: num(b.max) }));
  const codes = new Set<string>();
  for (const b of bins) {
    if (b.code !== undefined) {
      if (codes.has(b.code)) {
        p.bad(`${base}/bins/${b.j}/code`, `bin code "${b.code}" is declared twice`);
        ok = false;
      }
      codes.add(b.code);
    }
    if (b.min !== undefined && b.max !== undefined && b.min > b.max) {
      p.bad(`${base}/bins/${b.j}`, `bin "${b.code ?? b.j}" has min ${b.min} greater than max ${b.max}`);
      ok = false;
    }
  }
  // Overlap: bins are inclusive intervals [min, max]; sorted by min, each must start after the previous ends.
  const sorted = bins
    .filter((b) => b.min !== undefined && b.max !== undefined && b.min <= b.max)
    .sort((a, b) => a.min! - b.min!);
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1]!;
    const cur = sorted[k]!;
    if (cur.min! <= prev.max!) {
      // Report at the later-declared bin, naming the earlier one.
      const [later, earlier] = cur.j > prev.j ? [cur, prev] : [prev, cur];
      p.bad(
        `${base}/bins/${later.j}`,
        `bin "${later.code ?? ''}" [${later.min}, ${later.max}] overlaps bin "${earlier.code ?? ''}" [${earlier.min}, ${earlier.max}] (bins are inclusive at both ends)`,
      );
      ok = false;
    }
  }
  const categories = arr(d.bins)
    .filter(isObj)
    .map((b) => ({ code: str(b.code) ?? '', label: str(b.label) ?? '' }));
  return { ok, categories };
}

/** A map of a categorical column onto declared categories: unique targets, known keys, every source code mapped. */
function mapDomain(
  p: Problems,
  { d, name, from, src, base }: Derivation,
  map: Obj,
): { ok: boolean; categories: { code: string; label: string }[] } {
  let ok = true;
  if (src && src.type !== 'categorical') {
    p.bad(`${base}/from`, `a map needs a categorical column, but "${from}" is ${src.type}`);
    ok = false;
  }
  const categories = categoryList(d.categories);
  const targets = new Set<string>();
  arr(d.categories).forEach((cat, j) => {
    const code = isObj(cat) ? str(cat.code) : undefined;
    if (code === undefined) return;
    if (targets.has(code)) {
      p.bad(`${base}/categories/${j}/code`, `category code "${code}" of derived column "${name}" is declared twice`);
      ok = false;
    }
    targets.add(code);
  });
  for (const [k, v] of Object.entries(map)) {
    if (src && src.type === 'categorical' && !src.codes.includes(k)) {
      p.bad(`${base}/map/${escapePointer(k)}`, `"${k}" is not a declared category of column "${from}"`);
      ok = false;
    }
    if (typeof v === 'string' && targets.size > 0 && !targets.has(v)) {
      p.bad(`${base}/map/${escapePointer(k)}`, `"${v}" is not a declared category of derived column "${name}"`);
      ok = false;
    }
  }
  if (src && src.type === 'categorical') {
    const unmapped = src.codes.filter((c) => !Object.hasOwn(map, c));
    if (unmapped.length > 0) {
      p.bad(`${base}/map`, `categories ${unmapped.map((c) => `"${c}"`).join(', ')} of column "${from}" are not mapped`);
      ok = false;
    }
  }
  return { ok, categories };
}

/** Derived columns: unique names, known source, bins on numeric columns (non-overlapping), complete maps on categorical ones. */
function checkDerived(p: Problems, dataset: Obj, facts: DatasetFacts): void {
  const { cols, dims, badDims } = facts;
  arr(dataset.derived).forEach((d, i) => {
    if (!isObj(d)) return;
    const name = str(d.name);
    const from = str(d.from);
    const base = ptr('dataset', 'derived', i);
    if (name === undefined) return;
    if (cols.has(name)) {
      p.bad(`${base}/name`, `derived column "${name}" has the name of a declared column`);
      return;
    }
    if (dims.has(name)) {
      p.bad(`${base}/name`, `derived column "${name}" is declared twice`);
      return;
    }
    let ok = true;
    let categories: { code: string; label: string }[] = [];
    const src = from === undefined ? undefined : cols.get(from);
    if (from !== undefined && src === undefined) {
      p.bad(`${base}/from`, `derived column "${name}" is computed from "${from}", which is not a declared column`);
      ok = false;
    }
    const s: Derivation = { d, name, from, src, base };
    if (Array.isArray(d.bins)) {
      const r = binsDomain(p, s, d.bins);
      if (!r.ok) ok = false;
      categories = r.categories;
    } else if (isObj(d.map)) {
      const r = mapDomain(p, s, d.map);
      if (!r.ok) ok = false;
      categories = r.categories;
    } else {
      ok = false;
    }
    dims.set(name, {
      kind: 'derived',
      base: from,
      codes: ok ? categories.map((c) => c.code) : [],
      categories: ok ? categories : [],
      path: base,
    });
    categories.forEach((c, j) => {
      if (c.code === TOTAL_CODE) {
        p.bad(
          `${base}/${Array.isArray(d.bins) ? 'bins' : 'categories'}/${j}/code`,
          `category code "${TOTAL_CODE}" is reserved for the dimension total`,
        );
        ok = false;
      }
    });
    if (!ok) badDims.add(name);
  });
}

/** Unit, holding and weight columns. */
function checkUnitColumns(p: Problems, dataset: Obj, cols: ReadonlyMap<string, ColInfo>, isDp: boolean): void {
  // Unit column: declared and required.
  const unit = isObj(dataset.unit) ? dataset.unit : {};
  const unitCol = str(unit.column);
  if (unitCol !== undefined) {
    const c = cols.get(unitCol);
    if (c === undefined) p.bad(ptr('dataset', 'unit', 'column'), `unit column "${unitCol}" is not a declared column`);
    else if (c.required === false)
      p.bad(ptr('dataset', 'columns', c.index, 'required'), `the unit column "${unitCol}" must be required`);
  }

  // Holding and weight columns: declared; a weight is numeric; neither under dp (no dominance rules; unweighted sensitivity).
  const holdingCol = str(unit.holding);
  if (holdingCol !== undefined) {
    if (!cols.has(holdingCol))
      p.bad(ptr('dataset', 'unit', 'holding'), `holding column "${holdingCol}" is not a declared column`);
    if (isDp)
      p.bad(
        ptr('dataset', 'unit', 'holding'),
        'a holding column serves the sdc dominance rules; a dp policy cannot use it',
      );
  }
  const weightCol = str(dataset.weight);
  if (weightCol !== undefined) {
    const c = cols.get(weightCol);
    if (c === undefined) p.bad(ptr('dataset', 'weight'), `weight column "${weightCol}" is not a declared column`);
    else if (c.type !== 'integer' && c.type !== 'number')
      p.bad(ptr('dataset', 'weight'), `weight column "${weightCol}" must be integer or number, but it is ${c.type}`);
    if (isDp)
      p.bad(
        ptr('dataset', 'weight'),
        'sampling weights are not supported under dp (the sensitivity bounds assume unweighted rows)',
      );
  }
}

/** Every semantic problem of the dataset part, and the facts the later checks build on. */
export function checkDataset(p: Problems, dataset: Obj, isDp: boolean): DatasetFacts {
  const badDims = new Set<string>();
  const cols = checkColumns(p, dataset, badDims);
  const dims = columnDomains(dataset, cols);
  const facts: DatasetFacts = { cols, dims, badDims };
  checkDerived(p, dataset, facts);
  checkUnitColumns(p, dataset, cols, isDp);
  return facts;
}
