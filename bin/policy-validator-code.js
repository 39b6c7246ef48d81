// Build-time code of the policy schema's validator (used by bin/build.js and bin/build-tests.js, not at run time):
// engine/policy/schema-validator.ts's `precompiled` function is replaced by ajv's standalone code for
// policies/policy.schema.json, compiled with the options and formats of engine/policy/ajv-config.json (the ones the
// run-time compilation uses), and the SHA-256 of the schema bytes it was made from. Compiling the schema costs about
// 0.35 CPU-s in every process that validates a policy; loading the generated code about 0.04.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import standaloneModule from 'ajv/dist/standalone/index.js';
import { _ } from 'ajv';

const START = '// <precompiled>';
const END = '// </precompiled>';
const FILE = path.join('engine', 'policy', 'schema-validator.ts');

let generated = null;

/** The replacement of the `precompiled` function: the validator's standalone code and the schema's SHA-256. */
function precompiledFunction(root) {
  if (generated) return generated;
  const schemaText = readFileSync(path.join(root, 'policies/policy.schema.json'), 'utf8');
  const config = JSON.parse(readFileSync(path.join(root, 'engine/policy/ajv-config.json'), 'utf8'));
  const ajv = new Ajv2020({
    ...config.options,
    code: { source: true, esm: true, formats: _`require("ajv-formats/dist/formats").fullFormats` },
  });
  addFormatsModule.default(ajv, config.formats);
  const code = standaloneModule.default(ajv, ajv.compile(JSON.parse(schemaText)));
  // The module's head names the validate function; inside a function body the exports go.
  const head = /^"use strict";export const validate = (\w+);export default \1;/.exec(code);
  if (!head) throw new Error('bin/policy-validator-code.js: unexpected ajv standalone output');
  const sha = createHash('sha256').update(schemaText).digest('hex');
  generated = [
    START,
    '// Generated at build time by bin/policy-validator-code.js from policies/policy.schema.json: do not edit.',
    'function precompiled(require) {',
    code.slice(head[0].length),
    `return { schemaSha256: ${JSON.stringify(sha)}, validate: ${head[1]} };`,
    '}',
    END,
  ].join('\n');
  return generated;
}

/** `src` of the file at `file` with the precompiled validator put in, when it is schema-validator.ts; else `src`. */
export function withPrecompiledValidator(root, file, src) {
  if (path.relative(root, file) !== FILE) return src;
  const a = src.indexOf(START);
  const b = src.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${FILE}: the ${START} ... ${END} markers are missing`);
  return src.slice(0, a) + precompiledFunction(root) + src.slice(b + END.length);
}
