import { cellCoords, cellCount, strides } from '../types.ts';
import type { DimensionPlan, ExactTable, MeasurePlan } from '../types.ts';
import { internalValue } from './primary.ts';

/** One additive relation: sum_i coefs[i] * value(cells[i]) = 0 (aggregate +1, children -1), over global cell ids. */
export interface Relation {
  readonly cells: Int32Array;
  readonly coefs: Int8Array;
}

/** Where a global cell lives: table index and dense cell index in that table. */
export interface CellOwner {
  readonly table: number;
  readonly index: number;
}

/**
 * The linear system of a release: every cell of every table gets a global id;
 * cells shared by linked tables get one id. Values are internal (scaled) units.
 */
export interface CellSystem {
  readonly cellCount: number;
  /** Per table: dense local index -> global id. */
  readonly tableCells: readonly Int32Array[];
  /** Per global cell: the (table, index) pairs that hold it (first = canonical). */
  readonly owners: readonly (readonly CellOwner[])[];
  readonly value: Float64Array;
  readonly units: Float64Array;
  /** A priori bounds the attacker is granted (see `buildCellSystem`). */
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly relations: readonly Relation[];
  /** Per global cell: indices of the relations containing it. */
  readonly cellRelations: readonly (readonly number[])[];
  /** Link group per table: tables in the same group share cells. */
  readonly linkGroup: readonly number[];
}

function measureKey(m: MeasurePlan): string {
  // Mean tables are linked to (and protected as) their sum: the attacker is assumed to know the counts.
  return m.kind === 'count' ? 'count' : `sum:${m.column}:${m.decimals}`;
}

function dimSignature(d: DimensionPlan): string {
  return JSON.stringify(d.nodes.map((n) => [n.code, n.leaf, n.parent === null ? null : d.nodes[n.parent]!.code, n.parent === null && !n.leaf]));
}

/**
 * Build one system over all tables of a release.
 *
 * Linking: two tables share cells when they have the same measure (mean counts as its sum) and every dimension
 * name they have in common carries an identical hierarchy (codes, parents). A cell is identified by its link group
 * and, for every dimension name of the group, its node code, where the root total of a dimension and a dimension
 * missing from the table both map to the same "total" token. Tables whose common dimensions differ are placed in
 * separate groups (treated as unlinked; documented limitation: such tables still share information in reality).
 *
 * Relations: for each table, dimension d, aggregate node a with children c1..cj and every combination of the other
 * dimensions' nodes: cell(a) - sum cell(ci) = 0. Duplicates (shared margins of linked tables) are dropped.
 *
 * A priori bounds (the attacker's prior knowledge): [0, T] when values are non-negative (count tables; sums whose
 * clamping lower bound is >= 0), with T the table's grand total (sum over all leaf cells); otherwise [-S, S] with S
 * the sum of absolute leaf-cell values. Tighter priors make the attacker stronger, so the audit is stricter with
 * them; both are true bounds of every cell. Shared cells take the tightest bounds any owner gives.
 */
export function buildCellSystem(tables: readonly ExactTable[]): CellSystem {
  // 1. Link groups.
  const groups: { key: string; sig: Map<string, string> }[] = [];
  const linkGroup: number[] = [];
  for (const t of tables) {
    const key = measureKey(t.plan.measure);
    let g = groups.findIndex((grp) => grp.key === key && t.plan.dimensions.every((d) => {
      const s = grp.sig.get(d.name);
      return s === undefined || s === dimSignature(d);
    }));
    if (g < 0) {
      g = groups.length;
      groups.push({ key, sig: new Map() });
    }
    for (const d of t.plan.dimensions) groups[g]!.sig.set(d.name, dimSignature(d));
    linkGroup.push(g);
  }
  const groupDims = groups.map((g) => [...g.sig.keys()].sort());

  // 2. Global ids.
  const ids = new Map<string, number>();
  const owners: CellOwner[][] = [];
  const tableCells: Int32Array[] = [];
  tables.forEach((t, ti) => {
    const dims = t.plan.dimensions;
    const n = cellCount(dims);
    const local = new Int32Array(n);
    const names = groupDims[linkGroup[ti]!]!;
    const pos = names.map((name) => dims.findIndex((d) => d.name === name));
    for (let i = 0; i < n; i++) {
      const co = cellCoords(dims, i);
      const parts = pos.map((p) => {
        if (p < 0) return '\u0000T';
        const node = dims[p]!.nodes[co[p]!]!;
        return node.parent === null && !node.leaf ? '\u0000T' : node.code;
      });
      const key = `${linkGroup[ti]}\u0001${parts.join('\u0001')}`;
      let id = ids.get(key);
      if (id === undefined) {
        id = owners.length;
        ids.set(key, id);
        owners.push([]);
      }
      owners[id]!.push({ table: ti, index: i });
      local[i] = id;
    }
    tableCells.push(local);
  });
  const N = owners.length;

  // 3. Values and a priori bounds.
  const value = new Float64Array(N);
  const units = new Float64Array(N);
  const lower = new Float64Array(N).fill(-Infinity);
  const upper = new Float64Array(N).fill(Infinity);
  tables.forEach((t, ti) => {
    const dims = t.plan.dimensions;
    const m = t.plan.measure;
    const nonNeg = m.kind === 'count' || m.lower >= 0;
    let total = 0;
    let absTotal = 0;
    t.cells.forEach((c, i) => {
      const co = cellCoords(dims, i);
      if (co.every((n, d) => dims[d]!.nodes[n]!.leaf)) {
        const v = internalValue(t, c);
        total += v;
        absTotal += Math.abs(v);
      }
    });
    const lo = nonNeg ? 0 : -absTotal;
    const hi = nonNeg ? total : absTotal;
    const loc = tableCells[ti]!;
    t.cells.forEach((c, i) => {
      const id = loc[i]!;
      if (owners[id]![0]!.table === ti && owners[id]![0]!.index === i) {
        value[id] = internalValue(t, c);
        units[id] = c.units;
      }
      lower[id] = Math.max(lower[id]!, lo);
      upper[id] = Math.min(upper[id]!, hi);
    });
  });

  // 4. Relations.
  const relations: Relation[] = [];
  const seen = new Set<string>();
  const cellRelations: number[][] = Array.from({ length: N }, () => []);
  tables.forEach((t, ti) => {
    const dims = t.plan.dimensions;
    const st = strides(dims);
    const n = cellCount(dims);
    const loc = tableCells[ti]!;
    dims.forEach((dim, d) => {
      const stride = st[d]!;
      for (let i = 0; i < n; i++) {
        const co = cellCoords(dims, i);
        const node = dim.nodes[co[d]!]!;
        if (node.leaf || node.children.length === 0) continue;
        const base = i - co[d]! * stride;
        const list = [loc[i]!, ...node.children.map((ch) => loc[base + ch * stride]!)];
        const key = list.join(',');
        if (seen.has(key)) continue;
        seen.add(key);
        const r = relations.length;
        relations.push({ cells: Int32Array.from(list), coefs: Int8Array.from(list.map((_, k) => (k === 0 ? 1 : -1))) });
        for (const c of list) cellRelations[c]!.push(r);
      }
    });
  });

  return { cellCount: N, tableCells, owners, value, units, lower, upper, relations, cellRelations, linkGroup };
}
