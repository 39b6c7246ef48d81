/**
 * Shared helpers of the SQL source tests: example policies as plans, fixture
 * CSVs loaded into a database table with the same column names (text
 * columns, plus _line = the CSV line of the row), sources per engine.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'fast-csv';
import { createReadStream } from 'node:fs';
import { planPolicy, validatePolicy } from '../../engine/policy/index.ts';
import type { PolicyDoc } from '../../engine/policy/index.ts';
import type { CsvSourcePlan, ExactCell, ExactTable, Plan, SourcePlan } from '../../engine/types.ts';
import { planUsesTop } from '../../engine/source/sql/index.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const KEY = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 255);

export function examplePolicies(): string[] {
  return readdirSync(path.join(ROOT, 'policies'))
    .filter((f) => f.endsWith('.json') && f !== 'policy.schema.json')
    .map((f) => path.join(ROOT, 'policies', f));
}

export function planFromDoc(doc: PolicyDoc, policyPath: string): Plan {
  const v = validatePolicy(doc);
  if (!v.ok) throw new Error(`policy invalid: ${JSON.stringify(v.errors)}`);
  return planPolicy(v.policy, {
    policyPath,
    policySha256: createHash('sha256').update(JSON.stringify(doc)).digest('hex'),
  });
}

export function loadPlan(file: string): Plan {
  return planFromDoc(JSON.parse(readFileSync(file, 'utf8')) as PolicyDoc, file);
}

/** The same plan reading another source. */
export function withSource(plan: Plan, source: SourcePlan): Plan {
  return { ...plan, dataset: { ...plan.dataset, source } };
}

export function csvOf(plan: Plan): CsvSourcePlan {
  const s = plan.dataset.source;
  if (s.kind !== 'csv') throw new Error('not a csv plan');
  return s;
}

/** Header and records of a CSV file, each record with its physical line. */
export async function readCsv(
  file: string,
  delimiter = ',',
): Promise<{ header: string[]; rows: { line: number; fields: string[] }[] }> {
  const rows: { line: number; fields: string[] }[] = [];
  let header: string[] | null = null;
  let line = 1;
  await new Promise<void>((resolve, reject) => {
    createReadStream(file)
      .pipe(parse({ headers: false, delimiter, ignoreEmpty: false }))
      .on('data', (f: string[]) => {
        const at = line;
        line += 1 + f.reduce((n, x) => n + (x.split('\n').length - 1), 0);
        if (header === null) {
          header = f.map((h, i) => (i === 0 ? h.replace(/^\uFEFF/, '') : h).trim());
          return;
        }
        if (f.length === 1 && f[0] === '') return;
        rows.push({ line: at, fields: f });
      })
      .on('error', reject)
      .on('end', () => resolve());
  });
  return { header: header ?? [], rows };
}

export interface SqlLike {
  query(text: string, params?: unknown[], opts?: { blob?: Blob }): Promise<unknown>;
}

/** Bulk-load method: PGlite COPY from a blob, DuckDB COPY from a temp file, or batched INSERTs (any server). */
export type LoadMethod = { kind: 'pglite' } | { kind: 'duckdb'; tmpFile: string } | { kind: 'insert' };

const csvField = (v: string | number): string => `"${String(v).replace(/"/g, '""')}"`;

/** Only the columns a plan reads (declared columns and the unit column), in header order: keeps test loads small. */
export function planColumns(plan: Plan, header: readonly string[]): string[] {
  const want = new Set(plan.dataset.columns.map((c) => c.name));
  if (plan.dataset.unit.column !== null) want.add(plan.dataset.unit.column);
  return header.filter((h) => want.has(h));
}

const q = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** Create `table` (text columns + _line bigint) with the given columns of the records and load them. */
export async function loadTable(
  db: SqlLike,
  table: string,
  header: readonly string[],
  rows: readonly { line: number; fields: readonly string[] }[],
  method: LoadMethod,
  columns: readonly string[] = header,
): Promise<void> {
  const idx = columns.map((c) => header.indexOf(c));
  const type = method.kind === 'duckdb' ? 'varchar' : 'text';
  await db.query(`DROP TABLE IF EXISTS ${q(table)}`);
  await db.query(`CREATE TABLE ${q(table)} (_line bigint, ${columns.map((h) => `${q(h)} ${type}`).join(', ')})`);
  if (method.kind !== 'insert') {
    const text =
      rows.map((r) => [r.line, ...idx.map((i) => r.fields[i] ?? '')].map(csvField).join(',')).join('\n') + '\n';
    if (method.kind === 'pglite') {
      await db.query(`COPY ${q(table)} FROM '/dev/blob' WITH (FORMAT csv)`, [], { blob: new Blob([text]) });
    } else {
      writeFileSync(method.tmpFile, text);
      await db.query(`COPY ${q(table)} FROM '${method.tmpFile.replace(/'/g, "''")}' (FORMAT csv, HEADER false)`);
    }
    return;
  }
  const width = columns.length + 1;
  const batch = Math.max(1, Math.floor(30000 / width));
  for (let i = 0; i < rows.length; i += batch) {
    const chunk = rows.slice(i, i + batch);
    const params: unknown[] = [];
    const tuples = chunk.map((r) => {
      const ph: string[] = [];
      params.push(r.line);
      ph.push(`$${params.length}`);
      for (const c of idx) {
        params.push(r.fields[c] ?? null);
        ph.push(`$${params.length}`);
      }
      return `(${ph.join(', ')})`;
    });
    await db.query(`INSERT INTO ${q(table)} VALUES ${tuples.join(', ')}`, params);
  }
}

/**
 * The cells a SQL source must return for `plan`, from the CSV path's tables: identical, except that the top contributions
 * of sum cells are empty when the plan reads none (no sdc magnitude rule, not ckm: the SQL sources do not compute them).
 */
export function expectedCells(plan: Plan, tables: readonly ExactTable[]): ExactCell[][] {
  const drop = !planUsesTop(plan);
  return tables.map((tb) =>
    drop && tb.plan.measure.kind !== 'count' ? tb.cells.map((c) => ({ ...c, top: [] })) : [...tb.cells],
  );
}
