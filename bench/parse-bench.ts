/**
 * Throughput of the CSV source: fast-csv parse alone (baseline: rows only, no
 * conversion) versus csvSource().aggregate (parse + typed conversion +
 * bounding + all tables of the census policy).
 *
 *   node --import tsx bench/parse-bench.ts [--rows 1000000] [--file bench/data/census-1m.csv] [--unit household|person] [--repeat 3]
 *
 * The file is generated (seed 1) when missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { parse } from 'fast-csv';
import { csvSource } from '../engine/source/index.ts';
import { planPolicy, validatePolicy } from '../engine/policy/index.ts';
import type { Plan } from '../engine/types.ts';
import { censusPolicy, generateCensus } from './generate.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

export async function parseAlone(file: string): Promise<number> {
  let rows = 0;
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file)
      .pipe(parse({ headers: false }))
      .on('data', () => {
        rows++;
      })
      .on('error', reject)
      .on('end', () => resolve());
  });
  return rows - 1;
}

export function censusPlan(file: string, unit: 'household' | 'person'): Plan {
  const doc = censusPolicy(path.resolve(file), 'sdc', { unit });
  const v = validatePolicy(doc);
  if (!v.ok) throw new Error(`census policy invalid: ${JSON.stringify(v.errors)}`);
  return planPolicy(v.policy, { policyPath: path.resolve('bench/census.policy.json'), policySha256: '0'.repeat(64) });
}

async function main(): Promise<void> {
  const rows = Number(arg('rows', '1000000'));
  const file = arg('file', `bench/data/census-${rows >= 1e6 && rows % 1e6 === 0 ? `${rows / 1e6}m` : rows}.csv`);
  const repeat = Number(arg('repeat', '3'));
  const units = arg('unit', 'both');
  if (!fs.existsSync(file)) {
    console.log(`generating ${file} (${rows} rows, seed 1)`);
    await generateCensus({ rows, seed: 1, out: file });
  }
  const mb = fs.statSync(file).size / 1e6;
  const best = async (label: string, fn: () => Promise<number>): Promise<number> => {
    let bestRate = 0;
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      const n = await fn();
      const s = (performance.now() - t0) / 1000;
      bestRate = Math.max(bestRate, n / s);
      console.log(
        `  ${label} run ${i + 1}: ${n} rows in ${s.toFixed(2)} s = ${Math.round(n / s).toLocaleString('en')} rows/s (${(mb / s).toFixed(1)} MB/s)`,
      );
    }
    return bestRate;
  };
  console.log(`file ${file}: ${mb.toFixed(1)} MB`);
  const base = await best('fast-csv parse alone', () => parseAlone(file));
  for (const unit of units === 'both' ? (['person', 'household'] as const) : [units as 'person' | 'household']) {
    const plan = censusPlan(file, unit);
    const rate = await best(`aggregate (unit ${unit})`, async () => {
      const r = await csvSource().aggregate(plan, { boundingKey: randomBytes(32) });
      return r.stats.rowsRead;
    });
    console.log(
      `aggregate (unit ${unit}): best ${Math.round(rate).toLocaleString('en')} rows/s = ${(rate / base).toFixed(2)} x parse alone (${Math.round(base).toLocaleString('en')} rows/s)`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href)
  await main();
