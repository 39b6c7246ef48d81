/**
 * Seeded generator of synthetic census-like person microdata (any size,
 * streamed to CSV), and the matching release policy used by the benchmarks.
 *
 *   node --import tsx bench/generate.ts --rows 1000000 --seed 1 --out bench/data/census-1m.csv
 *
 * Columns: person_id, household_id, region (R01..R50 in 8 areas), sex (1,2),
 * age (0..99), marital (1..6), education (1..11), industry (0..19, N = not
 * working or under 16), income (integer, skewed, a few negative, N under 15),
 * weight (2 decimals). Households of 1..8 persons share a region.
 * Synthetic data only: seedrandom (not node:crypto) is fine here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import seedrandom from 'seedrandom';
import type { PolicyDoc, ColumnDoc, HierarchyChildDoc } from '../engine/policy/policy-doc.ts';

export const REGIONS = Array.from({ length: 50 }, (_, i) => `R${String(i + 1).padStart(2, '0')}`);
/** 8 areas: regions 1-7 -> A1, 8-14 -> A2, ... (the last area has the remainder). */
export const AREAS = Array.from({ length: 8 }, (_, a) => ({
  code: `A${a + 1}`,
  label: `Area ${a + 1}`,
  children: REGIONS.slice(a * 7, a === 7 ? 50 : (a + 1) * 7),
}));

export const HEADER = [
  'person_id',
  'household_id',
  'region',
  'sex',
  'age',
  'marital',
  'education',
  'industry',
  'income',
  'weight',
];

export interface GenerateOptions {
  rows: number;
  seed: string | number;
  out: string;
}

/** Write `rows` person rows to `out` (streamed, bounded memory). Resolves with the number of bytes written. */
export async function generateCensus(opts: GenerateOptions): Promise<number> {
  const rng = seedrandom(String(opts.seed));
  const normal = (): number => {
    const u = 1 - rng();
    const v = rng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  // Region sizes are skewed (a few big cities, many small regions).
  const regionWeights = REGIONS.map((_, i) => 1 / (1 + i * 0.15));
  const totalW = regionWeights.reduce((a, b) => a + b, 0);
  const cum: number[] = [];
  regionWeights.reduce((acc, w) => {
    cum.push((acc + w) / totalW);
    return acc + w;
  }, 0);
  const pickRegion = (): string => {
    const r = rng();
    let i = 0;
    while (i < cum.length - 1 && cum[i]! < r) i++;
    return REGIONS[i]!;
  };
  const householdSizes = [1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 5, 6, 8];

  fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
  const ws = fs.createWriteStream(opts.out);
  let bytes = 0;
  const write = async (s: string): Promise<void> => {
    bytes += Buffer.byteLength(s);
    if (!ws.write(s)) await new Promise<void>((r) => ws.once('drain', r));
  };
  await write(HEADER.join(',') + '\n');
  let pid = 0;
  let hid = 0;
  let buf: string[] = [];
  while (pid < opts.rows) {
    hid++;
    const region = pickRegion();
    const size = householdSizes[Math.floor(rng() * householdSizes.length)]!;
    for (let k = 0; k < size && pid < opts.rows; k++) {
      pid++;
      const age =
        k === 0 ? 18 + Math.floor(rng() * 80) : k === 1 ? 16 + Math.floor(rng() * 80) : Math.floor(rng() * 100);
      const sex = rng() < 0.49 ? '1' : '2';
      const marital = age < 16 ? '6' : String(1 + Math.floor(rng() * 6));
      const education = age < 6 ? '1' : String(Math.min(11, 1 + Math.floor(rng() * Math.min(11, age / 2))));
      const working = age >= 16 && age < 70 && rng() < 0.75;
      const industry = working ? String(Math.floor(rng() * 20)) : 'N';
      let income: string;
      if (age < 15) income = 'N';
      else if (rng() < 0.02)
        income = String(-Math.floor(rng() * 20000)); // business losses
      else income = String(Math.round(Math.exp(10 + (working ? 0.6 : 0) + 0.9 * normal())));
      const weight = (50 + rng() * 250).toFixed(2);
      buf.push(`P${pid},H${hid},${region},${sex},${age},${marital},${education},${industry},${income},${weight}`);
      if (buf.length >= 4096) {
        await write(buf.join('\n') + '\n');
        buf = [];
      }
    }
  }
  if (buf.length > 0) await write(buf.join('\n') + '\n');
  await new Promise<void>((resolve, reject) => ws.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return bytes;
}

/** <dir>/census-<rows>.csv (default dir bench/data), generated (seed 1) when missing; shared by the benchmarks. */
export async function ensureCensusFile(
  rows: number,
  dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'data'),
): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `census-${rows}.csv`);
  if (!fs.existsSync(file)) {
    process.stdout.write(
      `generating ${path.relative(process.cwd(), file)} (${rows.toLocaleString('en')} rows, seed 1)\n`,
    );
    await generateCensus({ rows, seed: 1, out: file });
  }
  return file;
}

const codes = (list: readonly string[], label: (c: string) => string) =>
  list.map((c) => ({ code: c, label: label(c) }));

export interface CensusPolicyOptions {
  /** 'household' (default): household_id is the unit, at most maxRowsPerUnit persons kept; 'person': each row its own unit. */
  unit?: 'household' | 'person';
  maxRowsPerUnit?: number;
}

/**
 * Release policy over a generated census file: five tables with margins,
 * a region -> area hierarchy, age bands (derived), a sum of income.
 * Shape: policies/policy.schema.json (PolicyDoc).
 */
