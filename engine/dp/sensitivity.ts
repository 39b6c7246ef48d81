/**
 * Sensitivity of a table's cell vector when one unit (all its rows, at most m)
 * is removed or added.
 *
 * A row with leaf (l_1, ..., l_d) is counted in every cell (a_1, ..., a_d)
 * with a_i on the path from l_i to the root of dimension i (the leaf, its
 * hierarchy levels, the total). So a row touches
 *   L = prod_i |path_i|  cells (|path_i| = max path length over the leaves of dimension i).
 * Per table, with at most m rows per unit:
 * - count of units: a unit counts once per cell, so it changes each cell by at
 *   most 1 (Linf <= 1) and L1 is the number of distinct cells its rows touch.
 *   Let S = prod_i c_i, c_i the number of nodes of dimension i on the path of
 *   EVERY leaf (the total, and any node above all leaves; 0 when the dimension
 *   has no total). A cell whose coordinate in every dimension is such a common
 *   node is touched by every row, so the S cells all rows share are counted
 *   once, and each row adds at most L - S others:
 *     L1 <= m (L - S) + S   (= m(L-1)+1 with a grand total; m L without one),
 *     L2 = sqrt(L1) (each change is 0 or 1).
 *   Attained when the m rows lie in leaves whose paths share nothing below the
 *   common nodes in any dimension (tested with such a constructed unit).
 * - sum of a measure clamped to [lower, upper] (scaled integers),
 *   B = max(|lower|, |upper|): the cell change is at most r_c B where r_c is
 *   the number of the unit's rows in cell c, with sum_c r_c <= m L and r_c <= m.
 *   L1 <= m L B; L2^2 <= B^2 max sum_c r_c^2 = B^2 m^2 L (L cells with r_c = m),
 *   so L2 <= m B sqrt(L). (If the aggregator clamps a unit's per-cell total
 *   instead of each row, the change is at most B per cell and both bounds still hold.)
 * - on the granularity lattice g = 2^k (the sum released as floor(x/g)):
 *   |floor(a/g) - floor(b/g)| <= ceil(|a-b|/g) <= r_c ceil(B/g), so the same
 *   bounds hold with B replaced by Bg = ceil(B/g). The lattice never inflates
 *   the sensitivity: g is reduced to the largest power of two dividing B (when
 *   the policy asks for more), so Bg g = B exactly and the noise, in scaled
 *   units, is calibrated to m L B as without a lattice (a coarser g would make
 *   it ceil(B/g) g, up to g when g > B).
 */
import type { TablePlan } from '../types.ts';
import { StatguardError } from '../errors.ts';
import { ancestorsOf } from '../policy/dimension.ts';

export interface QuerySensitivity {
  /** L1 sensitivity, in the noise lattice (units for counts; multiples of the granularity in scaled units for sums). */
  readonly l1: number;
  /** L2 sensitivity squared, exact (BigInt: m^2 B^2 L can exceed 2^53), same units. */
  readonly l2Squared: bigint;
  readonly l2: number;
}

export interface TableSensitivity {
  /** L: cells one row is counted in. */
  readonly cellsPerRow: number;
  readonly maxRowsPerUnit: number;
  /** Unit counts (count tables, and the denominator of means per unit). */
  readonly count: QuerySensitivity;
  /**
   * Row counts (the denominator of means per row): each of a unit's m rows adds 1 to each of the L cells on its paths,
   * so sum_c r_c <= m L and r_c <= m: L1 = m L, L2^2 <= m sum_c r_c <= m^2 L (both attained by m rows in one leaf).
   */
  readonly rows: QuerySensitivity;
  /** Sums (sum and mean tables), on the lattice of `granularity` scaled units; null for count tables. */
  readonly sum:
    (QuerySensitivity & { readonly bound: number; readonly latticeBound: number; readonly granularity: number }) | null;
}

/** L = product over dimensions of the longest leaf-to-root path (leaf included). */
export function cellsPerRow(plan: TablePlan): number {
  let l = 1;
  plan.dimensions.forEach((dim, d) => {
    // An open dimension may publish no category (partition selection released none): a row then reaches its total
    // only (path length 1), or no cell of a table without that total.
    if (dim.leafCount < 1 && dim.open === true) return;
    if (dim.leafCount < 1)
      throw new StatguardError('POLICY_INVALID', `table ${plan.id}: dimension ${dim.name} has no categories`, {
        path: `/tables/${plan.id}/dimensions/${d}`,
      });
    let longest = 0;
    for (let leaf = 0; leaf < dim.leafCount; leaf++) longest = Math.max(longest, ancestorsOf(dim, leaf).length);
    l *= longest;
  });
  return l;
}

