/**
 * Quantile tables under the dp regime: one exponential-mechanism draw per cell over candidates declared in the policy.
 *
 * Candidates. The policy declares `bounds` [lo, hi] and `bins` N; the candidates are c_j = lo + floor(j (hi - lo) / N)
 * (j = 0..N, scaled integer units, strictly increasing: the plan requires hi - lo >= N scaled steps). They are public
 * and never come from the data. Values are clamped to [lo, hi] per row, so every value is one of the candidates or
 * lies strictly between two neighbours; the aggregator (engine/aggregate/quantile-hist.ts) keeps, per cell, the count
 * of rows in each of these 2N + 1 slots, which is exactly what the utility below needs.
 *
 * Utility (Smith 2011; the rank score OpenDP's quantile uses). For the alpha-quantile, alpha = a / 10000 (the policy's
 * quantile with at most 4 decimals), and a candidate c with L(c) rows below it and G(c) rows above it in the cell:
 *   U(c) = -| (10000 - a) L(c) - a G(c) |     (an integer; |U| <= 10000 rows < 2^53: exact in doubles).
 * Without ties at c, U(c) / 10000 = -|L(c) - alpha n|: minus the distance, in rows, between c's rank and the
 * alpha-quantile's rank. Adding or removing one row changes L or G (or neither) by one, so U by at most
 * max(a, 10000 - a); a unit has at most m rows in a cell: Delta = m max(a, 10000 - a).
 *
 * Mechanism. Output j with probability proportional to exp(eps U_j / (2 Delta)): eps-DP per cell (McSherry-Talwar).
 * Sampled exactly by rejection: draw j uniformly (exact uniform integer from the run's RandomSource), accept with an
 * exact Bernoulli(exp(-gamma_j)), gamma_j = eps (U* - U_j) / (2 Delta) a rational (eps as its exact dyadic value; CKS
 * 2020 Algorithm 1, samplers.ts). Accepted j has probability w_j / sum_k w_k with w_j = exp(-gamma_j): exactly the
 * exponential mechanism, no floating point anywhere in the sampler. Expected trials: (N+1) / sum_k w_k <= N + 1.
 * (The number of trials depends on the data, as the CKS samplers' running time does; timing is not an output.)
 *
 * Table composition. A unit's rows reach at most K = m (L - S) + S cells of the table (sensitivity.ts: cellsPerRow,
 * sharedCells); cells it does not reach have unchanged utilities. Pure DP: each cell gets eps_c = eps_table / K, so
 * the table is eps_table-DP by basic composition. zCDP plans: an eps_c-DP exponential mechanism is eps_c^2 / 8-zCDP
 * (Cesar and Rogers 2021, bounded range), so eps_c = sqrt(8 rho_table / K) makes the table rho_table-zCDP.
 *
 * Accuracy. The mechanism's utility guarantee: Pr[U(out) <= U* - (2 Delta / eps_c)(ln(N+1) + ln(1/beta))] <= beta.
 * With beta = 0.05 the table states, in rows, rankBound95 = (2 Delta / eps_c)(ln(N+1) + ln 20) / 10000: with
 * probability >= 0.95 the published candidate's rank error exceeds the best candidate's by at most that many rows.
 * A value interval would need the cell's exact distribution, so none is stated: the published cell carries no
 * noise sd or half-width (accuracy null) and the manifest states the rank bound and the candidate spacing.
 * test/dp/quantile.test.ts measures both the sampler's distribution and the bound's coverage.
 */
import type { DpPlan, ExactTable, MeasurePlan, ProtectedCell, RandomSource } from '../types.ts';
import { StatguardError } from '../errors.ts';
import { uniformBigInt } from '../random.ts';
import { rational, rationalFromNumber, type Rational } from './rational.ts';
import { sampleBernoulliExp } from './samplers.ts';
import { cellsPerRow, sharedCells } from './sensitivity.ts';

/** The quantile is a / QUANTILE_SCALE. */
export const QUANTILE_SCALE = 10000;
/** Most candidate bins a policy may declare. */
export const MAX_QUANTILE_BINS = 10000;

export type QuantileMeasure = Extract<MeasurePlan, { kind: 'quantile' }>;

