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
import { formatAjvError } from './ajv-messages.ts';
import { checkDataset } from './check-dataset.ts';
import { checkHierarchies } from './check-hierarchies.ts';
import { checkOnDemand } from './check-on-demand.ts';
import { checkOpenDomains } from './check-open-domains.ts';
import { checkProtection } from './check-protection.ts';
import { checkTables } from './check-tables.ts';
import { isObj } from './json-read.ts';
import { checkLabels, withDefaultLabels } from './labels.ts';
import type { PolicyDoc } from './policy-doc.ts';
import { Problems, SDC_ONLY_PROTECTION, type PolicyProblem } from './problems.ts';
import { policyValidator } from './schema-validator.ts';

export type PolicyValidation =
  | { readonly ok: true; readonly policy: PolicyDoc }
  | { readonly ok: false; readonly errors: readonly PolicyProblem[]; readonly refused: boolean };

/** Validate a parsed policy document. Never throws. */
export function validatePolicy(json: unknown): PolicyValidation {
  const validate = policyValidator();
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

/**
 * Every semantic problem of the document, in this order: labels per language, dataset (columns, derived columns, unit, holding and weight
 * columns), hierarchies, tables, protection, tables on demand. Tolerant of schema violations (skips what it cannot read).
 */
function semanticProblems(raw: unknown): PolicyProblem[] {
  const p = new Problems();
  if (!isObj(raw)) return p.list;
  checkLabels(p, raw);
  // The other checks read every label as its default-language string (labels.ts).
  const json = withDefaultLabels(raw);
  const dataset = isObj(json.dataset) ? json.dataset : {};
  const protection = isObj(json.protection) ? json.protection : {};
  const isDp = protection.regime === 'dp';
  const facts = checkDataset(p, dataset, isDp);
  const hierarchies = isObj(dataset.hierarchies) ? dataset.hierarchies : {};
  checkHierarchies(p, hierarchies, facts);
  checkTables(p, json.tables, facts, hierarchies, isDp);
  checkProtection(p, protection, dataset, json.tables, facts.cols);
  checkOpenDomains(p, dataset, protection, json.tables);
  checkOnDemand(p, json, facts, hierarchies);
  return p.list;
}
