/**
 * A dataset held in the secure zone's memory for tables on demand: its rows read once from the CSV source, converted,
 * bounded per unit (maxRowsPerUnit, by the run's bounding key) and clamped, then kept as compact typed columns with
 * each unit's record key (ckm) and holding. Each query then aggregates these rows with the engine's own `Aggregator`
 * (engine/aggregate) instead of reading the file again: the cold path of a 1,000,000-row dataset is one pass over
 * typed arrays, not a CSV parse.
 *
 * Guarantees: the rows kept and their record keys are those a release of the dataset would use (the same bounding
 * key and record-key secret: the dataset's own in the secure zone for ckm, so a cell has the same units, the same
 * cell key and the same perturbation in every query and every release); nothing here leaves the secure zone (the
 * worker returns protected tables only). Bounding happens before any filter, so a filtered cell is exactly the cell
 * of a table crossing the filtered dimension. The file is re-read when its size or modification time changes.
 */
import { stat } from 'node:fs/promises';
import { StatguardError } from '../errors.ts';
import type { MeasurePlan, Plan, TablePlan } from '../types.ts';
import { Aggregator } from '../aggregate/aggregate.ts';
import type { RecordLayout } from '../aggregate/record-layout.ts';
import { scanCsv } from '../source/index.ts';
import { startRun } from '../regime.ts';
import type { OnDemandPlanOf } from './query.ts';

/** The bounded, clamped rows of a dataset, column by column (row r of unit unit[r]; a unit's rows are adjacent). */
export interface ResidentData {
  readonly layout: RecordLayout;
  readonly rows: number;
  /** rows x variables: category index of each variable. */
  readonly cats: Int32Array;
  /** rows x clamp specs: the clamped scaled value (NaN: missing). */
  readonly vals: Float64Array;
  /** Unit number of each row (adjacent rows of one unit share it). */
  readonly unit: Int32Array;
  /** ckm: the unit's record key; else empty. */
  readonly key: Float64Array;
  /** The unit's holding (plans with a holding column); else empty. */
  readonly holding: Int32Array;
  /** What the rows were read from (path, size, time): reloaded when it changes. */
  readonly fingerprint: string;
  /**
   * The input fingerprint of the rows: SHA-256 of the file's bytes, hashed by the engine's CSV source while it streamed
   * them (engine/source/csv-source.ts), the very `input.sha256` a release of the same file states in its manifest. The
   * store binds it to one dataset (api/ondemand/binding.ts).
   */
  readonly inputSha256: string;
  /** Load time in ms (figures for the bench). */
  readonly loadMs: number;
  /** Where the bounding key and record keys came from: 'seeded' in tests and demos only. */
  readonly keys: 'crypto' | 'seeded';
}

/** Collects the bounder's output (kept, clamped rows of each unit) instead of aggregating it. */
class CaptureSink extends Aggregator {
  n = 0;
  cats: Int32Array;
  vals: Float64Array;
  unit: Int32Array;
  key: Float64Array;
  holding: Int32Array;
  private u = -1;
  private curKey = 0;
  private curHolding = 0;
  private readonly nv: number;
  private readonly nc: number;

  constructor(
    layout: RecordLayout,
    private readonly withKey: boolean,
    private readonly withHolding: boolean,
  ) {
    super({ ...layout, tables: [] });
    this.nv = layout.variables.length;
    this.nc = layout.clamps.length;
    const cap = 1024;
    this.cats = new Int32Array(cap * this.nv);
    this.vals = new Float64Array(cap * this.nc);
    this.unit = new Int32Array(cap);
    this.key = new Float64Array(withKey ? cap : 0);
    this.holding = new Int32Array(withHolding ? cap : 0);
  }

  override setHolding(h: number): void {
    this.curHolding = h;
  }
  override setRecordKey(k: number): void {
    this.curKey = k;
  }
  override addSingle(cats: Int32Array, vals: Float64Array): void {
    this.u++;
    this.push(cats, vals);
  }
  override beginUnit(): void {
    this.u++;
  }
  override addUnitRow(cats: Int32Array, vals: Float64Array): void {
    this.push(cats, vals);
  }
  override endUnit(): void {}
  override finish(): never[] {
    return [];
  }

