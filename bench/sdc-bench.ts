/**
 * Secondary-suppression benchmark (npm run bench:sdc), issue 4's and issue 21's "Done when":
 * seeded hierarchical magnitude tables of about 1,000, 10,000 and 100,000 cells
 * (2 to 5 dimensions, flat or 2-3 level hierarchies with totals, skewed per-unit
 * contributions), dense or sparse, protected by each secondary-suppression method.
 *
 *   npm run bench:sdc -- [--sizes 1k,10k,100k] [--dims 2,3,4,5] [--density dense,sparse]
 *                        [--methods optimal,heuristic] [--seed 42]
 *                        [--optimal-seconds 60] [--optimal-max-cells 20000] [--cleanup-seconds 30]
 *                        [--time-limit 60] [--max-seconds 600] [--profile] [--insiders singletons|lone-cell|none]
 *
 * --insiders  the insider model (policy protection.secondary.insiders, default singletons): the search protects
 *            against it, and the final audit prints how many other units' cells an insider could still compute or
 *            narrow (for lone-cell and none: the attacks those settings leave open; until the end of --time-limit, else 120 s).
 *
 * --dims     numbers of dimensions to run per size (2-5; SHAPES lists the shape of each size x dims, all of about the
 *            size's cell count). Without it each size runs its original shape only (1k: 2 dimensions, 10k and 100k: 3),
 *            with the original seeds, so earlier figures stay reproducible.
 * --time-limit  timeLimitSeconds of the policy (default 60, the issue's target): the run gets secondarySuppression's
 *            phase deadlines (MIP until 25% of it, heuristic search until 45%, clean-up until 75%, coarse fallback
 *            until 90%), and a search out of time ends in the coarse fallback the audit proves, reported as
 *            "fallback (coarse, k=...)" (k: the margins published have at most k dimensions below their total).
 *            0: no limit (then --optimal-seconds bounds the MIP and --cleanup-seconds the clean-up, as in the figures
 *            measured before issue 21).
 * --density  dense (default): 4% of the leaf cells empty, 13% with 1-2 units, 10-20% of all cells primary.
 *            sparse: a census table of a small sample cut by many variables (issue 21, finding 1): 60% of the leaf
 *            cells empty and about half of the non-empty ones sensitive (1-2 units, or a dominant unit), few units in
 *            the rest, so even margins of the finer groups are often sensitive.
 *
 * Every child reports its peak memory (process.resourceUsage().maxRSS, i.e. VmHWM: the peak resident set of the whole
 * process, WASM heap included). It also writes it to a small file at every heartbeat, so a run killed at --max-seconds
 * still reports the peak reached so far (as ">= N").
 *
 * At the end one summary table: size, dims, density, method, cells, primaries, secondaries, value suppressed, time per
 * phase and in total, peak MB, status (finished; killed at --max-seconds; optimal: optimum proven or time-limit
 * fallback with its lower bound) and the verdict of the final audit.
 *
 * Per size, dims, density and method it prints: cells, primaries, secondary suppressions, share of value suppressed (suppressed
 * leaf cells' |value| over the leaf total, as SdcReport), time per phase and in total, and the verdict of the full
 * audit of the final pattern (run exactly as protectSdc runs it). Then the ratio heuristic / optimal secondaries
 * where both finished.
 *
 * Phases (the same calls protectSdc -> secondarySuppression makes for a one-table release, timed apart):
 *   setup     applyPrimaryRules + buildCellSystem
 *   search    heuristic: heuristicSuppression up to its clean-up (cube phase, cheapest-witness LPs, audit rounds);
 *             optimal: optimalSuppression(input, --optimal-seconds) (MIP + cut loop; when the time limit ends first,
 *             its fallback, the heuristic started from the last master pattern, runs and is timed as clean-up, and
 *             the proven lower bound on the optimum is printed: the ratio line then gives the range)
 *   clean-up  heuristic only: its clean-up pass (--cleanup-seconds) and the audit and repair rounds after it
 *   audit     auditPattern of the final pattern over the whole table (protectSdc's independent final audit)
 *
 * Every (size, dims, density, method) runs in a child process killed after --max-seconds, so the benchmark always terminates
 * (the engine's searches are synchronous WASM calls between awaits: an in-process timer could not stop them).
 * The optimal method is skipped above --optimal-max-cells (default: the 100,000-cell tables), saying so.
 * --profile writes a V8 tick log per child (<tmpdir>/statguard-sdc-bench/<size>-<dims>d-<density>-<method>.log; `node --prof-process` it), also for
 * a run killed at --max-seconds. Without it, HiGHS time is still measured (heartbeat lines every 15 s).
 *
 * Tables are ExactTables built directly: units are generated per leaf cell (each unit in exactly one leaf, one row
 * per unit), aggregates are rolled up along every dimension's hierarchy (units, rows and sums add; an aggregate's
 * top contributions are the largest of its children's, exact since no unit appears in two leaves), so the tables are
 * additive exactly as the aggregator's output would be. seedrandom is fine here: benchmark data, not a release.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import { StatguardError } from '../engine/errors.ts';
import { buildDimension } from '../engine/policy/dimension.ts';
import type { DimensionSpec, HierarchyNodeSpec } from '../engine/policy/dimension.ts';
import { applyPrimaryRules } from '../engine/sdc/primary.ts';
import { buildCellSystem } from '../engine/sdc/relations.ts';
import { auditPattern } from '../engine/sdc/audit.ts';
import { highsRuntime } from '../engine/sdc/highs.ts';
import { cellCosts } from '../engine/sdc/problem.ts';
import type { SecondaryInput } from '../engine/sdc/problem.ts';
import { coarsePattern } from '../engine/sdc/coarse.ts';
import { TimeUp } from '../engine/sdc/deadline.ts';
import { Deadline } from '../engine/sdc/deadline.ts';
import { heuristicSuppression } from '../engine/sdc/heuristic.ts';
import type { HeuristicOptions } from '../engine/sdc/heuristic.ts';
import { optimalSuppression } from '../engine/sdc/optimal.ts';
import type { SecondaryResult } from '../engine/sdc/problem.ts';
import { phaseDeadlines } from '../engine/sdc/secondary.ts';
import type { Witnesses } from '../engine/sdc/witness-check.ts';
import { TOP_K, cellCount, cellCoords, strides } from '../engine/types.ts';
import type { DimensionPlan, ExactCell, ExactTable, MeasurePlan, SdcPlan, TablePlan } from '../engine/types.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
};
const flag = (name: string): boolean => process.argv.includes(`--${name}`);
/** --insiders singletons|lone-cell|none: the insider model (policy protection.secondary.insiders; default as protectSdc). */
const INSIDERS = arg('insiders', 'singletons');

