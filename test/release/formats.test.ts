import t from 'tap';
import { buildDimension } from '../../engine/policy/dimension.ts';
import type { ProtectedCell, ProtectedTable, TablePlan } from '../../engine/types.ts';
import { cellCount, cellIndex } from '../../engine/types.ts';
import { forEachSelected, selectionSize, toCsv, toJsonStat, toSdmxCsv } from '../../engine/release/formats.ts';

const region = buildDimension({
  name: 'region',
  label: 'Region',
  categories: [
    { code: 'N1', label: 'North, one' },
    { code: 'N2', label: 'North "two"' },
    { code: 'S1', label: 'South' },
  ],
  hierarchy: [{ code: 'N', label: 'North', children: ['N1', 'N2'] }, 'S1'],
});
const sex = buildDimension({
  name: 'sex',
  label: 'Sex',
  categories: [
    { code: '1', label: 'Male' },
    { code: '2', label: 'Female' },
  ],
});
const plan: TablePlan = {
  id: 'pop',
  title: 'Population',
  description: '',
  dimensions: [region, sex],
  measure: { kind: 'count' },
  budgetShare: 0,
  neverSuppress: [],
  alwaysSuppress: [],
};
// Distinctive values so that a leak would be visible; cell (N1, 2) and (N2, 2) are suppressed.
const cells: ProtectedCell[] = Array.from({ length: cellCount(plan.dimensions) }, (_, i) => ({
  value: 1000 + i,
  conf: 'F',
  obs: 'A',
  accuracy: null,
}));
const sup1 = cellIndex(plan.dimensions, [0, 1]);
const sup2 = cellIndex(plan.dimensions, [1, 1]);
cells[sup1] = { value: null, conf: 'A', obs: 'A', accuracy: null };
cells[sup2] = { value: null, conf: 'D', obs: 'A', accuracy: null };
const table: ProtectedTable = { kind: 'protected', plan, cells };
const meta = { releaseTitle: 'R', source: 'test', updated: '2026-01-01T00:00:00.000Z', privacy: { regime: 'sdc' } };

t.test('csv: one line per cell with codes, labels, statuses; suppressed value empty; quoting', async (t) => {
  const csv = toCsv(table);
  const lines = csv.trimEnd().split('\n');
  t.equal(lines.length, 1 + 15);
  t.equal(lines[0], 'region,region_label,sex,sex_label,value,conf_status,obs_status,noise_sd,half_width_95');
  t.equal(lines[1], 'N1,"North, one",1,Male,1000,F,A,,');
  t.equal(lines[2], 'N1,"North, one",2,Female,,A,A,,');
  t.equal(lines[5], 'N2,"North ""two""",2,Female,,D,A,,');
  t.notMatch(csv, String(1000 + sup1));
  t.notMatch(csv, String(1000 + sup2));
});

t.test(
  'json-stat 2.0: sizes, index order matches value order, child hierarchy, null + status for suppressed',
  async (t) => {
    const js = toJsonStat(table, meta) as any;
    t.equal(js.version, '2.0');
    t.equal(js.class, 'dataset');
    t.same(js.id, ['region', 'sex']);
    t.same(js.size, [5, 3]);
    t.same(js.dimension.region.category.index, ['N1', 'N2', 'S1', 'N', '_T']);
    t.same(js.dimension.region.category.child, { N: ['N1', 'N2'], _T: ['N', 'S1'] });
    t.same(js.dimension.sex.category.child, { _T: ['1', '2'] });
    t.equal(js.value.length, 15);
    t.equal(js.value[sup1], null);
    t.equal(js.status[String(sup1)], 'A');
    t.equal(js.status[String(sup2)], 'D');
    t.equal(js.value[0], 1000);
    t.equal(js.extension.statguard.confStatus[sup2], 'D');
    t.match(js.extension.statguard.legend.CONF_STATUS.D, /Secondary/);
    const text = JSON.stringify(js);
    t.notMatch(text, String(1000 + sup1));
    t.notMatch(text, String(1000 + sup2));
  },
);

t.test('selection restricts cells in row-major order and keeps only selected child links', async (t) => {
  const sel = [[3, 0, 1], [2]];
  t.equal(selectionSize(plan.dimensions, sel), 3);
  const seen: string[] = [];
  forEachSelected(table, sel, (c) => seen.push(c.join(':')));
  t.same(seen, ['3:2', '0:2', '1:2']);
  const js = toJsonStat(table, meta, sel) as any;
  t.same(js.size, [3, 1]);
  t.same(js.dimension.region.category.child, { N: ['N1', 'N2'] });
  t.same(js.value, [
    1000 + cellIndex(plan.dimensions, [3, 2]),
    1000 + cellIndex(plan.dimensions, [0, 2]),
    1000 + cellIndex(plan.dimensions, [1, 2]),
  ]);
  t.equal(toCsv(table, [[], undefined]).trimEnd().split('\n').length, 1, 'empty selection gives header only');
});

t.test('sdmx-csv 2.0: structure columns, OBS_STATUS and CONF_STATUS, accuracy attributes', async (t) => {
  const lines = toSdmxCsv(table).trimEnd().split('\n');
  t.equal(lines[0], 'STRUCTURE,STRUCTURE_ID,ACTION,REGION,SEX,OBS_VALUE,OBS_STATUS,CONF_STATUS,NOISE_SD,HALF_WIDTH_95');
  t.equal(lines[1], 'dataflow,STATGUARD:POP(1.0),I,N1,1,1000,A,F,,');
  t.equal(lines[2], 'dataflow,STATGUARD:POP(1.0),I,N1,2,,A,A,,');
  // A noisy cell keeps its accuracy.
  const noisy: ProtectedTable = {
    ...table,
    cells: table.cells.map((c) =>
      c.value === null ? c : { ...c, obs: 'E', accuracy: { noiseSd: 1.25, scale: 1, halfWidth95: 2.5 } },
    ),
  };
  t.equal(toSdmxCsv(noisy).trimEnd().split('\n')[1], 'dataflow,STATGUARD:POP(1.0),I,N1,1,1000,E,F,1.25,2.5');
});

t.test(
  'sdmx-csv 2.0 labels=both: "ID: name" on every component header, the structure and every coded value',
  async (t) => {
    const lines = toSdmxCsv(table, { labels: 'both' }).trimEnd().split('\n');
    t.equal(
      lines[0],
      'STRUCTURE,STRUCTURE_ID,ACTION,REGION: Region,SEX: Sex,OBS_VALUE: count of units,OBS_STATUS: Observation status,' +
        'CONF_STATUS: Confidentiality status,NOISE_SD: Standard deviation of the noise,' +
        'HALF_WIDTH_95: Half-width of the 95% interval of the noise',
    );
    t.equal(
      lines[1],
      'dataflow,STATGUARD:POP(1.0): Population,I,"N1: North, one",1: Male,1000,A: Normal value,F: Free: published,,',
    );
    t.equal(
      lines[5],
      'dataflow,STATGUARD:POP(1.0): Population,I,"N2: North ""two""",2: Female,,A: Normal value,' +
        'D: Secondary suppression: suppressed to protect another cell,,',
    );
    t.notMatch(lines.join('\n'), String(1000 + sup2));
  },
);
