/**
 * Policy validation: JSON Schema (ajv, draft 2020-12, all errors) plus the
 * semantic checks a schema cannot express. Every problem names its JSON path;
 * all problems are reported at once.
 *
 * Guarantee: a document for which `validatePolicy` returns ok can be planned
 * by `planPolicy` without error (every reference resolves, every hierarchy
 * partitions its domain, bounds are ordered and representable as scaled
 * integers, and a dp policy carries no rule on exact values).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { ErrorDetail } from '../errors.ts';
import { buildDimension, resolveHierarchy, TOTAL_CODE } from './dimension.ts';
import type { HierarchyNodeSpec } from './dimension.ts';
import type { PolicyDoc } from './policy-doc.ts';
import { policySchema } from './schema.ts';

/** One problem of a policy: POLICY_INVALID (malformed) or POLICY_REFUSED (well-formed but not allowed). */
export interface PolicyProblem extends ErrorDetail {
  readonly code: 'POLICY_INVALID' | 'POLICY_REFUSED';
  readonly path: string;
}

export type PolicyValidation =
  | { readonly ok: true; readonly policy: PolicyDoc }
  | { readonly ok: false; readonly errors: readonly PolicyProblem[]; readonly refused: boolean };

// ajv-formats is CommonJS: under NodeNext the default import is module.exports, whose `.default` is the plugin.
const addFormats = addFormatsModule.default;

let compiled: ValidateFunction | null = null;
/** The schema validator, compiled once on first use. */
function schemaValidator(): ValidateFunction {
  if (compiled === null) {
    const ajv = new Ajv2020({
      allErrors: true,
      verbose: true,
      strict: true,
      strictRequired: false,
      allowUnionTypes: true,
    });
    addFormats(ajv, ['date', 'email', 'uri']);
    compiled = ajv.compile(policySchema);
  }
  return compiled!;
}

/** Properties of `protection` that only make sense for sdc: rules on exact values. */
const SDC_ONLY_PROTECTION = ['rules', 'secondary', 'zeroCells', 'minFrequency', 'dominance', 'pPercent', 'pq'] as const;
/** Properties of a table that only make sense for sdc. */
const SDC_ONLY_TABLE = ['neverSuppress', 'alwaysSuppress'] as const;

export const DP_REFUSAL =
  'a differential-privacy release never bases a decision on exact values; remove it, or use regime "sdc"';