/* ------------------------------------------------------------------ */
/* Table generation                                                     */
/* ------------------------------------------------------------------ */

/**
 * Shapes: per dimension its branching factors from the total down, e.g. [4, 7] = total -> 4 groups -> 7 leaves each
 * (1 + 4 + 28 = 33 nodes); [2, 3, 7] = total -> 2 sections -> 3 groups -> 7 leaves (1 + 2 + 6 + 42 = 51 nodes).
 */
type Shape = readonly (readonly number[])[];
const SHAPES: Record<string, Record<number, Shape>> = {
  '1k': {
    2: [
      [4, 7],
      [3, 9],
    ], // 33 x 31 = 1,023 cells, 756 leaf cells (the original 1k shape)
    3: [
      [3, 2],
      [3, 2],
      [2, 3],
    ], // 10 x 10 x 9 = 900 cells, 216 leaf cells
    4: [[2, 2], [2, 2], [4], [3]], // 7 x 7 x 5 x 4 = 980 cells, 192 leaf cells
    5: [[2, 2], [3], [3], [2], [2]], // 7 x 4 x 4 x 3 x 3 = 1,008 cells, 144 leaf cells
  },
  '10k': {
    2: [
      [9, 10],
      [3, 3, 10],
    ], // 100 x 103 = 10,300 cells, 8,100 leaf cells
    3: [
      [3, 6],
      [3, 6],
      [2, 2, 4],
    ], // 22 x 22 x 23 = 11,132 cells, 5,184 leaf cells (the original 10k shape)
    4: [
      [4, 2],
      [2, 3],
      [3, 2],
      [2, 3],
    ], // 13 x 9 x 10 x 9 = 10,530 cells, 1,728 leaf cells
    5: [[2, 2], [2, 2], [5], [5], [5]], // 7 x 7 x 6 x 6 x 6 = 10,584 cells, 2,000 leaf cells
  },
  '100k': {
    2: [
      [4, 6, 12],
      [5, 8, 7],
    ], // 317 x 326 = 103,342 cells, 80,640 leaf cells
    3: [
      [5, 8],
      [4, 10],
      [2, 3, 7],
    ], // 46 x 45 x 51 = 105,570 cells, 67,200 leaf cells (the original 100k shape)
    4: [
      [4, 3],
      [3, 5],
      [4, 3],
      [3, 5],
    ], // 17 x 19 x 17 x 19 = 104,329 cells, 32,400 leaf cells
    5: [
      [3, 2],
      [3, 2],
      [3, 2],
      [3, 2],
      [3, 2],
    ], // 10^5 = 100,000 cells, 7,776 leaf cells
  },
};
/** Each size's original number of dimensions (the shape run without --dims). */
const DEFAULT_DIMS: Record<string, number> = { '1k': 2, '10k': 3, '100k': 3 };
type Density = 'dense' | 'sparse';

const shapeOf = (size: string, dims: number): Shape => {
  const shape = SHAPES[size]?.[dims];
  if (!shape)
    throw new Error(
      `no shape for size ${size} with ${dims} dimensions (sizes: ${Object.keys(SHAPES).join(', ')}; dims: 2-5)`,
    );
  return shape;
};

/** Cells of a shape: per dimension 1 + b0 + b0*b1 + ... nodes. */
const shapeCells = (size: string, dims: number): number =>
  shapeOf(size, dims).reduce(
    (n, b) => n * b.reduce((acc, _, i) => acc + b.slice(0, i + 1).reduce((p, y) => p * y, 1), 1),
    1,
  );

function dimensionSpec(name: string, branching: readonly number[]): DimensionSpec {
  const categories: { code: string; label: string }[] = [];
  const build = (prefix: string, level: number): (HierarchyNodeSpec | string)[] => {
    const out: (HierarchyNodeSpec | string)[] = [];
    for (let i = 0; i < branching[level]!; i++) {
      const code = `${prefix}${String.fromCharCode(65 + (i % 26))}${i >= 26 ? i : ''}`;
      if (level === branching.length - 1) {
        categories.push({ code, label: code });
        out.push(code);
      } else out.push({ code: `${code}*`, label: code, children: build(code, level + 1) });
    }
    return out;
  };
  const hierarchy = build(`${name}.`, 0);
  return { name, categories, hierarchy, totalCode: `${name}.T` };
}

export interface Generated {
  readonly table: ExactTable;
  readonly leafCells: number;
}

/**
 * Aggregates from their children, dimension by dimension: an aggregate node's index is larger than its children's
 * (buildDimension), so walking nodes in index order sees complete children. After dimension d, every cell whose
 * coordinates beyond d are leaves is complete; after the last dimension, every cell is.
 */
