import t from 'tap';
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadPolicy, validatePolicy } from '../../engine/policy/index.ts';
import type { PolicyProblem } from '../../engine/policy/index.ts';
import { StatguardError } from '../../engine/errors.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const read = (f: string): Json => JSON.parse(readFileSync(resolve('policies', f), 'utf8')) as Json;
const sdcBase = (): Json => read('tiny-sdc.json');
/** tiny-sdc turned into a valid dp policy. */
const dpBase = (): Json => ({
  ...sdcBase(),
  protection: { regime: 'dp', mechanism: 'discrete-laplace', budget: { epsilon: 1 } },
});

t.test('the bases are valid', async (t) => {
  t.ok(validatePolicy(sdcBase()).ok);
  t.ok(validatePolicy(dpBase()).ok);
});

t.test('source.rename and a gzip path are valid', async (t) => {
  const p = sdcBase();
  p.dataset.source.rename = { 'Size class': 'size', 'Region (NUTS 1)': 'region' };
  p.dataset.source.path = 'data/enterprises.csv.gz';
  t.ok(validatePolicy(p).ok);
});

interface Case {
  readonly name: string;
  readonly base: () => Json;
  readonly mutate: (p: Json) => void;
  readonly path: string;
  readonly message: RegExp;
  readonly code?: 'POLICY_INVALID' | 'POLICY_REFUSED';
}

