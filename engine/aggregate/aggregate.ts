/**
 * Aggregator: bounded rows into every table's cells (units, rows, sums, top contributions) in one pass, exact in integers.
 */
import { StatguardError } from '../errors.ts';
import { ancestorsOf } from '../policy/dimension.ts';
import { TOP_K, cellCount, strides } from '../types.ts';
import type { ExactCell, ExactTable } from '../types.ts';
import type { RecordLayout, TableBinding } from './record-layout.ts';
import { quantileHistFor, type QuantileHist } from './quantile-hist.ts';

/** Above this many precomputed (leaf combination, cell) entries a table walks its ancestors per row instead. */
const MAX_COMBO_ENTRIES = 4_000_000;

/**
 * Accumulator of one table. Cell state lives in typed arrays indexed by the
 * dense cell index (engine/types.ts layout); a row reaches its cells through a
 * precomputed list per leaf combination: the cartesian product, over the
 * dimensions, of the nodes on the path from the row's leaf to the root.
 */
class TableAcc {
  readonly nCells: number;
  readonly isSum: boolean;
  readonly clamp: number;
  /** Weighted table: clamp index of the weight and its scale (-1 / 1 when unweighted). */
  readonly wClamp: number;
  readonly wScale: number;
  /** Top contributions per holding (layout.holding, magnitude tables): key holding * nCells + cell -> summed contribution. */
  readonly holdAcc: Map<number, number> | null;
  /** The current unit's holding (set by `Aggregator.setHolding` before its rows). */
  holding = 0;
  /** ckm: per cell, sum of the contributing units' record keys modulo recordKeyModulus (exact integers). */
  readonly ckSum: Float64Array | null;
  readonly ckMod: number;
  /** The current unit's record key (integer in [0, ckMod)). */
  recordKey = 0;
  readonly dimVar: Int32Array;
  readonly leafOf: readonly Int32Array[];
  readonly leafStride: Int32Array;
  /** Cells of leaf combination c: comboCells[comboStart[c] .. comboStart[c+1]). */
  readonly comboStart: Int32Array | null;
  readonly comboCells: Int32Array | null;
  /** Fallback: per dimension, per leaf, node*stride of each ancestor. */
  readonly ancOff: readonly (readonly Int32Array[])[];
  readonly units: Int32Array;
  readonly rows: Int32Array;
  readonly sum: Float64Array;
  readonly top: Float64Array;
  /** Per-unit scratch: mark[cell] === current unit sequence when the cell was touched by the unit. */
  private mark: Int32Array | null = null;
  private scratch: Float64Array | null = null;
  private touched: Int32Array = new Int32Array(64);
  private nTouched = 0;
  private readonly cellBuf: Int32Array;
  /** Quantile tables: the per-cell slot counts (quantile-hist.ts). */
  private readonly qh: QuantileHist | null;

  constructor(
    readonly binding: TableBinding,
    maxComboEntries: number,
    holding = false,
    recordKeyModulus = 0,
  ) {
    const dims = binding.plan.dimensions;
    this.nCells = cellCount(dims);
    // A weighted count table accumulates the sum of weights like a sum table (units stay unweighted).
    this.isSum = binding.clamp >= 0 || binding.weightClamp >= 0;
    this.clamp = binding.clamp;
    this.wClamp = binding.weightClamp ?? -1;
    this.wScale = binding.weightScale ?? 1;
    this.holdAcc = holding && binding.clamp >= 0 ? new Map() : null;
    this.ckMod = recordKeyModulus;
    this.dimVar = Int32Array.from(binding.dimVar);
    this.leafOf = binding.leafOf;
    const st = strides(dims);
    this.ancOff = dims.map((dim, d) => {
      const out: Int32Array[] = [];
      for (let l = 0; l < dim.leafCount; l++) out.push(Int32Array.from(ancestorsOf(dim, l), (n) => n * st[d]!));
      return out;
    });
    // Leaf-combination strides (row-major over leaves).
    this.leafStride = new Int32Array(dims.length);
    let combos = 1;
    for (let d = dims.length - 1; d >= 0; d--) {
      this.leafStride[d] = combos;
      combos *= dims[d]!.leafCount;
    }
    let perCombo = 1;
    for (const dim of dims) {
      let maxDepth = 0;
      for (let l = 0; l < dim.leafCount; l++) maxDepth = Math.max(maxDepth, ancestorsOf(dim, l).length);
      perCombo *= maxDepth;
    }
    this.cellBuf = new Int32Array(Math.max(1, perCombo));
    if (combos * perCombo <= maxComboEntries) {
      const start = new Int32Array(combos + 1);
      const cells: number[] = [];
      const leaves = new Int32Array(dims.length);
      for (let c = 0; c < combos; c++) {
        let rem = c;
        for (let d = 0; d < dims.length; d++) {
          leaves[d] = Math.floor(rem / this.leafStride[d]!);
          rem %= this.leafStride[d]!;
        }
        start[c] = cells.length;
        const n = this.expand(leaves, this.cellBuf);
        for (let i = 0; i < n; i++) cells.push(this.cellBuf[i]!);
      }
      start[combos] = cells.length;
      this.comboStart = start;
      this.comboCells = Int32Array.from(cells);
    } else {
      this.comboStart = null;
      this.comboCells = null;
    }
    this.units = new Int32Array(this.nCells);
    this.rows = new Int32Array(this.nCells);
    this.qh = quantileHistFor(binding.plan, this.nCells);
    this.ckSum = recordKeyModulus > 0 ? new Float64Array(this.nCells) : null;
    this.sum = new Float64Array(this.isSum ? this.nCells : 0);
    this.top = new Float64Array(this.isSum ? this.nCells * TOP_K : 0);
  }

