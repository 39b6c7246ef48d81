/**
 * The boundaries a query is checked against before anything is computed (issue 20, item 2), pure functions of the
 * contract and the query's shape: time (start, end), form (measure, format) and level (variables, hierarchy depth,
 * dimensions at once, the filtered population). Scale needs the contract's use so far and is checked in the gate's
 * transaction (gate.ts).
 *
 * Each refusal is a problem whose `code` names the boundary (CONTRACT_NOT_STARTED, CONTRACT_EXPIRED, CONTRACT_FORM,
 * CONTRACT_LEVEL) and whose `term` names the exact term (`time.end`, `form.formats`,
 * `level.variables.region.maxLevel`, ...), with the contract id. Nothing here reads microdata: levels come from the
 * dataset's public schema, and the filtered population only from a protected figure (`population`, see gate.ts).
 */
import { ApiError, type ApiErrorCode } from '../errors.ts';
import type { ContractTerms } from './terms.ts';

/** The shape of an on-demand query the gate needs (structurally the `OnDemandQuery` of engine/ondemand/query.ts). */
export interface GateQuery {
  readonly dimensions: readonly { readonly name: string; readonly level?: number | undefined }[];
  readonly measure: string;
  readonly filter?: Readonly<Record<string, readonly string[]>> | undefined;
  readonly format?: string | undefined;
}

/** What the gate needs of a dataset's public schema: per dimension its finest level and each code's level. */
export interface GateSchema {
  readonly dimensions: readonly {
    readonly name: string;
    /** Depth of the finest level (0 total only, 1 first level, ...). */
    readonly depth: number;
    readonly codeLevels: Readonly<Record<string, number>>;
  }[];
}

/**
 * The gate's view of a dataset's public schema (structurally `PublicSchema` of engine/ondemand/query.ts: per dimension
 * its deepest level `levels` and its codes with their levels): declared facts only.
 */
export function gateSchemaOf(s: {
  readonly dimensions: readonly {
    readonly name: string;
    readonly levels: number;
    readonly codes: readonly { readonly code: string; readonly level: number }[];
  }[];
}): GateSchema {
  return {
    dimensions: s.dimensions.map((d) => ({
      name: d.name,
      depth: d.levels,
      codeLevels: Object.fromEntries(d.codes.map((c) => [c.code, c.level])),
    })),
  };
}

export interface ContractRow {
  readonly id: string;
  readonly terms: ContractTerms;
  readonly startsAt: Date;
  readonly endsAt: Date;
}

export function refusal(
  code: ApiErrorCode,
  term: string,
  contract: string | null,
  detail: string,
  status?: number,
  extra: Record<string, unknown> = {},
): ApiError {
  return new ApiError(code, detail, { term, ...(contract ? { contract } : {}), ...extra }, status);
}

/** The one contract that applies now, among the caller's contracts for the dataset (newest first). */
export function applicable(contracts: readonly ContractRow[], now: Date): ContractRow {
  const t = now.getTime();
  const active = contracts.find((c) => c.startsAt.getTime() <= t && t < c.endsAt.getTime());
  if (active) return active;
  const later = contracts.filter((c) => c.startsAt.getTime() > t).sort((a, b) => +a.startsAt - +b.startsAt)[0];
  if (later)
    throw refusal(
      'CONTRACT_NOT_STARTED',
      'time.start',
      later.id,
      `contract ${later.id} starts at ${later.startsAt.toISOString()}`,
      undefined,
      { start: later.startsAt.toISOString() },
    );
  const last = contracts[0];
  if (!last) throw refusal('CONTRACT_NONE', 'contract', null, 'no table contract for this dataset: request access');
  throw refusal(
    'CONTRACT_EXPIRED',
    'time.end',
    last.id,
    `contract ${last.id} ended at ${last.endsAt.toISOString()}: nothing is served after its end`,
    undefined,
    { end: last.endsAt.toISOString() },
  );
}