const cases: Case[] = [
  {
    name: 'source.rename onto a name that is not a column name',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.source.rename = { 'Size class': 'size class' };
    },
    path: '/dataset/source/rename/Size class',
    message: /pattern|column name/i,
  },
  {
    name: 'missing required property',
    base: sdcBase,
    mutate: (p) => {
      delete p.release.title;
    },
    path: '/release',
    message: /missing required property "title"/,
  },
  {
    name: 'missing top-level section',
    base: sdcBase,
    mutate: (p) => {
      delete p.protection;
    },
    path: '',
    message: /missing required property "protection"/,
  },
  {
    name: 'wrong type',
    base: sdcBase,
    mutate: (p) => {
      p.version = 3;
    },
    path: '/version',
    message: /must be a string \(got integer\)/,
  },
  {
    name: 'unknown property',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].colour = 'red';
    },
    path: '/tables/0/colour',
    message: /unknown property "colour" \(allowed: id, title, .*\)/,
  },
  {
    name: 'bad enum',
    base: sdcBase,
    mutate: (p) => {
      p.protection.secondary.method = 'fast';
    },
    path: '/protection/secondary/method',
    message: /must be one of "optimal", "heuristic", "auto" \(got "fast"\)/,
  },
  {
    name: 'bad insider model',
    base: sdcBase,
    mutate: (p) => {
      p.protection.secondary.insiders = 'all';
    },
    path: '/protection/secondary/insiders',
    message: /must be one of "singletons", "lone-cell", "none" \(got "all"\)/,
  },
  {
    name: 'unknown regime',
    base: sdcBase,
    mutate: (p) => {
      p.protection.regime = 'k-anonymity';
    },
    path: '/protection/regime',
    message: /must be one of "sdc", "dp"/,
  },
  {
    name: 'bad slug',
    base: sdcBase,
    mutate: (p) => {
      p.id = 'Tiny SDC';
    },
    path: '/id',
    message: /must be a slug/,
  },
  {
    name: 'bad date',
    base: sdcBase,
    mutate: (p) => {
      p.release.expires = '31/12/2025';
    },
    path: '/release/expires',
    message: /must be a date YYYY-MM-DD/,
  },
  {
    name: 'bounds reversed',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].measure.bounds = [100, 0];
    },
    path: '/tables/0/measure/bounds',
    message: /lower bound 100 is greater than upper bound 0/,
  },
  {
    name: 'bounds arity',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].measure.bounds = [0];
    },
    path: '/tables/0/measure/bounds',
    message: /at least 2 items/,
  },
  {
    name: 'mean over something else than units or rows',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].measure = { ...p.tables[0].measure, kind: 'mean', per: 'household' };
    },
    path: '/tables/0/measure/per',
    message: /unit|row/,
  },
  {
    name: 'per on a sum',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].measure.per = 'row';
    },
    path: '/tables/0/measure/per',
    message: /.+/,
  },
  {
    name: 'bound finer than the column decimals',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].measure.bounds = [0, 100.25];
    },
    path: '/tables/0/measure/bounds/1',
    message: /not a multiple of 10\^-1/,
  },
  {
    name: 'sum without bounds',
    base: sdcBase,
    mutate: (p) => {
      delete p.tables[0].measure.bounds;
    },
    path: '/tables/0/measure',
    message: /missing required property "bounds"/,
  },
  {
    name: 'count with a column',
    base: sdcBase,
    mutate: (p) => {
      p.tables[1].measure.column = 'turnover';
    },
    path: '/tables/1/measure/column',
    message: /not allowed here: a count measure takes no "column"/,
  },
  {
    name: 'measure on a categorical column',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].measure.column = 'region';
    },
    path: '/tables/0/measure/column',
    message: /must be integer or number, but it is categorical/,
  },
  {
    name: 'unknown dimension column',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].dimensions = ['region', 'colour'];
    },
    path: '/tables/0/dimensions/1',
    message: /"colour" is not a declared categorical or derived column/,
  },
  {
    name: 'numeric dimension',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].dimensions = [{ column: 'employees' }];
    },
    path: '/tables/0/dimensions/0/column',
    message: /must be a categorical or derived column, but it is integer/,
  },
  {
    name: 'dimension twice',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].dimensions = ['region', 'region'];
    },
    path: '/tables/0/dimensions/1',
    message: /appears twice/,
  },
  {
    name: 'unit column undeclared',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.unit.column = 'firm';
    },
    path: '/dataset/unit/column',
    message: /unit column "firm" is not a declared column/,
  },
  {
    name: 'duplicate table id',
    base: sdcBase,
    mutate: (p) => {
      p.tables[2].id = 'turnover';
    },
    path: '/tables/2/id',
    message: /table id "turnover" is used twice \(first at \/tables\/0\)/,
  },
  {
    name: 'duplicate column',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.columns.push({ name: 'region', type: 'string' });
    },
    path: '/dataset/columns/5/name',
    message: /column "region" is declared twice/,
  },
  {
    name: 'duplicate category code',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.columns[1].categories.push({ code: 'N', label: 'Nord' });
    },
    path: '/dataset/columns/1/categories/3/code',
    message: /category code "N" of column "region" is declared twice/,
  },
  {
    name: 'overlapping bins',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.derived[0].bins[1].min = 9;
    },
    path: '/dataset/derived/0/bins/1',
    message: /bin "M" \[9, 49\] overlaps bin "S" \[0, 9\]/,
  },
  {
    name: 'derived from unknown column',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.derived[0].from = 'staff';
    },
    path: '/dataset/derived/0/from',
    message: /computed from "staff", which is not a declared column/,
  },
  {
    name: 'bins on a categorical column',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.derived[0].from = 'sector';
    },
    path: '/dataset/derived/0/from',
    message: /bins need an integer or number column/,
  },
  {
    name: 'derived with both bins and map',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.derived[0].map = { A: 'S' };
    },
    path: '/dataset/derived/0/map',
    message: /either "bins", or "map" with "categories"/,
  },
  {
    name: 'incomplete map',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.derived.push({
        name: 'big',
        from: 'sector',
        map: { A: 'X', B: 'X' },
        categories: [{ code: 'X', label: 'X' }],
      });
    },
    path: '/dataset/derived/1/map',
    message: /categories "C" of column "sector" are not mapped/,
  },
  {
    name: 'hierarchy does not partition',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.hierarchies = { region: [{ code: 'NS', label: 'North and south', children: ['N', 'S'] }] };
    },
    path: '/dataset/hierarchies/region',
    message: /does not partition its categories: hierarchy leaves out categories "W"/,
  },
  {
    name: 'hierarchy names an unknown code',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.hierarchies = { region: [{ code: 'NS', label: 'NS', children: ['N', 'S', 'E'] }, 'W'] };
    },
    path: '/dataset/hierarchies/region',
    message: /"E", which is not a declared category/,
  },
  {
    name: 'hierarchy without total',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.hierarchies = { region: [{ code: 'NS', label: 'NS', children: ['N', 'S'] }, 'W'] };
      p.tables[1].dimensions = [{ column: 'region', total: false }, 'sector'];
    },
    path: '/tables/1/dimensions/0/total',
    message: /a hierarchy needs the dimension total/,
  },
  {
    name: 'marked cell with an unknown code',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].neverSuppress = [['N', 'Z']];
    },
    path: '/tables/0/neverSuppress/0/1',
    message: /"Z" is not a code of dimension 2/,
  },
  {
    name: 'marked cell of the wrong arity',
    base: sdcBase,
    mutate: (p) => {
      p.tables[0].alwaysSuppress = [['N']];
    },
    path: '/tables/0/alwaysSuppress/0',
    message: /needs 2 codes/,
  },
  {
    name: '(p,q) with p >= q',
    base: sdcBase,
    mutate: (p) => {
      p.protection.rules.pq = { p: 20, q: 10 };
    },
    path: '/protection/rules/pq',
    message: /p < q/,
  },
  {
    name: 'sdc without rules',
    base: sdcBase,
    mutate: (p) => {
      p.protection.rules = {};
    },
    path: '/protection/rules',
    message: /at least one rule/,
  },
  {
    name: 'dp keys in an sdc policy',
    base: sdcBase,
    mutate: (p) => {
      p.protection.budget = { epsilon: 1 };
    },
    path: '/protection/budget',
    message: /unknown property "budget"/,
  },
  {
    name: 'dp with a minimum frequency rule',
    base: dpBase,
    mutate: (p) => {
      p.protection.rules = { minFrequency: { n: 3 } };
    },
    path: '/protection/rules',
    code: 'POLICY_REFUSED',
    message: /refused: .*never bases a decision on exact values/,
  },
  {
    name: 'dp with a dominance rule at top level',
    base: dpBase,
    mutate: (p) => {
      p.protection.dominance = [{ n: 1, k: 85 }];
    },
    path: '/protection/dominance',
    code: 'POLICY_REFUSED',
    message: /never bases a decision on exact values/,
  },
  {
    name: 'dp with neverSuppress',
    base: dpBase,
    mutate: (p) => {
      p.tables[0].neverSuppress = [['N', 'A']];
    },
    path: '/tables/0/neverSuppress',
    code: 'POLICY_REFUSED',
    message: /"neverSuppress" .*never bases a decision on exact values/,
  },
  {
    name: 'dp with zero-cell suppression',
    base: dpBase,
    mutate: (p) => {
      p.protection.zeroCells = 'suppress';
    },
    path: '/protection/zeroCells',
    code: 'POLICY_REFUSED',
    message: /never bases a decision on exact values/,
  },
  {
    name: 'discrete-laplace with rho',
    base: dpBase,
    mutate: (p) => {
      p.protection.budget = { rho: 1 };
    },
    path: '/protection/budget',
    message: /discrete-laplace needs budget.epsilon/,
  },
  {
    name: 'discrete-gaussian without rho',
    base: dpBase,
    mutate: (p) => {
      p.protection.mechanism = 'discrete-gaussian';
    },
    path: '/protection/budget',
    message: /discrete-gaussian needs budget.rho/,
  },
  {
    name: 'zero budget',
    base: dpBase,
    mutate: (p) => {
      p.protection.budget.epsilon = 0;
    },
    path: '/protection/budget/epsilon',
    message: /must be > 0 \(got 0\)/,
  },
  {
    name: 'empty budget',
    base: dpBase,
    mutate: (p) => {
      p.protection.budget = {};
    },
    path: '/protection/budget',
    message: /declare "epsilon"/,
  },
  {
    name: 'negative weight',
    base: dpBase,
    mutate: (p) => {
      p.tables[0].weight = -1;
    },
    path: '/tables/0/weight',
    message: /must be > 0/,
  },
  {
    name: 'maxRowsPerUnit below 1',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.unit.maxRowsPerUnit = 0;
    },
    path: '/dataset/unit/maxRowsPerUnit',
    message: /must be >= 1/,
  },
  {
    name: 'unknown source kind',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.source.kind = 'xlsx';
    },
    path: '/dataset/source/kind',
    message: /must be one of "csv", "postgres", "parquet", "csv-duckdb" \(got "xlsx"\)/,
  },
  {
    name: 'postgres source without table',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.source = { kind: 'postgres' };
    },
    path: '/dataset/source',
    message: /missing required property "table"/,
  },
  {
    name: 'postgres source with a path',
    base: sdcBase,
    mutate: (p) => {
      p.dataset.source = { kind: 'postgres', table: 't', path: 'x.csv' };
    },
    path: '/dataset/source/path',
    message: /unknown property "path"/,
  },
];