  /** Cells reached from a leaf per dimension: cartesian product of ancestor offsets. Returns the count written to out. */
  private expand(leaves: Int32Array, out: Int32Array): number {
    let n = 1;
    out[0] = 0;
    for (let d = 0; d < leaves.length; d++) {
      const offs = this.ancOff[d]![leaves[d]!]!;
      const prev = n;
      // Expand in place from the back so earlier entries are still readable.
      for (let i = prev - 1; i >= 0; i--) {
        const base = out[i]!;
        for (let j = offs.length - 1; j >= 0; j--) out[i * offs.length + j] = base + offs[j]!;
      }
      n = prev * offs.length;
    }
    return n;
  }

  /** Cells of the row with category indices `cats`, written to cellBuf; returns their count. */
  private cellsOf(cats: Int32Array): number {
    // Only used on the fallback path; fills cellBuf.
    const leaves = new Int32Array(this.dimVar.length);
    for (let d = 0; d < this.dimVar.length; d++) leaves[d] = this.leafOf[d]![cats[this.dimVar[d]!]!]!;
    return this.expand(leaves, this.cellBuf);
  }

  private combo(cats: Int32Array): number {
    let c = 0;
    const dv = this.dimVar;
    for (let d = 0; d < dv.length; d++) c += this.leafOf[d]![cats[dv[d]!]!]! * this.leafStride[d]!;
    return c;
  }

  /** Insert contribution v of a unit into the cell's top list (descending); `filled` entries are in use. */
  private insertTop(cell: number, filled: number, v: number): void {
    const base = cell * TOP_K;
    const top = this.top;
    let j: number;
    if (filled < TOP_K) j = filled;
    else if (v > top[base + TOP_K - 1]!) j = TOP_K - 1;
    else return;
    while (j > 0 && top[base + j - 1]! < v) {
      top[base + j] = top[base + j - 1]!;
      j--;
    }
    top[base + j] = v;
  }

  /**
   * Contribution of one row: the clamped measure (1 for counts), times weight / 10^decimals when weighted (then a
   * float: weighted estimates are not integers; the sdc/ckm regimes compare them with a relative tolerance).
   * NaN when the measure or the weight is missing.
   */
  private rowValue(vals: Float64Array): number {
    let v = this.clamp >= 0 ? vals[this.clamp]! : 1;
    if (this.wClamp >= 0) v = (v * vals[this.wClamp]!) / this.wScale;
    return v;
  }

  /** Per-holding contribution: summed per (holding, cell); the top list is built from these sums at the end. */
  private addHolding(cell: number, v: number): void {
    const key = this.holding * this.nCells + cell;
    this.holdAcc!.set(key, (this.holdAcc!.get(key) ?? 0) + v);
  }

