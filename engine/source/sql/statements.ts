/**
 * The aggregation statements: one per table owning new grouping sets (a set shared by tables is computed once). Each
 * reads the kept rows (bounding.ts), computes the level columns and clamped values per row, and groups:
 * - each unit a row (`row` mode): units = rows = count(*), top contributions = the row values;
 * - count tables with units: count(DISTINCT u) per cell, or per (unit, cell) rows counted per cell (flavor);
 * - sum tables with units: per (unit, cell) rows and clamped sums, then per cell units, rows, sum and tops.
 */
import { sql } from 'kysely';
import { compile, join, lit, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import { clampExpr, keptRel } from './bounding.ts';
import type { GroupSpec } from './citus.ts';
import { rankedTops } from './context.ts';
import type { SqlContext } from './context.ts';
import { groupedBy } from './grouping.ts';
import { groupingChunks } from './grouping-mask.ts';
import { levelExpr, setClamps } from './levels.ts';
import { TOP_BUCKETS, rankCol, rankedUnitTops, topK } from './tops.ts';
import type { AggMode, AggStatement, LevelCol, UnitKey } from './types.ts';

/** What one table's statement groups: its sets, their level columns and GROUPING() chunks, the clamps summed. */
interface StatementShape {
  readonly cols: readonly LevelCol[];
  readonly chunks: readonly (readonly string[])[];
  readonly clamps: readonly number[];
  /** The rows: level columns, clamped values c<ci> (and the unit `u` per unit). */
  readonly src: Frag;
  readonly specs: readonly GroupSpec[];
}

/** Each unit is one row (no unit column, or no unit has two valid rows): units = rows, contributions = row values. */
function rowCells(ctx: SqlContext, s: StatementShape): Frag {
  const aggs: Frag[] = [sql`CAST(count(*) AS varchar) AS units`, sql`CAST(count(*) AS varchar) AS rows`];
  for (const ci of s.clamps) {
    const c = ref(`c${ci}`);
    aggs.push(
      sql`CAST(count(${c}) AS varchar) AS ${sql.ref(`units${ci}`)}`,
      sql`CAST(count(${c}) AS varchar) AS ${sql.ref(`rows${ci}`)}`,
      sql`CAST(sum(${c}) AS varchar) AS ${sql.ref(`sum${ci}`)}`,
      sql`${topK(ctx, c, sql`${c} IS NOT NULL`, ref(`rn${ci}`))} AS ${sql.ref(`top${ci}`)}`,
    );
  }
  // Ranked tops: each row ranked within its finest cell (every level column of the statement).
  const colRefs = s.cols.map((c) => ref(c.name));
  const ranked =
    rankedTops(ctx) && s.clamps.length > 0
      ? sql`(SELECT k.*, ${join(s.clamps.map((ci) => rankCol(ref(`c${ci}`), colRefs, `rn${ci}`)))} FROM ${s.src}) k`
      : s.src;
  return groupedBy(ctx, ranked, s.cols, s.chunks, s.specs, aggs);
}

/** Per (unit, cell): a unit's kept rows in the cell and its summed (clamped) contribution; then per cell. */
function unitCells(ctx: SqlContext, s: StatementShape, key: UnitKey): Frag {
  const pgRanks = rankedTops(ctx);
  const perUnit: Frag[] = [sql`count(*) AS rr`];
  for (const ci of s.clamps)
    perUnit.push(
      sql`count(${sql.ref(`c${ci}`)}) AS ${sql.ref(`r${ci}`)}`,
      sql`sum(${sql.ref(`c${ci}`)}) AS ${sql.ref(`s${ci}`)}`,
    );
  // Ranked tops: each unit's bucket of the pre-filter (tops.ts rankedUnitTops; the unit is grouped in every set: at most
  // once per cell), from a hash of its key: cheaper than dealing the rows by a row_number() window.
  if (pgRanks)
    perUnit.push(
      key === 'uk'
        ? sql`CAST(u & ${lit(TOP_BUCKETS - 1)} AS integer) AS b`
        : sql`(hashtext(u) & ${lit(TOP_BUCKETS - 1)}) AS b`,
    );
  const perUnitRows = groupedBy(ctx, s.src, s.cols, s.chunks, s.specs, perUnit);
  const keys = [...s.chunks.map((_, i) => ref(`g${i}`)), ...s.cols.map((c) => ref(c.name))];
  const aggs: Frag[] = [sql`CAST(count(*) AS varchar) AS units`, sql`CAST(sum(rr) AS varchar) AS rows`];
  for (const ci of s.clamps) {
    const r = ref(`r${ci}`);
    const sm = ref(`s${ci}`);
    aggs.push(
      sql`CAST(count(*) FILTER (WHERE ${r} > 0) AS varchar) AS ${sql.ref(`units${ci}`)}`,
      sql`CAST(sum(${r}) AS varchar) AS ${sql.ref(`rows${ci}`)}`,
      sql`CAST(sum(${sm}) AS varchar) AS ${sql.ref(`sum${ci}`)}`,
    );
    if (!pgRanks) aggs.push(sql`${topK(ctx, sm, sql`${r} > 0`, null)} AS ${sql.ref(`top${ci}`)}`);
  }
  if (pgRanks)
    return rankedUnitTops(ctx, { chunks: s.chunks, cols: s.cols, clamps: s.clamps, unitCells: perUnitRows, aggs });
  return sql`SELECT ${join([...keys, ...aggs])} FROM ${sql`(${perUnitRows}) uc`}${keys.length > 0 ? sql` GROUP BY ${join(keys)}` : sql``}`;
}

/** The aggregation statements; `bounded` when some unit has more than m valid rows; `key`: the unit column grouped by. */
export function aggStatements(ctx: SqlContext, mode: AggMode, bounded: boolean, key: UnitKey = 'u'): AggStatement[] {
  if (key === 'uk' && !ctx.conv.hasUnitKey) throw new Error('statements: no unit key in the typed relation');
  const { layout, grouping } = ctx;
  const out: AggStatement[] = [];
  layout.tables.forEach((_, ti) => {
    const mine = [...grouping.sets.values()].filter((s) => grouping.owner.get(s.key) === ti);
    if (mine.length === 0) return;
    const clamps = [...new Set(mine.flatMap((st) => setClamps(layout, st)))].sort((a, b) => a - b);
    const cols = grouping.levelCols.filter((lc) => mine.some((s) => s.cols.includes(lc.name)));
    const chunks = groupingChunks(cols.map((c) => c.name));
    const inner = sql`SELECT ${join([...(mode === 'row' ? [] : [sql`k AS u`]), ...cols.map((lc) => levelExpr(ctx.flavor, ctx.form, lc)), ...clamps.map((ci) => sql`${clampExpr(ctx, ci)} AS ${sql.ref(`c${ci}`)}`), sql`1 AS one`])} FROM ${keptRel(ctx, bounded, key)} k`;
    // Per-(unit, cell) grouping (sum tables with units) groups the unit with every set; other statements group cells
    // only. Count tables with units too where the flavour counts units that way (a plain hash aggregate whose tables can
    // spill, faster there than count(DISTINCT u); the other way round in PostgreSQL).
    const perUnitCells = mode === 'units' && (clamps.length > 0 || ctx.flavor.perUnitCountCells);
    const specs = mine.map((st) => ({ lead: perUnitCells ? ('u' as const) : null, cols: st.cols }));
    const s: StatementShape = { cols, chunks, clamps, src: sql`(${inner}) k`, specs };
    let q: Frag;
    if (mode !== 'units') q = rowCells(ctx, s);
    else if (!perUnitCells)
      // Count tables only: distinct units and rows per cell, one pass (no per-(unit, cell) intermediate).
      q = groupedBy(ctx, s.src, cols, chunks, specs, [
        sql`CAST(count(DISTINCT u) AS varchar) AS units`,
        sql`CAST(count(*) AS varchar) AS rows`,
      ]);
    else q = unitCells(ctx, s, key);
    out.push({
      sql: compile(q),
      chunks,
      cols: cols.map((c) => grouping.byName.get(c.name)!),
      sets: mine.map((st) => st.key),
      clamps,
    });
  });
  return out;
}
