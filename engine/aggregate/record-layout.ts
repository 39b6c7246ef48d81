/**
 * makeRecordLayout: the variables, measure sources and clamp specs shared by every table of a plan.
 */
import { StatguardError } from '../errors.ts';
import type { DatasetPlan, DimensionPlan, Plan, TablePlan } from '../types.ts';

/**
 * The compact form of a converted row shared by sources, bounding and
 * aggregation. A record is two small typed arrays:
 *   cats[v]  category index of variable v (a column or derived column used as a dimension),
 *            in the order of the variable's declared categories;
 *   meas[s]  measure value of source s (a (column, decimals) pair), as a scaled integer
 *            round(value * 10^decimals), or NaN when the value is missing.
 * Clamping is applied after bounding (per kept row), once per distinct clamp spec.
 */
export interface VariableSpec {
  readonly name: string;
  /** Category codes in declared order (index = value stored in cats). */
  readonly codes: readonly string[];
}

export interface MeasureSource {
  readonly column: string;
  readonly decimals: number;
}

export interface ClampSpec {
  /** Index into the measure sources. */
  readonly source: number;
  /** Scaled integer bounds, lower <= upper. */
  readonly lower: number;
  readonly upper: number;
}

export interface TableBinding {
  readonly plan: TablePlan;
  /** Variable index per dimension. */
  readonly dimVar: readonly number[];
  /** Per dimension: variable category index -> leaf index of the dimension. */
  readonly leafOf: readonly Int32Array[];
  /** Clamp spec index of the measure, or -1 for a count table. */
  readonly clamp: number;
  /** Clamp spec index of the sampling weight (`measure.weight`), or -1 when unweighted. */
  readonly weightClamp: number;
  /** 10^decimals of the weight (the weight is vals[weightClamp] / weightScale), 1 when unweighted. */
  readonly weightScale: number;
}

export interface RecordLayout {
  readonly variables: readonly VariableSpec[];
  readonly measureSources: readonly MeasureSource[];
  readonly clamps: readonly ClampSpec[];
  readonly tables: readonly TableBinding[];
  /** The plan names a holding column (`unit.holding`): the aggregator sums top contributions per holding. */
  readonly holding: boolean;
  /** ckm regime: record keys are integers modulo this (cell key = (sum mod M) / M); 0 = no cell keys. */
  readonly recordKeyModulus: number;
}

/** Modulus of record keys drawn by the engine (uniform 32-bit integers: key / 2^32 is uniform in [0, 1)). */
export const RANDOM_KEY_MODULUS = 2 ** 32;

function invalid(message: string, path: string): StatguardError {
  return new StatguardError('POLICY_INVALID', message, { path });
}

function variableCodes(ds: DatasetPlan, name: string, path: string): string[] {
  const derived = ds.derived.find((d) => d.name === name);
  if (derived) return derived.categories.map((c) => c.code);
  const col = ds.columns.find((c) => c.name === name);
  if (!col) throw invalid(`dimension ${JSON.stringify(name)} is neither a declared column nor a derived column`, path);
  if (!col.categories || col.categories.length === 0) {
    throw invalid(
      `dimension column ${JSON.stringify(name)} declares no categories (bin or recode it with a derived column)`,
      path,
    );
  }
  return col.categories.map((c) => c.code);
}

/**
 * Resolve the plan's tables into a record layout. Checks that each dimension's
 * leaves are exactly the declared categories of its variable (so every valid
 * row lands in exactly one leaf of every dimension).
 */
