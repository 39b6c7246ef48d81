/**
 * Hand-built Plans for source/aggregate tests (independent of the policy loader).
 */
import { buildDimension } from '../../engine/policy/dimension.ts';
import type {
  Category,
  ColumnPlan,
  DerivedColumnPlan,
  DimensionPlan,
  Plan,
  TablePlan,
  MeasurePlan,
  InvalidRowPolicy,
} from '../../engine/types.ts';

export const cats = (...codes: string[]): Category[] => codes.map((c) => ({ code: c, label: `L${c}` }));

export const REGIONS = ['R1', 'R2', 'R3', 'R4', 'R5'];
export const INDUSTRY = ['1', '2', '3', 'N'];

export const COLUMNS: ColumnPlan[] = [
  { name: 'pid', type: 'string', missingValues: [], required: true },
  { name: 'hh', type: 'string', missingValues: ['NA'], required: true },
  { name: 'region', type: 'categorical', categories: cats(...REGIONS), missingValues: [], required: true },
  { name: 'sex', type: 'categorical', categories: cats('1', '2'), missingValues: ['9'], required: true },
  { name: 'age', type: 'integer', missingValues: [''], required: true, minimum: 0, maximum: 120 },
  { name: 'industry', type: 'categorical', categories: cats(...INDUSTRY), missingValues: ['N'], required: false },
  { name: 'income', type: 'number', missingValues: ['N'], required: false, minimum: -1e7 },
];

export const DERIVED: DerivedColumnPlan[] = [
  {
    name: 'ageband',
    from: 'age',
    bins: [
      { code: 'Y0', label: '0-17', min: 0, max: 17 },
      { code: 'Y18', label: '18-64', min: 18, max: 64 },
      { code: 'Y65', label: '65-99', min: 65, max: 99 },
    ],
    categories: cats('Y0', 'Y18', 'Y65'),
  },
  { name: 'sexlab', from: 'sex', map: { '1': 'M', '2': 'F' }, categories: cats('M', 'F') },
];

export function regionDim(): DimensionPlan {
  return buildDimension({
    name: 'region',
    categories: cats(...REGIONS),
    hierarchy: [
      { code: 'A', label: 'Area A', children: ['R1', 'R2'] },
      { code: 'B', label: 'Area B', children: ['R3', { code: 'B2', label: 'B2', children: ['R4', 'R5'] }] },
    ],
  });
}

export function table(id: string, dimensions: DimensionPlan[], measure: MeasurePlan): TablePlan {
  return { id, title: id, description: '', dimensions, measure, budgetShare: 0, neverSuppress: [], alwaysSuppress: [] };
}

export function standardTables(): TablePlan[] {
  return [
    table('region_sex', [regionDim(), buildDimension({ name: 'sex', categories: cats('1', '2') })], { kind: 'count' }),
    table(
      'age_sex_income',
      [
        buildDimension({ name: 'ageband', categories: cats('Y0', 'Y18', 'Y65') }),
        buildDimension({ name: 'sexlab', categories: cats('M', 'F'), total: false }),
      ],
      { kind: 'sum', column: 'income', lower: -1000, upper: 50000, decimals: 0 },
    ),
    table(
      'industry_region_income',
      [buildDimension({ name: 'industry', categories: cats(...INDUSTRY) }), regionDim()],
      { kind: 'sum', column: 'income', lower: 0, upper: 4_000_000, decimals: 2 },
    ),
    table('total', [], { kind: 'count' }),
  ];
}

export interface PlanOptions {
  path: string;
  unit?: string | null;
  m?: number;
  onInvalidRow?: InvalidRowPolicy;
  tables?: TablePlan[];
  columns?: ColumnPlan[];
  delimiter?: string;
}

export function makePlan(o: PlanOptions): Plan {
  return {
    policyId: 'test',
    policyVersion: '1',
    policySha256: '0'.repeat(64),
    policyPath: '/dev/null',
    release: { title: 't', description: '', audience: 'public', demo: true, expires: null, contact: null },
    dataset: {
      id: 'test',
      source: { kind: 'csv', path: o.path, delimiter: o.delimiter ?? ',', header: true, encoding: 'utf8' },
      unit: { column: o.unit === undefined ? 'hh' : o.unit, kind: 'household', maxRowsPerUnit: o.m ?? 3 },
      columns: o.columns ?? COLUMNS,
      derived: DERIVED,
      onInvalidRow: o.onInvalidRow ?? 'error',
    },
    tables: o.tables ?? standardTables(),
    protection: {
      regime: 'sdc',
      minFrequency: 3,
      frequencyProtection: 10,
      dominance: [],
      pPercent: null,
      pq: null,
      secondary: { method: 'auto', cost: 'unity', timeLimitSeconds: 10 },
      zeroCells: 'publish',
    },
  };
}

export const HEADER = 'pid,hh,region,sex,age,industry,income,extra';

/** Random rows (seeded): households of 1..6 persons, some with missing income. */
export function randomRows(rng: () => number, households: number): string[] {
  const rows: string[] = [];
  let pid = 0;
  for (let h = 0; h < households; h++) {
    const size = 1 + Math.floor(rng() * 6);
    const region = REGIONS[Math.floor(rng() * REGIONS.length)]!;
    for (let k = 0; k < size; k++) {
      const age = Math.floor(rng() * 100);
      const sex = rng() < 0.5 ? '1' : '2';
      const industry = age < 16 ? 'N' : INDUSTRY[Math.floor(rng() * 3)]!;
      const r = rng();
      const income =
        age < 16
          ? 'N'
          : r < 0.05
            ? String(-Math.floor(rng() * 5000))
            : r < 0.5
              ? String(Math.floor(rng() * 80000))
              : (rng() * 60000).toFixed(2);
      rows.push(`p${pid++},h${h},${region},${sex},${age},${industry},${income},x${Math.floor(rng() * 3)}`);
    }
  }
  return rows;
}

export const KEY = new Uint8Array(32).fill(7);
