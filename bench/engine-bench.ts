/**
 * Release engine benchmark (npm run bench:engine).
 *
 * Generates seeded census-like microdata (bench/generate.ts) and prints, in
 * one run and on the same file:
 *   - fast-csv parse alone (rows only, no conversion): rows/s, the baseline;
 *   - the full release (parse + typed conversion + bounding + five tables
 *     with margins + protection + rendering every output file) in the sdc
 *     and the dp regime: rows/s and the ratio to parse alone (target >= 0.7);
 *   - peak resident memory of each full release at two file sizes (a quarter
 *     and the full row count): the target is a peak independent of rows.
 *
 * Each measurement runs in a fresh child process so that its peak RSS
 * (process.resourceUsage().maxRSS) belongs to that measurement alone.
 *
 *   npm run bench:engine -- [--rows 1000000] [--repeat 2] [--unit person|household]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { censusPolicy, ensureCensusFile } from './generate.ts';
import { parseAlone } from './parse-bench.ts';
import { planPolicy, validatePolicy } from '../engine/policy/index.ts';
import { runRelease } from '../engine/pipeline.ts';
import { writeRelease } from '../engine/release/write.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Measure {
  rows: number;
  seconds: number;
  maxRssMb: number;
}

/** Child mode: one measurement, printed as a JSON line. */
async function child(kind: string, file: string, unit: 'person' | 'household'): Promise<void> {
  const t0 = performance.now();
  let rows: number;
  if (kind === 'parse') {
    rows = await parseAlone(file);
  } else {
    const regime = kind === 'sdc' ? 'sdc' : 'dp';
    const v = validatePolicy(censusPolicy(path.resolve(file), regime, { unit }));
    if (!v.ok) throw new Error(`census policy invalid: ${JSON.stringify(v.errors)}`);
    const plan = planPolicy(v.policy, {
      policyPath: path.join(here, 'census.policy.json'),
      policySha256: '0'.repeat(64),
    });
    const run = await runRelease(plan, {});
    const out = mkdtempSync(path.join(os.tmpdir(), 'statguard-bench-'));
    try {
      await writeRelease(run.content, path.join(out, 'release'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    rows = run.internal.rows.read;
  }
  const seconds = (performance.now() - t0) / 1000;
  const m: Measure = { rows, seconds, maxRssMb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

function measure(kind: string, file: string, unit: string): Measure {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', kind, '--file', file, '--unit', unit],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  if (r.status !== 0) throw new Error(`${kind} run failed: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Measure;
}

const fmtRate = (m: Measure): string => `${Math.round(m.rows / m.seconds).toLocaleString('en')} rows/s`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function driver(): Promise<void> {
  const rows = Number(arg('rows', '1000000'));
  const repeat = Math.max(1, Number(arg('repeat', '3')));
  const unit = arg('unit', 'person');
  const big = await ensureCensusFile(rows);
  const small = await ensureCensusFile(Math.round(rows / 4));
  process.stdout.write(
    `file: ${rows.toLocaleString('en')} rows, ${(statSync(big).size / 1e6).toFixed(1)} MB; unit: ${unit}; ${repeat} run(s) each, median reported\n`,
  );
  // Interleave the kinds so that machine drift affects them alike.
  const runs: Record<string, Measure[]> = { parse: [], sdc: [], dp: [] };
  for (let i = 0; i < repeat; i++) for (const k of Object.keys(runs)) runs[k]!.push(measure(k, big, unit));
  const rate = (k: string): number => median(runs[k]!.map((m) => m.rows / m.seconds));
  const base = rate('parse');
  process.stdout.write(
    `fast-csv parse alone:        ${Math.round(base).toLocaleString('en')} rows/s (peak RSS ${median(runs.parse!.map((m) => m.maxRssMb)).toFixed(0)} MB)\n`,
  );
  for (const k of ['sdc', 'dp']) {
    const r = rate(k);
    process.stdout.write(
      `full release, ${k} regime:    ${Math.round(r).toLocaleString('en')} rows/s = ${(r / base).toFixed(2)} x parse alone (target >= 0.70); ` +
        `wall ${median(runs[k]!.map((m) => m.seconds)).toFixed(2)} s\n`,
    );
  }
  for (const k of ['sdc', 'dp']) {
    const s = measure(k, small, unit);
    const b = median(runs[k]!.map((m) => m.maxRssMb));
    process.stdout.write(
      `peak RSS, ${k} regime: ${s.maxRssMb.toFixed(0)} MB at ${s.rows.toLocaleString('en')} rows, ${b.toFixed(0)} MB at ${rows.toLocaleString('en')} rows ` +
        `(ratio ${(b / s.maxRssMb).toFixed(2)}; ${fmtRate(s)} on the small file)\n`,
    );
  }
}

if (process.argv.includes('--child')) {
  await child(arg('child', ''), arg('file', ''), arg('unit', 'person') as 'person' | 'household');
} else {
  await driver();
}