export function makeRecordLayout(plan: Plan): RecordLayout {
  const ds = plan.dataset;
  const variables: VariableSpec[] = [];
  const varIndex = new Map<string, number>();
  const measureSources: MeasureSource[] = [];
  const clamps: ClampSpec[] = [];
  const tables: TableBinding[] = [];

  plan.tables.forEach((table, ti) => {
    const dimVar: number[] = [];
    const leafOf: Int32Array[] = [];
    table.dimensions.forEach((dim: DimensionPlan, di) => {
      const path = `/tables/${ti}/dimensions/${di}`;
      let vi = varIndex.get(dim.name);
      if (vi === undefined) {
        vi = variables.length;
        variables.push({ name: dim.name, codes: variableCodes(ds, dim.name, path) });
        varIndex.set(dim.name, vi);
      }
      const codes = variables[vi]!.codes;
      const leafByCode = new Map<string, number>();
      for (let l = 0; l < dim.leafCount; l++) leafByCode.set(dim.nodes[l]!.code, l);
      const map = new Int32Array(codes.length);
      codes.forEach((code, ci) => {
        const leaf = leafByCode.get(code);
        if (leaf === undefined) {
          throw invalid(
            `table ${JSON.stringify(table.id)}: category ${JSON.stringify(code)} of ${JSON.stringify(dim.name)} is not a leaf of the dimension`,
            path,
          );
        }
        map[ci] = leaf;
      });
      if (dim.leafCount !== codes.length) {
        throw invalid(
          `table ${JSON.stringify(table.id)}: dimension ${JSON.stringify(dim.name)} has ${dim.leafCount} leaves but the column declares ${codes.length} categories`,
          path,
        );
      }
      dimVar.push(vi);
      leafOf.push(map);
    });

    let clamp = -1;
    const m = table.measure;
    if (m.kind !== 'count') {
      const path = `/tables/${ti}/measure`;
      const col = ds.columns.find((c) => c.name === m.column);
      if (!col) throw invalid(`measure column ${JSON.stringify(m.column)} is not declared`, path);
      if (col.type !== 'integer' && col.type !== 'number')
        throw invalid(`measure column ${JSON.stringify(m.column)} must be of type integer or number`, path);
      if (!Number.isInteger(m.decimals) || m.decimals < 0 || m.decimals > 12)
        throw invalid(`measure decimals must be an integer in 0..12`, path);
      if (!Number.isSafeInteger(m.lower) || !Number.isSafeInteger(m.upper) || m.lower > m.upper) {
        throw invalid(`measure bounds must be safe integers (scaled) with lower <= upper`, path);
      }
      let si = measureSources.findIndex((s) => s.column === m.column && s.decimals === m.decimals);
      if (si < 0) {
        si = measureSources.length;
        measureSources.push({ column: m.column, decimals: m.decimals });
      }
      clamp = clamps.findIndex((c) => c.source === si && c.lower === m.lower && c.upper === m.upper);
      if (clamp < 0) {
        clamp = clamps.length;
        clamps.push({ source: si, lower: m.lower, upper: m.upper });
      }
    }
    // Sampling weight: one more measure source, clamped to [0, 2^53) (a weight is a non-negative multiplier).
    let weightClamp = -1;
    let weightScale = 1;
    if (m.weight !== undefined) {
      const w = m.weight;
      let si = measureSources.findIndex((s) => s.column === w.column && s.decimals === w.decimals);
      if (si < 0) {
        si = measureSources.length;
        measureSources.push({ column: w.column, decimals: w.decimals });
      }
      weightClamp = clamps.findIndex((c) => c.source === si && c.lower === 0 && c.upper === Number.MAX_SAFE_INTEGER);
      if (weightClamp < 0) {
        weightClamp = clamps.length;
        clamps.push({ source: si, lower: 0, upper: Number.MAX_SAFE_INTEGER });
      }
      weightScale = 10 ** w.decimals;
    }
    tables.push({ plan: table, dimVar, leafOf, clamp, weightClamp, weightScale });
  });

  const holding = ds.unit.holding !== undefined && ds.unit.holding !== null;
  const p = plan.protection;
  const recordKeyModulus =
    p.regime === 'ckm' ? (p.recordKey === null ? RANDOM_KEY_MODULUS : 10 ** p.recordKey.decimals) : 0;
  return { variables, measureSources, clamps, tables, holding, recordKeyModulus };
}
