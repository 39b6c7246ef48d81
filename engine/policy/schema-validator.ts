/**
 * The ajv validator of the published policy schema (policies/policy.schema.json), with the options and formats of
 * ajv-config.json.
 *
 * Guarantee: `policyValidator` validates against exactly the schema bytes `policySchema` was parsed from. In the
 * sources it compiles the schema at run time (about 0.35 CPU-s, once per process); in the bundles (bin/build.js,
 * bin/build-tests.js) `precompiled` is replaced by ajv's standalone code generated at build time from the same
 * options (bin/policy-validator-code.js), used only while the schema file still has the SHA-256 it was generated
 * from, else the run-time compilation (so an edited schema never meets a stale validator). Loading the generated
 * code costs about 0.04 CPU-s: every command and test process that validates a policy starts faster.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FormatName } from 'ajv-formats';
import { policySchema, policySchemaSha256 } from './schema.ts';

// ajv-formats is CommonJS: under NodeNext the default import is module.exports, whose `.default` is the plugin.
const addFormats = addFormatsModule.default;

/** ajv's options and the formats the schema uses (shared with the build-time generator). */
const AJV_CONFIG = JSON.parse(readFileSync(new URL('./ajv-config.json', import.meta.url), 'utf8')) as {
  options: Record<string, boolean>;
  formats: FormatName[];
};

/** The schema compiled now by ajv. */
export function compileAtRunTime(): ValidateFunction {
  const ajv = new Ajv2020(AJV_CONFIG.options);
  addFormats(ajv, AJV_CONFIG.formats);
  return ajv.compile(policySchema);
}

let cached: ValidateFunction | null = null;

/** The validator: generated at build time when current (see the header), else compiled at run time; made once. */
export function policyValidator(): ValidateFunction {
  if (cached === null) {
    const pre = precompiled(createRequire(import.meta.url));
    cached = pre !== null && pre.schemaSha256 === policySchemaSha256 ? pre.validate : compileAtRunTime();
  }
  return cached;
}

// <precompiled>
/** Null in the sources; in the bundles, ajv's standalone code for the schema and the SHA-256 it was made from. */
function precompiled(require: NodeJS.Require): { schemaSha256: string; validate: ValidateFunction } | null {
  void require;
  return null;
}
// </precompiled>
