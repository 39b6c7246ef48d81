/**
 * xlsx output (exceljs): one sheet per table and a Notes sheet, for readers who open tables in a spreadsheet.
 *
 * A table sheet has a header row (frozen, with a filter) and one row per cell: per dimension its code and its label,
 * the value, CONF_STATUS, OBS_STATUS, the flag in words, and (tables with noise) the noise standard deviation and
 * the 95% half-width. Values and accuracy are numbers (thousands separators by number format), never text.
 * The Notes sheet holds the release id and title, source, date, the protection regime and its guarantee, each
 * table's title, description, measure and notes (consistency, bias: tableNotes), the legend of every flag used and
 * what the accuracy columns mean.
 *
 * Safety property (as formats.ts): only `ProtectedTable` cells are read; a suppressed cell's value cell is left empty
 * (no value, no formula, no comment) with its flags beside it, so its value is in no byte of the workbook.
 *
 * exceljs is loaded on first use (about 0.5 CPU-s), so that importing the engine costs nothing for it.
 *
 * Size and time: the workbook is written by exceljs's streaming writer (rows are serialised as they are added, not
 * kept as cell objects) into memory; the API bounds a query by its cell limit (`maxCells`) before it gets here. The
 * writer costs about 15 µs of CPU per cell unstyled (100,000 cells: about 2 CPU-s with the library's first load,
 * against 0.15 for CSV) and twice that styled, so only workbooks of up to STYLED_CELLS cells get styles (bold
 * headers, thousands separators on the value column), and rows are written ROWS_PER_TURN at a time with a turn of the
 * event loop between, so that a large workbook does not hold a server's other requests.
 */
import { PassThrough } from 'node:stream';
import type ExcelJS from 'exceljs';
import type { ConfStatus, ObsStatus, ProtectedTable } from '../types.ts';
import {
  describeMeasure,
  forEachSelected,
  selectionSize,
  tableNotes,
  type Selection,
  type TableMeta,
} from './formats.ts';
import { CONF_STATUS_LEGEND, OBS_STATUS_LEGEND } from './legend.ts';

/** A table of a workbook, with its metadata and an optional cell selection. */
export interface XlsxTable {
  readonly table: ProtectedTable;
  readonly meta: TableMeta;
  readonly sel?: Selection | undefined;
}

/** What a workbook says about its release besides the tables' metadata. */
export interface WorkbookInfo {
  /** The release id (the store's, as in the API's URLs). */
  readonly releaseId: string;
}

const NOTES_SHEET = 'Notes';
/** Workbooks of up to this many cells get styles; larger ones are written plain (see the header). */
export const STYLED_CELLS = 20_000;
const INT_FORMAT = '#,##0';
const DEC_FORMAT = '#,##0.0##';
const ACCURACY_NOTE: readonly [string, string][] = [
  ['Noise SD', 'Standard deviation of the noise added to the cell, in the unit of the value.'],
  ['95% half-width', 'The noise added to the cell lies within plus or minus this with probability at least 0.95.'],
];

/** A valid, unique sheet name for a table id: at most 31 characters, none of []:*?/\, not the Notes sheet's. */
export function sheetName(id: string, taken: ReadonlySet<string>): string {
  const base = (id.replace(/[[\]:*?/\\]/g, '_').replace(/^'+|'+$/g, '') || 'table').slice(0, 31);
  const free = (n: string): boolean => !taken.has(n.toLowerCase()) && n.toLowerCase() !== NOTES_SHEET.toLowerCase();
  if (free(base)) return base;
  for (let k = 2; ; k++) {
    const n = `${base.slice(0, 31 - String(k).length - 1)}~${k}`;
    if (free(n)) return n;
  }
}

/** The flag of a cell in words: why it is suppressed, or that it is estimated; empty for a free, normal cell. */
export function flagText(conf: ConfStatus, obs: ObsStatus): string {
  if (conf !== 'F') return `${conf}: ${CONF_STATUS_LEGEND[conf]}`;
  return obs === 'E' ? `E: ${OBS_STATUS_LEGEND.E}` : '';
}

/** Whether a table publishes accuracy (noise) for any cell: a property of the table, not of a selection. */
function hasAccuracy(table: ProtectedTable): boolean {
  return table.cells.some((c) => c.accuracy !== null);
}

interface Used {
  readonly conf: Set<ConfStatus>;
  readonly obs: Set<ObsStatus>;
}

