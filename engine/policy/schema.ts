/**
 * The published policy JSON Schema (policies/policy.schema.json), loaded once.
 *
 * Guarantee: `policySchema` is deep-frozen, so the validator and the API serve the same unaltered document.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of the published policy JSON Schema (policies/policy.schema.json). */
export const POLICY_SCHEMA_PATH = fileURLToPath(new URL('../../policies/policy.schema.json', import.meta.url));

/**
 * The policy JSON Schema (draft 2020-12), parsed once at load and frozen.
 * The same object validates policies and is published by the API.
 */
const schemaText = readFileSync(POLICY_SCHEMA_PATH, 'utf8');
export const policySchema: Readonly<Record<string, unknown>> = deepFreeze(
  JSON.parse(schemaText) as Record<string, unknown>,
);

/** SHA-256 (hex) of the schema file's bytes `policySchema` was parsed from. */
export const policySchemaSha256 = createHash('sha256').update(schemaText).digest('hex');

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}
