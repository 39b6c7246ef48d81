/**
 * Private partition selection (open domains, policy `domain: "open"`): which of the codes met in the data are
 * published, decided on noisy counts only. As Google's differential privacy library, Tumult Analytics and OpenDP do
 * it: a noisy count of units per candidate category, published when it reaches a threshold set from delta.
 *
 * The mechanism, per open column: the selection query counts units per candidate (after contribution bounding; no
 * total), adds discrete Laplace (scale t) or discrete Gaussian (sigma^2) noise to every candidate, and releases a
 * candidate c iff units_c >= 1 and units_c + Z_c >= tau. Only the released set leaves this file: every table is then
 * restricted to it (`restrictTable`) before its own noise is drawn, so no cell of an unreleased category is drawn on.
 *
 * Why (epsilon, delta) with delta = the policy's `partitionSelection.delta`. Neighbours D = D' + one unit u; after
 * bounding u has at most m rows, so it adds 1 to the unit count of at most m candidates. Fix the pair and view the
 * selection as independent per-candidate mechanisms:
 *  - candidates with units >= 1 in both D and D': their noisy counts form a count query of L1 sensitivity m and L2
 *    sensitivity sqrt(m) (m coordinates move by 1), so with t >= m / eps_sel (Laplace) it is eps_sel-DP, and with
 *    sigma^2 >= m / (2 rho_sel) it is rho_sel-zCDP (noise.ts, the same calibration as a count table without total);
 *  - candidates held by u alone (units 1 in D, absent or 0 in D'): never released under D'; under D released with
 *    probability P(Z >= tau - 1) =: p. Each is (0, p)-DP (P_D[released] <= 0 + p; P_D'[not] = 1 <= 1 - p + p), and there
 *    are at most m of them;
 *  - other candidates do not change.
 * Basic composition of independent mechanisms (and of the tables, which are DP on every category they could publish)
 * gives (eps, m p)-DP for Laplace; for Gaussian, rho-zCDP of the rest converted at delta_0 (CKS Cor. 13) composed with
 * the (0, m p) part gives (eps(rho, delta_0), delta_0 + m p). So tau is the smallest integer with m p <= delta:
 *  - discrete Laplace, q = exp(-1/t): P(Z >= k) = q^k / (1 + q) for k >= 0, hence
 *    tau = 1 + ceil( t ln( m / ((1 + q) delta) ) )   (about 1 + (m / eps_sel) ln(m / (2 delta)), Google's formula);
 *  - discrete Gaussian: it is sigma-subgaussian (CKS 2020, Cor. 9: E[e^(lambda Z)] <= e^(lambda^2 sigma^2 / 2)), so by
 *    Chernoff P(Z >= k) <= exp(-k^2 / (2 sigma^2)), hence tau = 1 + ceil( sigma sqrt( 2 ln(m / delta) ) ) (a bound,
 *    so tau is slightly conservative).
 * Several open columns split the selection's budget share and its delta evenly. A larger integer threshold from the
 * policy is honoured (smaller p); a smaller one is refused.
 *
 * Dropping candidates with no unit (`units_c >= 1`) is part of the mechanism above (a key absent from the bounded data
 * is never a candidate), not a post-processing decision on exact values; the number of candidates is never stated.
 */
import type { DimensionPlan, DpPlan, ExactCell, ExactTable, Plan, RandomSource, TablePlan } from '../types.ts';
import { cellCoords, cellCount, cellIndex } from '../types.ts';
import { StatguardError } from '../errors.ts';
import { dimensionOver, SELECTION_PREFIX, selectionTables } from '../policy/open-domain.ts';
import { exactInt, makeNoise, safeNoise, type NoiseSpec } from './noise.ts';

/** What the manifest states about one open column's selection (public: plan figures and the released count). */
export interface PartitionAccounting {
  readonly column: string;
  /** Budget of the selection query: epsilon (Laplace) or rho (Gaussian); the other is null. */
  readonly epsilon: number | null;
  readonly rho: number | null;
  /** This column's delta: the probability bound of publishing any category one unit holds alone. */
  readonly delta: number;
  /** Unit counts per candidate: one unit moves at most m of them by 1. */
  readonly l1Sensitivity: number;
  readonly l2Sensitivity: number;
  readonly noiseScale: number;
  readonly noiseParameter: string;
  /** A category is published when its noisy unit count is at least this. */
  readonly threshold: number;
  /** The smallest threshold this delta allows (the policy's `threshold: "minimum"`). */
  readonly minimumThreshold: number;
  /** Categories published (the output itself). */
  readonly released: number;
}

/**
 * Smallest integer threshold tau with m P(Z >= tau - 1) <= delta, for discrete Laplace noise of scale t.
 * P(Z >= k) = q^k / (1 + q), q = exp(-1/t) (k >= 0).
 */
