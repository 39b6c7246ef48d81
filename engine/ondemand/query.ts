/**
 * An on-demand query (body of `POST /v1/datasets/{id}/tables`) against a dataset's declared schema (policy
 * `onDemand`, engine/policy): which dimensions to cross at which hierarchy level, which measure, which population
 * (filter) and which format.
 *
 * Guarantees: `validateQuery` reports every problem with its JSON path and never reads microdata; `cellCount` is
 * known from the declared schema alone (before anything is computed); `publicSchema` holds only declared, public
 * facts (names, levels, codes, labels, measures, regime, limits), nothing computed from the microdata.
 */
import { StatguardError } from '../errors.ts';
import type { DimensionPlan, OnDemandPlan, Plan } from '../types.ts';

export const ON_DEMAND_FORMATS = ['json', 'csv', 'jsonstat'] as const;
export type OnDemandFormat = (typeof ON_DEMAND_FORMATS)[number];

export interface OnDemandDimension {
  readonly name: string;
  /** Hierarchy depth: 0 the total only, 1 the first level, ...; absent: the finest (the declared categories). */
  readonly level?: number;
}

export interface OnDemandQuery {
  readonly dimensions: readonly OnDemandDimension[];
  /** `count` or the name of a declared on-demand measure. */
  readonly measure: string;
  /** Population: per dimension (not one of the table's), the codes kept (any level of its hierarchy). */
  readonly filter?: Readonly<Record<string, readonly string[]>>;
  readonly format?: OnDemandFormat;
}

export interface QueryProblem {
  readonly path: string;
  readonly message: string;
}

/** A plan that offers tables on demand. */
export type OnDemandPlanOf = Plan & { readonly onDemand: OnDemandPlan };

/** The on-demand section of a plan, or ON_DEMAND_NOT_OFFERED (sdc datasets, and policies without one). */
export function onDemandOf(plan: Plan): OnDemandPlanOf {
  if (plan.protection.regime === 'sdc')
    throw new StatguardError(
      'ON_DEMAND_NOT_OFFERED',
      `dataset ${JSON.stringify(plan.dataset.id)} is protected by suppression (sdc), which is not safe against ad-hoc overlapping tables`,
    );
  if (plan.onDemand === undefined)
    throw new StatguardError(
      'ON_DEMAND_NOT_OFFERED',
      `dataset ${JSON.stringify(plan.dataset.id)} offers no tables on demand (its policy has no onDemand section)`,
    );
  return plan as OnDemandPlanOf;
}

/** What validation needs of a dimension: its nodes' codes and depths and its total (a DimensionPlan has them). */
export interface DimensionShape {
  readonly name: string;
  readonly nodes: readonly { readonly code: string; readonly level: number }[];
  readonly total: number | null;
}

/** What validation needs of a dataset's declared schema: from its plan (secure zone) or its public schema (API). */
interface SchemaView {
  readonly maxCells: number;
  readonly maxDimensions: number;
  readonly dimensions: readonly DimensionShape[];
  readonly measures: readonly string[];
}

function viewOf(s: Plan | PublicSchema): SchemaView {
  if ('policyId' in s) {
    const od = onDemandOf(s).onDemand;
    return { ...od, measures: od.measures.map((m) => m.name) };
  }
  return {
    maxCells: s.maxCells,
    maxDimensions: s.maxDimensions,
    dimensions: s.dimensions.map((d) => ({
      name: d.name,
      nodes: d.codes,
      total: d.total === null ? null : d.codes.findIndex((c) => c.code === d.total),
    })),
    measures: s.measures.map((m) => m.name),
  };
}

/** The deepest level of a dimension (its finest categories' depth; 0 for a dimension without hierarchy or total). */
export function depthOf(dim: DimensionShape): number {
  return dim.nodes.reduce((m, n) => Math.max(m, n.level), 0);
}

/** The nodes a query keeps of a dimension at `level`: every node at that depth or above (margins included). */
export function nodesAtLevel(dim: DimensionShape, level: number | undefined): number[] {
  const l = level ?? depthOf(dim);
  return dim.nodes.flatMap((n, i) => (n.level <= l ? [i] : []));
}

