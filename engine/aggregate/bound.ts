/** ContributionBounder: at most maxRowsPerUnit rows per unit (keyed hash), measures clamped, bounded memory. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StatguardError } from '../errors.ts';
import type { Aggregator } from './aggregate.ts';
import type { RecordLayout } from './record-layout.ts';
import { readPartition, SpillPartitions } from './spill.ts';

export interface BoundOptions {
  /** Null: each row is its own unit (row-as-unit fast path, no per-unit state). */
  readonly unitColumn: string | null;
  /** m: at most this many rows per unit are kept. */
  readonly maxRowsPerUnit: number;
  /** Secret key of the keyed hash (SHA-256 over hex(key) and the canonical row text) choosing the kept rows. */
  readonly key: Uint8Array;
  /** Max distinct units held in memory before spilling to hash partitions on disk. */
  readonly maxBufferedUnits?: number;
  /** Directory for spill files (default os.tmpdir()). */
  readonly tmpDir?: string;
  /** Fraction (0..1] of the input read so far, used to size the partitions when spilling. */
  readonly progress?: () => number;
  /** Called with a unit's id just before its kept rows reach the aggregator (e.g. to set its holding). */
  readonly onUnit?: (id: string) => void;
  /** Cap of a unit's dropped rows in `droppedCapped` (a dp truncation report's maxDroppedPerUnit); default m. */
  readonly dropCap?: number;
}

export interface BoundStats {
  units: number;
  rowsIn: number;
  rowsKept: number;
  valuesClamped: number;
  /** Sum over units of min(rows dropped, dropCap): the dropped-row count of a dp truncation report. */
  droppedCapped: number;
  /** Values clamped per clamp spec (layout.clamps order); they add up to valuesClamped. */
  clampedBySpec: number[];
}

export const DEFAULT_MAX_BUFFERED_UNITS = 1_000_000;

/**
 * Canonical text hashed to choose a unit's kept rows, shared with the SQL
 * sources: hex(key) US unit-id US category indices (decimal, comma-separated,
 * layout variable order) US scaled measure values (decimal integers, '' when
 * missing, comma-separated, layout measure-source order); US = U+001F. The unit
 * id is the only free text and lies between the first and the second-to-last
 * separator, so the encoding is unambiguous.
 */
export function boundingHashInput(
  keyHex: string,
  unit: string,
  cats: ArrayLike<number>,
  meas: ArrayLike<number>,
): string {
  let s = keyHex + '\x1f' + unit + '\x1f';
  for (let v = 0; v < cats.length; v++) s += (v > 0 ? ',' : '') + String(cats[v]);
  s += '\x1f';
  for (let k = 0; k < meas.length; k++) {
    const x = meas[k]!;
    s += (k > 0 ? ',' : '') + (x !== x ? '' : String(x));
  }
  return s;
}
const MAX_SPILL_DEPTH = 6;
/**
 * In-memory rows grouped by unit without per-unit objects: rows live in one
 * growable Float64Array arena (slot = [previous row of the same unit, cats..., meas...]),
 * the Map holds each unit's last row. Keeps the garbage collector out of the hot path.
 */
class UnitStore {
  readonly map = new Map<string, number>();
  arena: Float64Array;
  rows = 0;
  constructor(
    private readonly nv: number,
    private readonly ns: number,
  ) {
    this.arena = new Float64Array(1024 * (1 + nv + ns));
  }
  get size(): number {
    return this.map.size;
  }
  has(id: string): boolean {
    return this.map.has(id);
  }
  add(id: string, cats: ArrayLike<number>, meas: ArrayLike<number>): void {
    const slot = 1 + this.nv + this.ns;
    if ((this.rows + 1) * slot > this.arena.length) {
      const a = new Float64Array(this.arena.length * 2);
      a.set(this.arena);
      this.arena = a;
    }
    const prev = this.map.get(id);
    const o = this.rows * slot;
    const arena = this.arena;
    arena[o] = prev === undefined ? -1 : prev;
    for (let v = 0; v < this.nv; v++) arena[o + 1 + v] = cats[v]!;
    for (let k = 0; k < this.ns; k++) arena[o + 1 + this.nv + k] = meas[k]!;
    this.map.set(id, this.rows);
    this.rows++;
  }
  /** Offsets (into arena) of the row contents (after the link) of each unit. */
  forEachUnit(fn: (id: string, offsets: number[]) => void): void {
    const slot = 1 + this.nv + this.ns;
    const offs: number[] = [];
    for (const [id, last] of this.map) {
      offs.length = 0;
      for (let r = last; r >= 0; r = this.arena[r * slot]!) offs.push(r * slot + 1);
      fn(id, offs);
    }
  }
  clear(): void {
    this.map.clear();
    this.rows = 0;
    if (this.arena.length > 1 << 16) this.arena = new Float64Array(1024 * (1 + this.nv + this.ns));
  }
}