export function checkForm(c: ContractRow, q: GateQuery): void {
  if (!c.terms.form.measures.includes(q.measure))
    throw refusal(
      'CONTRACT_FORM',
      'form.measures',
      c.id,
      `measure ${JSON.stringify(q.measure)} is not allowed by contract ${c.id} (allowed: ${c.terms.form.measures.join(', ')})`,
    );
  const format = q.format ?? 'json';
  if (!(c.terms.form.formats as readonly string[]).includes(format))
    throw refusal(
      'CONTRACT_FORM',
      'form.formats',
      c.id,
      `format ${JSON.stringify(format)} is not allowed by contract ${c.id} (allowed: ${c.terms.form.formats.join(', ')})`,
    );
}

function allowedVariable(c: ContractRow, name: string): { readonly maxLevel?: number } {
  const v = Object.hasOwn(c.terms.level.variables, name) ? c.terms.level.variables[name] : undefined;
  if (!v)
    throw refusal(
      'CONTRACT_LEVEL',
      `level.variables.${name}`,
      c.id,
      `variable ${JSON.stringify(name)} is not one contract ${c.id} allows (${Object.keys(c.terms.level.variables).join(', ')})`,
    );
  return v;
}

function tooDeep(c: ContractRow, name: string, level: number, max: number, what: string): ApiError {
  return refusal(
    'CONTRACT_LEVEL',
    `level.variables.${name}.maxLevel`,
    c.id,
    `${what} of ${JSON.stringify(name)} is at level ${level}; contract ${c.id} allows level ${max} at most`,
    undefined,
    { maxLevel: max },
  );
}

/** Variables, levels, number of dimensions and filter codes; `schema` gives finest levels and code levels. */
export function checkLevel(c: ContractRow, q: GateQuery, schema: GateSchema | null): void {
  const lv = c.terms.level;
  if (q.dimensions.length > lv.maxDimensions)
    throw refusal(
      'CONTRACT_LEVEL',
      'level.maxDimensions',
      c.id,
      `${q.dimensions.length} dimensions crossed; contract ${c.id} allows ${lv.maxDimensions} at once`,
    );
  const dimOf = (name: string) => schema?.dimensions.find((d) => d.name === name);
  for (const d of q.dimensions) {
    const { maxLevel } = allowedVariable(c, d.name);
    if (maxLevel === undefined) continue;
    const level = d.level ?? dimOf(d.name)?.depth;
    if (level === undefined)
      throw refusal(
        'CONTRACT_LEVEL',
        `level.variables.${d.name}.maxLevel`,
        c.id,
        `state the level of ${JSON.stringify(d.name)}: contract ${c.id} allows level ${maxLevel} at most`,
      );
    if (level > maxLevel) throw tooDeep(c, d.name, level, maxLevel, 'the table');
  }
  for (const [name, codes] of Object.entries(q.filter ?? {})) {
    const { maxLevel } = allowedVariable(c, name);
    if (maxLevel === undefined) continue;
    const levels = dimOf(name)?.codeLevels;
    for (const code of codes) {
      const level = levels && Object.hasOwn(levels, code) ? levels[code]! : undefined;
      if (level === undefined || level > maxLevel)
        throw tooDeep(c, name, level ?? Number.POSITIVE_INFINITY, maxLevel, `filter code ${JSON.stringify(code)}`);
    }
  }
}

/**
 * The minimum population of a filtered table. `population` returns a protected figure of the filtered population
 * (the same the table's grand total shows), never an exact count; without it a filtered query under a contract with
 * `minPopulation` is refused (fail closed).
 */
export async function checkPopulation(
  c: ContractRow,
  q: GateQuery,
  population: ((filter: Readonly<Record<string, readonly string[]>>) => Promise<number | null>) | null,
): Promise<void> {
  const min = c.terms.level.minPopulation;
  const filter = q.filter ?? {};
  if (min === undefined || Object.keys(filter).length === 0) return;
  const n = population ? await population(filter) : null;
  if (n === null || n < min)
    throw refusal(
      'CONTRACT_LEVEL',
      'level.minPopulation',
      c.id,
      n === null
        ? `contract ${c.id} sets a minimum population of ${min} and this server cannot check a filtered population: query without a filter`
        : `the filtered population is below contract ${c.id}'s minimum of ${min}`,
      undefined,
      { minPopulation: min },
    );
}