function rollUp(dims: readonly DimensionPlan[], visit: (target: number, sources: readonly number[]) => void): void {
  const n = cellCount(dims);
  const st = strides(dims);
  dims.forEach((dim, d) => {
    const outer = d === 0 ? 1 : n / st[d - 1]!;
    const inner = st[d]!;
    const block = dim.nodes.length * inner;
    dim.nodes.forEach((node, a) => {
      if (node.leaf) return;
      for (let o = 0; o < outer; o++)
        for (let q = 0; q < inner; q++)
          visit(
            o * block + a * inner + q,
            node.children.map((ch) => o * block + ch * inner + q),
          );
    });
  });
}

/**
 * Smallest k with P(Poisson(lambda) <= k) >= u: monotone in lambda for a fixed u (so the calibration can bisect).
 * Sparse tables have small means; above 700 (where exp(-lambda) underflows) the mean itself is close enough.
 */
function poissonQuantile(lambda: number, u: number): number {
  if (lambda > 700) return Math.round(lambda);
  let k = 0;
  let pk = Math.exp(-lambda);
  let cdf = pk;
  while (cdf < u && pk > 0) {
    k++;
    pk *= lambda / k;
    cdf += pk;
  }
  return k;
}

/** Share of the non-empty cells with 1-2 units (frequency primaries under minFrequency 3) that sparse tables aim at. */
const SPARSE_SMALL_SHARE = 0.42;

/**
 * Sparse tables (issue 21, finding 1: a census table of a small sample cut by many variables): N persons fall into the
 * leaf cells with skewed per-dimension category weights (Poisson counts with mean N * product of the weights), and
 * N is chosen (bisection on log N, the same uniforms throughout) so that about 42% of the non-empty cells, margins
 * included, have 1-2 units; with the dominance primaries about half of the non-empty cells are sensitive, and most
 * interior cells are empty. Returns the unit count per cell index (leaves only; aggregates are rolled up later).
 */
function sparseLeafUnits(dims: readonly DimensionPlan[], leaves: readonly number[], rng: () => number): Float64Array {
  const weights = dims.map((dim) => {
    const w = dim.nodes.map((node, j) => (node.leaf ? (0.3 + rng()) / (1 + (3 * j) / dim.nodes.length) : 0));
    const total = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / total);
  });
  const p = leaves.map((i) => cellCoords(dims, i).reduce((acc, c, d) => acc * weights[d]![c]!, 1));
  const u = leaves.map(() => rng());
  const n = cellCount(dims);
  const draw = (persons: number): Float64Array => {
    const units = new Float64Array(n);
    leaves.forEach((i, j) => {
      units[i] = poissonQuantile(persons * p[j]!, u[j]!);
    });
    return units;
  };
  const smallShare = (persons: number): number => {
    const units = draw(persons);
    rollUp(dims, (t, src) => {
      units[t] = src.reduce((acc, c) => acc + units[c]!, 0);
    });
    let nonEmpty = 0;
    let small = 0;
    for (const k of units) {
      if (k > 0) nonEmpty++;
      if (k > 0 && k < 3) small++;
    }
    return nonEmpty ? small / nonEmpty : 1;
  };
  // The share of small cells falls as the sample grows: bisect on log N.
  let lo = Math.log(leaves.length * 0.001);
  let hi = Math.log(leaves.length * 100);
  for (let it = 0; it < 30; it++) {
    const mid = (lo + hi) / 2;
    if (smallShare(Math.exp(mid)) > SPARSE_SMALL_SHARE) lo = mid;
    else hi = mid;
  }
  return draw(Math.exp(hi));
}

/** Contribution mix: 15% (dense) or 20% (sparse) of the cells with 3+ units are dominated by one unit. */
const DOMINANT: Record<Density, number> = { dense: 0.15, sparse: 0.2 };

/**
 * Leaf cells, dense: 4% empty, 13% with 1-2 units (frequency primaries under minFrequency 3), the rest 3 + geometric
 * units (mean ~12); 15% of the cells with 3+ units have 3-6 units instead, one of them 10-60 times larger (dominance
 * candidates). Sparse: sparseLeafUnits, and 20% of the cells with 3-6 units dominated. Contributions: log-normal
 * (sigma 1.3); values are integers >= 1 (decimals 0).
 */
