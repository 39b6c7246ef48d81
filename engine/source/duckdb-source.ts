/**
 * DuckDB source: CSV and Parquet files (or a loaded table) read by embedded DuckDB and aggregated by the generated SQL
 * (flavour 'duckdb'); identical tables to the CSV path.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import { requireColumns } from './pg-relation.ts';
import type { SqlRelation } from './sql/index.ts';
import { aggregateSql } from './sql-source.ts';
import type { SqlExecutor } from './sql-executor.ts';
import type { AggregateContext, AggregateResult, Source } from './source.ts';

/** The part of a DuckDB connection (@duckdb/node-api) this source uses. */
export interface DuckdbConnectionLike {
  runAndReadAll(text: string, values?: unknown[]): Promise<{ getRowObjectsJS(): Record<string, unknown>[] }>;
}

export interface DuckdbSourceOptions {
  /** An open connection (kept open; tests), or absent to open an in-memory instance per run. */
  readonly connection?: DuckdbConnectionLike;
  /**
   * DuckDB memory_limit for an instance opened here (default `defaultDuckdbMemoryLimit(threads)`: 200 MB per thread, at least
   * 400 MB): larger intermediates spill to a temp directory.
   */
  readonly memoryLimit?: string;
  /** DuckDB threads (default: the number of cores). */
  readonly threads?: number;
  /** Read the rows of this table/view of `connection` instead of the plan's file (tests: same SQL on a loaded table). */
  readonly table?: string;
  /** With `table`: a column numbering the rows, to locate the first invalid row. */
  readonly rowNumberColumn?: string;
}

/**
 * Default DuckDB memory_limit: 200 MB per thread, at least 400 MB (was 1GB). DuckDB holds more than its limit (hash
 * aggregate state outside the buffer manager), and a larger limit let the per-(unit, cell) aggregates grow with the rows
 * before spilling: household unit, 2 threads, 1M -> 10M rows (bench/scale-bench.ts policy, dp release, peak RSS of the
 * process, time at 10M, load 2-3, single runs): 1GB 494 -> 1,457-1,506 MB, 54-56 s; 600MB 539 -> 1,005 MB, 54 s; 512MB
 * 481 -> 982 MB, 50 s; 400MB 523 -> 746-813 MB, 33-43 s; 256MB 482 -> 637 MB, 32 s. Not lower: some DuckDB operators do
 * not spill (count(DISTINCT) under GROUPING SETS ran out of memory at 256MB and 512MB; the release does not use it, but a
 * policy may need headroom). Per thread so that many threads keep room for their own hash tables.
 */
export function defaultDuckdbMemoryLimit(threads: number): string {
  return `${Math.max(400, 200 * threads)}MB`;
}

export function duckdbExecutor(conn: DuckdbConnectionLike): SqlExecutor {
  return {
    flavor: 'duckdb',
    query: async (text, params) =>
      (await conn.runAndReadAll(text, params.length > 0 ? [...params] : undefined)).getRowObjectsJS(),
  };
}

const strLit = (s: string): RawBuilder<unknown> => sql.lit(s) as RawBuilder<unknown>;

/**
 * Large CSV and Parquet files through the embedded analytical engine
 * (DuckDB): the same generated SQL as PostgreSQL (sql/, flavor
 * 'duckdb'). CSV files are read with every column as text (all_varchar), so
 * the typed conversion rules are exactly the streaming path's; Parquet
 * columns are cast to text first (integers and decimals print as plain
 * decimal text). DuckDB spills large sorts and aggregations to disk
 * (temp_directory) under `memoryLimit`; its peak still ends some hundreds of MB above the limit
 * with a unit column at 10M rows (hash aggregate state; measured in PERFORMANCE.md).
 */
export function duckdbSource(opts: DuckdbSourceOptions = {}): Source {
  return {
    kind: 'duckdb',
    aggregate: async (plan: Plan, ctx: AggregateContext): Promise<AggregateResult> => {
      const src = plan.dataset.source;
      if (src.kind !== 'parquet' && src.kind !== 'csv-duckdb' && opts.table === undefined) {
        throw new StatguardError('USAGE', `duckdbSource cannot read a ${src.kind} source`);
      }
      let conn = opts.connection;
      let close = (): void => {};
      let tmp: string | null = null;
      if (conn === undefined) {
        const { DuckDBInstance } = await import('@duckdb/node-api');
        const threads = opts.threads ?? Math.max(1, os.availableParallelism());
        tmp = mkdtempSync(path.join(os.tmpdir(), 'statguard-duckdb-'));
        // Bounded memory: intermediates and the typed temporary table spill to `tmp` beyond memory_limit; insertion order
        // is never relied on (every result is keyed by its cell), so DuckDB may stream and parallelise freely.
        const inst = await DuckDBInstance.create(':memory:', {
          memory_limit: opts.memoryLimit ?? defaultDuckdbMemoryLimit(threads),
          temp_directory: tmp,
          preserve_insertion_order: 'false',
          threads: String(threads),
        });
        const c = await inst.connect();
        conn = c as unknown as DuckdbConnectionLike;
        close = () => {
          c.closeSync();
          inst.closeSync();
        };
      }
      try {
        const exec = duckdbExecutor(conn);
        if (opts.table !== undefined) {
          const rel: SqlRelation = {
            from: sql.id(opts.table) as unknown as RawBuilder<unknown>,
            rowNumberColumn: opts.rowNumberColumn ?? null,
          };
          const cols = await exec.query(
            `SELECT column_name AS name FROM information_schema.columns WHERE table_name = $1`,
            [opts.table],
          );
          requireColumns(new Set(cols.map((r) => String(r.name))), plan, opts.table, rel.rowNumberColumn);
          return await aggregateSql(plan, ctx, exec, rel, {
            kind: 'csv-duckdb',
            name: opts.table,
            bytes: 0,
            sha256: '',
            where: opts.table,
          });
        }
        if (src.kind !== 'parquet' && src.kind !== 'csv-duckdb')
          throw new StatguardError('USAGE', `duckdbSource cannot read a ${src.kind} source`);
        const file = src.path;
        let bytes: number;
        try {
          const st = statSync(file);
          if (!st.isFile()) throw new Error('not a regular file');
          bytes = st.size;
        } catch (e) {
          throw new StatguardError('SOURCE_UNREADABLE', `cannot read microdata file ${file}: ${(e as Error).message}`, {
            file,
          });
        }
        if (bytes === 0) throw new StatguardError('EMPTY_INPUT', `microdata file ${file} is empty`, { file });
        const from =
          src.kind === 'parquet'
            ? sql`read_parquet(${strLit(file)})`
            : sql`read_csv(${strLit(file)}, header = true, all_varchar = true, delim = ${strLit(src.delimiter)}, quote = '"', escape = '"')`;
        const rel: SqlRelation = { from: from as RawBuilder<unknown>, rowNumberColumn: null };
        // Fingerprint the file while the database works (manifest: same SHA-256 as the streaming path).
        const digest = sha256File(file);
        digest.catch(() => {});
        const cols = await exec.query(
          `SELECT column_name AS name FROM (DESCRIBE SELECT * FROM ${from.compile(describeCompiler).sql})`,
          [],
        );
        requireColumns(new Set(cols.map((r) => String(r.name))), plan, file, null);
        const res = await aggregateSql(plan, ctx, exec, rel, {
          kind: src.kind,
          name: file,
          bytes,
          sha256: '',
          where: file,
        });
        res.stats.input = { ...res.stats.input, sha256: await digest };
        return res;
      } finally {
        close();
        if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
}

const describeCompiler = new Kysely<Record<string, never>>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
