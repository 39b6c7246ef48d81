/**
 * RowConverter: one CSV record -> the compact record of the layout (category indices, scaled measures), or the reason
 * class of the first failing column. The SQL conversion (sql/conversion.ts) reproduces these rules.
 */
import { StatguardError } from '../errors.ts';
import type { ColumnPlan, DatasetPlan } from '../types.ts';
import type { RecordLayout } from '../aggregate/record-layout.ts';
import { parseScaled, parseStrictInteger, parseStrictNumber } from './parse-number.ts';

/** Reason classes of invalid rows (counted when dropped; never with row content). */
export const REASONS = {
  fieldCount: 'wrong field count',
  wrongType: 'wrong type',
  unknownCategory: 'unknown category',
  missingValue: 'missing value',
  missingUnit: 'missing unit id',
  outOfRange: 'out of range',
  noBin: 'no bin',
  unmapped: 'unmapped category',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** Converts one variable of a row: returns a category index >= 0, or a reason. */
type VarConverter = (fields: readonly string[]) => number | Reason;
/** Converts one measure source: scaled integer, NaN for missing, or a reason. */
type MeasConverter = (fields: readonly string[]) => number | Reason;

/**
 * Typed conversion of a CSV record into a layout record (cats, meas) and the
 * unit id. Only the columns the tables need are converted (dimension
 * variables, their derived-column sources, measure columns, the unit column).
 *
 * Rules:
 * - categorical: the raw value must be a declared category code (checked
 *   before missing codes, so a code such as 'N' may be a real category);
 *   else a missing code gives 'missing value' (a dimension needs a value),
 *   anything else 'unknown category';
 * - integer / number: strict decimal syntax ('12abc', '', 'Inf' are
 *   'wrong type'), then minimum/maximum constraints ('out of range');
 * - derived bins: value v is in the first bin with min <= v <= max, else 'no bin';
 *   derived map: source code -> target code (codes not in the map keep their
 *   code if it is a derived category), else 'unmapped category';
 * - measures: scaled integer round(v * 10^decimals), half away from zero,
 *   exactly from the decimal digits; a missing code gives NaN (the row does
 *   not enter that table's sum) unless the column is required ('missing value');
 * - unit id: '' or a missing code of the unit column gives 'missing unit id'.
 */
export class RowConverter {
  /** After a failed convert(): the column and raw value at fault. */
  failColumn: string | undefined;
  failValue: string | undefined;
  failMessage = '';

  private readonly vars: VarConverter[];
  private readonly measures: MeasConverter[];
  private readonly unitIdx: number;
  private readonly unitMissing: ReadonlySet<string>;

  constructor(
    layout: RecordLayout,
    ds: DatasetPlan,
    private readonly header: readonly string[],
    private readonly file: string,
  ) {
    const colIndex = new Map<string, number>();
    header.forEach((h, i) => colIndex.set(h, i));
    const idx = (name: string): number => {
      const i = colIndex.get(name);
      if (i === undefined)
        throw new StatguardError('CSV_HEADER', `column ${JSON.stringify(name)} is not in the header of ${file}`, {
          file,
          line: 1,
          column: name,
        });
      return i;
    };
    const column = (name: string): ColumnPlan => {
      const c = ds.columns.find((x) => x.name === name);
      if (!c)
        throw new StatguardError('POLICY_INVALID', `column ${JSON.stringify(name)} is not declared in the dataset`, {
          path: '/dataset/columns',
        });
      return c;
    };

    this.vars = layout.variables.map((v) => {
      const derived = ds.derived.find((d) => d.name === v.name);
      if (!derived) return this.categorical(column(v.name), idx(v.name), v.codes);
      const src = column(derived.from);
      const i = idx(derived.from);
      if (derived.bins && derived.bins.length > 0) {
        if (src.type !== 'integer' && src.type !== 'number') {
          throw new StatguardError(
            'POLICY_INVALID',
            `derived column ${JSON.stringify(derived.name)} bins ${JSON.stringify(src.name)}, which is not numeric`,
            { path: '/dataset/derived' },
          );
        }
        const codeIdx = new Map(v.codes.map((c, k) => [c, k] as const));
        const bins = derived.bins.map((b) => {
          const k = codeIdx.get(b.code);
          if (k === undefined)
            throw new StatguardError(
              'POLICY_INVALID',
              `bin ${JSON.stringify(b.code)} of ${JSON.stringify(derived.name)} is not one of its categories`,
              { path: '/dataset/derived' },
            );
          return { min: b.min, max: b.max, k };
        });
        return this.numeric(src, i, (x) => {
          for (let b = 0; b < bins.length; b++) {
            const bin = bins[b]!;
            if (x >= bin.min && x <= bin.max) return bin.k;
          }
          return this.fail(src.name, null, REASONS.noBin, `value is in no bin of ${JSON.stringify(derived.name)}`);
        });
      }
      // Recode (map): source code -> target code, composed into one lookup.
      const target = new Map(v.codes.map((c, k) => [c, k] as const));
      const lookup = new Map<string, number>();
      const sources = src.categories
        ? src.categories.map((c) => c.code)
        : [...Object.keys(derived.map ?? {}), ...v.codes];
      for (const code of sources) {
        const t = derived.map?.[code] ?? code;
        lookup.set(code, target.get(t) ?? -1);
      }
      const missing = new Set(src.missingValues);
      const name = src.name;
      return (f) => {
        const raw = f[i]!;
        const k = lookup.get(raw);
        if (k === undefined) {
          return missing.has(raw)
            ? this.fail(
                name,
                raw,
                REASONS.missingValue,
                `missing value, but ${JSON.stringify(derived.name)} is a table dimension`,
              )
            : this.fail(name, raw, REASONS.unknownCategory, `value is not a declared category`);
        }
        if (k < 0)
          return this.fail(name, raw, REASONS.unmapped, `value has no recode in ${JSON.stringify(derived.name)}`);
        return k;
      };
    });

    this.measures = layout.measureSources.map((s) => {
      const col = column(s.column);
      const i = idx(s.column);
      const missing = new Set(col.missingValues);
      const integerOnly = col.type === 'integer';
      const min = col.minimum;
      const max = col.maximum;
      const dec = s.decimals;
      return (f) => {
        const raw = f[i]!;
        const v = parseScaled(raw, dec, integerOnly);
        if (v !== v) {
          if (missing.has(raw)) {
            return col.required
              ? this.fail(col.name, raw, REASONS.missingValue, `missing value in a required column`)
              : NaN;
          }
          return this.fail(col.name, raw, REASONS.wrongType, `value is not ${integerOnly ? 'an integer' : 'a number'}`);
        }
        if (min !== undefined || max !== undefined) {
          const x = Number(raw);
          if ((min !== undefined && x < min) || (max !== undefined && x > max)) {
            return this.fail(col.name, raw, REASONS.outOfRange, `value is outside [${min ?? '-inf'}, ${max ?? 'inf'}]`);
          }
        }
        return v;
      };
    });

    const unitCol = ds.unit.column;
    this.unitIdx = unitCol === null ? -1 : idx(unitCol);
    const unitPlan = unitCol === null ? undefined : ds.columns.find((c) => c.name === unitCol);
    this.unitMissing = new Set(unitPlan?.missingValues ?? []);
  }

  private fail(column: string, raw: string | null, reason: Reason, message: string): Reason {
    this.failColumn = column;
    this.failValue = raw ?? undefined;
    this.failMessage = message;
    return reason;
  }

  private categorical(col: ColumnPlan, i: number, codes: readonly string[]): VarConverter {
    const lookup = new Map(codes.map((c, k) => [c, k] as const));
    const missing = new Set(col.missingValues);
    const name = col.name;
    return (f) => {
      const raw = f[i]!;
      const k = lookup.get(raw);
      if (k !== undefined) return k;
      return missing.has(raw)
        ? this.fail(name, raw, REASONS.missingValue, `missing value in a table dimension`)
        : this.fail(name, raw, REASONS.unknownCategory, `value is not a declared category`);
    };
  }

  private numeric(col: ColumnPlan, i: number, then: (x: number) => number | Reason): VarConverter {
    const missing = new Set(col.missingValues);
    const parse = col.type === 'integer' ? parseStrictInteger : parseStrictNumber;
    const min = col.minimum;
    const max = col.maximum;
    const name = col.name;
    return (f) => {
      const raw = f[i]!;
      const x = parse(raw);
      if (x !== x) {
        return missing.has(raw)
          ? this.fail(name, raw, REASONS.missingValue, `missing value in a table dimension`)
          : this.fail(
              name,
              raw,
              REASONS.wrongType,
              `value is not ${col.type === 'integer' ? 'an integer' : 'a number'}`,
            );
      }
      if ((min !== undefined && x < min) || (max !== undefined && x > max)) {
        return this.fail(name, raw, REASONS.outOfRange, `value is outside [${min ?? '-inf'}, ${max ?? 'inf'}]`);
      }
      const k = then(x);
      if (typeof k === 'number') return k;
      this.failValue = raw;
      return k;
    };
  }

  /**
   * Convert `fields` into cats/meas. Returns null when valid, else the reason
   * (failColumn / failValue / failMessage say where).
   */
  convert(fields: readonly string[], cats: Int32Array, meas: Float64Array): Reason | null {
    if (fields.length !== this.header.length) {
      this.failColumn = fields.length < this.header.length ? this.header[fields.length] : undefined;
      this.failValue = fields.join(',');
      this.failMessage = `expected ${this.header.length} fields, found ${fields.length}`;
      return REASONS.fieldCount;
    }
    const vars = this.vars;
    for (let v = 0; v < vars.length; v++) {
      const k = vars[v]!(fields);
      if (typeof k !== 'number') return k;
      cats[v] = k;
    }
    const ms = this.measures;
    for (let s = 0; s < ms.length; s++) {
      const x = ms[s]!(fields);
      if (typeof x !== 'number') return x;
      meas[s] = x;
    }
    return null;
  }

  /** The unit id of a converted row, or null with failColumn set when missing. Call only with a unit column. */
  unitId(fields: readonly string[]): string | null {
    const raw = fields[this.unitIdx]!;
    if (raw === '' || this.unitMissing.has(raw)) {
      this.fail(this.header[this.unitIdx]!, raw, REASONS.missingUnit, `missing unit id`);
      return null;
    }
    return raw;
  }

  get hasUnit(): boolean {
    return this.unitIdx >= 0;
  }
}