/**
 * Contribution bounding: at most m rows per unit, measures clamped per row.
 *
 * Guarantee (sensitivity): after bounding, removing one unit removes at most m
 * rows, each with every measure inside its [lower, upper]: count L1 = m per
 * table, sum L-inf = m * max(|lower|, |upper|) (ARCHITECTURE section 4).
 *
 * The kept rows of a unit with more than m rows are the m whose keyed hash
 * SHA-256(hex(key) | unit id | converted row content) (`boundingHashInput`) is
 * smallest. The same canonical text is hashed by the SQL sources
 * (engine/source/sql/), so every path keeps the same rows. The choice
 * depends on the key and on the unit's multiset of rows only, never on row
 * order: rows with identical content hash equally and are interchangeable, so
 * any tie-break keeps the same multiset. Without the key (32 random bytes per
 * run, never output) the choice cannot be predicted, so an attacker cannot
 * steer which rows survive; no hash value ever leaves the process, so the
 * key-prefix construction's length extension property is irrelevant here.
 *
 * Memory: units are buffered in a Map; past maxBufferedUnits distinct units,
 * all rows are hash-partitioned by unit into P temporary files and processed
 * partition by partition (recursively if a partition is still too large).
 * Temporary files are removed by `dispose()` (call it in a finally).
 */
export class ContributionBounder {
  private readonly m: number;
  private readonly nv: number;
  private readonly ns: number;
  private readonly w: number;
  private readonly maxUnits: number;
  private readonly vals: Float64Array;
  private readonly cats: Int32Array;
  private readonly meas: Float64Array;
  private units: UnitStore;
  private spill: SpillPartitions | null = null;
  private dir: string | null = null;
  private readonly stats: BoundStats;
  private readonly dropCap: number;

  constructor(
    private readonly layout: RecordLayout,
    private readonly opts: BoundOptions,
    private readonly sink: Aggregator,
  ) {
    if (!Number.isInteger(opts.maxRowsPerUnit) || opts.maxRowsPerUnit < 1) {
      throw new StatguardError('POLICY_INVALID', `maxRowsPerUnit must be a positive integer`, {
        path: '/dataset/unit/maxRowsPerUnit',
      });
    }
    if (opts.unitColumn !== null && opts.key.length < 16) {
      throw new StatguardError('USAGE', `bounding key must have at least 16 bytes (got ${opts.key.length})`);
    }
    this.m = opts.maxRowsPerUnit;
    this.nv = layout.variables.length;
    this.ns = layout.measureSources.length;
    this.w = this.nv + this.ns;
    this.maxUnits = Math.max(1, opts.maxBufferedUnits ?? DEFAULT_MAX_BUFFERED_UNITS);
    this.vals = new Float64Array(layout.clamps.length);
    this.cats = new Int32Array(this.nv);
    this.meas = new Float64Array(this.ns);
    this.units = new UnitStore(this.nv, this.ns);
    this.dropCap = opts.dropCap ?? this.m;
    const clampedBySpec = new Array<number>(layout.clamps.length).fill(0);
    this.stats = { units: 0, rowsIn: 0, rowsKept: 0, valuesClamped: 0, droppedCapped: 0, clampedBySpec };
  }

  /** True once rows have been written to disk. */
  get spilled(): boolean {
    return this.everSpilled;
  }
  private everSpilled = false;

  /** Clamp the measures of one kept row into this.vals; counts values changed. */
  private clampRow(meas: ArrayLike<number>, mo: number): void {
    const clamps = this.layout.clamps;
    for (let c = 0; c < clamps.length; c++) {
      const spec = clamps[c]!;
      let v = meas[mo + spec.source]!;
      if (v < spec.lower) {
        v = spec.lower;
        this.stats.valuesClamped++;
        this.stats.clampedBySpec[c]!++;
      } else if (v > spec.upper) {
        v = spec.upper;
        this.stats.valuesClamped++;
        this.stats.clampedBySpec[c]!++;
      }
      this.vals[c] = v; // NaN (missing) passes through unchanged
    }
  }

  /** Add one valid converted row. `cats` and `meas` are read immediately (callers may reuse them). */
  add(unitId: string | null, cats: Int32Array, meas: Float64Array): void {
    this.stats.rowsIn++;
    if (unitId === null) {
      // Row-as-unit: each row is a distinct unit with one row (<= m), nothing to choose.
      this.stats.units++;
      this.stats.rowsKept++;
      this.clampRow(meas, 0);
      this.sink.addSingle(cats, this.vals);
      return;
    }
    if (this.spill !== null) {
      this.spill.write(unitId, cats, 0, meas, 0);
      return;
    }
    if (this.units.size >= this.maxUnits && !this.units.has(unitId)) {
      this.startSpill();
      this.spill!.write(unitId, cats, 0, meas, 0);
      return;
    }
    this.units.add(unitId, cats, meas);
  }

  private startSpill(): void {
    this.everSpilled = true;
    this.dir = fs.mkdtempSync(path.join(this.opts.tmpDir ?? os.tmpdir(), 'statguard-spill-'));
    const frac = Math.min(1, Math.max(1e-6, this.opts.progress ? this.opts.progress() : 0.5));
    this.spill = this.makePartitions(this.units.size / frac, 0);
    this.flushUnits(this.units, this.spill);
    this.units.clear();
  }

