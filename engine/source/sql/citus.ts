/**
 * The Citus form. Citus distributes neither GROUP BY GROUPING SETS nor GROUPING() (citusdata/citus#2219, #3653), and a
 * temporary table or an OFFSET subquery would be collected on the coordinator, so in this form every grouping set is its
 * own GROUP BY, glued with UNION ALL, with the GROUPING() values written as constants per branch (same rows, same
 * decoding); the typed relation is inlined, without `uk` and without fences (flavor.ts `formOf`).
 */
import { sql } from 'kysely';
import { join, lit, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import { groupingMask } from './grouping-mask.ts';
import type { LevelCol } from './types.ts';

/** One grouped form: the lead column (the unit `u`, the error code `e`, or none), then level columns. */
export interface GroupSpec {
  readonly lead: 'u' | 'e' | null;
  readonly cols: readonly string[];
}

/** `groupedBy` (grouping.ts) without GROUPING SETS: one GROUP BY per spec, UNION ALL, GROUPING() as constants. */
export function unionGroupedBy(
  src: Frag,
  cols: readonly LevelCol[],
  chunks: readonly (readonly string[])[],
  specs: readonly GroupSpec[],
  aggs: readonly Frag[],
  withE: boolean,
): Frag {
  return join(
    specs.map((sp) => {
      const grouped = new Set(sp.cols);
      const gconst = chunks.map((chunk, i) => sql`${lit(groupingMask(chunk, grouped))} AS ${ref(`g${i}`)}`);
      const head = withE
        ? sp.lead === 'e'
          ? [sql`0 AS gv`, sql`CAST(e AS varchar) AS ev`]
          : [sql`1 AS gv`, sql`CAST(NULL AS varchar) AS ev`]
        : [];
      const colSel = cols.map((c) =>
        grouped.has(c.name)
          ? sql`CAST(${ref(c.name)} AS integer) AS ${ref(c.name)}`
          : sql`CAST(NULL AS integer) AS ${ref(c.name)}`,
      );
      const keys = [...(sp.lead !== null ? [ref(sp.lead)] : []), ...sp.cols.map(ref)];
      const notNull = cols.filter((c) => c.nullable && grouped.has(c.name)).map((c) => sql`${ref(c.name)} IS NOT NULL`);
      return sql`SELECT ${join([...head, ...gconst, ...colSel, ...aggs])} FROM ${src}${keys.length > 0 ? sql` GROUP BY ${join(keys)}` : sql``}${notNull.length > 0 ? sql` HAVING ${join(notNull, sql` AND `)}` : sql``}`;
    }),
    sql` UNION ALL `,
  );
}

/**
 * The one-pass aggregates of the Citus form (no unit column): validation counts and clamp counts from the (e) branch,
 * counts and (when `sums`) sums of every cell over the valid rows; tops are NULL (a plan reading tops computes its sum
 * sets in `statements('row')`).
 */
export function citusOnePassAggs(clamps: readonly number[], sums: boolean): Frag[] {
  const ok = sql`e = 0`;
  const aggs: [string, Frag][] = [
    ['n', sql`CAST(count(*) AS varchar)`],
    ['units', sql`CAST(count(*) FILTER (WHERE ${ok}) AS varchar)`],
    ['rows', sql`CAST(count(*) FILTER (WHERE ${ok}) AS varchar)`],
  ];
  for (const ci of clamps) {
    const c = ref(`c${ci}`);
    if (sums) {
      aggs.push(
        [`units${ci}`, sql`CAST(count(${c}) FILTER (WHERE ${ok}) AS varchar)`],
        [`rows${ci}`, sql`CAST(count(${c}) FILTER (WHERE ${ok}) AS varchar)`],
        [`sum${ci}`, sql`CAST(sum(${c}) FILTER (WHERE ${ok}) AS varchar)`],
        [`top${ci}`, sql`CAST(NULL AS varchar)`],
      );
    }
    // the raw value is outside the clamp bounds (computed once per row)
    aggs.push([`clamped${ci}`, sql`CAST(count(*) FILTER (WHERE ${ref(`raw${ci}`)}) AS varchar)`]);
  }
  return aggs.map(([name, e]) => sql`${e} AS ${sql.ref(name)}`);
}