export function generateTable(
  size: string,
  seed: string,
  nDims: number = DEFAULT_DIMS[size] ?? 2,
  density: Density = 'dense',
): Generated {
  const shape = shapeOf(size, nDims);
  // The original shapes keep their original seeds (earlier figures stay reproducible).
  const original = density === 'dense' && nDims === DEFAULT_DIMS[size];
  const rng = seedrandom(original ? `${seed}:${size}` : `${seed}:${size}:${nDims}d:${density}`);
  const normal = (): number => {
    const u = 1 - rng();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  };
  const dims: DimensionPlan[] = shape.map((b, d) => buildDimension(dimensionSpec(`d${d}`, b)));
  const measure: MeasurePlan = { kind: 'sum', column: 'turnover', lower: 0, upper: 10_000_000, decimals: 0 };
  const plan: TablePlan = {
    id: `bench-${size}-${nDims}d-${density}`,
    title: `bench ${size} ${nDims}d ${density}`,
    description: '',
    dimensions: dims,
    measure,
    budgetShare: 0,
    neverSuppress: [],
    alwaysSuppress: [],
  };
  const n = cellCount(dims);
  const units = new Float64Array(n);
  const sum = new Float64Array(n);
  const top: number[][] = Array.from({ length: n }, () => []);
  const leaves: number[] = [];
  for (let i = 0; i < n; i++) if (cellCoords(dims, i).every((c, d) => dims[d]!.nodes[c]!.leaf)) leaves.push(i);
  const leafCells = leaves.length;
  const sparse = density === 'sparse' ? sparseLeafUnits(dims, leaves, rng) : null;
  for (const i of leaves) {
    let dominant: boolean;
    let k: number;
    if (sparse) {
      k = sparse[i]!;
      dominant = k >= 3 && k <= 6 && rng() < DOMINANT.sparse;
    } else {
      // The draws in the original order (the original dense tables keep their values).
      const r = rng();
      dominant = r >= 0.17 && rng() < DOMINANT.dense;
      k =
        r < 0.04
          ? 0
          : r < 0.17
            ? 1 + Math.floor(rng() * 2)
            : dominant
              ? 3 + Math.floor(rng() * 4)
              : 3 + Math.floor(Math.log(1 - rng()) / Math.log(1 - 1 / 10));
    }
    const xs: number[] = [];
    for (let u = 0; u < k; u++) {
      let x = Math.max(1, Math.round(Math.exp(6 + 1.3 * normal())));
      if (dominant && u === 0) x *= 10 + Math.floor(rng() * 50);
      xs.push(Math.min(x, measure.upper));
    }
    xs.sort((a, b) => b - a);
    units[i] = k;
    sum[i] = xs.reduce((s, x) => s + x, 0);
    top[i] = xs.slice(0, TOP_K);
  }
  rollUp(dims, (target, sources) => {
    let u = 0;
    let v = 0;
    let tops: number[] = [];
    for (const src of sources) {
      u += units[src]!;
      v += sum[src]!;
      tops = tops.concat(top[src]!);
    }
    units[target] = u;
    sum[target] = v;
    top[target] = tops.sort((x, y) => y - x).slice(0, TOP_K);
  });
  const cells: ExactCell[] = Array.from({ length: n }, (_, i) => ({
    units: units[i]!,
    rows: units[i]!,
    sum: sum[i]!,
    top: top[i]!,
  }));
  return { table: { kind: 'exact', plan, cells }, leafCells };
}

export const benchPlan = (method: 'optimal' | 'heuristic', seconds: number): SdcPlan => ({
  regime: 'sdc',
  minFrequency: 3,
  frequencyProtection: 10,
  dominance: [{ n: 1, k: 85 }],
  pPercent: null,
  pq: null,
  secondary: { method, cost: 'unity', timeLimitSeconds: seconds },
  zeroCells: 'publish',
});

/* ------------------------------------------------------------------ */
/* One run (child process)                                              */
/* ------------------------------------------------------------------ */

interface RunResult {
  size: string;
  dims: number;
  density: Density;
  method: 'optimal' | 'heuristic';
  /** Peak resident set of the child in MB (maxRSS); for a killed run the last figure its heartbeat wrote. */
  peakMB: number | null;
  /**
   * CPU seconds of the child (user + system, process.cpuUsage) from the primary rules to the end of the final audit:
   * on the shared machine, where wall times vary 3-5x with the other jobs' load, the steadier figure to compare.
   */
  cpuSeconds?: number;
  cells: number;
  leafCells: number;
  primaries: number;
  finished: boolean;
  note: string;
  secondary: number | null;
  shareValueSuppressed: number | null;
  /** Share of the leaf total in primary cells alone (what any method must hide). */
  sharePrimaryValue: number | null;
  auditPasses: boolean | null;
  narrowestMargin: number | null;
  iterations: number | null;
  /** Optimal runs out of time: the proven lower bound on the optimal number of secondary suppressions. */
  secondaryLowerBound?: number;
  /** Optimal runs: whether the pattern is proven optimal (false: the time-limit fallback's pattern). */
  optimalProven?: boolean;
  /** The search ran out of --time-limit: the coarse fallback pattern used (coarse.ts). */
  coarse?: string;
  cleanupRemoved: number | null;
  cleanupFinished: boolean | null;
  seconds: Record<string, number>;
}

/** CPU seconds (user + system) since `from` (a process.cpuUsage() reading). */
const cpuSince = (from: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
};

/** Peak resident set so far, in MB (Linux maxRSS is in kilobytes: the process's VmHWM). */
const peakMB = (): number => process.resourceUsage().maxRSS / 1024;
/** Set in the child (--peak-file): the parent reads the last peak written there when it had to kill the child. */
let peakFile: string | null = null;
/** Written with the peak: a killed run's summary row still shows its primaries. */
let childPrimaries = 0;
/** What the child is doing now (heartbeat lines name it). */
let phase = 'setup';

const progress = (msg: string): void => {
  process.stderr.write(`    ${msg}\n`);
  if (peakFile) writeFileSync(peakFile, `${peakMB().toFixed(0)} ${childPrimaries}`);
};

/**
 * Where the time goes, also inside a run that never returns to the event loop (the searches call HiGHS
 * synchronously between awaits, so no timer fires): every HiGHS model build and solve is timed through a wrapper
 * on the runtime, and every 15 s of wall time a heartbeat line (written synchronously) reports the LP share.
 * Everything else (cube search, components, RREF of the audit, clean-up bookkeeping) is JavaScript time.
 */
