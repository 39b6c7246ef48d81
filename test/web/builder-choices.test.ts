/**
 * The table builder's narrowing of a dataset's declared schema to a contract's terms (api/web/builder.js
 * `SG.builderChoices`), run in a Node vm after util.js: only the variables the contract names, each level selector
 * stopped at the shallower of the contract's maxLevel and the schema's depth, the measures and formats both allow,
 * and the fewer dimensions at once of the two.
 */
import { readFile } from 'node:fs/promises';
import vm from 'node:vm';
import t from 'tap';

async function builderFunctions(): Promise<any> {
  const sandbox: Record<string, unknown> = { Intl, Map, Number, String, JSON, Object, Math, URLSearchParams, Array };
  sandbox.globalThis = sandbox;
  for (const f of ['util.js', 'builder.js'])
    vm.runInNewContext(await readFile(new URL(`../../api/web/${f}`, import.meta.url), 'utf8'), sandbox);
  return sandbox.SG;
}

const dim = (name: string, levels: number) => ({ name, label: name, levels, total: '_T', codes: [] });
const schema = {
  dataset: 'census',
  regime: 'ckm',
  maxDimensions: 3,
  formats: ['json', 'csv', 'jsonstat'],
  dimensions: [dim('region', 2), dim('sex', 1), dim('age_band', 2), dim('marital', 1)],
  measures: [
    { name: 'count', title: 'Count', kind: 'count' },
    { name: 'income', title: 'Income', kind: 'sum' },
  ],
  costPerQuery: null,
};

t.test('a contract narrows the schema the builder offers', async (t) => {
  const SG = await builderFunctions();
  const c = SG.builderChoices(schema, {
    scale: {},
    level: { variables: { region: { maxLevel: 1 }, sex: {}, age_band: { maxLevel: 5 }, nosuch: {} }, maxDimensions: 2 },
    form: { measures: ['count'], formats: ['csv', 'jsonstat', 'xlsx'] },
  });
  t.same(
    c.dimensions.map((d: { name: string; maxLevel: number }) => [d.name, d.maxLevel]),
    [
      ['region', 1],
      ['sex', 1],
      ['age_band', 2],
    ],
    'marital (not in the contract) and nosuch (not in the schema) are not offered; levels clamped both ways',
  );
  t.same(
    c.measures.map((m: { name: string }) => m.name),
    ['count'],
  );
  t.same(c.formats, ['csv', 'jsonstat'], 'xlsx is not a format the schema offers');
  t.equal(c.maxDimensions, 2);
  const wide = SG.builderChoices(schema, {
    scale: {},
    level: { variables: { region: {} }, maxDimensions: 9 },
    form: { measures: ['count', 'income'], formats: ['json'] },
  });
  t.same(
    wide.dimensions.map((d: { name: string; maxLevel: number }) => [d.name, d.maxLevel]),
    [['region', 2]],
    'no maxLevel: the finest level',
  );
  t.equal(wide.maxDimensions, 3, "the schema's own limit when the contract allows more");
  t.same(
    wide.measures.map((m: { name: string }) => m.name),
    ['count', 'income'],
  );
});
