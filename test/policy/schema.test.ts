import t from 'tap';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { policySchema, POLICY_SCHEMA_PATH, validatePolicy } from '../../engine/policy/index.ts';

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

t.test('the published schema is a draft 2020-12 schema with a stable $id', async (t) => {
  t.equal(policySchema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.equal(policySchema.$id, 'https://statguard.example/policy.schema.json');
  t.same(policySchema, JSON.parse(readFileSync(POLICY_SCHEMA_PATH, 'utf8')));
  t.ok(Object.isFrozen(policySchema) && Object.isFrozen(policySchema.$defs));
  // It is itself valid against the 2020-12 meta-schema.
  const ajv = new Ajv2020({ strict: false });
  t.ok(ajv.validateSchema(policySchema), JSON.stringify(ajv.errors));
});

t.test('every property carries a title and a description (the schema is rendered in API docs)', async (t) => {
  const defs = policySchema.$defs as Record<string, Node>;
  const resolveRef = (s: Node): Node =>
    typeof s.$ref === 'string' ? (defs[s.$ref.replace('#/$defs/', '')] ?? {}) : {};
  const missing: string[] = [];
  let checked = 0;
  const walk = (s: unknown, where: string): void => {
    if (!isNode(s)) return;
    if (isNode(s.properties)) {
      for (const [name, sub] of Object.entries(s.properties)) {
        if (!isNode(sub)) continue; // `false` schemas forbid a property
        checked++;
        const target = resolveRef(sub);
        const title = sub.title ?? target.title;
        const desc = sub.description ?? target.description;
        if (typeof title !== 'string' || typeof desc !== 'string' || desc.length < 3)
          missing.push(`${where}/properties/${name}`);
      }
    }
    for (const [k, v] of Object.entries(s)) {
      if (k === 'properties' && isNode(v))
        for (const [n, sub] of Object.entries(v)) walk(sub, `${where}/properties/${n}`);
      else if (k === 'if')
        continue; // conditions name properties, they do not declare them
      else if (isNode(v)) walk(v, `${where}/${k}`);
      else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}/${k}/${i}`));
    }
  };
  walk(policySchema, '#');
  t.ok(checked > 60, `checked ${checked} properties`);
  t.same(missing, []);
});

t.test('the minimum frequency convention is stated in the schema', async (t) => {
  const mf = ((((policySchema.$defs as Node).sdc as Node).properties as Node).rules as Node).properties as Node;
  t.match(String((mf.minFrequency as Node).description), /unsafe when 0 < units < n/);
});

t.test('validation keeps no state between calls', async (t) => {
  const doc = JSON.parse(readFileSync('policies/tiny-sdc.json', 'utf8')) as Node;
  const bad = structuredClone(doc) as { dataset: { columns: { categories?: unknown[] }[] } };
  bad.dataset.columns[1]!.categories!.push({ code: 'N', label: 'again' });
  t.notOk(validatePolicy(bad).ok);
  t.ok(validatePolicy(doc).ok, 'a valid policy after an invalid one is still valid');
});
