/**
 * Per-unit attributes the streaming path reads beside the converted row: the holding (enterprise group) of each unit,
 * and the ckm record key of each unit (from a column, integer value * 10^decimals, or drawn by keyed hash of the unit
 * id). A unit must keep one holding and one record key over all its rows (else ROW_INVALID).
 */
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import type { Aggregator } from '../aggregate/aggregate.ts';
import { recordKeyOf } from '../ckm/record-key.ts';
import type { AggregateContext } from './source.ts';

export class UnitAttributes {
  private readonly holdingCol: string | null;
  /** Holding ids are numbered in order of appearance (only equality matters). */
  private readonly holdingIds = new Map<string, number>();
  private readonly unitHolding = new Map<string, number>();
  private readonly ckm: boolean;
  private readonly rkCol: { readonly column: string; readonly decimals: number } | null;
  private readonly rkSecret: Uint8Array | null;
  private readonly unitKey = new Map<string, number>();
  private rowSeq = 0;
  private holdingAt = -1;
  private keyAt = -1;

  constructor(
    plan: Plan,
    ctx: AggregateContext,
    private readonly agg: Aggregator,
    private readonly file: string,
  ) {
    this.holdingCol = plan.dataset.unit.holding ?? null;
    const ckm = plan.protection.regime === 'ckm' ? plan.protection : null;
    this.ckm = ckm !== null;
    this.rkCol = ckm?.recordKey ?? null;
    this.rkSecret = ckm && this.rkCol === null ? (ctx.recordKeySecret ?? ctx.boundingKey) : null;
  }

  /** Whether the bounder must report each unit it releases (`onUnit`). */
  get active(): boolean {
    return this.holdingCol !== null || this.ckm;
  }

  /** Sets the holding and record key of unit `id` on the aggregator, before its rows are aggregated. */
  onUnit(id: string): void {
    if (this.holdingCol !== null) this.agg.setHolding(this.unitHolding.get(id)!);
    if (this.ckm) this.agg.setRecordKey(this.rkCol !== null ? this.unitKey.get(id)! : recordKeyOf(this.rkSecret!, id));
  }

  /** Finds the holding and record-key columns in the header (CSV_HEADER when missing). */
  bindHeader(header: readonly string[], line: number): void {
    const file = this.file;
    if (this.holdingCol !== null) {
      this.holdingAt = header.indexOf(this.holdingCol);
      if (this.holdingAt < 0)
        throw new StatguardError(
          'CSV_HEADER',
          `holding column ${JSON.stringify(this.holdingCol)} is missing from the header of ${file}`,
          { file, line, column: this.holdingCol },
        );
    }
    if (this.rkCol !== null) {
      this.keyAt = header.indexOf(this.rkCol.column);
      if (this.keyAt < 0)
        throw new StatguardError(
          'CSV_HEADER',
          `record-key column ${JSON.stringify(this.rkCol.column)} is missing from the header of ${file}`,
          { file, line, column: this.rkCol.column },
        );
    }
  }

  /**
   * Reads the attributes of a valid row of `unit` (null: each row its own unit). Returns 'missing holding' when the row
   * is to be dropped (`drop`), else null; throws ROW_INVALID otherwise.
   */
  row(fields: readonly string[], unit: string | null, line: number, drop: boolean): string | null {
    if (this.holdingAt >= 0 && this.holding(fields, unit, line, drop) === null) return 'missing holding';
    if (this.ckm) this.recordKey(fields, unit, line);
    return null;
  }

  /** The row's holding id (null: dropped for a missing holding). */
  private holding(fields: readonly string[], unit: string | null, line: number, drop: boolean): number | null {
    const file = this.file;
    const holdingCol = this.holdingCol!;
    const raw = (fields[this.holdingAt] ?? '').trim();
    if (raw === '') {
      if (drop) return null;
      throw new StatguardError(
        'ROW_INVALID',
        `invalid row (missing holding): the holding column ${JSON.stringify(holdingCol)} is empty`,
        { file, line, column: holdingCol },
      );
    }
    let h = this.holdingIds.get(raw);
    if (h === undefined) {
      h = this.holdingIds.size;
      this.holdingIds.set(raw, h);
    }
    if (unit === null) this.agg.setHolding(h);
    else {
      const prev = this.unitHolding.get(unit);
      if (prev === undefined) this.unitHolding.set(unit, h);
      else if (prev !== h) {
        throw new StatguardError(
          'ROW_INVALID',
          `unit ${JSON.stringify(unit)} belongs to two holdings (column ${JSON.stringify(holdingCol)}): a unit must belong to one holding`,
          { file, line, column: holdingCol, value: raw },
        );
      }
    }
    return h;
  }

  private recordKey(fields: readonly string[], unit: string | null, line: number): void {
    const file = this.file;
    const rkCol = this.rkCol;
    let rk: number;
    if (rkCol !== null) {
      const raw = (fields[this.keyAt] ?? '').trim();
      const mod = 10 ** rkCol.decimals;
      const x = Math.round(Number(raw) * mod);
      if (raw === '' || !Number.isFinite(x) || x < 0 || x >= mod) {
        throw new StatguardError(
          'ROW_INVALID',
          `invalid row (record key): column ${JSON.stringify(rkCol.column)} must hold a number in [0, 1)`,
          { file, line, column: rkCol.column, value: raw },
        );
      }
      rk = x;
      if (unit !== null) {
        const prev = this.unitKey.get(unit);
        if (prev === undefined) this.unitKey.set(unit, rk);
        else if (prev !== rk)
          throw new StatguardError(
            'ROW_INVALID',
            `unit ${JSON.stringify(unit)} has two record keys (column ${JSON.stringify(rkCol.column)}): a unit has one key`,
            { file, line, column: rkCol.column },
          );
      }
    } else rk = unit === null ? recordKeyOf(this.rkSecret!, `\u0000row ${this.rowSeq++}`) : 0;
    if (unit === null) this.agg.setRecordKey(rk);
  }
}