/** Validate a parsed policy document. Never throws. */
export function validatePolicy(json: unknown): PolicyValidation {
  const validate = schemaValidator();
  const schemaOk = validate(json) as boolean;
  const problems: PolicyProblem[] = [];
  const isDp = isObj(json) && isObj(json.protection) && json.protection.regime === 'dp';
  for (const e of schemaOk ? [] : (validate.errors ?? [])) {
    // sdc-only properties in a dp policy are reported once, as a refusal, by the semantic checks.
    if (
      isDp &&
      e.keyword === 'additionalProperties' &&
      e.instancePath === '/protection' &&
      (SDC_ONLY_PROTECTION as readonly string[]).includes(String(e.params.additionalProperty))
    )
      continue;
    const p = formatAjvError(e);
    if (p) problems.push(p);
  }
  // A union type error ("a string or an object") makes the failing branch's own type error redundant.
  const unionTyped = new Set(
    problems.filter((p) => / or /.test(p.message) && p.message.startsWith('must be a')).map((p) => p.path),
  );
  for (let i = problems.length - 1; i >= 0; i--) {
    const p = problems[i]!;
    if (unionTyped.has(p.path) && !/ or /.test(p.message) && /^must be an? \w+ \(got/.test(p.message))
      problems.splice(i, 1);
  }
  problems.push(...semanticProblems(json));
  const seen = new Set<string>();
  const unique = problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (unique.length === 0) return { ok: true, policy: json as PolicyDoc };
  return { ok: false, errors: unique, refused: unique.some((p) => p.code === 'POLICY_REFUSED') };
}

/* ------------------------------------------------------------------ */
/* Readable ajv messages                                               */
/* ------------------------------------------------------------------ */

/** Extra explanations for `false` schemas and minProperties, keyed by the instance path (ajv's schemaPath is relative to a $ref). */
const HINTS: readonly (readonly [RegExp, string])[] = [
  [
    /^\/dataset\/derived\/\d+\/(bins|map|categories)$/,
    'a derived column has either "bins", or "map" with "categories"',
  ],
  [/^\/tables\/\d+\/measure\/(column|bounds)$/, 'a count measure takes no "column" or "bounds"'],
  [/^\/dataset\/columns\/\d+\/categories$/, '"categories" are only for categorical columns'],
  [/^\/dataset\/columns\/\d+\/decimals$/, '"decimals" are only for number columns'],
  [/^\/protection\/rules$/, 'declare at least one rule (minFrequency, dominance, pPercent or pq)'],
  [/^\/protection\/budget$/, 'declare "epsilon" (discrete-laplace) or "rho" (discrete-gaussian)'],
];
const PATTERN_HINTS: Readonly<Record<string, string>> = {
  '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$':
    'must be a slug: lower-case letters, digits and hyphens, starting and ending with a letter or digit (at most 64 characters)',
  '^[A-Za-z_][A-Za-z0-9_]{0,63}$':
    'must be a column name: a letter or underscore, then letters, digits or underscores (at most 64 characters)',
};

function hintFor(instancePath: string): string | undefined {
  return HINTS.find(([re]) => re.test(instancePath))?.[1];
}

function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function got(v: unknown): string {
  if (v === undefined) return '';
  const s = JSON.stringify(v);
  return ` (got ${s === undefined ? jsonTypeOf(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s})`;
}

const ARTICLE: Readonly<Record<string, string>> = {
  string: 'a string',
  object: 'an object',
  array: 'an array',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  null: 'null',
};

function formatAjvError(e: ErrorObject): PolicyProblem | null {
  const p = e.params as Record<string, unknown>;
  let path = e.instancePath;
  let message: string;
  switch (e.keyword) {
    case 'if':
    case 'propertyNames':
      return null; // the failing branch / name reports itself
    case 'required':
      message = `missing required property "${String(p.missingProperty)}"`;
      break;
    case 'additionalProperties': {
      const prop = String(p.additionalProperty);
      path = `${path}/${escapePointer(prop)}`;
      const allowed =
        isObj(e.parentSchema) && isObj(e.parentSchema.properties) ? Object.keys(e.parentSchema.properties) : [];
      message = `unknown property "${prop}"${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
      break;
    }
    case 'enum':
      message = `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got(e.data)}`;
      break;
    case 'const':
      message = `must be ${JSON.stringify(p.allowedValue)}${got(e.data)}`;
      break;
    case 'type': {
      const types = String(p.type)
        .split(',')
        .map((t) => ARTICLE[t] ?? t);
      message = `must be ${types.join(' or ')} (got ${jsonTypeOf(e.data)})`;
      break;
    }
    case 'pattern':
      message = `${PATTERN_HINTS[String(p.pattern)] ?? `must match the pattern ${String(p.pattern)}`}${got(e.data)}`;
      break;
    case 'format':
      message =
        p.format === 'date'
          ? `must be a date YYYY-MM-DD${got(e.data)}`
          : `must be a valid ${String(p.format)}${got(e.data)}`;
      break;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      message = `must be ${String(p.comparison)} ${String(p.limit)}${got(e.data)}`;
      break;
    case 'minItems':
      message = `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}${Array.isArray(e.data) ? ` (has ${e.data.length})` : ''}`;
      break;
    case 'maxItems':
      message = `must have at most ${String(p.limit)} item${p.limit === 1 ? '' : 's'}${Array.isArray(e.data) ? ` (has ${e.data.length})` : ''}`;
      break;
    case 'minLength':
      message = p.limit === 1 ? 'must not be empty' : `must have at least ${String(p.limit)} characters`;
      break;
    case 'maxLength':
      message = `must have at most ${String(p.limit)} character${p.limit === 1 ? '' : 's'}${got(e.data)}`;
      break;
    case 'minProperties':
      message =
        (e.instancePath.startsWith('/protection/') ? hintFor(e.instancePath) : undefined) ??
        `must have at least ${String(p.limit)} propert${p.limit === 1 ? 'y' : 'ies'}`;
      break;
    case 'uniqueItems':
      message = `must not contain duplicates (items ${String(p.j)} and ${String(p.i)} are equal)`;
      break;
    case 'false schema': {
      const prop = path.slice(path.lastIndexOf('/') + 1);
      const hint = hintFor(e.instancePath);
      message = `property "${unescapePointer(prop)}" is not allowed here${hint ? `: ${hint}` : ''}`;
      break;
    }
    default:
      message = e.message ?? `fails ${e.keyword}`;
  }
  if (e.propertyName !== undefined && e.keyword !== 'additionalProperties') {
    path = `${e.instancePath}/${escapePointer(e.propertyName)}`;
    message = `property name ${message}`;
  }
  return { code: 'POLICY_INVALID', path, message };
}

/* ------------------------------------------------------------------ */
/* Semantic checks (run on the raw document, defensively)              */
/* ------------------------------------------------------------------ */

type Obj = Record<string, unknown>;
function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}
function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}
/** JSON pointer from segments. */
export function ptr(...segs: (string | number)[]): string {
  return segs.map((s) => `/${escapePointer(String(s))}`).join('');
}

interface ColInfo {
  readonly index: number;
  readonly type: string;
  readonly codes: string[];
  readonly decimals: number;
  readonly required: unknown;
}
interface DimInfo {
  readonly kind: 'column' | 'derived';
  readonly base: string | undefined;
  readonly codes: string[];
  readonly categories: { code: string; label: string }[];
  readonly path: string;
}

function categoryList(v: unknown): { code: string; label: string }[] {
  return arr(v)
    .filter(isObj)
    .map((c) => ({ code: str(c.code) ?? '', label: str(c.label) ?? '' }))
    .filter((c) => c.code !== '');
}

/** Every semantic problem of the document; tolerant of schema violations (skips what it cannot read). */
function semanticProblems(json: unknown): PolicyProblem[] {
  const out: PolicyProblem[] = [];
  const bad = (path: string, message: string): void => {
    out.push({ code: 'POLICY_INVALID', path, message });
  };
  const refuse = (path: string, what: string): void => {
    out.push({ code: 'POLICY_REFUSED', path, message: `refused: ${what} in a dp policy: ${DP_REFUSAL}` });
  };
  if (!isObj(json)) return out;
  const dataset = isObj(json.dataset) ? json.dataset : {};
  const protection = isObj(json.protection) ? json.protection : {};
  const isDp = protection.regime === 'dp';

  // Columns whose domain could not be resolved: reported once where declared, dependants skip them.
  const badDims = new Set<string>();
  // Columns: unique names, unique category codes, ordered constraints, missing values distinct from codes.
  const cols = new Map<string, ColInfo>();
  arr(dataset.columns).forEach((c, i) => {
    if (!isObj(c)) return;
    const name = str(c.name);
    if (name === undefined) return;
    if (cols.has(name)) {
      bad(
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
        bad(
          ptr('dataset', 'columns', i, 'categories', j, 'code'),
          `category code "${code}" of column "${name}" is declared twice`,
        );
        badDims.add(name);
      }
      if (code === TOTAL_CODE) {
        bad(
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
        bad(
          ptr('dataset', 'columns', i, 'missingValues'),
          `"${m}" is both a missing value and a category code of column "${name}"`,
        );
    if (isObj(c.constraints)) {
      const lo = num(c.constraints.minimum);
      const hi = num(c.constraints.maximum);
      if (lo !== undefined && hi !== undefined && lo > hi)
        bad(ptr('dataset', 'columns', i, 'constraints'), `minimum ${lo} is greater than maximum ${hi}`);
    }
    cols.set(name, {
      index: i,
      type: str(c.type) ?? '',
      codes: cats.map((x) => x.code),
      decimals: num(c.decimals) ?? 0,
      required: c.required,
    });
  });

  // Derived columns: unique names, known source, bins on numeric columns (non-overlapping), complete maps on categorical ones.
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
  arr(dataset.derived).forEach((d, i) => {
    if (!isObj(d)) return;
    const name = str(d.name);
    const from = str(d.from);
    const base = ptr('dataset', 'derived', i);
    if (name === undefined) return;
    if (cols.has(name)) {
      bad(`${base}/name`, `derived column "${name}" has the name of a declared column`);
      return;
    }
    if (dims.has(name)) {
      bad(`${base}/name`, `derived column "${name}" is declared twice`);
      return;
    }
    let ok = true;
    let categories: { code: string; label: string }[] = [];
    const src = from === undefined ? undefined : cols.get(from);
    if (from !== undefined && src === undefined) {
      bad(`${base}/from`, `derived column "${name}" is computed from "${from}", which is not a declared column`);
      ok = false;
    }
    if (Array.isArray(d.bins)) {
      if (src && src.type !== 'integer' && src.type !== 'number') {
        bad(`${base}/from`, `bins need an integer or number column, but "${from}" is ${src.type}`);
        ok = false;
      }
      const bins = d.bins
        .map((b, j) => ({ j, b: isObj(b) ? b : {} }))
        .map(({ j, b }) => ({ j, code: str(b.code), min: num(b.min), max: num(b.max) }));
      const codes = new Set<string>();
      for (const b of bins) {
        if (b.code !== undefined) {
          if (codes.has(b.code)) {
            bad(`${base}/bins/${b.j}/code`, `bin code "${b.code}" is declared twice`);
            ok = false;
          }
          codes.add(b.code);
        }
        if (b.min !== undefined && b.max !== undefined && b.min > b.max) {
          bad(`${base}/bins/${b.j}`, `bin "${b.code ?? b.j}" has min ${b.min} greater than max ${b.max}`);
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
          bad(
            `${base}/bins/${later.j}`,
            `bin "${later.code ?? ''}" [${later.min}, ${later.max}] overlaps bin "${earlier.code ?? ''}" [${earlier.min}, ${earlier.max}] (bins are inclusive at both ends)`,
          );
          ok = false;
        }
      }
      categories = arr(d.bins)
        .filter(isObj)
        .map((b) => ({ code: str(b.code) ?? '', label: str(b.label) ?? '' }));
    } else if (isObj(d.map)) {
      if (src && src.type !== 'categorical') {
        bad(`${base}/from`, `a map needs a categorical column, but "${from}" is ${src.type}`);
        ok = false;
      }
      categories = categoryList(d.categories);
      const targets = new Set<string>();
      arr(d.categories).forEach((cat, j) => {
        const code = isObj(cat) ? str(cat.code) : undefined;
        if (code === undefined) return;
        if (targets.has(code)) {
          bad(`${base}/categories/${j}/code`, `category code "${code}" of derived column "${name}" is declared twice`);
          ok = false;
        }
        targets.add(code);
      });
      for (const [k, v] of Object.entries(d.map)) {
        if (src && src.type === 'categorical' && !src.codes.includes(k)) {
          bad(`${base}/map/${escapePointer(k)}`, `"${k}" is not a declared category of column "${from}"`);
          ok = false;
        }
        if (typeof v === 'string' && targets.size > 0 && !targets.has(v)) {
          bad(`${base}/map/${escapePointer(k)}`, `"${v}" is not a declared category of derived column "${name}"`);
          ok = false;
        }
      }
      if (src && src.type === 'categorical') {
        const unmapped = src.codes.filter((c) => !Object.hasOwn(d.map as Obj, c));
        if (unmapped.length > 0) {
          bad(
            `${base}/map`,
            `categories ${unmapped.map((c) => `"${c}"`).join(', ')} of column "${from}" are not mapped`,
          );
          ok = false;
        }
      }
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
        bad(
          `${base}/${Array.isArray(d.bins) ? 'bins' : 'categories'}/${j}/code`,
          `category code "${TOTAL_CODE}" is reserved for the dimension total`,
        );
        ok = false;
      }
    });
    if (!ok) badDims.add(name);
  });

  // Unit column: declared and required.
  const unit = isObj(dataset.unit) ? dataset.unit : {};
  const unitCol = str(unit.column);
  if (unitCol !== undefined) {
    const c = cols.get(unitCol);
    if (c === undefined) bad(ptr('dataset', 'unit', 'column'), `unit column "${unitCol}" is not a declared column`);
    else if (c.required === false)
      bad(ptr('dataset', 'columns', c.index, 'required'), `the unit column "${unitCol}" must be required`);
  }

  // Holding and weight columns: declared; a weight is numeric; neither under dp (no dominance rules; unweighted sensitivity).
  const holdingCol = str(unit.holding);
  if (holdingCol !== undefined) {
    if (!cols.has(holdingCol))
      bad(ptr('dataset', 'unit', 'holding'), `holding column "${holdingCol}" is not a declared column`);
    if (isDp)
      bad(
        ptr('dataset', 'unit', 'holding'),
        'a holding column serves the sdc dominance rules; a dp policy cannot use it',
      );
  }
  const weightCol = str(dataset.weight);
  if (weightCol !== undefined) {
    const c = cols.get(weightCol);
    if (c === undefined) bad(ptr('dataset', 'weight'), `weight column "${weightCol}" is not a declared column`);
    else if (c.type !== 'integer' && c.type !== 'number')
      bad(ptr('dataset', 'weight'), `weight column "${weightCol}" must be integer or number, but it is ${c.type}`);
    if (isDp)
      bad(
        ptr('dataset', 'weight'),
        'sampling weights are not supported under dp (the sensitivity bounds assume unweighted rows)',
      );
  }

  // Hierarchies: on a categorical or derived column, partitioning its declared categories.
  const hierarchies = isObj(dataset.hierarchies) ? dataset.hierarchies : {};
  for (const [col, h] of Object.entries(hierarchies)) {
    const path = ptr('dataset', 'hierarchies', col);
    const d = dims.get(col);
    if (d === undefined) {
      bad(
        path,
        cols.has(col)
          ? `a hierarchy needs a categorical or derived column, but "${col}" is ${cols.get(col)!.type}`
          : `hierarchy on "${col}", which is not a declared categorical or derived column`,
      );
      badDims.add(col);
      continue;
    }
    if (badDims.has(col)) continue;
    if (!wellFormedHierarchy(h) && !wellFormedPrefix(h)) {
      badDims.add(col);
      continue;
    } // malformed: the schema errors say why
    try {
      buildDimension({ name: col, categories: d.categories, hierarchy: resolveHierarchy(h, d.categories) });
    } catch (err) {
      bad(path, `hierarchy of "${col}" does not partition its categories: ${(err as Error).message}`);
      badDims.add(col);
    }
  }

  // Tables.
  const tableIds = new Map<string, number>();
  const optionalReported = new Set<string>();
  arr(json.tables).forEach((t, i) => {
    if (!isObj(t)) return;
    const base = ptr('tables', i);
    const id = str(t.id);
    if (id !== undefined) {
      if (tableIds.has(id))
        bad(`${base}/id`, `table id "${id}" is used twice (first at ${ptr('tables', tableIds.get(id)!)})`);
      else tableIds.set(id, i);
    }
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
        bad(
          dpath,
          c
            ? `dimension "${column}" must be a categorical or derived column, but it is ${c.type}`
            : `dimension "${column}" is not a declared categorical or derived column`,
        );
        dimCodes.push(null);
        return;
      }
      if (used.has(column)) bad(dpath, `dimension "${column}" appears twice in the table`);
      // A row must land in a leaf of every dimension: the column it is read from cannot be optional.
      const baseCol = d.base === undefined ? undefined : cols.get(d.base);
      if (baseCol && baseCol.required === false && !optionalReported.has(d.base!)) {
        optionalReported.add(d.base!);
        bad(
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
        bad(isObj(dm) ? `${base}/dimensions/${j}/total` : dpath, `dimension "${column}": ${(err as Error).message}`);
        dimCodes.push(null);
      }
    });

    // Measure: numeric column, ordered bounds representable as scaled integers.
    const m = isObj(t.measure) ? t.measure : {};
    if (m.kind === 'sum' || m.kind === 'mean') {
      const column = str(m.column);
      const c = column === undefined ? undefined : cols.get(column);
      if (column !== undefined && c === undefined)
        bad(`${base}/measure/column`, `measure column "${column}" is not a declared column`);
      else if (c && c.type !== 'integer' && c.type !== 'number')
        bad(`${base}/measure/column`, `measure column "${column}" must be integer or number, but it is ${c.type}`);
      const b = Array.isArray(m.bounds) && m.bounds.length === 2 ? m.bounds.map(num) : null;
      if (b && b[0] !== undefined && b[1] !== undefined) {
        const [lo, hi] = b as [number, number];
        if (lo > hi) bad(`${base}/measure/bounds`, `lower bound ${lo} is greater than upper bound ${hi}`);
        if (c && (c.type === 'integer' || c.type === 'number')) {
          const dec = c.type === 'integer' ? 0 : c.decimals;
          for (const [k, v] of [
            [0, lo],
            [1, hi],
          ] as const) {
            if (scaleExact(v, dec) === null) {
              bad(
                `${base}/measure/bounds/${k}`,
                `bound ${v} is not a multiple of 10^-${dec} (column "${column}" keeps ${dec} decimals) or is too large to scale exactly`,
              );
            }
          }
        }
      }
    }

    // Marked cells: sdc only; each a tuple of node codes, one per dimension.
    for (const key of SDC_ONLY_TABLE) {
      if (t[key] === undefined) continue;
      if (isDp) {
        refuse(`${base}/${key}`, `"${key}" (a suppression decision)`);
        continue;
      }
      arr(t[key]).forEach((tuple, k) => {
        if (!Array.isArray(tuple)) return;
        const tpath = `${base}/${key}/${k}`;
        if (dimCodes.length > 0 && tuple.length !== dimCodes.length) {
          bad(tpath, `a cell needs ${dimCodes.length} codes (one per dimension), got ${tuple.length}`);
          return;
        }
        tuple.forEach((code, d) => {
          const codes = dimCodes[d];
          if (typeof code === 'string' && codes && !codes.has(code))
            bad(`${tpath}/${d}`, `"${code}" is not a code of dimension ${d + 1} of the table`);
        });
      });
    }
  });

  // Protection.
  if (isDp) {
    for (const key of SDC_ONLY_PROTECTION) {
      if (protection[key] !== undefined)
        refuse(
          ptr('protection', key),
          `"${key}" (${key === 'secondary' || key === 'zeroCells' ? 'an sdc suppression setting' : 'an sdc rule on exact values'})`,
        );
    }
    const budget = isObj(protection.budget) ? protection.budget : null;
    // An empty budget is reported by the schema (minProperties).
    if (budget && Object.keys(budget).length > 0) {
      if (protection.mechanism === 'discrete-laplace') {
        if (budget.epsilon === undefined)
          bad(
            ptr('protection', 'budget'),
            `discrete-laplace needs budget.epsilon (pure differential privacy)${budget.rho !== undefined ? '; budget.rho is for discrete-gaussian (zCDP)' : ''}`,
          );
        else if (budget.rho !== undefined)
          bad(
            ptr('protection', 'budget', 'rho'),
            'budget.rho is for discrete-gaussian (zCDP); discrete-laplace takes budget.epsilon only',
          );
      } else if (protection.mechanism === 'discrete-gaussian') {
        if (budget.rho === undefined)
          bad(
            ptr('protection', 'budget'),
            `discrete-gaussian needs budget.rho (zero-concentrated differential privacy)${budget.epsilon !== undefined ? '; budget.epsilon is for discrete-laplace (a pure epsilon converts as rho = epsilon^2/2)' : ''}`,
          );
        else if (budget.epsilon !== undefined)
          bad(
            ptr('protection', 'budget', 'epsilon'),
            'budget.epsilon is for discrete-laplace; discrete-gaussian takes budget.rho only',
          );
      }
    }
  } else if (protection.regime === 'ckm') {
    const pt = isObj(protection.ptable) ? protection.ptable : {};
    const params = ['maxDeviation', 'variance', 'js', 'pstay'].filter((k) => pt[k] !== undefined);
    if (pt.file !== undefined && params.length > 0)
      bad(
        ptr('protection', 'ptable'),
        `give either a ptable "file" or its parameters, not both (got file and ${params.join(', ')})`,
      );
    if (pt.file === undefined) {
      for (const k of ['maxDeviation', 'variance'])
        if (pt[k] === undefined)
          bad(ptr('protection', 'ptable'), `a generated ptable needs "${k}" (or give a ptable "file")`);
      const D = num(pt.maxDeviation);
      const V = num(pt.variance);
      if (D !== undefined && V !== undefined && V > D * D)
        bad(
          ptr('protection', 'ptable', 'variance'),
          `variance ${V} exceeds D^2 = ${D * D}: no perturbation bounded by D has it`,
        );
    }
    const rk = isObj(protection.recordKey) ? str(protection.recordKey.column) : undefined;
    if (rk !== undefined) {
      const c = cols.get(rk);
      if (c === undefined)
        bad(ptr('protection', 'recordKey', 'column'), `record-key column "${rk}" is not a declared column`);
      else if (c.type !== 'number')
        bad(
          ptr('protection', 'recordKey', 'column'),
          `record-key column "${rk}" must be a number column, but it is ${c.type}`,
        );
    }
    arr(json.tables).forEach((t, i) => {
      if (isObj(t) && isObj(t.measure) && t.measure.kind === 'mean')
        bad(
          ptr('tables', i, 'measure', 'kind'),
          'the cell key method perturbs counts and sums; publish a mean as a sum table and a count table',
        );
      for (const key of SDC_ONLY_TABLE)
        if (isObj(t) && t[key] !== undefined)
          bad(ptr('tables', i, key), `"${key}" is a suppression setting; the cell key method suppresses nothing`);
    });
    if (weightCol !== undefined) bad(ptr('dataset', 'weight'), 'sampling weights are not supported under ckm');
  } else if (protection.regime === 'sdc') {
    const rules = isObj(protection.rules) ? protection.rules : {};
    if (isObj(rules.pq)) {
      const p = num(rules.pq.p);
      const q = num(rules.pq.q);
      if (p !== undefined && q !== undefined && p >= q)
        bad(ptr('protection', 'rules', 'pq'), `(p,q) rule needs p < q (got p = ${p}, q = ${q})`);
    }
  }
  return out;
}

function wellFormedPrefix(h: unknown): boolean {
  return (
    isObj(h) &&
    Array.isArray(h.prefixLengths) &&
    h.prefixLengths.length > 0 &&
    h.prefixLengths.every((l) => Number.isInteger(l) && (l as number) >= 1)
  );
}

function wellFormedHierarchy(h: unknown): boolean {
  const child = (c: unknown): boolean =>
    typeof c === 'string' ||
    (isObj(c) &&
      typeof c.code === 'string' &&
      typeof c.label === 'string' &&
      Array.isArray(c.children) &&
      c.children.length > 0 &&
      c.children.every(child));
  return Array.isArray(h) && h.length > 0 && h.every(child);
}

/**
 * value * 10^decimals as an exact safe integer, or null when the value has
 * more decimals than kept or the scaled value exceeds 2^53. Decimal string
 * arithmetic avoids float error (0.1 * 10 is exact only by luck).
 */
export function scaleExact(value: number, decimals: number): number | null {
  if (!Number.isFinite(value)) return null;
  const s = value.toString();
  if (/e/i.test(s)) {
    // Exponent form: only accept when the float product is an integer and exact.
    const r = value * 10 ** decimals;
    return Number.isSafeInteger(r) && r / 10 ** decimals === value ? r : null;
  }
  const neg = s.startsWith('-');
  const [intPart, frac = ''] = (neg ? s.slice(1) : s).split('.');
  if (frac.length > decimals) return null;
  const digits = `${intPart}${frac.padEnd(decimals, '0')}`;
  const n = Number(digits) * (neg ? -1 : 1);
  return Number.isSafeInteger(n) ? (Object.is(n, -0) ? 0 : n) : null;
}