const lp = { builds: 0, buildMs: 0, runs: 0, runMs: 0, since: performance.now() };
async function instrumentHighs(label: () => string): Promise<void> {
  const highs = (await highsRuntime()) as unknown as {
    createModel: (...a: unknown[]) => { run: (...a: unknown[]) => unknown };
  };
  const create = highs.createModel.bind(highs);
  let lastBeat = performance.now();
  highs.createModel = (...a: unknown[]) => {
    const t = performance.now();
    const m = create(...a);
    lp.builds++;
    lp.buildMs += performance.now() - t;
    const run = m.run.bind(m);
    m.run = (...b: unknown[]) => {
      const t1 = performance.now();
      const out = run(...b);
      const t2 = performance.now();
      lp.runs++;
      lp.runMs += t2 - t1;
      if (t2 - lastBeat > 15_000) {
        lastBeat = t2;
        progress(
          `  .. ${((t2 - lp.since) / 1000).toFixed(0)} s into [${label()}]: HiGHS ${lp.runs} solves ${(lp.runMs / 1000).toFixed(1)} s, ${lp.builds} model builds ${(lp.buildMs / 1000).toFixed(1)} s, rest (JS) ${((t2 - lp.since - lp.runMs - lp.buildMs) / 1000).toFixed(1)} s`,
        );
      }
      return out;
    };
    return m;
  };
}
const lpSummary = (): string =>
  `HiGHS: ${lp.runs} solves ${(lp.runMs / 1000).toFixed(1)} s, ${lp.builds} model builds ${(lp.buildMs / 1000).toFixed(1)} s`;
const lpReset = (): void => {
  lp.builds = 0;
  lp.buildMs = 0;
  lp.runs = 0;
  lp.runMs = 0;
  lp.since = performance.now();
};

interface Case {
  size: string;
  dims: number;
  density: Density;
  method: 'optimal' | 'heuristic';
}
const caseLabel = (c: Case): string => `${c.size} ${c.dims}d ${c.density} ${c.method}`;

type Lap = (name: string) => number;

/** The optimal method (MIP + cut loop until `limit`, then the heuristic from its last master pattern, timed as clean-up). */
async function runOptimal(
  input: SecondaryInput,
  base: RunResult,
  limit: number | Deadline,
  heuristicOpts: HeuristicOptions,
  lap: Lap,
): Promise<SecondaryResult> {
  const proven = { lowerBound: 0 };
  let fellBack = false;
  const res = await optimalSuppression(
    input,
    limit,
    (start?: Uint8Array) => {
      fellBack = true;
      progress(`search (MIP + cut loop): ${lap('search').toFixed(1)} s, stopped at the time limit; ${lpSummary()}`);
      phase = 'fallback heuristic';
      lpReset();
      return heuristicSuppression(input, { ...heuristicOpts, ...(start ? { start } : {}) });
    },
    proven,
  );
  if (fellBack) {
    progress(`fallback (heuristic from the last master pattern): ${lap('cleanup').toFixed(1)} s; ${lpSummary()}`);
    // Unity costs: every cell costs exactly 1, so the bound minus the primaries bounds the optimal secondaries.
    base.secondaryLowerBound = Math.max(0, Math.ceil(proven.lowerBound - input.sensitive.length - 1e-6));
    base.note = `time limit: pattern of the heuristic from the last master pattern; optimum >= ${base.secondaryLowerBound} secondaries`;
  } else
    progress(
      `search (MIP + cut loop): ${lap('search').toFixed(1)} s, ${res.iterations} MIP solves, optimal; ${lpSummary()}`,
    );
  base.iterations = res.iterations;
  base.optimalProven = !fellBack;
  return res;
}

/** The heuristic: search, clean-up, and any repair after the clean-up (timed with it). */
async function runHeuristic(
  input: SecondaryInput,
  base: RunResult,
  heuristicOpts: HeuristicOptions,
  lap: Lap,
): Promise<SecondaryResult> {
  const res = await heuristicSuppression(input, {
    ...heuristicOpts,
    onCleanup: () => {
      progress(`search (hypercube rounds): ${lap('search').toFixed(1)} s; ${lpSummary()}`);
      phase = 'clean-up';
      lpReset();
    },
  });
  progress(
    `clean-up (and repair): ${lap('cleanup').toFixed(1)} s, removed ${res.cleanupRemoved}, ${res.cleanupFinished ? 'finished' : 'stopped at its budget'}, ${res.iterations} audit rounds in all; ${lpSummary()}`,
  );
  base.iterations = res.iterations;
  base.cleanupRemoved = res.cleanupRemoved ?? 0;
  base.cleanupFinished = res.cleanupFinished ?? false;
  return res;
}