/** Rows written between two turns of the event loop (a large workbook must not hold a server's other requests). */
const ROWS_PER_TURN = 500;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function addTableSheet(
  wb: ExcelJS.stream.xlsx.WorkbookWriter,
  t: XlsxTable,
  name: string,
  used: Used,
): Promise<void> {
  const { table } = t;
  const dims = table.plan.dimensions;
  const accuracy = hasAccuracy(table);
  let integers = true;
  forEachSelected(table, t.sel, (_c, cell) => {
    if (cell.value !== null && !Number.isInteger(cell.value)) integers = false;
  });
  const ws = wb.addWorksheet(name, { views: [{ state: 'frozen', ySplit: 1 }] });
  ws.columns = [
    ...dims.flatMap((d) => [
      { header: `${d.label} (code)`, width: Math.min(40, Math.max(10, d.label.length + 8)) },
      { header: d.label, width: Math.min(60, Math.max(12, ...d.nodes.map((n) => n.label.length + 2))) },
    ]),
    { header: `Value (${describeMeasure(table)})`, width: 18, style: { numFmt: integers ? INT_FORMAT : DEC_FORMAT } },
    { header: 'CONF_STATUS', width: 13 },
    { header: 'OBS_STATUS', width: 12 },
    { header: 'Flag', width: 50 },
    ...(accuracy
      ? [
          // No number format here: every styled cell costs exceljs a style lookup (a third of the time per column).
          { header: 'Noise SD', width: 12 },
          { header: '95% half-width', width: 15 },
        ]
      : []),
  ];
  const width = ws.columns.length;
  ws.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: width } };
  ws.getRow(1).font = { bold: true };
  ws.getRow(1).commit();
  const rows: (string | number | null)[][] = [];
  forEachSelected(table, t.sel, (coords, cell) => {
    used.conf.add(cell.conf);
    used.obs.add(cell.obs);
    const row: (string | number | null)[] = coords.flatMap((n, d) => [
      dims[d]!.nodes[n]!.code,
      dims[d]!.nodes[n]!.label,
    ]);
    // A suppressed cell: null, i.e. no cell written at all.
    row.push(cell.value, cell.conf, cell.obs, flagText(cell.conf, cell.obs));
    if (accuracy) row.push(cell.accuracy?.noiseSd ?? null, cell.accuracy?.halfWidth95 ?? null);
    rows.push(row);
  });
  for (let i = 0; i < rows.length; i++) {
    ws.addRow(rows[i]!).commit();
    if (i % ROWS_PER_TURN === ROWS_PER_TURN - 1) await nextTurn();
  }
  ws.commit();
}

/** The Notes sheet: release, regime and guarantee, each table's description and notes, legend of the flags used. */
function addNotesSheet(
  wb: ExcelJS.stream.xlsx.WorkbookWriter,
  tables: readonly XlsxTable[],
  names: readonly string[],
  info: WorkbookInfo,
  used: Used,
): void {
  const ws = wb.addWorksheet(NOTES_SHEET);
  ws.columns = [{ width: 28 }, { width: 110, style: { alignment: { wrapText: true, vertical: 'top' } } }];
  const first = tables[0]!.meta;
  const heading = (text: string): void => {
    const r = ws.addRow([text]);
    r.font = { bold: true };
    r.commit();
  };
  const line = (k: string, v: string): void => ws.addRow([k, v]).commit();
  heading('Release');
  line('Release id', info.releaseId);
  line('Title', first.releaseTitle);
  line('Source', first.source);
  line('Published data as of', first.updated);
  line('Protection regime', String(first.privacy.regime ?? ''));
  line('Guarantee', String(first.privacy.guarantee ?? ''));
  tables.forEach((t, i) => {
    ws.addRow([]).commit();
    heading(`Table ${t.table.plan.id} (sheet ${names[i]})`);
    line('Title', t.table.plan.title);
    if (t.table.plan.description) line('Description', t.table.plan.description);
    line('Measure', describeMeasure(t.table));
    if (t.table.plan.measure.unit !== undefined) line('Unit of measure', t.table.plan.measure.unit);
    line('Dimensions', t.table.plan.dimensions.map((d) => `${d.label} (${d.name})`).join(', '));
    for (const n of tableNotes(t.table, t.meta)) line('Note', n);
  });
  ws.addRow([]).commit();
  heading('Legend of the flags');
  for (const c of [...used.conf].sort()) line(`CONF_STATUS ${c}`, CONF_STATUS_LEGEND[c]);
  for (const o of [...used.obs].sort()) line(`OBS_STATUS ${o}`, OBS_STATUS_LEGEND[o]);
  line('Empty value', 'A suppressed cell has no value; its CONF_STATUS and Flag say why.');
  if (tables.some((t) => hasAccuracy(t.table))) for (const [k, v] of ACCURACY_NOTE) line(k, v);
  ws.commit();
}

/** An xlsx workbook of one or more tables of a release (see the header). */
export async function toXlsx(tables: readonly XlsxTable[], info: WorkbookInfo): Promise<Buffer> {
  if (tables.length === 0) throw new Error('an xlsx workbook needs at least one table');
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (b: Buffer) => chunks.push(b));
  const done = new Promise<void>((resolve, reject) => {
    sink.on('end', resolve);
    sink.on('error', reject);
  });
  const { default: excel } = await import('exceljs');
  const cells = tables.reduce((n, t) => n + selectionSize(t.table.plan.dimensions, t.sel), 0);
  const wb = new excel.stream.xlsx.WorkbookWriter({
    stream: sink,
    useSharedStrings: true,
    useStyles: cells <= STYLED_CELLS,
  });
  // Dated by the release, not by the request: the same query gives the same document properties.
  const updated = new Date(tables[0]!.meta.updated);
  wb.created = wb.modified = Number.isNaN(updated.getTime()) ? new Date(0) : updated;
  wb.creator = 'statguard';
  wb.title = tables[0]!.meta.releaseTitle;
  const used: Used = { conf: new Set(), obs: new Set() };
  const taken = new Set<string>();
  const names = tables.map((t) => {
    const n = sheetName(t.table.plan.id, taken);
    taken.add(n.toLowerCase());
    return n;
  });
  for (let i = 0; i < tables.length; i++) await addTableSheet(wb, tables[i]!, names[i]!, used);
  addNotesSheet(wb, tables, names, info, used);
  await wb.commit();
  await done;
  return Buffer.concat(chunks);
}
