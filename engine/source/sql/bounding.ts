/**
 * Unit statistics, contribution bounding and clamping, as SQL.
 * Guarantee: at most m rows per unit survive; a unit with n <= m keeps all its rows (no hashing needed), a unit with
 * n > m keeps the m rows with the smallest SHA-256(hex(key) | unit | content) (ROW_NUMBER() <= m; same canonical text as
 * engine/aggregate/bound.ts), so the kept rows do not depend on row order and cannot be predicted without the per-run
 * key. Every kept value is then clamped into [lower, upper], so one row moves a sum by at most max(|L|,|U|).
 */
import { sql } from 'kysely';
import { compile, join, lit, ref } from './compiler.ts';
import type { CompiledSql, Frag } from './compiler.ts';
import type { SqlContext } from './context.ts';
import { mName, vName } from './conversion.ts';
import type { UnitKey } from './types.ts';

const varList = (ctx: SqlContext): Frag[] => [...Array(ctx.layout.variables.length).keys()].map((i) => ref(vName(i)));
const measList = (ctx: SqlContext): Frag[] =>
  [...Array(ctx.layout.measureSources.length).keys()].map((i) => ref(mName(i)));

/** The text hashed to order a unit's rows: key, unit id, category indices, scaled measures (bound.ts boundingHashInput). */
function hashText(ctx: SqlContext): Frag {
  const { flavor } = ctx;
  const parts: Frag[] = [sql`${sql`${sql.val(ctx.keyHex)}`}`, sql`chr(31)`, sql`u`, sql`chr(31)`];
  for (let i = 0; i < ctx.layout.variables.length; i++) {
    if (i > 0) parts.push(sql`','`);
    parts.push(flavor.text(ref(vName(i))));
  }
  parts.push(sql`chr(31)`);
  for (let i = 0; i < ctx.layout.measureSources.length; i++) {
    if (i > 0) parts.push(sql`','`);
    parts.push(sql`COALESCE(${flavor.text(ref(mName(i)))}, '')`);
  }
  return join(parts, sql` || `);
}

/**
 * Units per valid row count: how many units, how many exceed m (only those are bounded), rows removed, rows removed
 * counting at most `dropCap` per unit (`trimmed`, a dp truncation report's input), largest unit.
 * Keyed: grouped by the integer key uk, and a key group whose rows carry two unit ids (min(u) <> max(u)) is a collision.
 * With no collision uk is injective on the units present, so grouping or counting distinct by uk equals doing it by u.
 */
export function unitStatsSql(ctx: SqlContext, keyed: boolean): CompiledSql {
  const m = ctx.maxRowsPerUnit;
  return compile(sql`SELECT CAST(count(*) AS varchar) AS units, CAST(count(*) FILTER (WHERE n > ${lit(m)}) AS varchar) AS big,
        CAST(COALESCE(sum(n - ${lit(m)}) FILTER (WHERE n > ${lit(m)}), 0) AS varchar) AS removed,
        CAST(COALESCE(sum(LEAST(n - ${lit(m)}, ${lit(ctx.dropCap)})) FILTER (WHERE n > ${lit(m)}), 0) AS varchar) AS trimmed, CAST(COALESCE(max(n), 0) AS varchar) AS maxn,
        ${keyed ? sql`CAST(count(*) FILTER (WHERE NOT one) AS varchar)` : sql`'0'`} AS collisions
        FROM (SELECT count(*) AS n${keyed ? sql`, min(u) = max(u) AS one` : sql``} FROM ${ctx.conv.typed} t WHERE e = 0 GROUP BY ${keyed ? sql`uk` : sql`u`}) g`);
}

/**
 * The kept rows (see the file comment), with the unit column `k` (u, or its injective integer key uk) for the per-unit
 * steps; the hash text always uses the unit id itself.
 */
