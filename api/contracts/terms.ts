/**
 * The terms of a table contract (issue 20): three of the four boundaries as one JSON document, validated with ajv;
 * the fourth, time, is the contract's `starts_at` / `ends_at` columns.
 *
 * - scale: how much may be taken: tables and cells per UTC day and in total, and for a dp dataset the contract's share
 *   of the dataset's privacy budget (`dpShare`: zCDP rho and/or pure epsilon, each stated quantity limited; absent =
 *   no dp query may be charged);
 * - level: which variables may be crossed and to which hierarchy level (`variables`: name -> `{ maxLevel? }`, 0 the
 *   total only, 1 the first level, ...; absent maxLevel = any depth), how many dimensions at once (`maxDimensions`),
 *   and the smallest population a table may be filtered to (`minPopulation`, judged on protected figures only);
 * - form: aggregate tables only (the service returns nothing else), which measures and which formats.
 *
 * A request states the terms it asks for; an officer approves them as they are or narrowed. `widenings` lists every
 * JSON path where granted terms would give more than was asked, so an approval can only narrow.
 */
import { Ajv } from 'ajv';
import { ApiError } from '../errors.ts';

export const FORMATS = ['json', 'csv', 'jsonstat'] as const;
export type TableFormat = (typeof FORMATS)[number];

export interface ScaleTerms {
  readonly tablesPerDay: number;
  readonly cellsPerDay: number;
  readonly tablesTotal: number;
  readonly cellsTotal: number;
  readonly dpShare?: { readonly rho?: number; readonly epsilon?: number };
}

export interface LevelTerms {
  readonly variables: Readonly<Record<string, { readonly maxLevel?: number }>>;
  readonly maxDimensions: number;
  readonly minPopulation?: number;
}

export interface FormTerms {
  readonly measures: readonly string[];
  readonly formats: readonly TableFormat[];
}

export interface ContractTerms {
  readonly scale: ScaleTerms;
  readonly level: LevelTerms;
  readonly form: FormTerms;
}

const count = { type: 'integer', minimum: 0, maximum: 1e12 } as const;
const share = { type: 'number', minimum: 0, maximum: 1e6 } as const;
const NAME = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';

/** JSON Schema of the terms (also the request and approval bodies' `terms` in the OpenAPI document). */
export const termsSchema = {
  type: 'object',
  required: ['scale', 'level', 'form'],
  additionalProperties: false,
  properties: {
    scale: {
      type: 'object',
      description: 'How much may be taken: tables and cells per UTC day and in total; dp budget share',
      required: ['tablesPerDay', 'cellsPerDay', 'tablesTotal', 'cellsTotal'],
      additionalProperties: false,
      properties: {
        tablesPerDay: count,
        cellsPerDay: count,
        tablesTotal: count,
        cellsTotal: count,
        dpShare: {
          type: 'object',
          description: "The contract's share of the dataset's privacy budget (zCDP rho, pure epsilon)",
          additionalProperties: false,
          minProperties: 1,
          properties: { rho: share, epsilon: share },
        },
      },
    },
    level: {
      type: 'object',
      description: 'Which variables, to which hierarchy level, how many at once, the smallest filtered population',
      required: ['variables', 'maxDimensions'],
      additionalProperties: false,
      properties: {
        variables: {
          type: 'object',
          minProperties: 1,
          maxProperties: 100,
          propertyNames: { pattern: NAME },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: { maxLevel: { type: 'integer', minimum: 0, maximum: 20 } },
          },
        },
        maxDimensions: { type: 'integer', minimum: 1, maximum: 20 },
        minPopulation: { type: 'integer', minimum: 1, maximum: 1e12 },
      },
    },
    form: {
      type: 'object',
      description: 'Aggregate tables only: which measures ("count" or a measure name) and formats',
      required: ['measures', 'formats'],
      additionalProperties: false,
      properties: {
        measures: {
          type: 'array',
          minItems: 1,
          maxItems: 100,
          uniqueItems: true,
          items: { type: 'string', pattern: NAME },
        },
        formats: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...FORMATS] } },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(termsSchema);

/**
 * The terms, checked against the schema; 400 BAD_REQUEST naming every problem by JSON path (prefixed by `at`, the
 * terms' own path in the body) otherwise.
 */
export function checkTerms(json: unknown, at = '/terms'): ContractTerms {
  if (validate(json)) return json as unknown as ContractTerms;
  const problems = (validate.errors ?? []).map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
        : e.keyword === 'enum'
          ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`
          : '';
    return { path: `${at}${e.instancePath}`, message: `${e.message ?? 'invalid'}${extra}` };
  });
  throw new ApiError(
    'BAD_REQUEST',
    `invalid contract terms: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
    { problems },
  );
}

const wider = (granted: number | undefined, asked: number | undefined): boolean =>
  granted === undefined ? asked !== undefined : asked !== undefined && granted > asked;

/** The JSON paths (under `at`) where `granted` gives more than `asked`; empty when it is the same or narrower. */
export function widenings(asked: ContractTerms, granted: ContractTerms, at = '/terms'): string[] {
  const out: string[] = [];
  for (const k of ['tablesPerDay', 'cellsPerDay', 'tablesTotal', 'cellsTotal'] as const)
    if (granted.scale[k] > asked.scale[k]) out.push(`${at}/scale/${k}`);
  for (const k of ['rho', 'epsilon'] as const) {
    const g = granted.scale.dpShare?.[k];
    if (g !== undefined && (asked.scale.dpShare?.[k] === undefined || g > asked.scale.dpShare[k]!))
      out.push(`${at}/scale/dpShare/${k}`);
  }
  for (const [name, v] of Object.entries(granted.level.variables)) {
    const a = asked.level.variables[name];
    if (!a) out.push(`${at}/level/variables/${name}`);
    else if (wider(v.maxLevel, a.maxLevel)) out.push(`${at}/level/variables/${name}/maxLevel`);
  }
  if (granted.level.maxDimensions > asked.level.maxDimensions) out.push(`${at}/level/maxDimensions`);
  const gp = granted.level.minPopulation ?? 0;
  if (gp < (asked.level.minPopulation ?? 0)) out.push(`${at}/level/minPopulation`);
  for (const k of ['measures', 'formats'] as const) {
    const allowed = new Set<string>(asked.form[k]);
    granted.form[k].forEach((m, i) => {
      if (!allowed.has(m)) out.push(`${at}/form/${k}/${i}`);
    });
  }
  return out;
}
