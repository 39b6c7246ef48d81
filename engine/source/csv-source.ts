import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { parse } from 'fast-csv';
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import { Aggregator } from '../aggregate/aggregate.ts';
import { ContributionBounder } from '../aggregate/bound.ts';
import { makeRecordLayout } from '../aggregate/record-layout.ts';
import { recordKeyOf } from '../ckm/record-key.ts';
import { locateMalformedRecord } from './locate-malformed.ts';
import { RowConverter } from './row-converter.ts';
import type { AggregateContext, AggregateResult, AggregateStats, Source } from './source.ts';

const PROGRESS_EVERY_MS = 250;

/**
 * Microdata from a CSV file: streamed through fast-csv in bounded memory,
 * converted per the plan's column declarations, bounded per unit and
 * aggregated in one pass.
 *
 * Line numbers: 1-based physical lines, header = line 1 (after blank lines
 * before it, if any). A record's line is the line it starts on; newlines inside
 * quoted fields are counted ('\n', so CRLF counts once; CR-only line endings are
 * not supported for line numbers). A structurally broken file (unterminated
 * quote, text after a closing quote) cannot be resynchronised, so it stops the
 * run with CSV_MALFORMED naming the line where the broken record starts, even
 * when invalid rows are dropped.
 */
/** Longest physical line accepted (bytes): guards against fast-csv's quadratic time on huge fields. */
export const MAX_LINE_BYTES = 1024 * 1024;

export function csvSource(): Source {
  return {
    kind: 'csv',
    aggregate: (plan: Plan, ctx: AggregateContext) => aggregateCsv(plan, ctx),
  };
}