export function keptRel(ctx: SqlContext, bounded: boolean, key: UnitKey = 'u'): Frag {
  const T = ctx.conv.typed;
  const m = ctx.maxRowsPerUnit;
  const hasUnit = ctx.conv.hasUnit;
  const out = [...(hasUnit ? [sql`${sql.ref(key)} AS k`] : []), ...varList(ctx), ...measList(ctx)];
  if (!bounded || !hasUnit) return sql`(SELECT ${join(out)} FROM ${T} t WHERE e = 0)`;
  const base = [...(hasUnit ? [sql`u`] : []), ...varList(ctx), ...measList(ctx)];
  const hashOrder = ctx.flavor.sha256(hashText(ctx));
  if (ctx.form.typedTable === null) {
    // Inlined typed relation (the Citus form): no self-join on the unit key. Joined, the planner cannot estimate the
    // inlined conversion, takes the large units for a handful of rows and loops over the whole relation once per large
    // unit, converting every row again each time (87 s for 1,949 rows with duplicated units). One pass instead: count
    // per unit, then number the rows of the units over m by the hash (rn <= n <= m keeps a small unit whole).
    const withN = sql`SELECT ${join([...base, ...(key === 'uk' ? [sql`uk`] : [])])}, count(*) OVER (PARTITION BY ${sql.ref(key)}) AS n FROM ${T} t WHERE e = 0`;
    return sql`(SELECT ${join(out)} FROM (SELECT w.*, row_number() OVER (PARTITION BY ${sql.ref(key)} ORDER BY CASE WHEN n > ${lit(m)} THEN ${hashOrder} END) AS rn
        FROM (${withN}) w) r WHERE rn <= ${lit(m)})`;
  }
  const big = sql`SELECT ${sql.ref(key)} FROM ${T} t WHERE e = 0 GROUP BY ${sql.ref(key)} HAVING count(*) > ${lit(m)}`;
  return sql`(SELECT ${join(out)} FROM ${T} t WHERE e = 0 AND ${sql.ref(key)} NOT IN (${big})
      UNION ALL SELECT ${join(out)} FROM (SELECT ${join([...base, ...(key === 'uk' ? [sql`uk`] : [])])}, row_number() OVER (PARTITION BY ${sql.ref(key)} ORDER BY ${hashOrder}) AS rn
        FROM ${T} t WHERE e = 0 AND ${sql.ref(key)} IN (${big})) r WHERE rn <= ${lit(m)})`;
}

/** Clamped value of clamp spec `ci`; NULL (missing) stays NULL and out of the sums. */
export function clampExpr(ctx: SqlContext, ci: number): Frag {
  const c = ctx.layout.clamps[ci]!;
  const x = ref(mName(c.source));
  const e = sql`CASE WHEN ${x} < ${lit(c.lower)} THEN ${lit(c.lower)} WHEN ${x} > ${lit(c.upper)} THEN ${lit(c.upper)} ELSE ${x} END`;
  // Within safe integer bounds the clamped value is a 64-bit integer: sums over bigint are several times cheaper than over
  // numeric (PostgreSQL) or HUGEINT (DuckDB), and still exact (both sum bigint in a wider type). Within 32 bits an
  // integer where the flavour asks (sum(integer) is a bigint, exact): bigint is passed by reference on 32-bit builds
  // (PGlite's WASM), where max(bigint) copied the value per row and grouping set.
  const int32 = (v: number): boolean => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;
  if (ctx.flavor.int32Clamp && int32(c.lower) && int32(c.upper)) return sql`CAST(${e} AS integer)`;
  return Number.isSafeInteger(c.lower) && Number.isSafeInteger(c.upper) ? sql`CAST(${e} AS bigint)` : e;
}

/** Whether the raw value of clamp spec `ci` is outside its bounds (one boolean per row). */
export function outsideBounds(ctx: SqlContext, ci: number): Frag {
  const c = ctx.layout.clamps[ci]!;
  const x = ref(mName(c.source));
  return sql`${x} < ${lit(c.lower)} OR ${x} > ${lit(c.upper)}`;
}

/** Values clamped per clamp spec over the kept rows (null without measures). */
export function clampStatsSql(ctx: SqlContext, bounded: boolean, key: UnitKey = 'u'): CompiledSql | null {
  const clamps = ctx.layout.clamps;
  if (clamps.length === 0) return null;
  return compile(
    sql`SELECT ${join(
      clamps.map(
        (_, ci) =>
          sql`CAST(count(*) FILTER (WHERE ${outsideBounds(ctx, ci)}) AS varchar) AS ${sql.ref(`clamped${ci}`)}`,
      ),
    )} FROM ${keptRel(ctx, bounded, key)} k`,
  );
}