export function laplaceSelectionThreshold(t: number, m: number, delta: number): number {
  checkArgs(t, m, delta);
  const q = Math.exp(-1 / t);
  const target = Math.log(delta / m) + Math.log1p(q); // need k ln q <= target, i.e. k >= target / ln q
  const lnq = -1 / t;
  let k = Math.max(0, Math.ceil(target / lnq - 1e-9));
  // Float guard: step to the exact smallest k (the tail is monotone in k).
  const ok = (j: number): boolean => j * lnq - Math.log1p(q) <= Math.log(delta / m);
  while (!ok(k)) k++;
  while (k > 0 && ok(k - 1)) k--;
  return 1 + k;
}

/**
 * Smallest integer threshold tau with m exp(-(tau - 1)^2 / (2 sigma^2)) <= delta (the discrete Gaussian's subgaussian
 * tail bound), for discrete Gaussian noise of variance parameter sigma^2.
 */
export function gaussianSelectionThreshold(sigma2: number, m: number, delta: number): number {
  checkArgs(sigma2, m, delta);
  if (delta >= m) return 1;
  const bound = (k: number): number => -(k * k) / (2 * sigma2) - Math.log(delta / m); // <= 0 when the tail fits
  let k = Math.max(0, Math.ceil(Math.sqrt(2 * sigma2 * Math.log(m / delta)) - 1e-9));
  while (bound(k) > 0) k++;
  while (k > 0 && bound(k - 1) <= 0) k--;
  return 1 + k;
}