async function runOne(
  { size, dims: nDims, density, method }: Case,
  seed: string,
  optimalSeconds: number,
  cleanupSeconds: number,
  timeLimit: number,
): Promise<RunResult> {
  const secs: Record<string, number> = {};
  let t0 = performance.now();
  const lap = (name: string): number => {
    const t = performance.now();
    secs[name] = (t - t0) / 1000;
    t0 = t;
    return secs[name]!;
  };
  phase = 'setup';
  await instrumentHighs(() => phase);
  const { table, leafCells } = generateTable(size, seed, nDims, density);
  lap('generate');
  const cpu0 = process.cpuUsage();
  const plan = benchPlan(method, method === 'optimal' ? optimalSeconds : cleanupSeconds);
  // As protectSdc: primary rules, one cell system, sensitive cells with their protection levels, unity costs.
  const p = applyPrimaryRules(table, plan);
  const sys = buildCellSystem([table]);
  const loc = sys.tableCells[0]!;
  const primary = new Uint8Array(sys.cellCount);
  const sensitive: { id: number; upper: number; lower: number }[] = [];
  p.cells.forEach((c, i) => {
    if (!c.unsafe) return;
    primary[loc[i]!] = 1;
    sensitive.push({ id: loc[i]!, upper: c.upper, lower: c.lower });
  });
  sensitive.sort((a, b) => a.id - b.id);
  childPrimaries = sensitive.length;
  const input: SecondaryInput = {
    sys,
    tables: [table],
    sensitive,
    primary,
    never: new Uint8Array(sys.cellCount),
    cost: cellCosts(sys, 'unity'),
    singletons: INSIDERS !== 'none',
    insiders: INSIDERS === 'singletons',
  };
  const base: RunResult = {
    size,
    dims: nDims,
    density,
    method,
    peakMB: null,
    cells: table.cells.length,
    leafCells,
    primaries: sensitive.length,
    finished: false,
    note: '',
    secondary: null,
    shareValueSuppressed: null,
    sharePrimaryValue: null,
    auditPasses: null,
    narrowestMargin: null,
    iterations: null,
    cleanupRemoved: null,
    cleanupFinished: null,
    seconds: secs,
  };
  progress(
    `${caseLabel({ size, dims: nDims, density, method })}: ${table.cells.length} cells, ${sensitive.length} primaries, ${sys.relations.length} relations (setup ${lap('setup').toFixed(1)} s)`,
  );

  // As secondarySuppression runs a group: with a time limit, one deadline per phase from now (phaseDeadlines) and,
  // when the search runs out of time (TimeUp), the coarse fallback the audit proves (coarse.ts).
  const budget = timeLimit > 0 ? phaseDeadlines(Date.now(), timeLimit) : null;
  phase = method === 'optimal' ? 'MIP + cut loop' : 'hypercube rounds';
  lpReset();
  const heuristicOpts: HeuristicOptions = {
    cleanupSeconds: budget ? timeLimit : cleanupSeconds,
    ...(budget ? { deadline: budget.search, cleanupDeadline: budget.cleanup } : {}),
  };
  let res: SecondaryResult;
  try {
    res =
      method === 'optimal'
        ? await runOptimal(input, base, budget?.mip ?? optimalSeconds, heuristicOpts, lap)
        : await runHeuristic(input, base, heuristicOpts, lap);
  } catch (e) {
    if (!(e instanceof TimeUp) || !budget) throw e;
    progress(`search: ${lap('search').toFixed(1)} s, out of time (${e.phase}); ${lpSummary()}`);
    phase = 'coarse fallback';
    lpReset();
    try {
      res = await coarsePattern(input, budget.fallback, `time limit ${timeLimit} s (stopped in ${e.phase})`);
    } catch (refusal) {
      // No coarse rung proven in time either: the run is refused (SDC_INFEASIBLE), as protectSdc would.
      if (!(refusal instanceof StatguardError)) throw refusal;
      lap('cleanup');
      return {
        ...base,
        note: `refused: ${refusal.message.split(';')[0]}`,
        peakMB: peakMB(),
        cpuSeconds: cpuSince(cpu0),
      };
    }
    progress(`coarse fallback: ${lap('cleanup').toFixed(1)} s, ${res.coarse?.description}; ${lpSummary()}`);
    base.coarse = `coarse, k=${res.coarse?.publishedMarginOrder}`;
    base.note = `time limit ${timeLimit} s: coarse fallback, ${res.coarse?.description}`;
    if (method === 'optimal') base.optimalProven = false;
  }
  const suppressed = res.suppressed;
  // The search's witnesses: the final audit checks them exactly instead of searching (as protectSdc does).
  const witnesses = new Map<number, Witnesses>(res.witnesses ?? []);
  // protectSdc's final, independent full audit.
  phase = 'final audit';
  lpReset();
  let audit: Awaited<ReturnType<typeof auditPattern>>;
  try {
    audit = await auditPattern(sys, suppressed, sensitive, {
      singletons: INSIDERS !== 'none',
      insiders: INSIDERS === 'singletons' ? true : 'report',
      insiderDeadline: budget?.end ?? Deadline.after(120),
      tables: [table],
      witnesses,
    });
  } catch (e) {
    // The insider proof of the final pattern did not finish in time: protectSdc refuses such a run (insider-final.ts).
    if (!(e instanceof TimeUp)) throw e;
    lap('audit');
    return {
      ...base,
      note: 'refused: the final audit could not prove the pattern safe against insiders within the time limit',
      peakMB: peakMB(),
      cpuSeconds: cpuSince(cpu0),
    };
  }
  const exposed = new Set(audit.insiders.map((x) => x.exposed)).size;
  progress(
    `final audit: ${lap('audit').toFixed(1)} s, ${audit.components} components, ${audit.certifiedCells} cells certified by witnesses, ${audit.lpSolves} LP solves; ${lpSummary()}; insiders ${INSIDERS}: ${exposed} other units' cells an insider could compute or narrow (${audit.insiders.length} insider/cell pairs${audit.insidersIncomplete ? '; stopped at the time bound: at least' : ''})`,
  );
  base.note = [
    base.note,
    `insiders ${INSIDERS}: ${exposed}${audit.insidersIncomplete ? '+' : ''} cells disclosed to insiders`,
  ]
    .filter((x) => x)
    .join('; ');
  const dims = table.plan.dimensions;
  let secondary = 0;
  let total = 0;
  let hidden = 0;
  let hiddenPrimary = 0;
  table.cells.forEach((_, i) => {
    const g = loc[i]!;
    if (suppressed[g] && !primary[g]) secondary++;
    if (!cellCoords(dims, i).every((c, d) => dims[d]!.nodes[c]!.leaf)) return;
    total += Math.abs(sys.value[g]!);
    if (suppressed[g]) hidden += Math.abs(sys.value[g]!);
    if (primary[g]) hiddenPrimary += Math.abs(sys.value[g]!);
  });
  return {
    ...base,
    finished: true,
    secondary,
    shareValueSuppressed: total > 0 ? hidden / total : 0,
    sharePrimaryValue: total > 0 ? hiddenPrimary / total : 0,
    auditPasses: audit.passes,
    narrowestMargin: audit.narrowestMargin,
    peakMB: peakMB(),
    cpuSeconds: cpuSince(cpu0),
  };
}