/** The declared candidates c_0 < ... < c_N in scaled integer units (public: from the plan only). */
export function quantileCandidates(meas: QuantileMeasure): number[] {
  const { lower, upper, bins } = meas;
  if (!Number.isSafeInteger(bins) || bins < 1 || bins > MAX_QUANTILE_BINS || upper - lower < bins)
    throw new StatguardError(
      'POLICY_INVALID',
      `quantile bins must be an integer in 1..${MAX_QUANTILE_BINS} and at most the bounds' width in steps of 10^-${meas.decimals}`,
      { path: '/measure/bins' },
    );
  const width = BigInt(upper - lower);
  return Array.from({ length: bins + 1 }, (_, j) => lower + Number((BigInt(j) * width) / BigInt(bins)));
}

/** Slot of a clamped value: 2j when v = c_j, 2j + 1 when c_j < v < c_{j+1}. */
export function quantileSlot(cands: readonly number[], v: number): number {
  let lo = 0;
  let hi = cands.length - 1;
  if (v <= cands[0]!) return 0;
  if (v >= cands[hi]!) return 2 * hi;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (cands[mid]! <= v) lo = mid;
    else hi = mid;
  }
  return cands[lo] === v ? 2 * lo : 2 * lo + 1;
}

/** U_j = -|(S - a) L_j - a G_j| for each candidate, from the cell's slot counts (2N + 1 of them, from `offset`). */
export function candidateUtilities(counts: ArrayLike<number>, offset: number, nCand: number, a: number): number[] {
  let total = 0;
  for (let s = 0; s < 2 * nCand - 1; s++) total += counts[offset + s]!;
  const out = new Array<number>(nCand);
  let below = 0;
  for (let j = 0; j < nCand; j++) {
    const at = counts[offset + 2 * j]!;
    const above = total - below - at;
    out[j] = -Math.abs((QUANTILE_SCALE - a) * below - a * above);
    below += at + (j < nCand - 1 ? counts[offset + 2 * j + 1]! : 0);
  }
  return out;
}

/** Sensitivity of U for units of at most m rows. */
export function utilitySensitivity(m: number, a: number): number {
  return m * Math.max(a, QUANTILE_SCALE - a);
}

/**
 * Exact exponential mechanism: index j with probability proportional to exp(eps U_j / (2 delta)).
 * `eps` is used as its exact rational value.
 */
export function sampleExponentialMechanism(
  rng: RandomSource,
  utilities: readonly number[],
  eps: Rational,
  delta: number,
): number {
  const n = utilities.length;
  if (n < 1 || !(delta > 0))
    throw new StatguardError('USAGE', 'the exponential mechanism needs candidates and delta > 0');
  let best = -Infinity;
  for (const u of utilities) if (u > best) best = u;
  const den = eps.den * 2n * BigInt(delta);
  for (;;) {
    const j = Number(uniformBigInt(rng, BigInt(n)));
    const gamma = rational(eps.num * BigInt(best - utilities[j]!), den);
    if (sampleBernoulliExp(rng, gamma)) return j;
  }
}

/** The 95% rank bound in utility units: (2 delta / eps)(ln |C| + ln 20). */
export function rankBound95(eps: number, delta: number, nCand: number): number {
  return ((2 * delta) / eps) * (Math.log(nCand) + Math.log(20));
}

export interface QuantileAccounting {
  readonly quantile: number;
  readonly candidates: number;
  /** Distance between neighbouring candidates, published unit (the largest, when uneven by flooring). */
  readonly candidateSpacing: number;
  /** Cells one unit reaches at most: m (L - S) + S; each gets epsilonPerCell. */
  readonly cellsPerUnit: number;
  readonly epsilonPerCell: number;
  /** Rank-utility sensitivity, in rows: m max(alpha, 1 - alpha). */
  readonly utilitySensitivity: number;
  /** With probability >= 0.95 per cell, the published candidate's rank error exceeds the best candidate's by at most this many rows. */
  readonly rankBound95: number;
  readonly statement: string;
}

export interface QuantileResult {
  readonly cells: ProtectedCell[];
  readonly suppressed: number;
  readonly accounting: QuantileAccounting;
}