for (const c of cases) {
  t.test(`invalid: ${c.name}`, async (t) => {
    const doc = c.base();
    c.mutate(doc);
    const before = JSON.stringify(doc);
    const v = validatePolicy(doc);
    t.equal(JSON.stringify(doc), before, 'the document is not modified');
    if (v.ok) {
      t.fail('accepted an invalid policy');
      return;
    }
    const hit = v.errors.find((e) => e.path === c.path && c.message.test(e.message));
    t.ok(hit, `reports ${c.path}: ${c.message}; got ${JSON.stringify(v.errors)}`);
    t.equal(hit?.code, c.code ?? 'POLICY_INVALID');
    t.equal(v.refused, (c.code ?? 'POLICY_INVALID') === 'POLICY_REFUSED');
    // one problem, one report: the single mutation yields a single detail
    t.equal(v.errors.length, 1, `exactly one problem: ${JSON.stringify(v.errors)}`);
  });
}

t.test('validatePolicy on non-objects', async (t) => {
  for (const x of [null, [], 'policy', 42]) {
    const v = validatePolicy(x);
    t.notOk(v.ok);
    if (!v.ok)
      t.same(
        v.errors.map((e) => e.path),
        [''],
        `${JSON.stringify(x)} -> one error at the root`,
      );
  }
});

