/**
 * What the semantic checks of a policy share: the problem type, the collector every check reports into (in order),
 * and the facts the dataset checks establish for the later ones (declared columns, table dimension domains, and the
 * domains found broken).
 *
 * Guarantee: problems are kept in the order they are reported; a dimension whose domain is broken is reported once
 * where it is declared and named in `badDims`, so its dependants skip it.
 */
import type { ErrorDetail } from '../errors.ts';
import { arr, isObj, str } from './json-read.ts';

/** One problem of a policy: POLICY_INVALID (malformed) or POLICY_REFUSED (well-formed but not allowed). */
export interface PolicyProblem extends ErrorDetail {
  readonly code: 'POLICY_INVALID' | 'POLICY_REFUSED';
  readonly path: string;
}

export const DP_REFUSAL =
  'a differential-privacy release never bases a decision on exact values; remove it, or use regime "sdc"';

/** Properties of `protection` that only make sense for sdc: rules on exact values. */
export const SDC_ONLY_PROTECTION = [
  'rules',
  'secondary',
  'zeroCells',
  'minFrequency',
  'dominance',
  'pPercent',
  'pq',
] as const;
/** Properties of a table that only make sense for sdc. */
export const SDC_ONLY_TABLE = ['neverSuppress', 'alwaysSuppress'] as const;

/** The problems found so far, in order. */
export class Problems {
  readonly list: PolicyProblem[] = [];
  /** A malformed part (POLICY_INVALID). */
  bad(path: string, message: string): void {
    this.list.push({ code: 'POLICY_INVALID', path, message });
  }
  /** A setting a dp policy may not carry (POLICY_REFUSED). */
  refuse(path: string, what: string): void {
    this.list.push({ code: 'POLICY_REFUSED', path, message: `refused: ${what} in a dp policy: ${DP_REFUSAL}` });
  }
}

export interface ColInfo {
  readonly index: number;
  readonly type: string;
  readonly codes: string[];
  readonly decimals: number;
  readonly required: unknown;
}

/** The domain of a column usable as a table dimension (categorical or derived). */
export interface DimInfo {
  readonly kind: 'column' | 'derived';
  readonly base: string | undefined;
  readonly codes: string[];
  readonly categories: { code: string; label: string }[];
  readonly path: string;
}

/** What the dataset checks establish for the hierarchy, table and protection checks. */
export interface DatasetFacts {
  readonly cols: Map<string, ColInfo>;
  readonly dims: Map<string, DimInfo>;
  /** Columns whose domain could not be resolved: reported once where declared, dependants skip them. */
  readonly badDims: Set<string>;
}

export function categoryList(v: unknown): { code: string; label: string }[] {
  return arr(v)
    .filter(isObj)
    .map((c) => ({ code: str(c.code) ?? '', label: str(c.label) ?? '' }))
    .filter((c) => c.code !== '');
}
