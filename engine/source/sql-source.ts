import { StatguardError } from '../errors.ts';
import type { ExactCell, ExactTable, Plan } from '../types.ts';
import { TOP_K, cellCount, strides } from '../types.ts';
import { randomBytes } from 'node:crypto';
import { POS_FACTOR, REASON_OF, buildSql } from './sql-builder.ts';
import type { AggMode, AggStatement, SqlFlavor, SqlQueryPlan, SqlRelation, UnitKey } from './sql-builder.ts';
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
  /** Whether GROUP BY GROUPING SETS and GROUPING() may be used (default true). A Citus coordinator sets false (see sql-builder.ts). */
  readonly groupingSets?: boolean;
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
      const r = (await exec.query(`SELECT current_setting('hash_mem_multiplier') AS hm, pg_size_bytes(current_setting('work_mem')) AS wm`, []))[0] ?? {};
      const hm = Number(r.hm); const wm = Number(r.wm);
      const want = Math.min(1000, Math.ceil(HASH_MEM_BYTES / wm));
      if (Number.isFinite(hm) && Number.isFinite(wm) && wm > 0 && want > hm) {
        await exec.query(`SELECT set_config('hash_mem_multiplier', $1, false)`, [String(want)]);
        restore = String(r.hm);
      }
    } catch { /* an engine without the setting: keep its plans */ }
  }
  try {
    return await f();
  } finally {
    if (restore !== null) await exec.query(`SELECT set_config('hash_mem_multiplier', $1, false)`, [restore]).catch(() => {});
  }
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
  if (!Number.isFinite(n)) throw new StatguardError('SOURCE_UNREADABLE', `database returned a non-numeric aggregate (${String(v)})`);
  return n;
};

/**
 * Run the pushdown statements for `plan` over `rel` and decode the cells into
 * ExactTables identical to the CSV path's (same conversion rules, bounding
 * hash, clamping and per-unit contributions). Guarantees are stated next to
 * the generated SQL in sql-builder.ts.
 */