  private makePartitions(estimatedUnits: number, salt: number): SpillPartitions {
    const p = Math.min(128, Math.max(2, Math.ceil((2 * estimatedUnits) / this.maxUnits)));
    return new SpillPartitions(this.dir!, p, salt, this.nv, this.ns);
  }

  private flushUnits(units: UnitStore, parts: SpillPartitions): void {
    const arena = units.arena;
    units.forEachUnit((id, offs) => {
      for (let i = offs.length - 1; i >= 0; i--) parts.write(id, arena, offs[i]!, arena, offs[i]! + this.nv);
    });
  }

  /** Bound every buffered unit and feed the aggregator. */
  finish(): BoundStats {
    if (this.spill !== null) {
      const parts = this.spill;
      this.spill = null;
      parts.close();
      for (const f of parts.files) this.processPartition(f, 1);
    } else {
      const arena = this.units.arena;
      this.units.forEachUnit((id, offs) => this.emitUnit(id, arena, offs));
      this.units.clear();
    }
    return { ...this.stats, clampedBySpec: [...this.stats.clampedBySpec] };
  }

  private processPartition(file: string, depth: number): void {
    const units = new UnitStore(this.nv, this.ns);
    let sub: SpillPartitions | null = null;
    const size = fs.statSync(file).size;
    let read = 0;
    const recBytes = 4 * this.nv + 8 * this.ns + 4;
    try {
      for (const [id, cats, meas] of readPartition(file, this.nv, this.ns)) {
        read += recBytes + id.length;
        if (sub !== null) {
          sub.write(id, cats, 0, meas, 0);
          continue;
        }
        if (units.size >= this.maxUnits && depth < MAX_SPILL_DEPTH && !units.has(id)) {
          sub = this.makePartitions(units.size * Math.max(1, size / Math.max(1, read)), depth);
          this.flushUnits(units, sub);
          units.clear();
          sub.write(id, cats, 0, meas, 0);
          continue;
        }
        units.add(id, cats, meas);
      }
    } catch (e) {
      sub?.abort();
      throw e;
    }
    fs.rmSync(file, { force: true });
    if (sub !== null) {
      sub.close();
      for (const f of sub.files) this.processPartition(f, depth + 1);
    } else {
      const arena = units.arena;
      units.forEachUnit((id, offs) => this.emitUnit(id, arena, offs));
    }
  }

  /** Bound one unit (its rows at `offs` in `arena`: cats then meas) and pass its kept rows to the aggregator. */
  private emitUnit(id: string, arena: Float64Array, offs: readonly number[]): void {
    const nv = this.nv;
    const m = this.m;
    const n = offs.length;
    this.stats.units++;
    this.opts.onUnit?.(id);
    let keep: number[] | null = null;
    if (n > m) {
      keep = this.choose(id, arena, offs);
      this.stats.droppedCapped += Math.min(n - m, this.dropCap);
    }
    const kept = keep === null ? n : m;
    this.stats.rowsKept += kept;
    const cats = this.cats;
    if (kept === 1) {
      const o = offs[keep === null ? 0 : keep[0]!]!;
      for (let v = 0; v < nv; v++) cats[v] = arena[o + v]!;
      this.clampRow(arena, o + nv);
      this.sink.addSingle(cats, this.vals);
      return;
    }
    this.sink.beginUnit();
    for (let k = 0; k < kept; k++) {
      const o = offs[keep === null ? k : keep[k]!]!;
      for (let v = 0; v < nv; v++) cats[v] = arena[o + v]!;
      this.clampRow(arena, o + nv);
      this.sink.addUnitRow(cats, this.vals);
    }
    this.sink.endUnit();
  }

  /** Indices (into offs) of the m rows with the smallest keyed hash (see class comment and `boundingHashInput`). */
  private choose(id: string, arena: Float64Array, offs: readonly number[]): number[] {
    const nv = this.nv;
    const ns = this.ns;
    const keyHex = (this.keyHex ??= Buffer.from(this.opts.key).toString('hex'));
    const digests: { i: number; d: string }[] = [];
    const cats: number[] = new Array(nv);
    const meas: number[] = new Array(ns);
    for (let r = 0; r < offs.length; r++) {
      const o = offs[r]!;
      for (let v = 0; v < nv; v++) cats[v] = arena[o + v]!;
      for (let k = 0; k < ns; k++) meas[k] = arena[o + nv + k]!;
      digests.push({
        i: r,
        d: createHash('sha256')
          .update(boundingHashInput(keyHex, id, cats, meas), 'utf8')
          .digest('hex'),
      });
    }
    // Ties only between identical contents of the same unit, which are interchangeable: the kept multiset is unique.
    digests.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
    return digests.slice(0, this.m).map((x) => x.i);
  }
  private keyHex: string | undefined;

  /** Remove temporary files (always call, also after errors). */
  dispose(): void {
    this.spill?.abort();
    this.spill = null;
    if (this.dir !== null) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      this.dir = null;
    }
  }
}