/* ------------------------------------------------------------------ */
/* Driver                                                               */
/* ------------------------------------------------------------------ */

interface Options {
  seed: string;
  optimalSeconds: number;
  cleanupSeconds: number;
  timeLimit: number;
  maxSeconds: number;
  profile: boolean;
  profDir: string;
}

/** One case in a child process killed after --max-seconds; a run that did not finish is a result too. */
function spawnCase(c: Case, o: Options): RunResult {
  const file = `${c.size}-${c.dims}d-${c.density}-${c.method}`;
  const peakPath = path.join(os.tmpdir(), `statguard-sdc-bench-peak-${process.pid}-${file}`);
  const started = Date.now();
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      ...(o.profile ? ['--prof', '--no-logfile-per-isolate', `--logfile=${path.join(o.profDir, `${file}.log`)}`] : []),
      fileURLToPath(import.meta.url),
      '--child',
      ...['--size', c.size, '--dims', String(c.dims), '--density', c.density, '--method', c.method],
      ...['--seed', o.seed, '--peak-file', peakPath],
      ...['--optimal-seconds', String(o.optimalSeconds), '--cleanup-seconds', String(o.cleanupSeconds)],
      ...['--time-limit', String(o.timeLimit), '--insiders', INSIDERS],
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: o.maxSeconds * 1000,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  const wall = (Date.now() - started) / 1000;
  let lastPeak: number | null = null;
  let primaries = 0;
  try {
    const [mb, prim] = readFileSync(peakPath, 'utf8').split(' ').map(Number);
    lastPeak = mb || null;
    primaries = prim || 0;
    rmSync(peakPath);
  } catch {
    // The child wrote no progress line (killed or failed before its first one).
  }
  const line = child.stdout?.trim().split('\n').pop();
  if (child.status === 0 && line) {
    const r = JSON.parse(line) as RunResult;
    r.seconds.wall = wall;
    return r;
  }
  const why = child.signal
    ? `killed after ${wall.toFixed(0)} s (--max-seconds ${o.maxSeconds})`
    : `exited with status ${child.status}`;
  console.log(`    did not finish: ${why}`);
  if (o.profile) console.log(`    V8 tick log: ${path.join(o.profDir, `${file}.log`)} (node --prof-process it)`);
  return {
    ...c,
    peakMB: lastPeak,
    cells: shapeCells(c.size, c.dims),
    leafCells: 0,
    primaries,
    finished: false,
    note: why,
    secondary: null,
    shareValueSuppressed: null,
    sharePrimaryValue: null,
    auditPasses: null,
    narrowestMargin: null,
    iterations: null,
    cleanupRemoved: null,
    cleanupFinished: null,
    seconds: { wall },
  };
}

/** finished | killed | failed, and for the optimal method whether the optimum is proven. */
const status = (r: RunResult): string => {
  if (!r.finished)
    return r.note.startsWith('killed') ? 'killed' : r.note.startsWith('refused') ? 'refused (time limit)' : 'failed';
  if (r.coarse) return `fallback (${r.coarse})`;
  if (r.method !== 'optimal') return 'finished';
  return r.optimalProven ? 'optimal-proven' : `finished, not proven (>= ${r.secondaryLowerBound ?? 0})`;
};

const setupToAudit = (r: RunResult): number =>
  (r.seconds.setup ?? 0) + (r.seconds.search ?? 0) + (r.seconds.cleanup ?? 0) + (r.seconds.audit ?? 0);

function printSummary(results: readonly RunResult[]): void {
  const cols: [string, number, (r: RunResult) => string][] = [
    ['size', -5, (r) => r.size],
    ['dims', 4, (r) => String(r.dims)],
    ['density', -7, (r) => r.density],
    ['method', -9, (r) => r.method],
    ['cells', 7, (r) => String(r.cells)],
    [
      'primaries (%)',
      15,
      (r) => (r.primaries ? `${r.primaries} (${((100 * r.primaries) / r.cells).toFixed(1)}%)` : '-'),
    ],
    ['secondaries', 11, (r) => String(r.secondary ?? '-')],
    [
      'value supp. (prim.)',
      19,
      (r) =>
        r.shareValueSuppressed === null
          ? '-'
          : `${(100 * r.shareValueSuppressed).toFixed(1)}% (${(100 * r.sharePrimaryValue!).toFixed(1)}%)`,
    ],
    ['search', 7, (r) => (r.seconds.search === undefined ? '-' : r.seconds.search.toFixed(1))],
    ['clean-up', 8, (r) => (r.seconds.cleanup === undefined ? '-' : r.seconds.cleanup.toFixed(1))],
    ['audit', 6, (r) => (r.seconds.audit === undefined ? '-' : r.seconds.audit.toFixed(1))],
    ['seconds*', 8, (r) => (r.finished ? setupToAudit(r).toFixed(1) : `>${(r.seconds.wall ?? 0).toFixed(0)}`)],
    ['cpu s', 6, (r) => (r.cpuSeconds === undefined ? '-' : r.cpuSeconds.toFixed(1))],
    ['peak MB', 7, (r) => (r.peakMB === null ? '-' : `${r.finished ? '' : '>= '}${r.peakMB.toFixed(0)}`)],
    ['status', -30, status],
    ['audit', 0, (r) => (r.finished ? (r.auditPasses ? 'passes' : 'FAILS') : '-')],
  ];
  const cell = (text: string, w: number): string => (w < 0 ? text.padEnd(-w) : text.padStart(w));
  console.log(`\n${cols.map(([h, w]) => cell(h, w)).join('  ')}`);
  for (const r of results) console.log(cols.map(([, w, f]) => cell(f(r), w)).join('  '));
  console.log(
    '* seconds = primary rules + cell system + search + clean-up + final audit (table generation excluded), in seconds;' +
      ' for a killed run the wall time at which it was killed. cpu s: the child\'s CPU seconds over the same span (steadier than wall time on a loaded machine). Peak MB: the child process\'s maxRSS (">=": last heartbeat' +
      ' before the kill). Search/clean-up of an optimal run at its time limit: MIP + cut loop / fallback heuristic.',
  );
  const notes = results.filter((r) => (r.finished || r.note.startsWith('refused')) && r.note);
  for (const r of notes) console.log(`  ${caseLabel(r)}: ${r.note}`);
}

