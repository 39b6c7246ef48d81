/**
 * Level columns and grouping sets. Each variable's canonical hierarchy gives one level column per depth (the node on
 * the row's leaf-to-root path, NULL below a shallower leaf); each table adds one grouping set per combination of its
 * dimensions' options (the total, or one level column), and a set shared by tables is computed once, by the statement
 * of its owner: the first sum table using it (per-(unit, cell) contributions), else the first count table.
 */
import { sql } from 'kysely';
import { StatguardError } from '../../errors.ts';
import type { RecordLayout } from '../../aggregate/record-layout.ts';
import { join, lit, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import { vName } from './conversion.ts';
import type { Flavor, SqlForm } from './flavor.ts';
import { LOOKUP_MIN } from './row-texts.ts';
import type { GroupingSet, LevelCol, VarCanon } from './types.ts';

export interface GroupingModel {
  readonly canon: readonly VarCanon[];
  /** Every level column, variable by variable, shallow to deep. */
  readonly levelCols: readonly LevelCol[];
  readonly byName: ReadonlyMap<string, LevelCol>;
  /** Grouping sets by key (sorted level column names); '' = the statistics set. */
  readonly sets: ReadonlyMap<string, GroupingSet>;
  /** Table (index) whose statement computes each set used by a table. */
  readonly owner: ReadonlyMap<string, number>;
}

function canonOf(layout: RecordLayout): VarCanon[] {
  return layout.variables.map((v, vi) => {
    // Canonical dimension of the variable: one with a total if any table has it (hierarchies are per column, so equal).
    const dims = layout.tables.flatMap((b) => b.plan.dimensions.filter((_, d) => b.dimVar[d] === vi));
    const dim = dims.find((d) => d.total !== null) ?? dims[0]!;
    const depth = dim.nodes.map((n) => n.level + (dim.total === null ? 1 : 0));
    const maxDepth = Math.max(...depth);
    const leafNodes = v.codes.map((code) => dim.nodes.findIndex((n) => n.leaf && n.code === code));
    const cols: LevelCol[] = [];
    for (let dd = 1; dd <= maxDepth; dd++) {
      const map = leafNodes.map((leaf) => {
        let cur: number | null = leaf;
        while (cur !== null && depth[cur]! > dd) cur = dim.nodes[cur]!.parent;
        return cur !== null && depth[cur] === dd ? cur : null;
      });
      cols.push({ name: `l${vi}_${dd}`, variable: vi, depth: dd, map, nullable: map.some((x) => x === null) });
    }
    return { dim, depth, cols };
  });
}

function setsOf(layout: RecordLayout, canon: readonly VarCanon[]): Map<string, GroupingSet> {
  const sets = new Map<string, GroupingSet>();
  const addSet = (cols: string[], table: number | null): void => {
    const key = [...cols].sort().join(',');
    let s = sets.get(key);
    if (!s) {
      s = { key, cols, tables: [] };
      sets.set(key, s);
    }
    if (table !== null && !s.tables.includes(table)) s.tables.push(table);
  };
  addSet([], null); // statistics set: one group per unit
  layout.tables.forEach((b, ti) => {
    if (new Set(b.dimVar).size !== b.dimVar.length) {
      throw new StatguardError(
        'POLICY_INVALID',
        `table ${JSON.stringify(b.plan.id)} uses the same variable twice (not supported by the SQL sources)`,
        { path: `/tables/${ti}/dimensions` },
      );
    }
    // Options per dimension: the total (column omitted) when published, else one level column.
    const options: (string | null)[][] = b.plan.dimensions.map((dim, d) => {
      const c = canon[b.dimVar[d]!]!;
      const opts: (string | null)[] = dim.total !== null ? [null] : [];
      if (dim.total !== null) for (const lc of c.cols) opts.push(lc.name);
      else opts.push(c.cols[c.cols.length - 1]!.name); // no total: leaves only (no hierarchy possible)
      return opts;
    });
    let combos: string[][] = [[]];
    for (const o of options) combos = combos.flatMap((prefix) => o.map((x) => (x === null ? prefix : [...prefix, x])));
    for (const c of combos) addSet(c, ti);
  });
  return sets;
}

export function groupingModel(layout: RecordLayout): GroupingModel {
  const canon = canonOf(layout);
  const levelCols = canon.flatMap((c) => c.cols);
  const sets = setsOf(layout, canon);
  const owner = new Map<string, number>();
  for (const st of sets.values()) {
    if (st.tables.length === 0) continue;
    const sumUsers = st.tables.filter((u) => layout.tables[u]!.clamp >= 0);
    owner.set(st.key, Math.min(...(sumUsers.length > 0 ? sumUsers : st.tables)));
  }
  return { canon, levelCols, byName: new Map(levelCols.map((c) => [c.name, c] as const)), sets, owner };
}

/** Clamp specs (measures) of the sum tables using a set. */
export function setClamps(layout: RecordLayout, st: GroupingSet): number[] {
  return [...new Set(st.tables.map((u) => layout.tables[u]!.clamp).filter((c) => c >= 0))].sort((a, b) => a - b);
}

/** A level column computed from its variable's leaf index `v<i>`, as a select item. */
export function levelExpr(flavor: Flavor, form: SqlForm, lc: LevelCol): Frag {
  const v = ref(vName(lc.variable));
  const identity = lc.map.every((x, i) => x === i);
  // A long map is an element of a constant array indexed by the leaf (one lookup instead of a CASE comparing with every leaf).
  const arr = join(lc.map.map((node) => (node === null ? sql`NULL` : lit(node))));
  const e = identity
    ? v
    : form.lookups && lc.map.length >= LOOKUP_MIN
      ? flavor.leafAt(arr, v)
      : sql`CASE ${v} ${join(
          lc.map
            .map((node, leaf) => (node === null ? null : sql`WHEN ${lit(leaf)} THEN ${lit(node)}`))
            .filter((x): x is Frag => x !== null),
          sql` `,
        )} END`;
  return sql`${e} AS ${sql.ref(lc.name)}`;
}
