/**
 * Run the pushdown statements (engine/source/sql) for a plan over a relation and decode the cells into ExactTables
 * identical to the CSV path's (same conversion rules, bounding hash, clamping and per-unit contributions). The steps:
 * validation counts, unit statistics (and whether bounding is needed), then every table and margin in the database;
 * only cells come back. Guarantees are stated next to the generated SQL in sql/.
 */
import { randomBytes } from 'node:crypto';
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import {
  exactTruncation,
  truncationCap,
  type AggregateContext,
  type AggregateResult,
  type AggregateStats,
} from './source.ts';
import { decodeInto, emptyTables, finish } from './sql-decode.ts';
import type { TableAcc } from './sql-decode.ts';
import type { SqlExecutor, SqlInputInfo } from './sql-executor.ts';
import { openDomainsSql } from './open-scan.ts';
import { PartSession, onePassRows, runAll, unitParts } from './sql-parts.ts';
import type { Part } from './sql-parts.ts';
import { runOn, toInt } from './sql-run.ts';
import type { Run } from './sql-run.ts';
import { topsFromBuckets } from './sql-tops.ts';
import { POS_FACTOR, REASON_OF, buildSql } from './sql/index.ts';
import type { AggMode, BuildSqlOptions, SqlQueryPlan, SqlRelation, UnitKey } from './sql/index.ts';

export type { ParallelExecutor, SqlExecutor, SqlInputInfo } from './sql-executor.ts';
export { cellHashMemSql } from './sql-run.ts';

/** Refuse (USAGE / POLICY_INVALID, before any query) what the SQL sources do not compute the CSV path's way. */
function refuseUnsupported(plan: Plan, ctx: AggregateContext): void {
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
}

/** Row counts of the validation step. */
interface Validation {
  readonly rowsRead: number;
  readonly rowsDropped: number;
  readonly valid: number;
  readonly dropReasons: Record<string, number>;
}

/** Counts per error code -> rows read, dropped (per reason class) and valid. */
function validationOf(vrows: readonly Record<string, unknown>[]): Validation {
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
  return { rowsRead, rowsDropped, valid, dropReasons };
}

/** What the unit statistics decide for the aggregation step. */
interface UnitFigures {
  readonly units: number;
  readonly removed: number;
  /** Rows removed, counting at most the plan's drop cap per unit (a dp truncation report's input). */
  readonly trimmed: number;
  readonly bounded: boolean;
  readonly mode: AggMode;
  readonly key: UnitKey;
}

/** Units: how many, and whether any exceeds maxRowsPerUnit (only then is the bounding window computed). */
async function unitFigures(q: SqlQueryPlan, parts: readonly Part[], valid: number): Promise<UnitFigures> {
  if (q.unitStats === null) return { units: valid, removed: 0, trimmed: 0, bounded: false, mode: 'row', key: 'u' };
  // Grouped by the integer unit key when the typed table has one; a collision (two unit ids, one key: possible, never
  // seen in practice) falls back to grouping by the unit id itself, so the figures are always exact.
  let key: UnitKey = 'u';
  let u = (await runAll(parts, (p) => p.q.unitStats!(q.hasUnitKey)))[0] ?? {};
  if (q.hasUnitKey && toInt(u.collisions) === 0) key = 'uk';
  else if (q.hasUnitKey) u = (await runAll(parts, (p) => p.q.unitStats!(false)))[0] ?? {};
  return {
    units: toInt(u.units),
    removed: toInt(u.removed),
    trimmed: toInt(u.trimmed),
    bounded: toInt(u.big) > 0,
    // A unit with one valid row is its row: when no unit has two, per-unit contributions are row values.
    mode: toInt(u.maxn) > 1 ? 'units' : 'row',
    key,
  };
}

/** Cells of a one-pass plan (no unit column) into `tables`; returns the values clamped per clamp spec. */
async function decodeOnePass(
  tables: TableAcc[],
  q: SqlQueryPlan,
  passRows: readonly Record<string, unknown>[],
  run: Run,
): Promise<number[]> {
  const onePass = q.onePass!;
  // Cell groups with no valid row (made of invalid rows only) carry no cell: skipped.
  // Bucket rows (PostgreSQL tops, gb = 0) are not cells.
  const isBucket = (r: Record<string, unknown>): boolean => r.gb !== undefined && toInt(r.gb) === 0;
  decodeInto(
    tables,
    q,
    onePass,
    passRows.filter((r) => toInt(r.gv) === 1 && toInt(r.rows) > 0 && !isBucket(r)),
  );
  // PostgreSQL's top contributions: derived from the bucket maxima (reading rows again only where those do not determine
  // them), then set on the cells just decoded.
  for (const bt of onePass.bucketTops ?? []) {
    const topRows = await topsFromBuckets(bt, onePass, passRows.filter(isBucket), run);
    decodeInto(tables, q, onePass, topRows, true);
  }
  const done = new Set(onePass.sets);
  for (const st of q.statements('row', false))
    if (!st.sets.every((k) => done.has(k))) decodeInto(tables, q, st, await run(st.sql));
  const ok = passRows.find((r) => toInt(r.gv) === 0 && toInt(r.ev) === 0) ?? {};
  return q.layout.clamps.map((_, ci) => toInt(ok[`clamped${ci}`]));
}