async function aggregateCsv(plan: Plan, ctx: AggregateContext): Promise<AggregateResult> {
  const ds = plan.dataset;
  const src = ds.source;
  if (src.kind !== 'csv') throw new StatguardError('USAGE', `csvSource cannot read a ${String(src.kind)} source`);
  const file = src.path;
  if (!src.header)
    throw new StatguardError('CSV_HEADER', `CSV files need a header row (source.header is false) for ${file}`, {
      file,
    });

  let totalBytes: number;
  try {
    const st = await fs.promises.stat(file);
    if (!st.isFile()) throw new Error('not a regular file');
    totalBytes = st.size;
  } catch (e) {
    throw new StatguardError('SOURCE_UNREADABLE', `cannot read microdata file ${file}: ${(e as Error).message}`, {
      file,
    });
  }
  if (totalBytes === 0) throw new StatguardError('EMPTY_INPUT', `microdata file ${file} is empty`, { file });

  const layout = makeRecordLayout(plan);
  const agg = new Aggregator(layout);
  // Holding (enterprise group) per unit: ids are numbered in order of appearance (only equality matters).
  const holdingCol = ds.unit.holding ?? null;
  const holdingIds = new Map<string, number>();
  const unitHolding = new Map<string, number>();
  // ckm: record keys per unit, from a column (integer value * 10^decimals) or drawn by keyed hash of the unit id.
  const ckm = plan.protection.regime === 'ckm' ? plan.protection : null;
  const rkCol = ckm?.recordKey ?? null;
  const rkSecret = ckm && rkCol === null ? (ctx.recordKeySecret ?? ctx.boundingKey) : null;
  const unitKey = new Map<string, number>();
  let rowSeq = 0;
  let bytes = 0;
  const bounder = new ContributionBounder(
    layout,
    {
      unitColumn: ds.unit.column,
      maxRowsPerUnit: ds.unit.maxRowsPerUnit,
      key: ctx.boundingKey,
      maxBufferedUnits: ctx.maxBufferedUnits,
      progress: () => (totalBytes > 0 ? bytes / totalBytes : 0.5),
      ...(holdingCol !== null || ckm
        ? {
            onUnit: (id: string) => {
              if (holdingCol !== null) agg.setHolding(unitHolding.get(id)!);
              if (ckm) agg.setRecordKey(rkCol !== null ? unitKey.get(id)! : recordKeyOf(rkSecret!, id));
            },
          }
        : {}),
    },
    agg,
  );

  try {
    const hash = createHash('sha256');
    const cats = new Int32Array(layout.variables.length);
    const meas = new Float64Array(layout.measureSources.length);
    const dropReasons: Record<string, number> = {};
    let conv: RowConverter | null = null;
    let header: string[] | null = null;
    let holdingAt = -1;
    let keyAt = -1;
    let line = 1; // physical line where the next record starts
    let rowsRead = 0;
    let rowsDropped = 0;
    let lastProgress = Date.now();
    const dropOrFail = (reason: string, recLine: number): void => {
      if (ds.onInvalidRow === 'drop') {
        rowsDropped++;
        dropReasons[reason] = (dropReasons[reason] ?? 0) + 1;
        return;
      }
      throw new StatguardError('ROW_INVALID', `invalid row (${reason}): ${conv!.failMessage}`, {
        file,
        line: recLine,
        ...(conv!.failColumn !== undefined ? { column: conv!.failColumn } : {}),
        ...(conv!.failValue !== undefined ? { value: conv!.failValue } : {}),
      });
    };

    const onRecord = (fields: string[]): void => {
      const recLine = line;
      // Advance the physical line counter by the record's own newlines.
      let nl = 1;
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!;
        if (f.length > 0 && f.indexOf('\n') >= 0) for (let j = 0; j < f.length; j++) if (f.charCodeAt(j) === 10) nl++;
      }
      line += nl;
      if (fields.length === 0) return; // blank line
      if (header === null) {
        header = readHeader(fields, plan, file, recLine);
        conv = new RowConverter(layout, ds, header, file);
        if (holdingCol !== null) {
          holdingAt = header.indexOf(holdingCol);
          if (holdingAt < 0)
            throw new StatguardError(
              'CSV_HEADER',
              `holding column ${JSON.stringify(holdingCol)} is missing from the header of ${file}`,
              { file, line: recLine, column: holdingCol },
            );
        }
        if (rkCol !== null) {
          keyAt = header.indexOf(rkCol.column);
          if (keyAt < 0)
            throw new StatguardError(
              'CSV_HEADER',
              `record-key column ${JSON.stringify(rkCol.column)} is missing from the header of ${file}`,
              { file, line: recLine, column: rkCol.column },
            );
        }
        return;
      }
      if (fields.length === 1 && fields[0] === '' && header.length > 1) return; // whitespace-free blank line
      rowsRead++;
      const c = conv!;
      const reason = c.convert(fields, cats, meas);
      if (reason !== null) {
        dropOrFail(reason, recLine);
        return;
      }
      let unit: string | null = null;
      if (c.hasUnit) {
        unit = c.unitId(fields);
        if (unit === null) {
          dropOrFail('missing unit id', recLine);
          return;
        }
      }
      if (holdingAt >= 0) {
        const raw = (fields[holdingAt] ?? '').trim();
        if (raw === '') {
          if (ds.onInvalidRow === 'drop') {
            rowsDropped++;
            dropReasons['missing holding'] = (dropReasons['missing holding'] ?? 0) + 1;
            return;
          }
          throw new StatguardError(
            'ROW_INVALID',
            `invalid row (missing holding): the holding column ${JSON.stringify(holdingCol)} is empty`,
            { file, line: recLine, column: holdingCol! },
          );
        }
        let h = holdingIds.get(raw);
        if (h === undefined) {
          h = holdingIds.size;
          holdingIds.set(raw, h);
        }
        if (unit === null) agg.setHolding(h);
        else {
          const prev = unitHolding.get(unit);
          if (prev === undefined) unitHolding.set(unit, h);
          else if (prev !== h) {
            throw new StatguardError(
              'ROW_INVALID',
              `unit ${JSON.stringify(unit)} belongs to two holdings (column ${JSON.stringify(holdingCol)}): a unit must belong to one holding`,
              { file, line: recLine, column: holdingCol!, value: raw },
            );
          }
        }
      }
      if (ckm) {
        let rk: number;
        if (rkCol !== null) {
          const raw = (fields[keyAt] ?? '').trim();
          const mod = 10 ** rkCol.decimals;
          const x = Math.round(Number(raw) * mod);
          if (raw === '' || !Number.isFinite(x) || x < 0 || x >= mod) {
            throw new StatguardError(
              'ROW_INVALID',
              `invalid row (record key): column ${JSON.stringify(rkCol.column)} must hold a number in [0, 1)`,
              { file, line: recLine, column: rkCol.column, value: raw },
            );
          }
          rk = x;
          if (unit !== null) {
            const prev = unitKey.get(unit);
            if (prev === undefined) unitKey.set(unit, rk);
            else if (prev !== rk)
              throw new StatguardError(
                'ROW_INVALID',
                `unit ${JSON.stringify(unit)} has two record keys (column ${JSON.stringify(rkCol.column)}): a unit has one key`,
                { file, line: recLine, column: rkCol.column },
              );
          }
        } else rk = unit === null ? recordKeyOf(rkSecret!, `\u0000row ${rowSeq++}`) : 0;
        if (unit === null) agg.setRecordKey(rk);
      }
      bounder.add(unit, cats, meas);
      if ((rowsRead & 4095) === 0 && ctx.onProgress) {
        const now = Date.now();
        if (now - lastProgress >= PROGRESS_EVERY_MS) {
          lastProgress = now;
          ctx.onProgress({ stage: 'read', rows: rowsRead, bytes, totalBytes });
        }
      }
    };

    await new Promise<void>((resolve, reject) => {
      const rs = fs.createReadStream(file);
      const parser = parse({
        headers: false,
        delimiter: src.delimiter,
        ignoreEmpty: false,
        trim: false,
        encoding: 'utf8',
      });
      let done = false;
      const fail = (e: unknown): void => {
        if (done) return;
        done = true;
        rs.destroy();
        parser.destroy();
        reject(e);
      };
      // The file must be UTF-8: an invalid byte sequence would silently become U+FFFD and could merge two
      // different unit ids or codes. Complete lines are checked as they stream by (node's native isUtf8).
      let carry: Buffer = Buffer.alloc(0);
      let linesBefore = 0;
      const checkUtf8 = (buf: Buffer): void => {
        if (isUtf8(buf)) {
          for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) linesBefore++;
          return;
        }
        let start = 0;
        for (;;) {
          const nl = buf.indexOf(10, start);
          const end = nl < 0 ? buf.length : nl;
          if (!isUtf8(buf.subarray(start, end))) {
            fail(
              new StatguardError(
                'CSV_MALFORMED',
                `microdata file ${file} is not valid UTF-8 (invalid byte sequence); convert it to UTF-8`,
                { file, line: linesBefore + 1 },
              ),
            );
            return;
          }
          linesBefore++;
          start = end + 1;
        }
      };
      rs.on('data', (chunk) => {
        const b = chunk as Buffer;
        hash.update(b);
        bytes += b.length;
        const buf = carry.length > 0 ? Buffer.concat([carry, b]) : b;
        const last = buf.lastIndexOf(10);
        if (last < 0) {
          carry = buf;
          // fast-csv's time grows quadratically with a record's length (a 10 MB field takes minutes):
          // refuse absurd lines early instead of hanging (no microdata record line is this long).
          if (carry.length > MAX_LINE_BYTES) {
            fail(
              new StatguardError(
                'CSV_MALFORMED',
                `a line of microdata file ${file} is longer than ${MAX_LINE_BYTES} bytes (the largest record line accepted); check the delimiter and the quoting`,
                { file, line: linesBefore + 1 },
              ),
            );
          }
          return;
        }
        carry = Buffer.from(buf.subarray(last + 1));
        checkUtf8(buf.subarray(0, last + 1));
      });
      rs.on('end', () => {
        if (carry.length > 0) checkUtf8(carry);
      });
      rs.on('error', (e) =>
        fail(new StatguardError('SOURCE_UNREADABLE', `cannot read microdata file ${file}: ${e.message}`, { file })),
      );
      parser.on('data', (fields: string[]) => {
        if (done) return;
        try {
          onRecord(fields);
        } catch (e) {
          fail(e);
        }
      });
      parser.on('error', (e: Error) => {
        if (done) return;
        // fast-csv discards the whole chunk on a structural error: locate the broken record ourselves.
        locateMalformedRecord(file, src.delimiter, line).then(
          (loc) => {
            fail(
              new StatguardError(
                'CSV_MALFORMED',
                `malformed CSV (${loc.problem}); records after it cannot be delimited: fix the quoting`,
                {
                  file,
                  line: loc.line,
                  ...(loc.field !== null && (header ?? loc.headerNames)[loc.field] !== undefined
                    ? { column: (header ?? loc.headerNames)[loc.field] }
                    : {}),
                  value: loc.text,
                },
              ),
            );
          },
          () => fail(new StatguardError('CSV_MALFORMED', `malformed CSV: ${e.message}`, { file, line })),
        );
      });
      parser.on('end', () => {
        if (!done) {
          done = true;
          resolve();
        }
      });
      rs.pipe(parser);
    });

    if (header === null || rowsRead === 0) {
      throw new StatguardError(
        'EMPTY_INPUT',
        header === null
          ? `microdata file ${file} has no header row`
          : `microdata file ${file} has a header but no data rows`,
        { file },
      );
    }
    ctx.onProgress?.({ stage: 'aggregate', rows: rowsRead, bytes, totalBytes });
    const b = bounder.finish();
    const tables = agg.finish();
    ctx.onProgress?.({ stage: 'done', rows: rowsRead, bytes, totalBytes });
    const stats: AggregateStats = {
      rowsRead,
      rowsDropped,
      dropReasons,
      rowsAfterBounding: b.rowsKept,
      rowsRemovedByBounding: b.rowsIn - b.rowsKept,
      units: b.units,
      valuesClamped: b.valuesClamped,
      input: { kind: 'csv', file, bytes, sha256: hash.digest('hex') },
    };
    return { tables, stats };
  } finally {
    bounder.dispose();
  }
}

/** Check the header: unique names, every declared column (and the unit column) present; extra columns ignored. */
function readHeader(fields: readonly string[], plan: Plan, file: string, line: number): string[] {
  const header = fields.map((f, i) => (i === 0 ? f.replace(/^\uFEFF/, '') : f).trim());
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