/** The exponent of the largest power of two dividing a positive safe integer. */
function twoAdicOrder(b: number): number {
  let k = 0;
  while (b % 2 ** (k + 1) === 0 && k < 52) k++;
  return k;
}

/**
 * S: the cells every row of the table is counted in, whatever its leaves: the product over dimensions of the number
 * of nodes on every leaf's path (the total and any node above all leaves; 0 for a dimension without a total).
 */
export function sharedCells(plan: TablePlan): number {
  let s = 1;
  for (const dim of plan.dimensions) {
    // No leaf (an open dimension with no category published): every row is counted in the total, if any.
    let common = new Set<number>(dim.leafCount > 0 ? ancestorsOf(dim, 0) : dim.total !== null ? [dim.total] : []);
    for (let leaf = 1; leaf < dim.leafCount; leaf++) {
      const path = new Set(ancestorsOf(dim, leaf));
      common = new Set([...common].filter((n) => path.has(n)));
    }
    s *= common.size;
  }
  return s;
}

/**
 * Sensitivities of a table for units of at most `maxRowsPerUnit` rows, with
 * sums released on the lattice of 2^granularityLog2 scaled units.
 */
export function tableSensitivity(plan: TablePlan, maxRowsPerUnit: number, granularityLog2 = 0): TableSensitivity {
  const m = maxRowsPerUnit;
  if (!Number.isSafeInteger(m) || m < 1)
    throw new StatguardError('POLICY_INVALID', 'maxRowsPerUnit must be a positive integer', {
      path: '/dataset/unit/maxRowsPerUnit',
    });
  if (!Number.isInteger(granularityLog2) || granularityLog2 < 0 || granularityLog2 > 52) {
    throw new StatguardError('POLICY_INVALID', 'granularityLog2 must be an integer in [0, 52]', {
      path: '/protection/granularityLog2',
    });
  }
  const L = cellsPerRow(plan);
  if (!Number.isSafeInteger(m * L))
    throw new StatguardError('ARITHMETIC_OVERFLOW', `table ${plan.id}: too many cells per row`, {
      path: `/tables/${plan.id}/dimensions`,
    });
  const S = sharedCells(plan);
  const countL1 = m * (L - S) + S;
  const count = { l1: countL1, l2Squared: BigInt(countL1), l2: Math.sqrt(countL1) };
  const rows = Object.freeze({ l1: m * L, l2Squared: BigInt(m) * BigInt(m) * BigInt(L), l2: m * Math.sqrt(L) });
  const meas = plan.measure;
  if (meas.kind === 'count')
    return Object.freeze({ cellsPerRow: L, maxRowsPerUnit: m, count: Object.freeze(count), rows, sum: null });
  if (!Number.isSafeInteger(meas.lower) || !Number.isSafeInteger(meas.upper) || meas.lower > meas.upper) {
    throw new StatguardError(
      'POLICY_INVALID',
      `table ${plan.id}: measure bounds must be integers (scaled units) with lower <= upper`,
      { path: `/tables/${plan.id}/measure` },
    );
  }
  const B = Math.max(Math.abs(meas.lower), Math.abs(meas.upper));
  const g = 2 ** Math.min(granularityLog2, B > 0 ? twoAdicOrder(B) : granularityLog2);
  const Bg = Math.ceil(B / g); // exact: division by a power of two
  const l2Squared = BigInt(m) * BigInt(m) * BigInt(Bg) * BigInt(Bg) * BigInt(L);
  if (!Number.isSafeInteger(m * L * Bg)) {
    throw new StatguardError(
      'ARITHMETIC_OVERFLOW',
      `table ${plan.id}: sensitivity exceeds the safe integer range (bounds too wide for the granularity)`,
      { path: `/tables/${plan.id}/measure` },
    );
  }
  return Object.freeze({
    cellsPerRow: L,
    maxRowsPerUnit: m,
    count: Object.freeze(count),
    rows,
    sum: Object.freeze({
      l1: m * L * Bg,
      l2Squared,
      l2: m * Bg * Math.sqrt(L),
      bound: B,
      latticeBound: Bg,
      granularity: g,
    }),
  });
}