  private push(cats: Int32Array, vals: Float64Array): void {
    if (this.n === this.unit.length) this.grow();
    const r = this.n++;
    this.cats.set(cats.subarray(0, this.nv), r * this.nv);
    this.vals.set(vals.subarray(0, this.nc), r * this.nc);
    this.unit[r] = this.u;
    if (this.withKey) this.key[r] = this.curKey;
    if (this.withHolding) this.holding[r] = this.curHolding;
  }

  private grow(): void {
    const cap = this.unit.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, per: number, make: (n: number) => T): T => {
      if (a.length === 0) return a;
      const b = make(cap * per);
      b.set(a);
      return b;
    };
    this.cats = grow(this.cats, this.nv, (n) => new Int32Array(n));
    this.vals = grow(this.vals, this.nc, (n) => new Float64Array(n));
    this.unit = grow(this.unit, 1, (n) => new Int32Array(n));
    this.key = grow(this.key, 1, (n) => new Float64Array(n));
    this.holding = grow(this.holding, 1, (n) => new Int32Array(n));
  }
}

/** A plan whose tables make every offered dimension a variable and every offered measure a clamp spec. */
export function loadPlanOf(plan: OnDemandPlanOf): Plan {
  const od = plan.onDemand;
  const table = (id: string, dims: TablePlan['dimensions'], measure: MeasurePlan): TablePlan => ({
    id,
    title: id,
    description: '',
    dimensions: dims,
    measure,
    budgetShare: 0,
    neverSuppress: [],
    alwaysSuppress: [],
  });
  const tables = [
    ...od.dimensions.map((d, i) => table(`dimension-${i}`, [d], od.measures[0]!.measure)),
    ...od.measures.map((m, i) => table(`measure-${i}`, [od.dimensions[0]!], m.measure)),
  ];
  return { ...plan, tables };
}

async function fingerprintOf(plan: Plan): Promise<string> {
  const src = plan.dataset.source;
  if (src.kind !== 'csv')
    throw new StatguardError(
      'USAGE',
      `tables on demand read csv sources for now; dataset ${JSON.stringify(plan.dataset.id)} has a ${src.kind} source`,
      { path: '/dataset/source/kind' },
    );
  try {
    const st = await stat(src.path);
    return `${src.path}|${st.size}|${st.mtimeMs}`;
  } catch (e) {
    throw new StatguardError('SOURCE_UNREADABLE', `cannot read microdata file: ${(e as Error).message}`, {
      file: src.path,
    });
  }
}

/**
 * Read a dataset into memory. `seed` (tests, demos): the bounding key and record keys come from it (reproducible);
 * absent: the dataset's own keys in the secure zone (ckm) or a key from node:crypto (dp).
 */
export async function loadResident(plan: OnDemandPlanOf, seed?: string): Promise<ResidentData> {
  const started = Date.now();
  const fingerprint = await fingerprintOf(plan);
  const loadPlan = loadPlanOf(plan);
  const { keys } = startRun(loadPlan, { seed, source: { kind: 'csv', aggregate: () => Promise.reject() } as never });
  let sink: CaptureSink | null = null;
  const withKey = plan.protection.regime === 'ckm';
  const withHolding = plan.dataset.unit.holding !== undefined && plan.dataset.unit.holding !== null;
  const scanned = await scanCsv(loadPlan, keys, (layout) => (sink = new CaptureSink(layout, withKey, withHolding)));
  const s = sink! as CaptureSink;
  return {
    layout: s.layout,
    rows: s.n,
    cats: s.cats,
    vals: s.vals,
    unit: s.unit,
    key: s.key,
    holding: s.holding,
    fingerprint,
    inputSha256: scanned.stats.input.sha256,
    loadMs: Date.now() - started,
    keys: seed === undefined ? 'crypto' : 'seeded',
  };
}

/** The resident data of a dataset, reloaded when its file changed. */
export class ResidentCache {
  private readonly held = new Map<string, { plan: Plan; data: Promise<ResidentData> }>();
  constructor(private readonly seed?: string) {}

  async get(plan: OnDemandPlanOf): Promise<ResidentData> {
    const id = plan.dataset.id;
    const cur = this.held.get(id);
    if (cur && cur.plan === plan) {
      const data = await cur.data;
      if (data.fingerprint === (await fingerprintOf(plan))) return data;
    }
    const data = loadResident(plan, this.seed);
    this.held.set(id, { plan, data });
    data.catch(() => this.held.delete(id));
    return data;
  }
}