export function censusPolicy(csvPath: string, regime: 'sdc' | 'dp', opts: CensusPolicyOptions = {}): PolicyDoc {
  const unit = opts.unit ?? 'household';
  const columns: ColumnDoc[] = [
    { name: 'person_id', type: 'string' },
    { name: 'household_id', type: 'string' },
    { name: 'region', title: 'Region', type: 'categorical', categories: codes(REGIONS, (c) => `Region ${c.slice(1)}`) },
    {
      name: 'sex',
      title: 'Sex',
      type: 'categorical',
      categories: [
        { code: '1', label: 'Male' },
        { code: '2', label: 'Female' },
      ],
    },
    { name: 'age', title: 'Age', type: 'integer', constraints: { minimum: 0, maximum: 99 } },
    {
      name: 'marital',
      title: 'Marital status',
      type: 'categorical',
      categories: codes(['1', '2', '3', '4', '5', '6'], (c) => `Marital status ${c}`),
    },
    {
      name: 'education',
      title: 'Education',
      type: 'categorical',
      categories: codes(
        Array.from({ length: 11 }, (_, i) => String(i + 1)),
        (c) => `Education level ${c}`,
      ),
    },
    {
      name: 'industry',
      title: 'Industry',
      type: 'categorical',
      categories: [
        ...codes(
          Array.from({ length: 20 }, (_, i) => String(i)),
          (c) => `Industry ${c}`,
        ),
        { code: 'N', label: 'Not applicable' },
      ],
    },
    { name: 'income', title: 'Annual income', type: 'integer', missingValues: ['N'] },
    { name: 'weight', title: 'Survey weight', type: 'number', decimals: 2 },
  ];
  const hierarchies: Record<string, HierarchyChildDoc[]> = {
    region: AREAS.map((a) => ({ code: a.code, label: a.label, children: a.children })),
  };
  const bands = [
    [0, 14],
    [15, 24],
    [25, 34],
    [35, 44],
    [45, 54],
    [55, 64],
    [65, 74],
    [75, 99],
  ] as const;
  return {
    id: `census-${regime}`,
    version: '1.0.0',
    release: {
      title: `Synthetic census benchmark (${regime})`,
      description: 'Generated by bench/generate.ts: synthetic person microdata, five tables with margins.',
      audience: 'public',
      demo: true,
    },
    dataset: {
      id: 'census-synthetic',
      source: { kind: 'csv', path: csvPath, delimiter: ',', header: true },
      unit:
        unit === 'household'
          ? { kind: 'household', column: 'household_id', maxRowsPerUnit: opts.maxRowsPerUnit ?? 8 }
          : { kind: 'person', maxRowsPerUnit: 1 },
      columns,
      derived: [
        {
          name: 'age_band',
          title: 'Age band',
          from: 'age',
          bins: bands.map(([lo, hi]) => ({ code: `Y${lo}T${hi}`, label: `${lo}-${hi} years`, min: lo, max: hi })),
        },
      ],
      hierarchies,
      onInvalidRow: 'error',
    },
    tables: [
      {
        id: 'pop-region-sex',
        title: 'Persons by region and sex',
        dimensions: ['region', 'sex'],
        measure: { kind: 'count' },
        weight: 1,
      },
      {
        id: 'pop-age-sex',
        title: 'Persons by age band and sex',
        dimensions: ['age_band', 'sex'],
        measure: { kind: 'count' },
        weight: 1,
      },
      {
        id: 'pop-region-education',
        title: 'Persons by region (with areas) and education',
        dimensions: ['region', 'education'],
        measure: { kind: 'count' },
        weight: 1,
      },
      {
        id: 'income-industry-sex',
        title: 'Total income by industry and sex',
        dimensions: ['industry', 'sex'],
        measure: { kind: 'sum', column: 'income', bounds: [-20000, 250000] },
        weight: 2,
      },
      {
        id: 'pop-region-marital',
        title: 'Persons by region and marital status',
        dimensions: ['region', 'marital'],
        measure: { kind: 'count' },
        weight: 1,
      },
    ],
    protection:
      regime === 'sdc'
        ? {
            regime: 'sdc',
            rules: {
              minFrequency: { n: 3, protectionPercent: 10 },
              dominance: [
                { n: 1, k: 80 },
                { n: 2, k: 90 },
              ],
              pPercent: { p: 10 },
            },
            secondary: { method: 'auto', cost: 'unity', timeLimitSeconds: 60 },
            zeroCells: 'publish',
          }
        : { regime: 'dp', mechanism: 'discrete-gaussian', budget: { rho: 1 }, delta: 1e-10, noisyThreshold: 5 },
  };
}

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`missing --${name}`);
  }
  return v;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const rows = Number(arg('rows', '100000'));
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error('--rows must be a positive integer');
  const out = arg('out', `bench/data/census-${rows}.csv`);
  const t0 = Date.now();
  const bytes = await generateCensus({ rows, seed: arg('seed', '1'), out });
  console.log(
    `wrote ${rows} rows (${(bytes / 1e6).toFixed(1)} MB) to ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (process.argv.includes('--policy')) {
    const regime = arg('regime', 'sdc') as 'sdc' | 'dp';
    const pf = out.replace(/\.csv$/, '') + `.${regime}.policy.json`;
    fs.writeFileSync(pf, JSON.stringify(censusPolicy(path.resolve(out), regime), null, 2) + '\n');
    console.log(`wrote policy ${pf}`);
  }
}
