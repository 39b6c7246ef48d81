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
 * when invalid rows are dropped. The steps: csv-stream.ts (bytes, UTF-8, records), csv-records.ts (header, conversion,
 * invalid rows), csv-units.ts (holding and record key per unit), then engine/aggregate (bounding, aggregation).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { StatguardError } from '../errors.ts';
import type { CsvSourcePlan, Plan } from '../types.ts';
import { Aggregator } from '../aggregate/aggregate.ts';
import { ContributionBounder } from '../aggregate/bound.ts';
import { makeRecordLayout, type RecordLayout } from '../aggregate/record-layout.ts';
import { CsvRecords } from './csv-records.ts';
import { streamCsv } from './csv-stream.ts';
import { openDomainsCsv } from './open-scan.ts';
import { UnitAttributes } from './csv-units.ts';
import {
  exactTruncation,
  truncationCap,
  type AggregateContext,
  type AggregateResult,
  type AggregateStats,
  type Source,
} from './source.ts';

export { MAX_LINE_BYTES } from './csv-stream.ts';

export function csvSource(): Source {
  return {
    kind: 'csv',
    aggregate: (plan: Plan, ctx: AggregateContext) => aggregateCsv(plan, ctx),
  };
}

/** The CSV source of the plan and its size in bytes (a non-empty regular file with a header row). */
async function csvInput(plan: Plan): Promise<{ src: CsvSourcePlan; totalBytes: number }> {
  const src = plan.dataset.source;
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
  return { src, totalBytes };
}

/**
 * Stream a CSV source through conversion and bounding into `sinkOf(layout)` instead of the tables' own aggregator
 * (engine/ondemand keeps the bounded rows of a dataset in the secure zone's memory this way). Returns the run's stats.
 */
export async function scanCsv(
  plan: Plan,
  ctx: AggregateContext,
  sinkOf: (layout: RecordLayout) => Aggregator,
): Promise<AggregateResult> {
  return aggregateCsv(plan, ctx, sinkOf);
}

async function aggregateCsv(
  declared: Plan,
  ctx: AggregateContext,
  sinkOf: (layout: RecordLayout) => Aggregator = (layout) => new Aggregator(layout),
): Promise<AggregateResult> {
  const { src, totalBytes } = await csvInput(declared);
  // Open columns (dp): their codes are collected first, then every table is aggregated over them (open-scan.ts).
  const plan = await openDomainsCsv(declared);
  const ds = plan.dataset;
  const file = src.path;
  const layout = makeRecordLayout(plan);
  const agg = sinkOf(layout);
  const attrs = new UnitAttributes(plan, ctx, agg, file);
  let bytes = 0;
  const cap = truncationCap(plan);
  const bounder = new ContributionBounder(
    layout,
    {
      unitColumn: ds.unit.column,
      maxRowsPerUnit: ds.unit.maxRowsPerUnit,
      key: ctx.boundingKey,
      maxBufferedUnits: ctx.maxBufferedUnits,
      progress: () => (totalBytes > 0 ? bytes / totalBytes : 0.5),
      ...(attrs.active ? { onUnit: (id: string) => attrs.onUnit(id) } : {}),
      ...(cap !== null ? { dropCap: cap } : {}),
    },
    agg,
  );

  try {
    const hash = createHash('sha256');
    const records = new CsvRecords(plan, ctx, layout, file, attrs, bounder, () => ({ bytes, totalBytes }));
    await streamCsv(file, src.delimiter, {
      onBytes: (b) => {
        hash.update(b);
        bytes += b.length;
      },
      onRecord: (fields) => records.onRecord(fields),
      line: () => records.line,
      header: () => records.header,
    });

    const rowsRead = records.rowsRead;
    if (records.header === null || rowsRead === 0) {
      throw new StatguardError(
        'EMPTY_INPUT',
        records.header === null
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
      rowsDropped: records.rowsDropped,
      dropReasons: records.dropReasons,
      rowsAfterBounding: b.rowsKept,
      rowsRemovedByBounding: b.rowsIn - b.rowsKept,
      units: b.units,
      valuesClamped: b.valuesClamped,
      input: { kind: 'csv', file, bytes, sha256: hash.digest('hex') },
    };
    const truncation = exactTruncation(layout, b.droppedCapped, b.clampedBySpec);
    return { tables, stats, ...(cap !== null ? { truncation } : {}) };
  } finally {
    bounder.dispose();
  }
}
