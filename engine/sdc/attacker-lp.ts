/**
 * The attacker's LP over one component of suppressed cells.
 *
 * Guarantee: the model's feasible set is exactly what an attacker knowing the published cells, every relation
 * (equalities; distinct-count inequalities) and the a priori bounds can tell of the component's cells, and the exact
 * table is feasible; so min and max of a cell over it are the attacker's best bounds (LP optimality). `AttackerLps`
 * builds one model per component on demand, switches only the cost vector between solves, and disposes them all.
 */
import { StatguardError } from '../errors.ts';
import type { Component } from './components.ts';
import { TimeUp } from './deadline.ts';
import { highsRuntime } from './highs.ts';
import type { HighsRuntime } from './highs.ts';
import type { CellSystem } from './relations.ts';

/**
 * Dual multipliers of one attacker LP, per LP row, for Fischetti-Salazar cuts. Row k is relation `relations[k]`:
 * its sum row when `child[k] === -1` (an equality for additive relations, `sum coefs*x <= 0` otherwise), or, for a
 * non-additive relation, the row `x(cells[child[k]]) - x(cells[0]) <= 0` (a child never exceeds its aggregate).
 */
export interface AttackDual {
  readonly relations: Int32Array;
  readonly child: Int32Array;
  readonly alpha: Float64Array;
}

export interface AttackerModel {
  readonly model: ReturnType<HighsRuntime['createModel']>;
  /** Global cell id -> column. */
  readonly col: Map<number, number>;
  /** Per LP row: relation index and child position (-1 = the relation's sum row); see AttackDual. */
  readonly rowRel: Int32Array;
  readonly rowChild: Int32Array;
}

/**
 * The attacker's LP over one component: columns = suppressed cells with their a priori bounds, rows = active
 * relations with published cells moved to the right-hand side. Additive relation: one equality row. Non-additive
 * (distinct-unit count) relation: the row `aggregate - sum(children) <= 0` plus, for each child where the child or
 * the aggregate is suppressed, `child - aggregate <= 0` (pairs of published cells carry no information).
 * Every row holds on the exact values, so the exact table is feasible.
 */
export function attackerModel(
  highs: HighsRuntime,
  sys: CellSystem,
  comp: Component,
  suppressed: Uint8Array,
): AttackerModel {
  const col = new Map<number, number>();
  comp.cells.forEach((c, k) => col.set(c, k));
  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const rowLower: number[] = [];
  const rowUpper: number[] = [];
  const rowRel: number[] = [];
  const rowChild: number[] = [];
  const addRow = (
    cells: readonly number[],
    coefs: readonly number[],
    equality: boolean,
    ri: number,
    child: number,
  ): void => {
    let b = 0;
    const entries = new Map<number, number>();
    cells.forEach((c, k) => {
      const coef = coefs[k]!;
      if (suppressed[c]) entries.set(col.get(c)!, (entries.get(col.get(c)!) ?? 0) + coef);
      else b -= coef * sys.value[c]!;
    });
    for (const [k, v] of [...entries].sort((x, y) => x[0] - y[0])) {
      if (v !== 0) {
        indices.push(k);
        values.push(v);
      }
    }
    starts.push(indices.length);
    rowLower.push(equality ? b : -Infinity);
    rowUpper.push(b);
    rowRel.push(ri);
    rowChild.push(child);
  };
  for (const ri of comp.relations) {
    const r = sys.relations[ri]!;
    addRow([...r.cells], [...r.coefs], r.additive, ri, -1);
    if (r.additive) continue;
    const agg = r.cells[0]!;
    for (let k = 1; k < r.cells.length; k++) {
      const c = r.cells[k]!;
      if (suppressed[c] || suppressed[agg]) addRow([c, agg], [1, -1], false, ri, k);
    }
  }
  const nc = comp.cells.length;
  const nr = rowUpper.length;
  const model = highs.createModel({
    numCols: nc,
    numRows: nr,
    colCost: new Float64Array(nc),
    colLower: Float64Array.from(comp.cells, (c) => sys.lower[c]!),
    colUpper: Float64Array.from(comp.cells, (c) => sys.upper[c]!),
    rowLower,
    rowUpper,
    matrix: { format: 'csr', numRows: nr, numCols: nc, starts, indices, values },
  });
  try {
    // Primal simplex: between solves only the objective changes, so the previous basis stays primal feasible (measured 2.5x faster than the default on a 6,000-cell component).
    model.options.set({ output_flag: false, simplex_strategy: 4 });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, col, rowRel: Int32Array.from(rowRel), rowChild: Int32Array.from(rowChild) };
}