  /** A unit with a single kept row: it counts once in each of its cells with contribution v. */
  addSingle(cats: Int32Array, vals: Float64Array): void {
    let v = 0;
    if (this.isSum) {
      v = this.rowValue(vals);
      if (v !== v) return; // missing measure: the row does not enter this table
    }
    let arr: Int32Array;
    let s: number;
    let e: number;
    if (this.comboStart !== null) {
      const c = this.combo(cats);
      arr = this.comboCells!;
      s = this.comboStart[c]!;
      e = this.comboStart[c + 1]!;
    } else {
      arr = this.cellBuf;
      s = 0;
      e = this.cellsOf(cats);
    }
    const units = this.units;
    const rows = this.rows;
    if (this.qh) this.qh.add(arr, s, e, v);
    if (this.isSum) {
      const sum = this.sum;
      for (let i = s; i < e; i++) {
        const cell = arr[i]!;
        const filled = units[cell]!;
        units[cell] = filled + 1;
        rows[cell]!++;
        sum[cell]! += v;
        if (this.holdAcc) this.addHolding(cell, v);
        else this.insertTop(cell, filled < TOP_K ? filled : TOP_K, v);
      }
    } else {
      for (let i = s; i < e; i++) {
        const cell = arr[i]!;
        units[cell]!++;
        rows[cell]!++;
      }
    }
    if (this.ckSum) for (let i = s; i < e; i++) this.addKey(arr[i]!);
  }

  /** One row of a multi-row unit: rows counted now, the unit's per-cell contribution summed in scratch. */
  addUnitRow(seq: number, cats: Int32Array, vals: Float64Array): void {
    let v = 1;
    if (this.isSum) {
      v = this.rowValue(vals);
      if (v !== v) return;
    }
    if (this.mark === null) {
      this.mark = new Int32Array(this.nCells);
      this.scratch = new Float64Array(this.nCells);
    }
    const mark = this.mark;
    const scratch = this.scratch!;
    let arr: Int32Array;
    let s: number;
    let e: number;
    if (this.comboStart !== null) {
      const c = this.combo(cats);
      arr = this.comboCells!;
      s = this.comboStart[c]!;
      e = this.comboStart[c + 1]!;
    } else {
      arr = this.cellBuf;
      s = 0;
      e = this.cellsOf(cats);
    }
    const rows = this.rows;
    if (this.qh) this.qh.add(arr, s, e, v);
    for (let i = s; i < e; i++) {
      const cell = arr[i]!;
      rows[cell]!++;
      if (mark[cell] !== seq) {
        mark[cell] = seq;
        scratch[cell] = v;
        if (this.nTouched === this.touched.length) {
          const t = new Int32Array(this.touched.length * 2);
          t.set(this.touched);
          this.touched = t;
        }
        this.touched[this.nTouched++] = cell;
      } else {
        scratch[cell]! += v;
      }
    }
  }

  /** Record key of the current unit added once to a cell's key sum (modular, exact: both terms < 2^33). */
  private addKey(cell: number): void {
    const s = this.ckSum![cell]! + this.recordKey;
    this.ckSum![cell] = s >= this.ckMod ? s - this.ckMod : s;
  }

  /** Close a unit: each touched cell gains one unit and the unit's summed contribution. */
  endUnit(): void {
    const units = this.units;
    const scratch = this.scratch;
    for (let i = 0; i < this.nTouched; i++) {
      const cell = this.touched[i]!;
      if (this.ckSum) this.addKey(cell);
      const filled = units[cell]!;
      units[cell] = filled + 1;
      if (this.isSum) {
        const v = scratch![cell]!;
        this.sum[cell]! += v;
        if (this.holdAcc) this.addHolding(cell, v);
        else this.insertTop(cell, filled < TOP_K ? filled : TOP_K, v);
      }
    }
    this.nTouched = 0;
  }

  resetMarks(): void {
    if (this.mark) this.mark.fill(0);
  }

  finish(bound: number): ExactTable {
    const cells: ExactCell[] = new Array(this.nCells);
    const holdingsIn = this.holdAcc ? new Int32Array(this.nCells) : null;
    if (this.holdAcc) {
      // Guarantee: top = the TOP_K largest per-holding contributions (a holding's units summed first), descending.
      this.top.fill(0);
      for (const [key, v] of this.holdAcc) {
        const cell = key % this.nCells;
        const filled = holdingsIn![cell]!;
        holdingsIn![cell] = filled + 1;
        this.insertTop(cell, filled < TOP_K ? filled : TOP_K, v);
      }
    }
    const ck = this.ckSum;
    for (let i = 0; i < this.nCells; i++) {
      const units = this.units[i]!;
      const rows = this.rows[i]!;
      if (ck) {
        // Cell key in [0, 1): exact modular sum of the contributors' integer record keys over the modulus.
        const c = this.finishCell(i, bound, holdingsIn, units, rows);
        cells[i] = { ...c, cellKey: ck[i]! / this.ckMod };
        continue;
      }
      cells[i] = this.finishCell(i, bound, holdingsIn, units, rows);
    }
    return { kind: 'exact', plan: this.binding.plan, cells, ...(this.qh ? { histogram: this.qh.result() } : {}) };
  }

