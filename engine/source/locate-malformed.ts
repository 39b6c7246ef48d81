/**
 * Diagnostics for CSV_MALFORMED: re-scans a CSV file with RFC 4180 quoting to name the line and field where a broken
 * record starts. Never used to read data.
 */
import { openCsvBytes } from './csv-bytes.ts';

export interface MalformedLocation {
  /** 1-based physical line where the broken record starts. */
  readonly line: number;
  /** 0-based field index where the problem is, if known. */
  readonly field: number | null;
  readonly problem: string;
  /** Start of the record's first line (at most 80 characters). */
  readonly text: string;
  /** The file's first line split at the delimiter (header names, for naming the column). */
  readonly headerNames: readonly string[];
}

/**
 * Diagnostics only (never used to read data): after fast-csv reports a
 * structural error, find which record is broken by scanning the file with the
 * RFC 4180 quoting rules fast-csv applies (a quote opens a quoted field only at
 * the start of a field; "" escapes a quote; a closing quote must be followed by
 * the delimiter or a line end). fast-csv's own error arrives without a
 * position and after discarding the whole chunk, hence this re-scan.
 * `fallbackLine` is returned if the scan finds no problem.
 */
export async function locateMalformedRecord(
  file: string,
  delimiter: string,
  fallbackLine: number,
): Promise<MalformedLocation> {
  const delim = delimiter.charCodeAt(0);
  const QUOTE = 34;
  const LF = 10;
  const CR = 13;
  let line = 1;
  let recLine = 1;
  let field = 0;
  let text = '';
  let onFirstLine = true;
  // state: 0 field start, 1 unquoted field, 2 inside quotes, 3 just after a quote inside quotes
  let state = 0;
  let quoteField = 0;
  let firstLine: string | null = null;
  const names = (): string[] =>
    (firstLine ?? '').split(delimiter).map((h) =>
      h
        .replace(/^\uFEFF/, '')
        .replace(/^"|"$/g, '')
        .trim(),
    );
  const { text: rs } = openCsvBytes(file);
  rs.setEncoding('utf8');
  try {
    for await (const chunk of rs) {
      const s = chunk as string;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (onFirstLine && c !== LF && c !== CR && text.length < (firstLine === null ? 65536 : 80)) text += s[i];
        if (state === 3) {
          if (c === QUOTE) {
            state = 2;
            continue;
          }
          if (c === delim) {
            state = 0;
            field++;
            continue;
          }
          if (c === LF || c === CR) {
            state = 1; /* fall through to line-end handling below */
          } else
            return {
              line: recLine,
              field,
              problem: 'text after a closing quote',
              text: text.slice(0, 80),
              headerNames: names(),
            };
        }
        if (state === 2) {
          if (c === QUOTE) state = 3;
          else if (c === LF) {
            line++;
            onFirstLine = false;
          }
          continue;
        }
        if (c === LF) {
          if (firstLine === null) firstLine = text;
          line++;
          recLine = line;
          field = 0;
          state = 0;
          text = '';
          onFirstLine = true;
          continue;
        }
        if (c === CR) continue;
        if (c === delim) {
          state = 0;
          field++;
          continue;
        }
        if (state === 0 && c === QUOTE) {
          state = 2;
          quoteField = field;
          continue;
        }
        state = 1;
      }
    }
  } finally {
    rs.destroy();
  }
  if (state === 2)
    return {
      line: recLine,
      field: quoteField,
      problem: 'unterminated quoted field',
      text: text.slice(0, 80),
      headerNames: names(),
    };
  return { line: fallbackLine, field: null, problem: 'structure error', text: '', headerNames: names() };
}