t.test('all problems are reported at once', async (t) => {
  const doc = sdcBase();
  doc.version = 3; // schema
  doc.tables[2].id = 'turnover'; // semantic
  doc.tables[0].measure.bounds = [5, 1]; // semantic
  const v = validatePolicy(doc);
  t.notOk(v.ok);
  if (v.ok) return;
  t.same(v.errors.map((e: PolicyProblem) => e.path).sort(), ['/tables/0/measure/bounds', '/tables/2/id', '/version']);

  const dir = t.testdir({ 'p.json': JSON.stringify(doc, null, 2) });
  const err = await loadPolicy(join(dir, 'p.json')).catch((e: unknown) => e);
  t.ok(err instanceof StatguardError);
  if (!(err instanceof StatguardError)) return;
  t.equal(err.code, 'POLICY_INVALID');
  t.match(err.message, /has 3 problems/);
  t.equal(err.where.file, join(dir, 'p.json'));
  t.equal(err.details.length, 3);
  t.ok(err.details.every((d) => d.file === join(dir, 'p.json') && typeof d.path === 'string'));
  t.match(err.describe(), /at \/version: must be a string/);
});

t.test('a refusal is reported with POLICY_REFUSED, together with other problems', async (t) => {
  const doc = dpBase();
  doc.protection.rules = { pPercent: { p: 10 } };
  doc.tables[1].alwaysSuppress = [['N', 'A']];
  doc.tables[0].dimensions = ['nope'];
  const dir = t.testdir({ 'dp.json': JSON.stringify(doc) });
  const err = await loadPolicy(join(dir, 'dp.json')).catch((e: unknown) => e);
  t.ok(err instanceof StatguardError);
  if (!(err instanceof StatguardError)) return;
  t.equal(err.code, 'POLICY_REFUSED');
  t.match(err.message, /never bases a decision on exact values/);
  t.same(err.details.map((d) => d.path).sort(), [
    '/protection/rules',
    '/tables/0/dimensions/0',
    '/tables/1/alwaysSuppress',
  ]);
});

t.test('unreadable policies', async (t) => {
  const dir = t.testdir({
    'broken.json': '{\n  "id": "x",\n  "version": "1"\n  "release": {}\n}\n',
    'truncated.json': '{\n  "id": "x",\n',
    'dir.json': {},
    'locked.json': '{}',
  });
  const broken = await loadPolicy(join(dir, 'broken.json')).catch((e: unknown) => e);
  t.ok(broken instanceof StatguardError);
  if (broken instanceof StatguardError) {
    t.equal(broken.code, 'POLICY_UNREADABLE');
    t.equal(broken.where.file, join(dir, 'broken.json'));
    t.equal(broken.where.line, 4, 'names the line of the syntax error');
    t.match(broken.message, /not valid JSON.*line 4, column 3/);
  }
  const truncated = await loadPolicy(join(dir, 'truncated.json')).catch((e: unknown) => e);
  t.ok(
    truncated instanceof StatguardError && truncated.code === 'POLICY_UNREADABLE' && truncated.where.line !== undefined,
  );

  const missing = await loadPolicy(join(dir, 'nope.json')).catch((e: unknown) => e);
  t.ok(missing instanceof StatguardError);
  if (missing instanceof StatguardError) {
    t.equal(missing.code, 'POLICY_UNREADABLE');
    t.match(missing.message, /nope\.json: no such file/);
    t.equal(missing.where.file, join(dir, 'nope.json'));
  }
  const isDir = await loadPolicy(join(dir, 'dir.json')).catch((e: unknown) => e);
  t.ok(isDir instanceof StatguardError && isDir.code === 'POLICY_UNREADABLE' && /is a directory/.test(isDir.message));

  if (process.getuid?.() !== 0) {
    chmodSync(join(dir, 'locked.json'), 0o000);
    const locked = await loadPolicy(join(dir, 'locked.json')).catch((e: unknown) => e);
    t.ok(
      locked instanceof StatguardError &&
        locked.code === 'POLICY_UNREADABLE' &&
        /permission denied/.test(locked.message),
    );
  }
  writeFileSync(join(dir, 'empty.json'), '');
  const empty = await loadPolicy(join(dir, 'empty.json')).catch((e: unknown) => e);
  t.ok(empty instanceof StatguardError && empty.code === 'POLICY_UNREADABLE', 'empty file');
});