function dimensionOf(view: SchemaView, name: string): DimensionShape | undefined {
  return view.dimensions.find((d) => d.name === name);
}

const KEYS = new Set(['dimensions', 'measure', 'filter', 'format']);

/**
 * Every problem of a query against the declared schema (the plan's, or the public schema the API holds), each with
 * its JSON path; empty when it is valid.
 */
export function validateQuery(plan: Plan | PublicSchema, query: unknown): QueryProblem[] {
  const od = viewOf(plan);
  const out: QueryProblem[] = [];
  const bad = (path: string, message: string): void => void out.push({ path, message });
  if (query === null || typeof query !== 'object' || Array.isArray(query)) {
    bad('', 'the query must be a JSON object with "dimensions" and "measure"');
    return out;
  }
  const q = query as Record<string, unknown>;
  for (const k of Object.keys(q))
    if (!KEYS.has(k)) bad(`/${k}`, `unknown property "${k}" (allowed: ${[...KEYS].join(', ')})`);
  const used = checkDimensions(od, q.dimensions, bad);
  const names = od.measures;
  if (typeof q.measure !== 'string') bad('/measure', `"measure" must be one of ${names.join(', ')}`);
  else if (!names.includes(q.measure))
    bad('/measure', `measure "${q.measure}" is not offered (offered: ${names.join(', ')})`);
  if (q.format !== undefined && !(ON_DEMAND_FORMATS as readonly unknown[]).includes(q.format))
    bad('/format', `format must be one of ${ON_DEMAND_FORMATS.join(', ')}`);
  if (q.filter !== undefined) checkFilter(od, q.filter, used, bad);
  if (out.length === 0) {
    const cells = cellCount(plan, query as OnDemandQuery);
    if (cells > od.maxCells)
      bad('/dimensions', `the table would have ${cells} cells, more than the ${od.maxCells} allowed`);
  }
  return out;
}

function checkDimensions(od: SchemaView, dims: unknown, bad: (p: string, m: string) => void): Set<string> {
  const used = new Set<string>();
  const max = od.maxDimensions;
  if (!Array.isArray(dims) || dims.length === 0) {
    bad('/dimensions', `"dimensions" must be a non-empty array (at most ${max})`);
    return used;
  }
  if (dims.length > max) bad('/dimensions', `at most ${max} dimensions may be crossed at once (got ${dims.length})`);
  dims.forEach((d, j) => {
    const at = `/dimensions/${j}`;
    if (d === null || typeof d !== 'object' || Array.isArray(d))
      return bad(at, 'must be an object { "name", "level"? }');
    const r = d as Record<string, unknown>;
    for (const k of Object.keys(r)) if (k !== 'name' && k !== 'level') bad(`${at}/${k}`, `unknown property "${k}"`);
    const dim = typeof r.name === 'string' ? dimensionOf(od, r.name) : undefined;
    if (dim === undefined) {
      const offered = od.dimensions.map((x) => x.name).join(', ');
      return bad(
        `${at}/name`,
        `${typeof r.name === 'string' ? `"${r.name}" is not` : 'name must be'} an offered dimension (${offered})`,
      );
    }
    if (used.has(dim.name)) bad(`${at}/name`, `dimension "${dim.name}" appears twice`);
    used.add(dim.name);
    const depth = depthOf(dim);
    if (r.level !== undefined && (!Number.isInteger(r.level) || (r.level as number) < 0 || (r.level as number) > depth))
      bad(`${at}/level`, `level of "${dim.name}" must be an integer from 0 (total) to ${depth} (finest)`);
  });
  return used;
}

