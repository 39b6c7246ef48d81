/**
 * The policy validator generated at build time (bin/policy-validator-code.js: ajv standalone code that the bundles
 * put in engine/policy/schema-validator.ts) judges every document as the run-time compilation does: the same verdict
 * and the same errors (path, keyword, parameters, message, data), on every example policy and on 400 seeded
 * mutations of them (properties removed, values of another type, unknown properties, bad formats and enums). It names
 * the schema bytes it was made from.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import t from 'tap';
import type { ValidateFunction } from 'ajv';
import { withPrecompiledValidator } from '../../bin/policy-validator-code.js';
import { compileAtRunTime } from '../../engine/policy/schema-validator.ts';
import { policySchemaSha256 } from '../../engine/policy/schema.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILE = path.join(ROOT, 'engine/policy/schema-validator.ts');

/** The generated `precompiled` function, evaluated as the bundle evaluates it. */
function generated(): { schemaSha256: string; validate: ValidateFunction } {
  const out = withPrecompiledValidator(ROOT, FILE, readFileSync(FILE, 'utf8'));
  const open = 'function precompiled(require) {';
  const from = out.indexOf(open) + open.length;
  const to = out.lastIndexOf('}', out.indexOf('// </precompiled>'));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('require', out.slice(from, to))(createRequire(FILE)) as {
    schemaSha256: string;
    validate: ValidateFunction;
  };
}

type Json = Record<string, unknown>;
const examples: Json[] = readdirSync(path.join(ROOT, 'policies'))
  .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(path.join(ROOT, 'policies', f), 'utf8')) as Json);

/** Every (parent, key) of a document, depth first. */
function slots(doc: unknown, out: [Json | unknown[], string | number][] = []): [Json | unknown[], string | number][] {
  if (Array.isArray(doc))
    doc.forEach((v, i) => {
      out.push([doc, i]);
      slots(v, out);
    });
  else if (doc !== null && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc as Json)) {
      out.push([doc as Json, k]);
      slots(v, out);
    }
  return out;
}

const REPLACEMENTS: unknown[] = [null, 7, -1, 0.5, 'x', '', true, [], {}, '2026-13-45', 'not an email', ['a', 1]];

function mutate(doc: Json, rng: () => number): Json {
  const copy = structuredClone(doc);
  const all = slots(copy);
  for (let m = 0; m < 1 + Math.floor(rng() * 3); m++) {
    const [parent, key] = all[Math.floor(rng() * all.length)]!;
    const what = rng();
    if (what < 0.3 && !Array.isArray(parent)) delete (parent as Json)[key as string];
    else if (what < 0.4 && !Array.isArray(parent)) (parent as Json)[`unknown${m}`] = 1;
    else (parent as Record<string | number, unknown>)[key] = REPLACEMENTS[Math.floor(rng() * REPLACEMENTS.length)];
  }
  return copy;
}

const verdict = (v: ValidateFunction, doc: unknown) => {
  const ok = v(doc) as boolean;
  return {
    ok,
    errors: (v.errors ?? []).map((e) => ({
      instancePath: e.instancePath,
      schemaPath: e.schemaPath,
      keyword: e.keyword,
      params: e.params,
      message: e.message,
      data: e.data,
      parentSchema: e.parentSchema,
    })),
  };
};

t.test('the generated validator names the schema it was made from', async (t) => {
  t.equal(generated().schemaSha256, policySchemaSha256);
});

t.test('generated and run-time validators agree on every example and 400 mutations', async (t) => {
  const pre = generated().validate;
  const run = compileAtRunTime();
  t.ok(examples.length >= 5, `${examples.length} example policies`);
  for (const doc of examples) t.same(verdict(pre, doc), verdict(run, doc));
  const rng = seedrandom('precompiled-validator');
  let invalid = 0;
  let differ = 0;
  for (let i = 0; i < 400; i++) {
    const doc = mutate(examples[i % examples.length]!, rng);
    const a = verdict(pre, doc);
    const b = verdict(run, doc);
    if (!a.ok) invalid++;
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      differ++;
      if (differ <= 3) t.same(a, b, `mutation ${i}`);
    }
  }
  t.equal(differ, 0, 'no mutation judged differently');
  t.ok(invalid > 300, `most mutations are invalid (${invalid} of 400), so errors were compared`);
});
