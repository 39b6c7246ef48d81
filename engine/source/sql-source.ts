import { StatguardError } from '../errors.ts';
import type { ExactCell, ExactTable, Plan } from '../types.ts';
import { TOP_K, cellCount, strides } from '../types.ts';
import { randomBytes } from 'node:crypto';
import { POS_FACTOR, REASON_OF, buildSql, groupingMask } from './sql/index.ts';
import type {
  AggMode,
  AggStatement,
  BucketTops,
  CompiledSql,
  SqlFlavor,
  SqlQueryPlan,
  SqlRelation,
  UnitKey,
} from './sql/index.ts';
import type { AggregateContext, AggregateResult, AggregateStats } from './source.ts';

/**
 * What a pushdown source needs from a database connection: run one statement
 * (with bind parameters $1..) and return its rows as plain objects. Drivers
 * live in the adapters (pglite-source.ts, postgres-source.ts, duckdb-source.ts).
 */
export interface SqlExecutor {
  readonly flavor: SqlFlavor;
  query(text: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /**
   * Whether the typed rows may be materialised once in a session-local temporary table (default true). A Citus
   * coordinator sets false: a temporary table would pull every row to the coordinator.
   */
  readonly materialize?: boolean;
  /** Whether GROUP BY GROUPING SETS and GROUPING() may be used (default true). A Citus coordinator sets false (see sql/citus.ts). */
  readonly groupingSets?: boolean;
  /**
   * A PostgreSQL server that can read one table through several connections at once (postgres-source.ts). PostgreSQL runs
   * no GROUPING SETS aggregate in parallel, so a one-pass statement would use one core: instead each connection reads a
   * range of the table's heap blocks and the parts' rows are added up here (see `onePassRows`).
   */
  readonly parallel?: ParallelExecutor;
}

export interface ParallelExecutor {
  /**
   * Heap block boundaries [0, b1, ..., bn] of the relation: part i reads blocks [b_i, b_i+1), the last one to the end;
   * null: too small, or not a plain table, so one connection. Its length - 1 is also the number of unit parts.
   */
  blocks(): Promise<readonly number[] | null>;
  /**
   * `n` more connections, each inside a REPEATABLE READ transaction on the exported `snapshot` (every part sees the rows
   * the caller's transaction sees; READ ONLY when `readOnly`); `close` ends their transactions and disconnects.
   */
  sessions(
    snapshot: string,
    n: number,
    readOnly: boolean,
  ): Promise<{ readonly execs: readonly SqlExecutor[]; close(): Promise<void> }>;
}

/** hash_mem (work_mem * hash_mem_multiplier) the PostgreSQL one-pass statement is planned with (see withCellHashMem). */
const HASH_MEM_BYTES = 256 * 1024 * 1024;

/**
 * Run `f` (the one-pass statement: every group is a cell) with a larger hash_mem on PostgreSQL. PostgreSQL plans GROUPING
 * SETS as hash aggregates only when its estimate of their groups fits in hash_mem; it cannot estimate the level columns
 * (computed expressions: 200 distinct values each, so 40,000 groups per two-column set) and fell back to sorting every row
 * once per rollup (measured: about 2x slower at 1M rows). There the groups are cells (bounded by the policy, not by the
 * rows) and a hash aggregate spills beyond hash_mem anyway, so hash_mem is raised to 256 MB (hash_mem_multiplier;
 * work_mem, which bounds sorts, is unchanged) for that statement only, and restored. Not for the per-(unit, cell)
 * statements: their groups grow with the units, and there the larger hash table was slower (it spilled in batches).
 */
async function withCellHashMem<T>(exec: SqlExecutor, f: () => Promise<T>): Promise<T> {
  let restore: string | null = null;
  if (exec.flavor === 'postgres') {
    try {
      const before = String((await exec.query(`SELECT current_setting('hash_mem_multiplier') AS hm`, []))[0]?.hm);
      const after = String((await exec.query(cellHashMemSql(false), []))[0]?.hm);
      if (after !== before) restore = before;
    } catch {
      /* an engine without the setting: keep its plans */
    }
  }
  try {
    return await f();
  } finally {
    if (restore !== null)
      await exec.query(`SELECT set_config('hash_mem_multiplier', $1, false)`, [restore]).catch(() => {});
  }
}

/**
 * The statement raising hash_mem_multiplier so that hash_mem reaches HASH_MEM_BYTES (never lowering it; at most 1000x
 * work_mem), for the session (`local` false) or the transaction; it returns the value set as `hm`. One rule for
 * withCellHashMem, the connections reading in parts, and the benchmark's bare query (bench/scale-bench.ts).
 */
export function cellHashMemSql(local: boolean): string {
  return `SELECT set_config('hash_mem_multiplier', CAST(GREATEST(CAST(current_setting('hash_mem_multiplier') AS float8),
    LEAST(1000, ceil(${HASH_MEM_BYTES} / CAST(pg_size_bytes(current_setting('work_mem')) AS float8)))) AS text), ${local}) AS hm`;
}

/**
 * STATGUARD_SQL_TIMING=1 prints each statement's time and the start of its text to stderr, `full` the whole text (profiling;
 * SQL text only, never data: the bounding key is a bind parameter).
 */
const timing = process.env.STATGUARD_SQL_TIMING === '1' || process.env.STATGUARD_SQL_TIMING === 'full';
const timingFull = process.env.STATGUARD_SQL_TIMING === 'full';

export interface SqlInputInfo {
  readonly kind: AggregateStats['input']['kind'];
  /** File path, or schema.table. */
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
  /** Where errors point (file for file sources, schema.table otherwise). */
  readonly where: string;
}

const toInt = (v: unknown): number => {
  if (v === null || v === undefined) return 0;
  const n = Number(v);
  if (!Number.isFinite(n))
    throw new StatguardError('SOURCE_UNREADABLE', `database returned a non-numeric aggregate (${String(v)})`);
  return n;
};

/**
 * Run the pushdown statements for `plan` over `rel` and decode the cells into
 * ExactTables identical to the CSV path's (same conversion rules, bounding
 * hash, clamping and per-unit contributions). Guarantees are stated next to
 * the generated SQL in sql/.
 */
export async function aggregateSql(
  plan: Plan,
  ctx: AggregateContext,
  exec: SqlExecutor,
  rel: SqlRelation,
  input: SqlInputInfo,
): Promise<AggregateResult> {
  const ds = plan.dataset;
  if (ds.unit.holding || plan.tables.some((t) => t.measure.weight !== undefined)) {
    // Per-holding top contributions and sampling weights are computed by the streaming (csv) path only, for now.
    throw new StatguardError(
      'USAGE',
      `${ds.unit.holding ? `a holding column ("unit.holding")` : `a sampling weight ("dataset.weight")`} is supported by the csv source only for now; source kind ${JSON.stringify(ds.source.kind)} cannot use it`,
      { path: ds.unit.holding ? '/dataset/unit/holding' : '/dataset/weight' },
    );
  }
  if (plan.protection.regime === 'ckm') {
    // Cell keys (sums of per-unit record keys) are computed by the streaming (csv) path only, for now: refuse rather than differ.
    throw new StatguardError(
      'USAGE',
      `the cell key method (regime "ckm") is supported by the csv source only for now; source kind ${JSON.stringify(ds.source.kind)} cannot use it`,
      { path: '/protection/regime' },
    );
  }
  if (!Number.isInteger(ds.unit.maxRowsPerUnit) || ds.unit.maxRowsPerUnit < 1) {
    throw new StatguardError('POLICY_INVALID', `maxRowsPerUnit must be a positive integer`, {
      path: '/dataset/unit/maxRowsPerUnit',
    });
  }
  if (ds.unit.column !== null && ctx.boundingKey.length < 16) {
    throw new StatguardError('USAGE', `bounding key must have at least 16 bytes (got ${ctx.boundingKey.length})`);
  }
  const keyHex = Buffer.from(ctx.boundingKey).toString('hex');
  type Run = (c: CompiledSql) => Promise<Record<string, unknown>[]>;
  const runOn =
    (x: SqlExecutor): Run =>
    async (c) => {
      try {
        const t0 = timing ? performance.now() : 0;
        const rows = await x.query(c.sql, c.parameters);
        if (timing)
          process.stderr.write(
            `[sql ${((performance.now() - t0) / 1000).toFixed(3)} s] ${timingFull ? c.sql : c.sql.replace(/\s+/g, ' ').slice(0, 160)}\n`,
          );
        return rows;
      } catch (e) {
        if (e instanceof StatguardError) throw e;
        // Driver messages name tables and columns, never data values of protected cells.
        throw new StatguardError('SOURCE_UNREADABLE', `query on ${input.where} failed: ${(e as Error).message}`, {
          file: input.where,
        });
      }
    };
  const run = runOn(exec);
  // One conversion pass, materialised once in a temporary table (session-local, dropped at the end) when the engine allows it
  // and the plan has per-unit steps; a plan without a unit column runs everything in one statement over the relation.
  const typedTable =
    exec.materialize === false || ds.unit.column === null ? null : `sg_typed_${randomBytes(6).toString('hex')}`;
  const q = buildSql(plan, rel, exec.flavor, keyHex, {
    typedTable,
    fence: exec.materialize !== false,
    groupingSets: exec.groupingSets !== false,
  });

  // Reading in parts (a PostgreSQL server, `exec.parallel`): several connections on one snapshot (a REPEATABLE READ
  // transaction here, exported to the other connections and kept until every statement of this run has run). A plan
  // without a unit column splits its one-pass statement by heap block ranges; a plan with one splits its units (each part
  // builds its own typed temporary table of the units whose key falls in it, and runs every step on them). The parts'
  // rows are added up (mergePassRows).
  let inTransaction = false;
  let closeSessions: (() => Promise<void>) | null = null;
  const openParts = async (readOnly: boolean): Promise<{ bounds: readonly number[]; execs: SqlExecutor[] } | null> => {
    const par = exec.parallel;
    if (par === undefined || exec.flavor !== 'postgres' || exec.groupingSets === false || exec.materialize === false)
      return null;
    const bounds = await par.blocks();
    if (bounds === null || bounds.length < 3) return null;
    await exec.query(`BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ' READ ONLY' : ''}`, []);
    inTransaction = true;
    let snapshot: string;
    try {
      snapshot = String((await exec.query('SELECT pg_export_snapshot() AS s', []))[0]?.s ?? '');
    } catch {
      // A server that cannot export snapshots (a standby of an old version, a proxy): one part, one connection.
      await exec.query('ROLLBACK', []);
      inTransaction = false;
      return null;
    }
    const more = await par.sessions(snapshot, bounds.length - 2, readOnly).catch((e: unknown) => {
      throw new StatguardError(
        'SOURCE_UNREADABLE',
        `cannot open the connections reading ${input.where} in parts: ${(e as Error).message}`,
        { file: input.where },
      );
    });
    closeSessions = more.close;
    return { bounds, execs: [exec, ...more.execs] };
  };
  const hashMemPrelude = { sql: cellHashMemSql(true), parameters: [] };
  const onePassRows = async (): Promise<Record<string, unknown>[]> => {
    const parts = await openParts(true);
    if (parts === null) return withCellHashMem(exec, () => run(q.onePass!.sql));
    const { bounds, execs } = parts;
    const t0 = timing ? performance.now() : 0;
    const rows = await Promise.all(
      execs.map(async (x, i) => {
        const st = buildSql(plan, rel, exec.flavor, keyHex, {
          typedTable: null,
          fence: true,
          blocks: [bounds[i]!, i === execs.length - 1 ? null : bounds[i + 1]!],
        }).onePass!.sql;
        if (i === 0) return withCellHashMem(exec, () => run(st));
        await runOn(x)(hashMemPrelude);
        return runOn(x)(st);
      }),
    );
    if (timing)
      process.stderr.write(
        `[sql ${((performance.now() - t0) / 1000).toFixed(3)} s] one pass in ${execs.length} parts (blocks ${bounds.join(', ')})\n`,
      );
    return mergePassRows(rows);
  };
  // Plans with a unit column: one part per connection (one, unless the server reads in parts), each with its own
  // statements over its own units; `all` runs a statement of every part at once and adds up their rows.
  interface Part {
    readonly table: string | null;
    readonly q: SqlQueryPlan;
    readonly run: Run;
  }
  let parts: Part[] = [{ table: typedTable, q, run }];
  const all = async (f: (p: Part, i: number) => CompiledSql | null): Promise<Record<string, unknown>[]> => {
    const rows = await Promise.all(
      parts.map((p, i) => {
        const c = f(p, i);
        return c === null ? Promise.resolve([]) : p.run(c);
      }),
    );
    return parts.length === 1 ? rows[0]! : mergePassRows(rows);
  };

  ctx.onProgress?.({ stage: 'read', rows: 0, bytes: 0, totalBytes: input.bytes || null });
  try {
    if (typedTable !== null) {
      const split = await openParts(false);
      if (split !== null) {
        const n = split.execs.length;
        // Each part's temporary table has a name of its own (the others' are dropped with their connections).
        parts = split.execs.map((x, i) => {
          const table = i === 0 ? typedTable : `${typedTable}_${i}`;
          return {
            table,
            q: buildSql(plan, rel, exec.flavor, keyHex, {
              typedTable: table,
              fence: true,
              groupingSets: true,
              unitPart: [i, n],
            }),
            run: runOn(x),
          };
        });
      }
      await Promise.all(
        parts.map(async (p) => {
          await p.run({
            sql: `CREATE TEMPORARY TABLE ${p.table} AS ${p.q.typedSelect.sql}`,
            parameters: p.q.typedSelect.parameters,
          });
          if (exec.flavor === 'postgres') await p.run({ sql: `ANALYZE ${p.table}`, parameters: [] });
        }),
      );
    }
    // 1. Validation: counts per error code (typed conversion and domain checks, same order as RowConverter). One-pass plans
    // (no unit column) get them from the (e) grouping set of the single statement that also computes every cell.
    const passRows = q.onePass !== null ? await onePassRows() : null;
    const vrows =
      passRows !== null
        ? passRows.filter((r) => toInt(r.gv) === 0).map((r): Record<string, unknown> => ({ ...r, e: r.ev }))
        : await all((p) => p.q.validate);
    let rowsRead = 0;
    let rowsDropped = 0;
    let valid = 0;
    const dropReasons: Record<string, number> = {};
    for (const r of vrows) {
      const e = toInt(r.e);
      const n = toInt(r.n);
      rowsRead += n;
      if (e === 0) {
        valid += n;
        continue;
      }
      rowsDropped += n;
      const reason = REASON_OF[e % POS_FACTOR]!;
      dropReasons[reason] = (dropReasons[reason] ?? 0) + n;
    }
    if (rowsRead === 0)
      throw new StatguardError('EMPTY_INPUT', `microdata ${input.where} has no rows`, { file: input.where });
    if (rowsDropped > 0 && ds.onInvalidRow === 'error') throw await locateError(q, rel, run, input, rowsDropped);
    if (ds.onInvalidRow === 'error') {
      rowsDropped = 0;
    }

    // 2. Units: how many, and whether any exceeds maxRowsPerUnit (only then is the bounding window computed).
    ctx.onProgress?.({ stage: 'aggregate', rows: rowsRead, bytes: 0, totalBytes: input.bytes || null });
    let units = valid;
    let removed = 0;
    let bounded = false;
    let mode: AggMode = 'row';
    let key: UnitKey = 'u';
    if (q.unitStats !== null) {
      // Grouped by the integer unit key when the typed table has one; a collision (two unit ids, one key: possible, never
      // seen in practice) falls back to grouping by the unit id itself, so the figures are always exact.
      let u = (await all((p) => p.q.unitStats!(q.hasUnitKey)))[0] ?? {};
      if (q.hasUnitKey && toInt(u.collisions) === 0) key = 'uk';
      else if (q.hasUnitKey) u = (await all((p) => p.q.unitStats!(false)))[0] ?? {};
      units = toInt(u.units);
      removed = toInt(u.removed);
      bounded = toInt(u.big) > 0;
      // A unit with one valid row is its row: when no unit has two, per-unit contributions are row values.
      mode = toInt(u.maxn) > 1 ? 'units' : 'row';
    }
    // 3. Bounding, clamping and aggregation of every table and margin, in the database; only cells come back.
    const tables = emptyTables(q);
    let valuesClamped = 0;
    if (q.onePass !== null && passRows !== null) {
      // Cell groups with no valid row (made of invalid rows only) carry no cell: skipped.
      // Bucket rows (PostgreSQL tops, gb = 0) are not cells.
      const isBucket = (r: Record<string, unknown>): boolean => r.gb !== undefined && toInt(r.gb) === 0;
      decodeInto(
        tables,
        q,
        q.onePass,
        passRows.filter((r) => toInt(r.gv) === 1 && toInt(r.rows) > 0 && !isBucket(r)),
      );
      // PostgreSQL's top contributions: derived from the bucket maxima (reading rows again only where those do not determine
      // them), then set on the cells just decoded.
      for (const bt of q.onePass.bucketTops ?? []) {
        const topRows = await topsFromBuckets(bt, q.onePass, passRows.filter(isBucket), run);
        decodeInto(tables, q, q.onePass, topRows, true);
      }
      const done = new Set(q.onePass.sets);
      for (const st of q.statements('row', false))
        if (!st.sets.every((k) => done.has(k))) decodeInto(tables, q, st, await run(st.sql));
      const ok = passRows.find((r) => toInt(r.gv) === 0 && toInt(r.ev) === 0) ?? {};
      q.layout.clamps.forEach((_, ci) => {
        valuesClamped += toInt(ok[`clamped${ci}`]);
      });
    } else {
      // Every part builds the same statements (same plan, same decisions), over its own units.
      const perPart = parts.map((p) => p.q.statements(mode, bounded, key));
      for (const [j, st] of perPart[0]!.entries()) decodeInto(tables, q, st, await all((_, i) => perPart[i]![j]!.sql));
      const clampStats = parts.map((p) => p.q.clampStats(bounded, key));
      if (clampStats[0] !== null) {
        const r = (await all((_, i) => clampStats[i]!))[0] ?? {};
        q.layout.clamps.forEach((_, ci) => {
          valuesClamped += toInt(r[`clamped${ci}`]);
        });
      }
    }
    ctx.onProgress?.({ stage: 'done', rows: rowsRead, bytes: 0, totalBytes: input.bytes || null });
    return {
      tables: finish(tables),
      stats: {
        rowsRead,
        rowsDropped,
        dropReasons,
        rowsAfterBounding: valid - removed,
        rowsRemovedByBounding: removed,
        units,
        valuesClamped,
        input: { kind: input.kind, file: input.name, bytes: input.bytes, sha256: input.sha256 },
      },
    };
  } finally {
    await Promise.all(
      parts.map((p) =>
        p.table === null ? null : p.run({ sql: `DROP TABLE IF EXISTS ${p.table}`, parameters: [] }).catch(() => {}),
      ),
    );
    const close = closeSessions as (() => Promise<void>) | null;
    if (close !== null) await close().catch(() => {});
    if (inTransaction) await exec.query('COMMIT', []).catch(() => {});
  }
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
function mergePassRows(parts: readonly (readonly Record<string, unknown>[])[]): Record<string, unknown>[] {
  const additive = /^(n|units\d*|rows\d*|sum\d*|clamped\d*|big|removed|collisions)$/;
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

/**
 * Exact top contributions of every cell of `bt.sets` (TOP_K largest valid values, descending), as rows decodeInto reads
 * (`g<i>`, level columns, `top<ci>`), from the bucket rows of the one pass: per finest cell and bucket, the row count and
 * the largest value. The maxima are values of distinct rows. A finest cell's top is determined by them when
 * - it has at least TOP_K non-empty buckets and its TOP_K-th largest maximum is at least the maximum of every bucket
 *   holding more than one row (the rows not seen are at most their bucket's maximum, so none can enter the top; a tie
 *   gives the same values): the top is the TOP_K largest maxima; or
 * - every non-empty bucket holds one row (all its values are seen).
 * Otherwise the cell's rows at or above its TOP_K-th largest maximum (every row when it has fewer non-empty buckets) are
 * ranked by one more statement (`bt.fallback`), for the undetermined cells only. A coarser cell's top is the TOP_K
 * largest of its finest cells' tops (they partition its rows).
 */
async function topsFromBuckets(
  bt: BucketTops,
  st: AggStatement,
  bucketRows: readonly Record<string, unknown>[],
  run: (c: CompiledSql) => Promise<Record<string, unknown>[]>,
): Promise<Record<string, unknown>[]> {
  const ci = bt.clamp;
  // A finest cell's level values (node indices; NULL below a shallow leaf), from a bucket row (by column name) or a fallback
  // row (p0, p1, ..., NULL sent and returned as -1).
  const keyOf = (r: Record<string, unknown>, fallbackRow = false): (number | null)[] =>
    bt.cols.map((c, j) => {
      const v = r[fallbackRow ? `p${j}` : c];
      if (v === null || v === undefined) return null;
      const x = toInt(v);
      return fallbackRow && x === -1 ? null : x;
    });
  const finest = new Map<string, { key: (number | null)[]; buckets: { n: number; max: number }[] }>();
  for (const r of bucketRows) {
    const n = toInt(r[`rows${ci}`]);
    if (n === 0) continue; // invalid rows only
    const key = keyOf(r);
    const k = key.join(',');
    let f = finest.get(k);
    if (f === undefined) {
      f = { key, buckets: [] };
      finest.set(k, f);
    }
    f.buckets.push({ n, max: toInt(r[`mx${ci}`]) });
  }
  const tops = new Map<string, number[]>();
  const pending: { key: (number | null)[]; threshold: number | null }[] = [];
  for (const [k, f] of finest) {
    const maxima = f.buckets.map((b) => b.max).sort((a, b) => b - a);
    const multi = f.buckets.filter((b) => b.n > 1).map((b) => b.max);
    if (maxima.length >= TOP_K ? multi.every((m) => maxima[TOP_K - 1]! >= m) : multi.length === 0)
      tops.set(k, maxima.slice(0, TOP_K));
    else pending.push({ key: f.key, threshold: maxima.length >= TOP_K ? maxima[TOP_K - 1]! : null });
  }
  if (pending.length > 0) {
    for (const r of await run(bt.fallback(pending)))
      tops.set(keyOf(r, true).join(','), parseList(r.top).slice(0, TOP_K));
  }
  // Every cell of the sets: the TOP_K largest of its finest cells' tops.
  const out = new Map<string, { row: Record<string, unknown>; values: number[] }>();
  for (const setKey of bt.sets) {
    const grouped = new Set(setKey === '' ? [] : setKey.split(','));
    const g: Record<string, number> = {};
    st.chunks.forEach((chunk, i) => {
      g[`g${i}`] = groupingMask(chunk, grouped);
    });
    for (const [k, f] of finest) {
      // A grouped level that is NULL for this finest cell (a leaf above that level) has no cell in this set.
      if (bt.cols.some((c, j) => grouped.has(c) && f.key[j] === null)) continue;
      const cellKey = `${setKey}|${bt.cols.map((c, j) => (grouped.has(c) ? f.key[j] : '*')).join(',')}`;
      let acc = out.get(cellKey);
      if (acc === undefined) {
        const row: Record<string, unknown> = { ...g };
        for (const c of st.cols) row[c.name] = null;
        bt.cols.forEach((c, j) => {
          if (grouped.has(c)) row[c] = f.key[j];
        });
        acc = { row, values: [] };
        out.set(cellKey, acc);
      }
      acc.values.push(...(tops.get(k) ?? []));
    }
  }
  return [...out.values()].map(({ row, values }) => ({
    ...row,
    [`top${ci}`]: `{${values
      .sort((a, b) => b - a)
      .slice(0, TOP_K)
      .join(',')}}`,
  }));
}

async function locateError(
  q: SqlQueryPlan,
  rel: SqlRelation,
  run: (c: CompiledSql) => Promise<Record<string, unknown>[]>,
  input: SqlInputInfo,
  count: number,
): Promise<StatguardError> {
  const rows = await run(q.locate);
  const r = rows[0];
  if (!r) return new StatguardError('ROW_INVALID', `invalid rows in ${input.where}`, { file: input.where });
  const e = toInt(r.e);
  const pos = Math.floor(e / POS_FACTOR);
  const reason = REASON_OF[e % POS_FACTOR]!;
  const column = q.positionColumn[pos]!;
  // The raw value of the failing column of that row (the officer's own input; secure zone only).
  const value = typeof r.raw === 'string' ? r.raw : undefined;
  const line = r.ln !== null && r.ln !== undefined ? toInt(r.ln) : undefined;
  const which = rel.rowNumberColumn !== null ? `first invalid row (by ${rel.rowNumberColumn})` : 'an invalid row';
  return new StatguardError('ROW_INVALID', `invalid row (${reason}): ${which} of ${count} in ${input.where}`, {
    file: input.where,
    ...(line !== undefined ? { line } : {}),
    column,
    ...(value !== undefined ? { value } : {}),
  });
}

/** Set key (sorted grouped level columns) of an output row, from its GROUPING() chunks. */
function setKeyOf(chunks: readonly (readonly string[])[], r: Record<string, unknown>): string {
  const grouped: string[] = [];
  chunks.forEach((chunk, i) => {
    const g = toInt(r[`g${i}`]);
    // GROUPING(a, b, c): bit set (1) when the column is NOT grouped; the last argument is the lowest bit.
    chunk.forEach((name, j) => {
      if (((g >> (chunk.length - 1 - j)) & 1) === 0) grouped.push(name);
    });
  });
  return grouped.sort().join(',');
}

/** A text list of integers from the database: DuckDB "[9, 7]" or PostgreSQL "{9,7}" (NULL: empty). */
function parseList(v: unknown): number[] {
  if (v === null || v === undefined) return [];
  const s = String(v)
    .replace(/^[[{]|[\]}]$/g, '')
    .trim();
  return s === '' ? [] : s.split(',').map((x) => toInt(x.trim()));
}

interface TableAcc {
  readonly b: SqlQueryPlan['layout']['tables'][number];
  readonly cells: (ExactCell | undefined)[];
  readonly st: number[];
  readonly codeMaps: Map<string, number>[];
}

function emptyTables(q: SqlQueryPlan): TableAcc[] {
  return q.layout.tables.map((b) => ({
    b,
    cells: new Array<ExactCell | undefined>(cellCount(b.plan.dimensions)),
    st: strides(b.plan.dimensions),
    codeMaps: b.plan.dimensions.map((d) => new Map(d.nodes.map((x, i) => [x.code, i] as const))),
  }));
}

function decodeInto(
  out: TableAcc[],
  q: SqlQueryPlan,
  st: AggStatement,
  rows: readonly Record<string, unknown>[],
  topsOnly = false,
): void {
  const layout = q.layout;
  const colByName = new Map(st.cols.map((c) => [c.name, c] as const));
  for (const r of rows) {
    const key = setKeyOf(st.chunks, r);
    const set = q.sets.get(key);
    if (!set || !st.sets.includes(key)) continue;
    for (const ti of set.tables) {
      const t = out[ti]!;
      const b = t.b;
      let idx = 0;
      b.plan.dimensions.forEach((dim, d) => {
        const vi = b.dimVar[d]!;
        const colName = set.cols.find((c) => colByName.get(c)!.variable === vi);
        let node: number;
        if (colName === undefined) node = dim.total!;
        else {
          const canonNode = toInt(r[colName]);
          const code = q.canon[vi]!.dim.nodes[canonNode]!.code;
          node = t.codeMaps[d]!.get(code)!;
        }
        idx += node * t.st[d]!;
      });
      let cell: ExactCell;
      if (topsOnly) {
        // Only the top contributions of a cell decoded before (sum tables whose clamp this row carries).
        const prev = t.cells[idx];
        const v = b.clamp >= 0 ? r[`top${b.clamp}`] : null;
        if (prev === undefined || v === null || v === undefined) continue;
        t.cells[idx] = { ...prev, top: parseList(v).slice(0, Math.min(prev.units, TOP_K)) };
        continue;
      }
      if (b.clamp < 0) {
        const units = toInt(r.units);
        cell = { units, rows: toInt(r.rows), sum: units, top: new Array<number>(Math.min(units, TOP_K)).fill(1) };
      } else {
        const ci = b.clamp;
        const units = toInt(r[`units${ci}`]);
        const rowsN = toInt(r[`rows${ci}`]);
        const sum = toInt(r[`sum${ci}`]);
        const c = layout.clamps[ci]!;
        // Exactness, as in the CSV path: a cell's sum is bounded by rows * max(|L|,|U|), checked against 2^53.
        if (rowsN * Math.max(Math.abs(c.lower), Math.abs(c.upper)) > Number.MAX_SAFE_INTEGER) {
          throw new StatguardError(
            'ARITHMETIC_OVERFLOW',
            `table ${JSON.stringify(b.plan.id)}: a cell sums ${rowsN} rows with bound ${Math.max(Math.abs(c.lower), Math.abs(c.upper))}, beyond exact integer range (2^53); lower the bounds or decimals`,
          );
        }
        // top: the TOP_K largest per-unit contributions, descending (the database sorted them).
        const top = parseList(r[`top${ci}`]).slice(0, Math.min(units, TOP_K));
        cell = { units, rows: rowsN, sum: sum + 0, top };
      }
      t.cells[idx] = cell;
    }
  }
}

function finish(out: TableAcc[]): ExactTable[] {
  return out.map((t) => ({
    kind: 'exact' as const,
    plan: t.b.plan,
    cells: Array.from(t.cells, (c) => c ?? { units: 0, rows: 0, sum: 0, top: [] }),
  }));
}