t.test('more invalid classes', async (t) => {
  const cases: [string, (p: Json) => void, string, RegExp][] = [
    [
      'optional dimension column',
      (p) => {
        p.dataset.columns[2].required = false;
      },
      '/dataset/columns/2/required',
      /feeds table dimensions \(first \/tables\/0\/dimensions\/1\), so it must be required/,
    ],
    [
      'optional column behind a derived dimension',
      (p) => {
        p.dataset.columns[3].required = false;
      },
      '/dataset/columns/3/required',
      /"employees" feeds table dimensions/,
    ],
    [
      'optional unit column',
      (p) => {
        p.dataset.columns[0].required = false;
      },
      '/dataset/columns/0/required',
      /unit column "ent" must be required/,
    ],
    [
      'epsilon and rho together',
      (p) => {
        p.protection = { regime: 'dp', mechanism: 'discrete-laplace', budget: { epsilon: 1, rho: 1 } };
      },
      '/protection/budget/rho',
      /discrete-laplace takes budget.epsilon only/,
    ],
    [
      'integer bound on an integer column',
      (p) => {
        p.dataset.columns.push({ name: 'staff', type: 'integer' });
        p.tables[0].measure = { kind: 'mean', column: 'staff', bounds: [0, 0.5] };
      },
      '/tables/0/measure/bounds/1',
      /not a multiple of 10\^-0/,
    ],
    [
      'decimals on an integer column',
      (p) => {
        p.dataset.columns[3].decimals = 2;
      },
      '/dataset/columns/3/decimals',
      /"decimals" are only for number columns/,
    ],
    [
      'categories on a string column',
      (p) => {
        p.dataset.columns[0].categories = [{ code: 'e01', label: 'x' }];
      },
      '/dataset/columns/0/categories',
      /only for categorical columns/,
    ],
    [
      'categorical without categories',
      (p) => {
        delete p.dataset.columns[2].categories;
      },
      '/dataset/columns/2',
      /missing required property "categories"/,
    ],
    [
      'hierarchy on a numeric column',
      (p) => {
        p.dataset.hierarchies = { employees: ['x'] };
      },
      '/dataset/hierarchies/employees',
      /needs a categorical or derived column, but "employees" is integer/,
    ],
    [
      'malformed hierarchy node',
      (p) => {
        p.dataset.hierarchies = { region: [{ code: 'NS', children: ['N', 'S'] }, 'W'] };
      },
      '/dataset/hierarchies/region/0',
      /missing required property "label"/,
    ],
    [
      'reserved total code',
      (p) => {
        p.dataset.columns[1].categories.push({ code: '_T', label: 'Total' });
      },
      '/dataset/columns/1/categories/3/code',
      /"_T" is reserved for the dimension total/,
    ],
    [
      'reserved total code in bins',
      (p) => {
        p.dataset.derived[0].bins[2].code = '_T';
      },
      '/dataset/derived/0/bins/2/code',
      /"_T" is reserved/,
    ],
    [
      'dimension of a wrong type',
      (p) => {
        p.tables[0].dimensions = [7];
      },
      '/tables/0/dimensions/0',
      /must be a string or an object \(got integer\)/,
    ],
  ];
  for (const [name, mutate, path, message] of cases) {
    const doc = sdcBase();
    mutate(doc);
    const v = validatePolicy(doc);
    if (v.ok) {
      t.fail(`${name}: accepted`);
      continue;
    }
    t.same(
      v.errors.map((e) => [e.path, message.test(e.message)]),
      [[path, true]],
      `${name}: ${JSON.stringify(v.errors)}`,
    );
  }
});