function checkArgs(scale: number, m: number, delta: number): void {
  if (!(scale > 0) || !Number.isFinite(scale))
    throw new RangeError(`noise scale must be finite and > 0 (got ${scale})`);
  if (!Number.isSafeInteger(m) || m < 1) throw new RangeError(`m must be a positive integer (got ${m})`);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1) (got ${delta})`);
}

/** The smallest threshold for one selection query's noise (sigma^2 from sigma, nudged up: only raises it). */
function minimumThreshold(plan: DpPlan, noise: NoiseSpec, m: number, delta: number): number {
  return plan.mechanism === 'discrete-laplace'
    ? laplaceSelectionThreshold(noise.scale, m, delta)
    : gaussianSelectionThreshold(noise.scale * noise.scale * (1 + 1e-12), m, delta);
}

function belowMinimum(threshold: number, minimum: number, delta: number, column: string, m: number): StatguardError {
  const path = '/protection/partitionSelection/threshold';
  const message = `partitionSelection.threshold ${threshold} is below ${minimum}, the smallest threshold delta ${delta} allows for column ${column} with this budget and maxRowsPerUnit ${m}`;
  return new StatguardError('POLICY_INVALID', message, { path }, [{ path, message }]);
}

/** Per open column of a plan, from the plan alone: its delta, its minimum threshold, the threshold used, the noise sd. */
export interface PlannedSelection {
  readonly column: string;
  readonly delta: number;
  readonly minimumThreshold: number;
  readonly threshold: number;
  readonly noiseSd: number;
}

export function plannedSelections(plan: Plan): PlannedSelection[] {
  const p = plan.protection;
  if (p.regime !== 'dp' || p.partitionSelection === undefined) return [];
  const ps = p.partitionSelection;
  const sel = selectionTables(plan);
  const m = plan.dataset.unit.maxRowsPerUnit;
  const total = p.mechanism === 'discrete-laplace' ? p.epsilon! : p.rho!;
  return sel.map((t) => {
    const delta = ps.delta / sel.length;
    const noise = makeNoise(p, total * t.budgetShare, m, BigInt(m));
    const min = minimumThreshold(p, noise, m, delta);
    return {
      column: t.dimensions[0]!.name,
      delta,
      minimumThreshold: min,
      threshold: ps.threshold === 'minimum' ? min : ps.threshold,
      noiseSd: noise.sd,
    };
  });
}

/**
 * A plan's integer selection threshold checked against the minimum of each open column, from the plan alone (the
 * budget share, delta and m are public): run at planning, so a policy whose threshold is too low is refused before
 * anything is read or drawn.
 */
export function checkSelectionThreshold(plan: Plan): void {
  const m = plan.dataset.unit.maxRowsPerUnit;
  for (const s of plannedSelections(plan))
    if (s.threshold < s.minimumThreshold) throw belowMinimum(s.threshold, s.minimumThreshold, s.delta, s.column, m);
}

/** The released categories of each open column, and the selection's accounting. */
export interface PartitionResult {
  readonly released: ReadonlyMap<string, ReadonlySet<string>>;
  readonly accounting: readonly PartitionAccounting[];
}

/**
 * Run the selection queries (engine/policy/open-domain.ts `selectionTables`, aggregated with the tables). `totalBudget`
 * is the plan's epsilon or rho; each query's budget is it times its share.
 */
export function selectPartitions(
  selection: readonly ExactTable[],
  plan: DpPlan,
  m: number,
  totalBudget: number,
  rng: RandomSource,
): PartitionResult {
  const ps = plan.partitionSelection;
  if (ps === undefined) {
    if (selection.length === 0) return { released: new Map(), accounting: [] };
    throw new StatguardError('POLICY_INVALID', 'open columns need protection.partitionSelection', {
      path: '/protection/partitionSelection',
    });
  }
  const released = new Map<string, ReadonlySet<string>>();
  const accounting: PartitionAccounting[] = [];
  for (const table of selection) {
    const r = selectColumn(table, plan, ps, m, totalBudget, rng, ps.delta / selection.length);
    released.set(r.column, r.codes);
    accounting.push(r.account);
  }
  return { released, accounting: Object.freeze(accounting) };
}

function selectColumn(
  table: ExactTable,
  plan: DpPlan,
  ps: NonNullable<DpPlan['partitionSelection']>,
  m: number,
  totalBudget: number,
  rng: RandomSource,
  delta: number,
): { column: string; codes: Set<string>; account: PartitionAccounting } {
  const tp = table.plan;
  const dim = tp.dimensions[0]!;
  if (!tp.id.startsWith(SELECTION_PREFIX) || tp.dimensions.length !== 1 || dim.total !== null)
    throw new StatguardError('USAGE', `table ${tp.id} is not a partition selection query`);
  const noise = makeNoise(plan, totalBudget * tp.budgetShare, m, BigInt(m));
  const minimum = minimumThreshold(plan, noise, m, delta);
  const threshold = ps.threshold === 'minimum' ? minimum : ps.threshold;
  if (threshold < minimum) throw belowMinimum(threshold, minimum, delta, dim.name, m);
  const codes = new Set<string>();
  for (let i = 0; i < dim.leafCount; i++) {
    const units = exactInt(tp, i, (table.cells[i] as ExactCell).units, 'unit count');
    // Drawn for every candidate (the draw sequence does not depend on the data beyond the candidate count).
    const noisy = units + safeNoise(noise.sample(rng));
    if (units >= 1 && noisy >= threshold) codes.add(dim.nodes[i]!.code);
  }
  return {
    column: dim.name,
    codes,
    account: Object.freeze({
      column: dim.name,
      epsilon: noise.budgetEps,
      rho: noise.budgetRho,
      delta,
      l1Sensitivity: m,
      l2Sensitivity: Math.sqrt(m),
      noiseScale: noise.scale,
      noiseParameter: noise.param,
      threshold,
      minimumThreshold: minimum,
      released: codes.size,
    }),
  };
}

/**
 * The table restricted to the released categories of its open dimensions (in their candidate order; totals and the
 * cells of declared dimensions kept). A table without open dimensions is returned as is.
 */
export function restrictTable(table: ExactTable, released: ReadonlyMap<string, ReadonlySet<string>>): ExactTable {
  const dims = table.plan.dimensions;
  if (!dims.some((d) => released.has(d.name))) return table;
  // Per dimension: the new dimension and, per new node, its old node index.
  const maps = dims.map((d) => {
    const keep = released.get(d.name);
    if (keep === undefined) return { dim: d, old: d.nodes.map((_, i) => i) };
    const leaves = d.nodes.slice(0, d.leafCount).filter((n) => keep.has(n.code));
    const nd: DimensionPlan = dimensionOver(
      d,
      leaves.map((n) => ({ code: n.code, label: n.label })),
    );
    const oldOf = new Map(d.nodes.map((n, i) => [n.code, i] as const));
    return { dim: nd, old: nd.nodes.map((n) => oldOf.get(n.code)!) };
  });
  const plan: TablePlan = { ...table.plan, dimensions: maps.map((x) => x.dim) };
  const n = cellCount(plan.dimensions);
  const oldIndex = (i: number): number =>
    cellIndex(
      dims,
      cellCoords(plan.dimensions, i).map((c, d) => maps[d]!.old[c]!),
    );
  const cells = Array.from({ length: n }, (_, i) => table.cells[oldIndex(i)]!);
  const h = table.histogram;
  const histogram = h
    ? {
        slots: h.slots,
        counts: (() => {
          const out = new Int32Array(n * h.slots);
          for (let i = 0; i < n; i++)
            out.set(h.counts.subarray(oldIndex(i) * h.slots, (oldIndex(i) + 1) * h.slots), i * h.slots);
          return out;
        })(),
      }
    : undefined;
  return { kind: 'exact', plan, cells, ...(histogram ? { histogram } : {}) };
}
