/**
 * Reading in parts (a PostgreSQL server, `SqlExecutor.parallel`): several connections on one snapshot (a REPEATABLE READ
 * transaction on the source's connection, exported to the others and kept until every statement of the run has run).
 * A plan without a unit column splits its one-pass statement by heap block ranges; a plan with one splits its units
 * (each part builds its own typed temporary table of the units whose key falls in it, and runs every step on them). The
 * parts' rows are added up by `mergePassRows`.
 */
import { StatguardError } from '../errors.ts';
import { TOP_K } from '../types.ts';
import { parseList } from './sql-decode.ts';
import type { SqlExecutor, SqlInputInfo } from './sql-executor.ts';
import { cellHashMemSql, runOn, timing, toInt, withCellHashMem } from './sql-run.ts';
import type { Run } from './sql-run.ts';
import type { BuildSqlOptions, CompiledSql, SqlQueryPlan } from './sql/index.ts';

/** The connections of one run: the source's own, plus those opened to read in parts (see `open`). */
export class PartSession {
  private inTransaction = false;
  private closeSessions: (() => Promise<void>) | null = null;

  constructor(
    private readonly exec: SqlExecutor,
    private readonly input: SqlInputInfo,
  ) {}

  /**
   * Opens the snapshot and the other connections when the server reads in parts: the heap block boundaries and one
   * executor per part (the source's own first), or null (one part, nothing opened).
   */
  async open(readOnly: boolean): Promise<{ bounds: readonly number[]; execs: SqlExecutor[] } | null> {
    const { exec, input } = this;
    const par = exec.parallel;
    if (par === undefined || exec.flavor !== 'postgres' || exec.groupingSets === false || exec.materialize === false)
      return null;
    const bounds = await par.blocks();
    if (bounds === null || bounds.length < 3) return null;
    await exec.query(`BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ' READ ONLY' : ''}`, []);
    this.inTransaction = true;
    let snapshot: string;
    try {
      snapshot = String((await exec.query('SELECT pg_export_snapshot() AS s', []))[0]?.s ?? '');
    } catch {
      // A server that cannot export snapshots (a standby of an old version, a proxy): one part, one connection.
      await exec.query('ROLLBACK', []);
      this.inTransaction = false;
      return null;
    }
    const more = await par.sessions(snapshot, bounds.length - 2, readOnly).catch((e: unknown) => {
      throw new StatguardError(
        'SOURCE_UNREADABLE',
        `cannot open the connections reading ${input.where} in parts: ${(e as Error).message}`,
        { file: input.where },
      );
    });
    this.closeSessions = more.close;
    return { bounds, execs: [exec, ...more.execs] };
  }

  /** Closes the other connections and ends the snapshot's transaction (errors ignored: cleanup). */
  async close(): Promise<void> {
    const close = this.closeSessions;
    if (close !== null) await close().catch(() => {});
    if (this.inTransaction) await this.exec.query('COMMIT', []).catch(() => {});
  }
}

/**
 * The rows of the one-pass statement (no unit column): in one statement on the source's connection, or in heap block
 * ranges over the session's connections, added up. `build` gives the statements for other options.
 */
export async function onePassRows(
  session: PartSession,
  exec: SqlExecutor,
  input: SqlInputInfo,
  q: SqlQueryPlan,
  build: (opts: BuildSqlOptions) => SqlQueryPlan,
): Promise<Record<string, unknown>[]> {
  const run = runOn(exec, input);
  const parts = await session.open(true);
  if (parts === null) return withCellHashMem(exec, () => run(q.onePass!.sql));
  const { bounds, execs } = parts;
  const hashMemPrelude = { sql: cellHashMemSql(true), parameters: [] };
  const t0 = timing ? performance.now() : 0;
  const rows = await Promise.all(
    execs.map(async (x, i) => {
      const st = build({
        typedTable: null,
        fence: true,
        blocks: [bounds[i]!, i === execs.length - 1 ? null : bounds[i + 1]!],
      }).onePass!.sql;
      if (i === 0) return withCellHashMem(exec, () => run(st));
      await runOn(x, input)(hashMemPrelude);
      return runOn(x, input)(st);
    }),
  );
  if (timing)
    process.stderr.write(
      `[sql ${((performance.now() - t0) / 1000).toFixed(3)} s] one pass in ${execs.length} parts (blocks ${bounds.join(', ')})\n`,
    );
  return mergePassRows(rows);
}