/** Cells of a plan with a unit column into `tables`, every part over its own units; returns the values clamped per spec. */
async function decodeUnits(
  tables: TableAcc[],
  q: SqlQueryPlan,
  parts: readonly Part[],
  u: UnitFigures,
): Promise<number[]> {
  // Every part builds the same statements (same plan, same decisions), over its own units.
  const perPart = parts.map((p) => p.q.statements(u.mode, u.bounded, u.key));
  for (const [j, st] of perPart[0]!.entries())
    decodeInto(tables, q, st, await runAll(parts, (_, i) => perPart[i]![j]!.sql));
  const clampStats = parts.map((p) => p.q.clampStats(u.bounded, u.key));
  if (clampStats[0] === null) return q.layout.clamps.map(() => 0);
  const r = (await runAll(parts, (_, i) => clampStats[i]!))[0] ?? {};
  return q.layout.clamps.map((_, ci) => toInt(r[`clamped${ci}`]));
}

/**
 * Run the pushdown statements for `plan` over `rel` and decode the cells into
 * ExactTables identical to the CSV path's (same conversion rules, bounding
 * hash, clamping and per-unit contributions). Guarantees are stated next to
 * the generated SQL in sql/.
 */
export async function aggregateSql(
  declared: Plan,
  ctx: AggregateContext,
  exec: SqlExecutor,
  rel: SqlRelation,
  input: SqlInputInfo,
): Promise<AggregateResult> {
  refuseUnsupported(declared, ctx);
  // Open columns (dp): their codes are collected first (SELECT DISTINCT), then every table is aggregated over them.
  const plan = await openDomainsSql(declared, exec, rel);
  const ds = plan.dataset;
  const keyHex = Buffer.from(ctx.boundingKey).toString('hex');
  const run = runOn(exec, input);
  // One conversion pass, materialised once in a temporary table (session-local, dropped at the end) when the engine allows it
  // and the plan has per-unit steps; a plan without a unit column runs everything in one statement over the relation.
  const typedTable =
    exec.materialize === false || ds.unit.column === null ? null : `sg_typed_${randomBytes(6).toString('hex')}`;
  const build = (opts: BuildSqlOptions): SqlQueryPlan => buildSql(plan, rel, exec.flavor, keyHex, opts);
  const q = build({ typedTable, fence: exec.materialize !== false, groupingSets: exec.groupingSets !== false });
  const session = new PartSession(exec, input);
  let parts: Part[] = [{ table: typedTable, q, run }];

  ctx.onProgress?.({ stage: 'read', rows: 0, bytes: 0, totalBytes: input.bytes || null });
  try {
    if (typedTable !== null) {
      parts = await unitParts(session, parts[0]!, typedTable, input, build);
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
    const passRows = q.onePass !== null ? await onePassRows(session, exec, input, q, build) : null;
    const vrows =
      passRows !== null
        ? passRows.filter((r) => toInt(r.gv) === 0).map((r): Record<string, unknown> => ({ ...r, e: r.ev }))
        : await runAll(parts, (p) => p.q.validate);
    const v = validationOf(vrows);
    if (v.rowsRead === 0)
      throw new StatguardError('EMPTY_INPUT', `microdata ${input.where} has no rows`, { file: input.where });
    if (v.rowsDropped > 0 && ds.onInvalidRow === 'error') throw await locateError(q, rel, run, input, v.rowsDropped);

    // 2. Units: how many, and whether any exceeds maxRowsPerUnit (only then is the bounding window computed).
    ctx.onProgress?.({ stage: 'aggregate', rows: v.rowsRead, bytes: 0, totalBytes: input.bytes || null });
    const u = await unitFigures(q, parts, v.valid);
    // 3. Bounding, clamping and aggregation of every table and margin, in the database; only cells come back.
    const tables = emptyTables(q);
    const clamped =
      q.onePass !== null && passRows !== null
        ? await decodeOnePass(tables, q, passRows, run)
        : await decodeUnits(tables, q, parts, u);
    ctx.onProgress?.({ stage: 'done', rows: v.rowsRead, bytes: 0, totalBytes: input.bytes || null });
    const stats: AggregateStats = {
      rowsRead: v.rowsRead,
      rowsDropped: ds.onInvalidRow === 'error' ? 0 : v.rowsDropped,
      dropReasons: v.dropReasons,
      rowsAfterBounding: v.valid - u.removed,
      rowsRemovedByBounding: u.removed,
      units: u.units,
      valuesClamped: clamped.reduce((a, b) => a + b, 0),
      input: { kind: input.kind, file: input.name, bytes: input.bytes, sha256: input.sha256 },
    };
    const truncation = exactTruncation(q.layout, u.trimmed, clamped);
    return { tables: finish(tables), stats, ...(truncationCap(plan) !== null ? { truncation } : {}) };
  } finally {
    await Promise.all(
      parts.map((p) =>
        p.table === null ? null : p.run({ sql: `DROP TABLE IF EXISTS ${p.table}`, parameters: [] }).catch(() => {}),
      ),
    );
    await session.close();
  }
}

async function locateError(
  q: SqlQueryPlan,
  rel: SqlRelation,
  run: Run,
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