function checkFilter(
  od: SchemaView,
  filter: unknown,
  used: ReadonlySet<string>,
  bad: (p: string, m: string) => void,
): void {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter))
    return bad('/filter', '"filter" must be an object { "<dimension>": ["code", ...] }');
  for (const [name, codes] of Object.entries(filter)) {
    const at = `/filter/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    const dim = dimensionOf(od, name);
    if (dim === undefined) {
      bad(at, `"${name}" is not an offered dimension`);
      continue;
    }
    if (used.has(name)) {
      bad(at, `"${name}" is a dimension of the table; filter on other dimensions (the table shows all its categories)`);
      continue;
    }
    if (!Array.isArray(codes) || codes.length === 0) {
      bad(at, 'must be a non-empty array of codes');
      continue;
    }
    const known = new Map(dim.nodes.map((n, i) => [n.code, i] as const));
    const seen = new Set<string>();
    codes.forEach((c, k) => {
      const idx = typeof c === 'string' ? known.get(c) : undefined;
      if (idx === undefined) bad(`${at}/${k}`, `${JSON.stringify(c)} is not a code of "${name}"`);
      else if (idx === dim.total)
        bad(`${at}/${k}`, `the total "${c}" keeps everyone; leave "${name}" out of the filter`);
      else if (seen.has(c as string)) bad(`${at}/${k}`, `code "${c}" is given twice`);
      seen.add(c as string);
    });
  }
}

/** A valid query or QUERY_INVALID listing every problem with its JSON path. */
export function checkQuery(plan: Plan | PublicSchema, query: unknown): OnDemandQuery {
  const problems = validateQuery(plan, query);
  if (problems.length > 0)
    throw new StatguardError(
      'QUERY_INVALID',
      `the query is not valid: ${problems.map((p) => `${p.path || '/'}: ${p.message}`).join('; ')}`,
      { path: problems[0]!.path },
      problems,
    );
  return query as OnDemandQuery;
}

/** Cells of the table a (valid) query asks for, margins included: known from the declared schema alone. */
export function cellCount(plan: Plan | PublicSchema, query: OnDemandQuery): number {
  const od = viewOf(plan);
  return query.dimensions.reduce((n, d) => {
    const dim = dimensionOf(od, d.name);
    return dim === undefined ? n : n * nodesAtLevel(dim, d.level).length;
  }, 1);
}

export interface PublicSchemaCode {
  readonly code: string;
  readonly label: string;
  readonly level: number;
  readonly parent: string | null;
  readonly leaf: boolean;
}

export interface PublicSchema {
  readonly dataset: string;
  readonly title: string;
  readonly regime: 'ckm' | 'dp';
  readonly maxCells: number;
  readonly maxDimensions: number;
  /** Answers the API keeps of this dataset (per contract and query). */
  readonly cacheEntries: number;
  readonly formats: readonly OnDemandFormat[];
  readonly dimensions: readonly {
    readonly name: string;
    readonly label: string;
    /** Deepest level (finest categories); 0 is the total. */
    readonly levels: number;
    /** Code of the total (the whole population), or null. */
    readonly total: string | null;
    readonly codes: readonly PublicSchemaCode[];
  }[];
  readonly measures: readonly { readonly name: string; readonly title: string; readonly kind: string }[];
  /** dp: what each table costs (epsilon or rho); null under ckm. */
  readonly costPerQuery: { readonly epsilon: number | null; readonly rho: number | null } | null;
}

/** What a researcher may know of an on-demand dataset: declared facts only. */
export function publicSchema(plan: Plan): PublicSchema {
  const od = onDemandOf(plan);
  return {
    dataset: plan.dataset.id,
    title: plan.release.title,
    regime: plan.protection.regime as 'ckm' | 'dp',
    maxCells: od.onDemand.maxCells,
    maxDimensions: od.onDemand.maxDimensions,
    cacheEntries: od.onDemand.cacheEntries,
    formats: ON_DEMAND_FORMATS,
    dimensions: od.onDemand.dimensions.map((d) => ({
      name: d.name,
      label: d.label,
      levels: depthOf(d),
      total: d.total === null ? null : d.nodes[d.total]!.code,
      codes: d.nodes.map((n) => ({
        code: n.code,
        label: n.label,
        level: n.level,
        parent: n.parent === null ? null : d.nodes[n.parent]!.code,
        leaf: n.leaf,
      })),
    })),
    measures: od.onDemand.measures.map((m) => ({ name: m.name, title: m.title, kind: m.measure.kind })),
    costPerQuery: od.onDemand.dp,
  };
}