/** The per-cell epsilon of a quantile table with budget `tableBudget` (epsilon, or rho under zCDP). */
export function quantileEpsilonPerCell(plan: DpPlan, tableBudget: number, cellsPerUnit: number): number {
  const e =
    plan.mechanism === 'discrete-laplace' ? tableBudget / cellsPerUnit : Math.sqrt((8 * tableBudget) / cellsPerUnit);
  return e * (1 - 2 ** -40); // shaved so float rounding never spends more than the stated budget
}

/** Protect the cells of a quantile table (see the guarantee above). `hide` decides on public data only. */
export function protectQuantileCells(
  table: ExactTable,
  plan: DpPlan,
  m: number,
  tableBudget: number,
  rng: RandomSource,
  hide: (i: number) => boolean,
  suppressedCell: ProtectedCell,
): QuantileResult {
  const tp = table.plan;
  const meas = tp.measure;
  if (meas.kind !== 'quantile') throw new Error('protectQuantileCells needs a quantile table');
  const hist = table.histogram;
  const cands = quantileCandidates(meas);
  const nCand = cands.length;
  const slots = 2 * nCand - 1;
  if (!hist || hist.slots !== slots || hist.counts.length !== slots * table.cells.length)
    throw new StatguardError('USAGE', `table ${tp.id}: the source gave no per-cell distribution for the quantile`, {
      path: `/tables/${tp.id}`,
    });
  const L = cellsPerRow(tp);
  const S = sharedCells(tp);
  const cellsPerUnit = m * (L - S) + S;
  const epsCell = quantileEpsilonPerCell(plan, tableBudget, cellsPerUnit);
  const eps = rationalFromNumber(epsCell);
  const delta = utilitySensitivity(m, meas.a);
  const div = 10 ** meas.decimals;
  const cells: ProtectedCell[] = new Array<ProtectedCell>(table.cells.length);
  let suppressed = 0;
  for (let i = 0; i < table.cells.length; i++) {
    // Utilities of cell i: the only read of exact data; the draw always happens (every draw is spent).
    const j = sampleExponentialMechanism(rng, candidateUtilities(hist.counts, i * slots, nCand, meas.a), eps, delta);
    if (hide(i)) {
      cells[i] = suppressedCell;
      suppressed++;
    } else cells[i] = Object.freeze({ value: cands[j]! / div, conf: 'F', obs: 'E', accuracy: null });
  }
  let spacing = 0;
  for (let j = 1; j < nCand; j++) spacing = Math.max(spacing, cands[j]! - cands[j - 1]!);
  const bound = rankBound95(epsCell, delta, nCand) / QUANTILE_SCALE;
  const q = meas.a / QUANTILE_SCALE;
  return {
    cells,
    suppressed,
    accounting: Object.freeze({
      quantile: q,
      candidates: nCand,
      candidateSpacing: spacing / div,
      cellsPerUnit,
      epsilonPerCell: epsCell,
      utilitySensitivity: delta / QUANTILE_SCALE,
      rankBound95: bound,
      statement:
        `Each cell's ${q}-quantile is one of ${nCand} declared candidates (spacing ${spacing / div}), chosen by the exponential mechanism ` +
        `with epsilon ${fmt(epsCell)} per cell over a rank utility of sensitivity ${delta / QUANTILE_SCALE} rows; with probability >= 0.95 its ` +
        `rank error exceeds the best candidate's by at most ${fmt(bound)} rows. No value interval is stated (it would need the exact data).`,
    }),
  };
}

/** The manifest's method note for releases with quantile tables. */
export function quantileMethod(): string {
  return (
    'Quantiles: per cell, the exponential mechanism (McSherry and Talwar 2007) over the candidates declared in the policy, with the rank utility ' +
    '(Smith 2011), sampled exactly (uniform proposal, exact Bernoulli(exp(-x)) acceptance); the table budget is split over the cells one unit ' +
    'can reach (pure DP: epsilon adds; zCDP: an epsilon-DP exponential mechanism is epsilon^2/8-zCDP, Cesar and Rogers 2021). ' +
    'Accuracy is stated as a rank bound in rows (privacy.quantile.rankBound95), not as a value interval; no noise sd or half-width is given for these cells.'
  );
}

function fmt(v: number): string {
  return String(Number(v.toPrecision(4)));
}