export async function aggregateSql(plan: Plan, ctx: AggregateContext, exec: SqlExecutor, rel: SqlRelation, input: SqlInputInfo): Promise<AggregateResult> {
  const ds = plan.dataset;
  if (ds.unit.holding || plan.tables.some((t) => t.measure.weight !== undefined)) {
    // Per-holding top contributions and sampling weights are computed by the streaming (csv) path only, for now.
    throw new StatguardError('USAGE', `${ds.unit.holding ? `a holding column ("unit.holding")` : `a sampling weight ("dataset.weight")`} is supported by the csv source only for now; source kind ${JSON.stringify(ds.source.kind)} cannot use it`, { path: ds.unit.holding ? '/dataset/unit/holding' : '/dataset/weight' });
  }
  if (plan.protection.regime === 'ckm') {
    // Cell keys (sums of per-unit record keys) are computed by the streaming (csv) path only, for now: refuse rather than differ.
    throw new StatguardError('USAGE', `the cell key method (regime "ckm") is supported by the csv source only for now; source kind ${JSON.stringify(ds.source.kind)} cannot use it`, { path: '/protection/regime' });
  }
  if (!Number.isInteger(ds.unit.maxRowsPerUnit) || ds.unit.maxRowsPerUnit < 1) {
    throw new StatguardError('POLICY_INVALID', `maxRowsPerUnit must be a positive integer`, { path: '/dataset/unit/maxRowsPerUnit' });
  }
  if (ds.unit.column !== null && ctx.boundingKey.length < 16) {
    throw new StatguardError('USAGE', `bounding key must have at least 16 bytes (got ${ctx.boundingKey.length})`);
  }
  const keyHex = Buffer.from(ctx.boundingKey).toString('hex');
  const run = async (c: { sql: string; parameters: readonly unknown[] }): Promise<Record<string, unknown>[]> => {
    try {
      const t0 = timing ? performance.now() : 0;
      const rows = await exec.query(c.sql, c.parameters);
      if (timing) process.stderr.write(`[sql ${((performance.now() - t0) / 1000).toFixed(3)} s] ${timingFull ? c.sql : c.sql.replace(/\s+/g, ' ').slice(0, 160)}\n`);
      return rows;
    } catch (e) {
      if (e instanceof StatguardError) throw e;
      // Driver messages name tables and columns, never data values of protected cells.
      throw new StatguardError('SOURCE_UNREADABLE', `query on ${input.where} failed: ${(e as Error).message}`, { file: input.where });
    }
  };
  // One conversion pass, materialised once in a temporary table (session-local, dropped at the end) when the engine allows it
  // and the plan has per-unit steps; a plan without a unit column runs everything in one statement over the relation.
  const typedTable = exec.materialize === false || ds.unit.column === null ? null : `sg_typed_${randomBytes(6).toString('hex')}`;
  const q = buildSql(plan, rel, exec.flavor, keyHex, { typedTable, fence: exec.materialize !== false, groupingSets: exec.groupingSets !== false });

  ctx.onProgress?.({ stage: 'read', rows: 0, bytes: 0, totalBytes: input.bytes || null });
  try {
    if (typedTable !== null) {
      await run({ sql: `CREATE TEMPORARY TABLE ${typedTable} AS ${q.typedSelect.sql}`, parameters: q.typedSelect.parameters });
      if (exec.flavor === 'postgres') await run({ sql: `ANALYZE ${typedTable}`, parameters: [] });
    }
    // 1. Validation: counts per error code (typed conversion and domain checks, same order as RowConverter). One-pass plans
    // (no unit column) get them from the (e) grouping set of the single statement that also computes every cell.
    const passRows = q.onePass !== null ? await withCellHashMem(exec, () => run(q.onePass!.sql)) : null;
    const vrows = passRows !== null ? passRows.filter((r) => toInt(r.gv) === 0).map((r): Record<string, unknown> => ({ ...r, e: r.ev })) : await run(q.validate);
    let rowsRead = 0;
    let rowsDropped = 0;
    let valid = 0;
    const dropReasons: Record<string, number> = {};
    for (const r of vrows) {
      const e = toInt(r.e); const n = toInt(r.n);
      rowsRead += n;
      if (e === 0) { valid += n; continue; }
      rowsDropped += n;
      const reason = REASON_OF[e % POS_FACTOR]!;
      dropReasons[reason] = (dropReasons[reason] ?? 0) + n;
    }
    if (rowsRead === 0) throw new StatguardError('EMPTY_INPUT', `microdata ${input.where} has no rows`, { file: input.where });
    if (rowsDropped > 0 && ds.onInvalidRow === 'error') throw await locateError(q, rel, run, input, rowsDropped);
    if (ds.onInvalidRow === 'error') { rowsDropped = 0; }

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
      let u = (await run(q.unitStats(q.hasUnitKey)))[0] ?? {};
      if (q.hasUnitKey && toInt(u.collisions) === 0) key = 'uk';
      else if (q.hasUnitKey) u = (await run(q.unitStats(false)))[0] ?? {};
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
      decodeInto(tables, q, q.onePass, passRows.filter((r) => toInt(r.gv) === 1 && toInt(r.rows) > 0));
      // PostgreSQL's top contributions come as rows of their own (gv = 2, see sql-builder.ts): set on the cells just decoded.
      decodeInto(tables, q, q.onePass, passRows.filter((r) => toInt(r.gv) === 2), true);
      const done = new Set(q.onePass.sets);
      for (const st of q.statements('row', false)) if (!st.sets.every((k) => done.has(k))) decodeInto(tables, q, st, await run(st.sql));
      const ok = passRows.find((r) => toInt(r.gv) === 0 && toInt(r.ev) === 0) ?? {};
      q.layout.clamps.forEach((_, ci) => { valuesClamped += toInt(ok[`clamped${ci}`]); });
    } else {
      for (const st of q.statements(mode, bounded, key)) decodeInto(tables, q, st, await run(st.sql));
      const cs = q.clampStats(bounded, key);
      if (cs !== null) {
        const r = (await run(cs))[0] ?? {};
        q.layout.clamps.forEach((_, ci) => { valuesClamped += toInt(r[`clamped${ci}`]); });
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
    if (typedTable !== null) await exec.query(`DROP TABLE IF EXISTS ${typedTable}`, []).catch(() => {});
  }
}

async function locateError(
  q: SqlQueryPlan, rel: SqlRelation, run: (c: { sql: string; parameters: readonly unknown[] }) => Promise<Record<string, unknown>[]>,
  input: SqlInputInfo, count: number,
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
    chunk.forEach((name, j) => { if (((g >> (chunk.length - 1 - j)) & 1) === 0) grouped.push(name); });
  });
  return grouped.sort().join(',');
}

/** A text list of integers from the database: DuckDB "[9, 7]" or PostgreSQL "{9,7}" (NULL: empty). */
function parseList(v: unknown): number[] {
  if (v === null || v === undefined) return [];
  const s = String(v).replace(/^[[{]|[\]}]$/g, '').trim();
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

function decodeInto(out: TableAcc[], q: SqlQueryPlan, st: AggStatement, rows: readonly Record<string, unknown>[], topsOnly = false): void {
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
          throw new StatguardError('ARITHMETIC_OVERFLOW',
            `table ${JSON.stringify(b.plan.id)}: a cell sums ${rowsN} rows with bound ${Math.max(Math.abs(c.lower), Math.abs(c.upper))}, beyond exact integer range (2^53); lower the bounds or decimals`);
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