/**
 * The attacker LPs of one audit: one persistent model per component, built on first use, and the solve counter.
 * `dispose` frees every model (call it in a `finally`).
 */
export class AttackerLps {
  private readonly models = new Map<Component, AttackerModel>();
  /** Models solved at least once: their basis is kept, and primal simplex re-solves from it. */
  private readonly warm = new WeakSet<AttackerModel>();
  private highs: HighsRuntime | null = null;
  /** LPs solved so far. */
  lpSolves = 0;

  constructor(
    private readonly sys: CellSystem,
    private readonly suppressed: Uint8Array,
  ) {}

  /** The HiGHS runtime, loaded on first use. */
  async runtime(): Promise<HighsRuntime> {
    this.highs ??= await highsRuntime();
    return this.highs;
  }

  /** The component's model (built on first use, kept until `dispose`). */
  async modelOf(comp: Component): Promise<AttackerModel> {
    let m = this.models.get(comp);
    if (!m) {
      m = attackerModel(await this.runtime(), this.sys, comp, this.suppressed);
      this.models.set(comp, m);
    }
    return m;
  }

  /**
   * The optimum of column `k` (sign 1: min, -1: max, as the value itself), with `duals` the row duals and with
   * `primal` the optimal point (column j = the component's cell j); the
   * column's cost is reset to 0 afterwards. An unbounded side is -Infinity or Infinity (no duals); a time_limit set on
   * the model by the caller throws TimeUp; any other non-optimal status is AUDIT_FAILED.
   */
  solve(
    m: AttackerModel,
    k: number,
    sign: 1 | -1,
    duals: boolean,
    primal = false,
  ): { value: number; dual?: AttackDual; x?: Float64Array } {
    const { model } = m;
    model.changeColCost(k, sign);
    // A model's first solve starts from no basis: dual simplex (the 50,750-cell main component of the 98,235-cell
    // bench table: 43 s against 102 s primal); later solves change only the objective and re-solve primal.
    const cold = !this.warm.has(m);
    if (cold) model.options.set({ simplex_strategy: 1 });
    const run = model.run();
    if (cold) {
      model.options.set({ simplex_strategy: 4 });
      this.warm.add(m);
    }
    this.lpSolves++;
    // Unbounded: no a priori bound and no relation limits the cell that way (a correction drops the total bounds,
    // see protect.ts); the attacker's interval is open on that side, and there is no dual to report.
    if (run.modelStatus === this.highs!.constants.modelStatus.unbounded) {
      model.changeColCost(k, 0);
      return { value: sign === 1 ? -Infinity : Infinity };
    }
    // Stopped by a time_limit a caller set on the model (insiders.ts, from the run's deadline): out of time.
    if (run.modelStatus === this.highs!.constants.modelStatus.timeLimit) {
      model.changeColCost(k, 0);
      throw new TimeUp('an attacker LP');
    }
    if (run.modelStatus !== this.highs!.constants.modelStatus.optimal) {
      model.changeColCost(k, 0);
      throw new StatguardError(
        'AUDIT_FAILED',
        `the attacker LP did not solve to optimality (HiGHS model status ${run.modelStatus}); table relations may be inconsistent`,
      );
    }
    // Read the solution before resetting the cost (a model change invalidates it).
    const value = sign * model.getObjectiveValue();
    const sol = duals || primal ? model.getSolution() : null;
    model.changeColCost(k, 0);
    if (!sol) return { value };
    return {
      value,
      ...(duals ? { dual: { relations: m.rowRel, child: m.rowChild, alpha: Float64Array.from(sol.rowDual) } } : {}),
      // The optimal point: an alternative table (every row holds), column j is the component's cell j.
      ...(primal ? { x: Float64Array.from(sol.colValue) } : {}),
    };
  }

  dispose(): void {
    for (const m of this.models.values()) m.model.dispose();
  }
}
