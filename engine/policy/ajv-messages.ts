/**
 * Readable messages for ajv's schema errors: allowed values, unknown and missing property names, slug and column
 * name rules, and hints for the schema's `false` branches.
 *
 * Guarantee: each ajv error becomes at most one PolicyProblem whose path is the JSON pointer of the offending value
 * (the unknown property itself for `additionalProperties`); `if` and `propertyNames` wrappers are dropped because
 * their failing branch reports itself.
 */
import type { ErrorObject } from 'ajv';
import { escapePointer, isObj, unescapePointer } from './json-read.ts';
import type { PolicyProblem } from './problems.ts';

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

export function formatAjvError(e: ErrorObject): PolicyProblem | null {
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
