/**
 * GROUP BY GROUPING SETS with GROUPING() chunks g0, g1, ... identifying each row's set; rows of a grouped nullable
 * level column that is NULL (a leaf shallower than that level) are dropped. Written as one GROUP BY per set in the
 * Citus form (citus.ts).
 */
import { sql } from 'kysely';
import { join, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import { unionGroupedBy } from './citus.ts';
import type { GroupSpec } from './citus.ts';
import type { SqlContext } from './context.ts';
import type { LevelCol } from './types.ts';

/**
 * SELECT [gv, ev] g0.. <level columns> <aggs> FROM src grouped by each spec (lead column u or e, then level columns).
 * `withE`: the one-pass head (gv = GROUPING(e), ev = e as text; the one pass with GROUPING SETS is built by its rollup
 * instead).
 */
export function groupedBy(
  ctx: SqlContext,
  src: Frag,
  cols: readonly LevelCol[],
  chunks: readonly (readonly string[])[],
  specs: readonly GroupSpec[],
  aggs: readonly Frag[],
  withE = false,
): Frag {
  if (!ctx.form.groupingSets) return unionGroupedBy(src, cols, chunks, specs, aggs, withE);
  const groupingExprs = chunks.map((chunk, i) => sql`GROUPING(${join(chunk.map(ref))}) AS ${ref(`g${i}`)}`);
  const setList = join(
    specs.map((sp) => {
      const cs = [...(sp.lead !== null ? [ref(sp.lead)] : []), ...sp.cols.map(ref)];
      return cs.length > 0 ? sql`(${join(cs)})` : sql`()`;
    }),
  );
  const having = cols
    .filter((lc) => lc.nullable)
    .map((lc) => sql`NOT (GROUPING(${ref(lc.name)}) = 0 AND ${ref(lc.name)} IS NULL)`);
  const head = withE ? [sql`GROUPING(e) AS gv`, sql`CAST(e AS varchar) AS ev`] : [];
  const hv =
    having.length === 0
      ? sql``
      : withE
        ? sql` HAVING GROUPING(e) = 0 OR (${join(having, sql` AND `)})`
        : sql` HAVING ${join(having, sql` AND `)}`;
  return sql`SELECT ${join([...head, ...groupingExprs, ...cols.map((c) => ref(c.name)), ...aggs])} FROM ${src} GROUP BY GROUPING SETS (${setList})${hv}`;
}
