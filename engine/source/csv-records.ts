/**
 * The records of a CSV file, one by one: the header checked, then each record converted (RowConverter), its invalid
 * rows dropped or reported, its unit attributes read (csv-units.ts) and handed to the bounder. Counts physical lines
 * (a record's line is where it starts; newlines inside quoted fields count).
 */
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import type { ContributionBounder } from '../aggregate/bound.ts';
import type { RecordLayout } from '../aggregate/record-layout.ts';
import type { UnitAttributes } from './csv-units.ts';
import { RowConverter } from './row-converter.ts';
import type { AggregateContext } from './source.ts';

const PROGRESS_EVERY_MS = 250;

export class CsvRecords {
  /** Physical line where the next record starts. */
  line = 1;
  header: string[] | null = null;
  rowsRead = 0;
  rowsDropped = 0;
  readonly dropReasons: Record<string, number> = {};
  private conv: RowConverter | null = null;
  private readonly cats: Int32Array;
  private readonly meas: Float64Array;
  private lastProgress = Date.now();

  constructor(
    private readonly plan: Plan,
    private readonly ctx: AggregateContext,
    private readonly layout: RecordLayout,
    private readonly file: string,
    private readonly attrs: UnitAttributes,
    private readonly bounder: ContributionBounder,
    /** Bytes read so far and the file's size (progress reports). */
    private readonly progress: () => { bytes: number; totalBytes: number },
  ) {
    this.cats = new Int32Array(layout.variables.length);
    this.meas = new Float64Array(layout.measureSources.length);
  }

  private dropOrFail(reason: string, recLine: number): void {
    if (this.plan.dataset.onInvalidRow === 'drop') {
      this.rowsDropped++;
      this.dropReasons[reason] = (this.dropReasons[reason] ?? 0) + 1;
      return;
    }
    const conv = this.conv!;
    throw new StatguardError('ROW_INVALID', `invalid row (${reason}): ${conv.failMessage}`, {
      file: this.file,
      line: recLine,
      ...(conv.failColumn !== undefined ? { column: conv.failColumn } : {}),
      ...(conv.failValue !== undefined ? { value: conv.failValue } : {}),
    });
  }

  onRecord(fields: string[]): void {
    const recLine = this.line;
    // Advance the physical line counter by the record's own newlines.
    let nl = 1;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f.length > 0 && f.indexOf('\n') >= 0) for (let j = 0; j < f.length; j++) if (f.charCodeAt(j) === 10) nl++;
    }
    this.line += nl;
    if (fields.length === 0) return; // blank line
    if (this.header === null) {
      this.header = readHeader(fields, this.plan, this.file, recLine);
      this.conv = new RowConverter(this.layout, this.plan.dataset, this.header, this.file);
      this.attrs.bindHeader(this.header, recLine);
      return;
    }
    if (fields.length === 1 && fields[0] === '' && this.header.length > 1) return; // whitespace-free blank line
    this.rowsRead++;
    const c = this.conv!;
    const reason = c.convert(fields, this.cats, this.meas);
    if (reason !== null) {
      this.dropOrFail(reason, recLine);
      return;
    }
    let unit: string | null = null;
    if (c.hasUnit) {
      unit = c.unitId(fields);
      if (unit === null) {
        this.dropOrFail('missing unit id', recLine);
        return;
      }
    }
    if (this.attrs.active) {
      const dropped = this.attrs.row(fields, unit, recLine, this.plan.dataset.onInvalidRow === 'drop');
      if (dropped !== null) {
        this.rowsDropped++;
        this.dropReasons[dropped] = (this.dropReasons[dropped] ?? 0) + 1;
        return;
      }
    }
    this.bounder.add(unit, this.cats, this.meas);
    if ((this.rowsRead & 4095) === 0 && this.ctx.onProgress) {
      const now = Date.now();
      if (now - this.lastProgress >= PROGRESS_EVERY_MS) {
        this.lastProgress = now;
        this.ctx.onProgress({ stage: 'read', rows: this.rowsRead, ...this.progress() });
      }
    }
  }
}

/**
 * The column names of a header record: BOM removed, names trimmed, then renamed by the source's `rename` map (a name as
 * in the file, e.g. with spaces, to the policy's column name). A renamed header name missing from the file is an error.
 */
export function headerNames(fields: readonly string[], plan: Plan, file: string, line: number): string[] {
  const header = fields.map((f, i) => (i === 0 ? f.replace(/^\uFEFF/, '') : f).trim());
  const src = plan.dataset.source;
  const rename = (src.kind === 'csv' ? src.rename : undefined) ?? {};
  for (const from of Object.keys(rename))
    if (!header.includes(from))
      throw new StatguardError(
        'CSV_HEADER',
        `source.rename names header ${JSON.stringify(from)}, which is not in the header of ${file}`,
        { file, line, column: from },
      );
  return header.map((h) => (Object.hasOwn(rename, h) ? rename[h]! : h));
}

/** Check the header: unique names, every declared column (and the unit column) present; extra columns ignored. */
function readHeader(fields: readonly string[], plan: Plan, file: string, line: number): string[] {
  const header = headerNames(fields, plan, file, line);
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h))
      throw new StatguardError(
        'CSV_HEADER',
        `column ${JSON.stringify(h)} appears more than once in the header of ${file}`,
        { file, line, column: h },
      );
    seen.add(h);
  }
  const wanted = plan.dataset.columns.map((c) => c.name);
  if (plan.dataset.unit.column !== null) wanted.push(plan.dataset.unit.column);
  if (plan.dataset.unit.holding) wanted.push(plan.dataset.unit.holding);
  for (const name of wanted) {
    if (!seen.has(name))
      throw new StatguardError(
        'CSV_HEADER',
        `declared column ${JSON.stringify(name)} is missing from the header of ${file}`,
        { file, line, column: name },
      );
  }
  return header;
}