  private finishCell(i: number, bound: number, holdingsIn: Int32Array | null, units: number, rows: number): ExactCell {
    const contributors = holdingsIn ? holdingsIn[i]! : units;
    const k = contributors < TOP_K ? contributors : TOP_K;
    if (this.wClamp >= 0) {
      // Weighted: float sums (not integers), no 2^53 exactness claim; contributions are weighted too.
      const top = new Array<number>(k);
      for (let j = 0; j < k; j++) top[j] = this.top[i * TOP_K + j]!;
      return { units, rows, sum: this.sum[i]! + 0, top };
    } else if (this.isSum) {
      // Exactness: every partial sum of this cell (and every per-unit scratch sum) is bounded
      // in absolute value by rows * max(|lower|, |upper|); below 2^53 all additions of these
      // integers were exact in float64.
      if (rows * bound > Number.MAX_SAFE_INTEGER) {
        throw new StatguardError(
          'ARITHMETIC_OVERFLOW',
          `table ${JSON.stringify(this.binding.plan.id)}: a cell sums ${rows} rows with bound ${bound}, beyond exact integer range (2^53); lower the bounds or decimals`,
        );
      }
      const top = new Array<number>(k);
      for (let j = 0; j < k; j++) top[j] = this.top[i * TOP_K + j]!;
      return { units, rows, sum: this.sum[i]! + 0, top };
    } else {
      return { units, rows, sum: units, top: new Array<number>(k).fill(1) };
    }
  }
}

/**
 * One-pass aggregation of bounded rows into every table of the plan, with all
 * margins and hierarchy levels.
 *
 * Guarantee: given the bounded rows (at most m per unit, measures clamped),
 * each cell holds exactly: units = distinct units with a row in the cell,
 * rows = rows in the cell, sum = sum of the clamped scaled values (exact
 * integers, checked against 2^53), top = the TOP_K largest per-unit
 * contributions (a unit's rows in the cell summed first), descending.
 * For count tables a unit contributes 1 (sum = units).
 *
 * Usage: `addSingle` for a unit with one row; otherwise `beginUnit`,
 * `addUnitRow` per row, `endUnit`.
 */
export class Aggregator {
  private readonly accs: TableAcc[];
  private seq = 0;

  /** `maxComboEntries`: size limit of the precomputed cell lists per table (0 forces the ancestor walk; for tests). */
  constructor(
    readonly layout: RecordLayout,
    opts: { maxComboEntries?: number } = {},
  ) {
    const limit = opts.maxComboEntries ?? MAX_COMBO_ENTRIES;
    this.accs = layout.tables.map((b) => new TableAcc(b, limit, layout.holding === true, layout.recordKeyModulus ?? 0));
  }

  /**
   * Holding (enterprise group) of the unit whose rows come next (a small non-negative integer id per holding;
   * layout.holding only). Set before `addSingle` or `beginUnit`.
   */
  setHolding(h: number): void {
    for (const a of this.accs) a.holding = h;
  }

  /** Record key (integer in [0, layout.recordKeyModulus)) of the unit whose rows come next (ckm regime only). */
  setRecordKey(k: number): void {
    for (const a of this.accs) a.recordKey = k;
  }

  addSingle(cats: Int32Array, vals: Float64Array): void {
    const accs = this.accs;
    for (let t = 0; t < accs.length; t++) accs[t]!.addSingle(cats, vals);
  }

  beginUnit(): void {
    if (this.seq === 0x7fffffff) {
      for (const a of this.accs) a.resetMarks();
      this.seq = 0;
    }
    this.seq++;
  }

  addUnitRow(cats: Int32Array, vals: Float64Array): void {
    const accs = this.accs;
    for (let t = 0; t < accs.length; t++) accs[t]!.addUnitRow(this.seq, cats, vals);
  }

  endUnit(): void {
    for (const a of this.accs) a.endUnit();
  }

  finish(): ExactTable[] {
    return this.accs.map((a) => {
      const c = a.clamp >= 0 ? this.layout.clamps[a.clamp]! : null;
      return a.finish(c ? Math.max(Math.abs(c.lower), Math.abs(c.upper)) : 1);
    });
  }
}
