/**
 * Streaming a CSV file's records through fast-csv (rows as arrays), checking on the way that every line is UTF-8 and no
 * line is absurdly long. A gzip file (recognised by its magic bytes, whatever its name) is decompressed on the way
 * (node:zlib); its bytes as stored are what `onBytes` sees (the input's fingerprint and the progress). A structurally broken file (unterminated quote, text after a closing quote) cannot be
 * resynchronised: fast-csv reports it without a position, so locate-malformed.ts re-scans the file to name the line
 * where the broken record starts (CSV_MALFORMED).
 */
import * as fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { parse } from 'fast-csv';
import { StatguardError } from '../errors.ts';
import { openCsvBytes } from './csv-bytes.ts';
import { locateMalformedRecord } from './locate-malformed.ts';

/** Longest physical line accepted (bytes): guards against fast-csv's quadratic time on huge fields. */
export const MAX_LINE_BYTES = 1024 * 1024;

export interface CsvStreamHooks {
  /** Every chunk of raw bytes, in order (hashing, progress). */
  onBytes(chunk: Buffer): void;
  /** Every record, in order (a throw stops the stream and rejects with it). */
  onRecord(fields: string[]): void;
  /** Physical line where the next record starts (where a structural error is searched from). */
  line(): number;
  /** The header read so far, if any (names the column of a structural error). */
  header(): readonly string[] | null;
}

/** Streams the records of `file` to `hooks`; resolves at the end of the file. */
export function streamCsv(file: string, delimiter: string, hooks: CsvStreamHooks): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { raw, text: rs, gzip } = openCsvBytes(file);
    const parser = parse({
      headers: false,
      delimiter,
      ignoreEmpty: false,
      trim: false,
      encoding: 'utf8',
    });
    let done = false;
    const fail = (e: unknown): void => {
      if (done) return;
      done = true;
      raw.destroy();
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
    raw.on('data', (chunk) => hooks.onBytes(chunk as Buffer));
    rs.on('data', (chunk) => {
      const b = chunk as Buffer;
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
      fail(
        new StatguardError(
          'SOURCE_UNREADABLE',
          gzip && (e as NodeJS.ErrnoException).code?.startsWith('Z_')
            ? `microdata file ${file} starts as a gzip file but cannot be decompressed (${e.message}); check that it is complete`
            : `cannot read microdata file ${file}: ${e.message}`,
          { file },
        ),
      ),
    );
    parser.on('data', (fields: string[]) => {
      if (done) return;
      try {
        hooks.onRecord(fields);
      } catch (e) {
        fail(e);
      }
    });
    parser.on('error', (e: Error) => {
      if (done) return;
      // fast-csv discards the whole chunk on a structural error: locate the broken record ourselves.
      locateMalformedRecord(file, delimiter, hooks.line()).then(
        (loc) => {
          const names = hooks.header() ?? loc.headerNames;
          fail(
            new StatguardError(
              'CSV_MALFORMED',
              `malformed CSV (${loc.problem}); records after it cannot be delimited: fix the quoting`,
              {
                file,
                line: loc.line,
                ...(loc.field !== null && names[loc.field] !== undefined ? { column: names[loc.field] } : {}),
                value: loc.text,
              },
            ),
          );
        },
        () => fail(new StatguardError('CSV_MALFORMED', `malformed CSV: ${e.message}`, { file, line: hooks.line() })),
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
}