function printRatios(results: readonly RunResult[]): void {
  console.log('\nheuristic / optimal secondary suppressions (target < 1.5):');
  const keys = [...new Set(results.map((r) => `${r.size} ${r.dims}d ${r.density}`))];
  for (const key of keys) {
    const of = (m: string): RunResult | undefined =>
      results.find((r) => `${r.size} ${r.dims}d ${r.density}` === key && r.method === m && r.finished);
    const o = of('optimal');
    const h = of('heuristic');
    if (o && h && o.secondary !== null && h.secondary !== null && o.optimalProven) {
      console.log(
        `  ${key}: ${h.secondary} / ${o.secondary} = ${o.secondary > 0 ? (h.secondary / o.secondary).toFixed(2) : 'n/a'} (optimum proven)`,
      );
    } else if (o && h && o.secondary !== null && h.secondary !== null) {
      // Not proven: the optimum lies between the bound and the optimal method's pattern.
      const b = o.secondaryLowerBound ?? 0;
      console.log(
        `  ${key}: optimum in [${b}, ${o.secondary}] (optimal method at its time limit): heuristic ${h.secondary} = ${o.secondary > 0 ? (h.secondary / o.secondary).toFixed(2) : 'n/a'}x its pattern, at most ${b > 0 ? (h.secondary / b).toFixed(2) : 'n/a'}x the optimum`,
      );
    } else console.log(`  ${key}: n/a (${!o ? 'optimal did not finish or was skipped' : 'heuristic did not finish'})`);
  }
  for (const h100 of results.filter((r) => r.size === '100k' && r.method === 'heuristic')) {
    console.log(
      `\n${caseLabel(h100)}, audit included: ${h100.finished ? `${setupToAudit(h100).toFixed(1)} s` : `did not finish (${h100.note})`} (target < 60 s)`,
    );
  }
}

const listArg = <T extends string>(name: string, fallback: string, known: readonly T[]): T[] => {
  const values = arg(name, fallback).split(',');
  const bad = values.filter((v) => !known.includes(v as T));
  if (bad.length) throw new Error(`--${name}: unknown ${bad.join(', ')} (known: ${known.join(', ')})`);
  return values as T[];
};

async function main(): Promise<void> {
  const seed = arg('seed', '42');
  const optimalSeconds = Number(arg('optimal-seconds', '60'));
  const cleanupSeconds = Number(arg('cleanup-seconds', '30'));
  const timeLimit = Number(arg('time-limit', '60'));
  if (flag('child')) {
    peakFile = arg('peak-file', '') || null;
    const size = arg('size', '1k');
    const res = await runOne(
      {
        size,
        dims: Number(arg('dims', String(DEFAULT_DIMS[size] ?? 2))),
        density: arg('density', 'dense') as Density,
        method: arg('method', 'heuristic') as 'optimal' | 'heuristic',
      },
      seed,
      optimalSeconds,
      cleanupSeconds,
      timeLimit,
    );
    process.stdout.write(`${JSON.stringify(res)}\n`);
    return;
  }
  const sizes = listArg('sizes', '1k,10k,100k', Object.keys(SHAPES));
  const dimsList = flag('dims') ? listArg('dims', '', ['2', '3', '4', '5']).map(Number) : null;
  const densities = listArg<Density>('density', 'dense', ['dense', 'sparse']);
  const methods = listArg<'optimal' | 'heuristic'>('methods', 'optimal,heuristic', ['optimal', 'heuristic']);
  const optimalMaxCells = Number(arg('optimal-max-cells', '20000'));
  const o: Options = {
    seed,
    optimalSeconds,
    cleanupSeconds,
    timeLimit,
    maxSeconds: Number(arg('max-seconds', '600')),
    profile: flag('profile'),
    profDir: path.join(os.tmpdir(), 'statguard-sdc-bench'),
  };
  if (o.profile) mkdirSync(o.profDir, { recursive: true });
  console.log(
    `sdc secondary-suppression benchmark (seed ${seed}; rules: minFrequency 3, dominance (1,85); unity cost; ` +
      (timeLimit > 0
        ? `time limit ${timeLimit} s per run (MIP until 25%, search until 45%, clean-up until 75%, coarse fallback until 90%); `
        : `optimal time limit ${optimalSeconds} s; heuristic clean-up budget ${cleanupSeconds} s; `) +
      `each run killed after ${o.maxSeconds} s)`,
  );
  const results: RunResult[] = [];
  for (const size of sizes)
    for (const dims of dimsList ?? [DEFAULT_DIMS[size]!])
      for (const density of densities)
        for (const method of methods) {
          const c: Case = { size, dims, density, method };
          const cells = shapeCells(size, dims);
          if (method === 'optimal' && cells > optimalMaxCells) {
            console.log(
              `  ${caseLabel(c)}: skipped (${cells} cells > --optimal-max-cells ${optimalMaxCells}: the MIP is not expected to finish in time)`,
            );
            continue;
          }
          console.log(`  ${caseLabel(c)}:`);
          results.push(spawnCase(c, o));
        }
  printSummary(results);
  printRatios(results);
}

// Run as a script (not when imported, e.g. to reuse generateTable).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