/** One part of a plan with a unit column: its typed temporary table, statements and connection. */
export interface Part {
  readonly table: string | null;
  readonly q: SqlQueryPlan;
  readonly run: Run;
}

/**
 * The parts of a plan with a materialised typed table: one (the source's connection), or one per connection of the
 * session, each over its own units with a typed table of its own name (the others' are dropped with their connections).
 */
export async function unitParts(
  session: PartSession,
  first: Part,
  typedTable: string,
  input: SqlInputInfo,
  build: (opts: BuildSqlOptions) => SqlQueryPlan,
): Promise<Part[]> {
  const split = await session.open(false);
  if (split === null) return [first];
  const n = split.execs.length;
  return split.execs.map((x, i) => {
    const table = i === 0 ? typedTable : `${typedTable}_${i}`;
    return {
      table,
      q: build({ typedTable: table, fence: true, groupingSets: true, unitPart: [i, n] }),
      run: runOn(x, input),
    };
  });
}

/** Runs a statement of every part at once (null: none for that part) and adds up their rows. */
export async function runAll(
  parts: readonly Part[],
  f: (p: Part, i: number) => CompiledSql | null,
): Promise<Record<string, unknown>[]> {
  const rows = await Promise.all(
    parts.map((p, i) => {
      const c = f(p, i);
      return c === null ? Promise.resolve([]) : p.run(c);
    }),
  );
  return parts.length === 1 ? rows[0]! : mergePassRows(rows);
}

/**
 * The rows of one statement run in parts (each over its own rows, or its own units), as if run once. Rows of the same group
 * (every column but the aggregates) are combined: counts and sums added exactly (BigInt), including the unit statistics
 * (the parts hold disjoint units), the largest unit's row count and the first invalid row's number taken across parts,
 * top lists (`top<i>`, each a part's largest values) merged into the TOP_K largest. Bucket rows (`gb` = 0) stay rows of
 * their own, the part prefixed to their bucket (`bv`): the parts partition the rows, so a part's bucket is still a block
 * of a partition of each cell's rows (topsFromBuckets); their maxima (`mx<i>`, read from bucket rows only) are never
 * combined.
 */
export function mergePassRows(parts: readonly (readonly Record<string, unknown>[])[]): Record<string, unknown>[] {
  const additive = /^(n|units\d*|rows\d*|sum\d*|clamped\d*|big|removed|trimmed|collisions)$/;
  const largest = /^maxn$/;
  const smallest = /^first$/;
  const topList = /^top\d+$/;
  const aggregate = (k: string): boolean =>
    additive.test(k) || largest.test(k) || smallest.test(k) || topList.test(k) || /^mx\d+$/.test(k);
  const out = new Map<string, Record<string, unknown>>();
  parts.forEach((rows, p) => {
    for (const r0 of rows) {
      const r = r0.gb !== undefined && toInt(r0.gb) === 0 ? { ...r0, bv: `${p}.${String(r0.bv)}` } : r0;
      const key = JSON.stringify(
        Object.entries(r)
          .filter(([k]) => !aggregate(k))
          .sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      const prev = out.get(key);
      if (prev === undefined) {
        out.set(key, { ...r });
        continue;
      }
      for (const [k, v] of Object.entries(r)) {
        if (v === null || v === undefined) continue;
        const was = prev[k];
        if (was === null || was === undefined) {
          prev[k] = v;
          continue;
        }
        if (additive.test(k)) prev[k] = String(BigInt(String(was)) + BigInt(String(v)));
        else if (largest.test(k)) prev[k] = BigInt(String(v)) > BigInt(String(was)) ? v : was;
        else if (smallest.test(k)) prev[k] = BigInt(String(v)) < BigInt(String(was)) ? v : was;
        else if (topList.test(k))
          prev[k] = `{${[...parseList(was), ...parseList(v)]
            .sort((a, b) => b - a)
            .slice(0, TOP_K)
            .join(',')}}`;
      }
    }
  });
  return [...out.values()];
}
