/**
 * The attacker's model of a release: one linear system over all tables (global cell ids, relations, a priori bounds).
 *
 * Guarantee: every relation and bound holds on the exact values and is known to the strongest realistic attacker
 * (the tables' structure; for distinct-unit counts that do not add up, only what holds for every overlap). Tables
 * that disagree, magnitude tables that do not add up, and counts outside [largest child, sum of children] are
 * SDC_INFEASIBLE (naming the cell, never a value).
 */
import { StatguardError } from '../errors.ts';
import { cellCoords, cellCount, cellIndex, strides } from '../types.ts';
import type { DimensionPlan, ExactTable, MeasurePlan } from '../types.ts';
import { internalValue } from './primary.ts';

/**
 * One table relation over global cell ids: `cells[0]` is the aggregate (coef +1), `cells[1..]` its children (coef -1).
 *
 * - `additive: true` (every magnitude relation; count relations whose exact cells add up): the attacker knows the
 *   equality sum_i coefs[i] * value(cells[i]) = 0.
 * - `additive: false` (count tables only, counts of DISTINCT units where a unit has rows in several children): the
 *   attacker knows only what holds for every distinct count: aggregate <= sum(children) (a unit of the aggregate is
 *   in at least one child), aggregate >= each child (a child's units are units of the aggregate), and >= 0 (a priori
 *   bounds). In coefficient form: sum_i coefs[i] * value(cells[i]) <= 0 and value(cells[k]) - value(cells[0]) <= 0.
 */
export interface Relation {
  readonly cells: Int32Array;
  readonly coefs: Int8Array;
  readonly additive: boolean;
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
  const w = m.weight ? `:w:${m.weight.column}` : '';
  return m.kind === 'count' ? `count${w}` : `sum:${m.column}:${m.decimals}${w}`;
}

function dimSignature(d: DimensionPlan): string {
  return JSON.stringify(
    d.nodes.map((n) => [
      n.code,
      n.leaf,
      n.parent === null ? null : d.nodes[n.parent]!.code,
      n.parent === null && !n.leaf,
    ]),
  );
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
 * Additivity is decided per relation on the exact values (shared cells hold one value, so a relation shared by linked
 * tables gets one verdict): a relation that holds exactly stays an equality (the strongest realistic attacker knows
 * it); a count relation that does not is kept as the distinct-count inequalities (see `Relation`), after checking
 * that the exact values satisfy them. A magnitude (sum, mean) relation that does not add up, or a count relation
 * violating the distinct-count inequalities, is an internal inconsistency: SDC_INFEASIBLE (names the cell, no value).
 *
 * A priori bounds (the attacker's prior knowledge): [0, T] when values are non-negative (count tables; sums whose
 * clamping lower bound is >= 0), with T the table's grand total (sum over all leaf cells; for a count table with a
 * grand-total cell, that cell's value, which is the same number for additive tables and the true number of distinct
 * units otherwise); otherwise [-S, S] with S the sum of absolute leaf-cell values. Tighter priors make the attacker
 * stronger, so the audit is stricter with them; all are true bounds of every cell (a cell's units are units of the
 * table). Shared cells take the tightest bounds any owner gives.
 */
export function buildCellSystem(tables: readonly ExactTable[]): CellSystem {
  const { linkGroup, groupDims } = linkGroups(tables);
  const { owners, tableCells } = globalIds(tables, linkGroup, groupDims);
  const { value, units, lower, upper } = valuesAndBounds(tables, owners, tableCells);
  const { relations, cellRelations } = tableRelations(tables, tableCells, value);
  return {
    cellCount: owners.length,
    tableCells,
    owners,
    value,
    units,
    lower,
    upper,
    relations,
    cellRelations,
    linkGroup,
  };
}

/** Link group per table, and the dimension names of each group (sorted). */
function linkGroups(tables: readonly ExactTable[]): { linkGroup: number[]; groupDims: string[][] } {
  const groups: { key: string; sig: Map<string, string> }[] = [];
  const linkGroup: number[] = [];
  for (const t of tables) {
    const key = measureKey(t.plan.measure);
    let g = groups.findIndex(
      (grp) =>
        grp.key === key &&
        t.plan.dimensions.every((d) => {
          const s = grp.sig.get(d.name);
          return s === undefined || s === dimSignature(d);
        }),
    );
    if (g < 0) {
      g = groups.length;
      groups.push({ key, sig: new Map() });
    }
    for (const d of t.plan.dimensions) groups[g]!.sig.set(d.name, dimSignature(d));
    linkGroup.push(g);
  }
  const groupDims = groups.map((g) => [...g.sig.keys()].sort());
  return { linkGroup, groupDims };
}

/** Global cell ids: per table its local -> global map, per global cell its owners (first = canonical). */
function globalIds(
  tables: readonly ExactTable[],
  linkGroup: readonly number[],
  groupDims: readonly string[][],
): { owners: CellOwner[][]; tableCells: Int32Array[] } {
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
  return { owners, tableCells };
}

/** Values and a priori bounds per global cell (see `buildCellSystem`); linked tables must agree on shared cells. */
function valuesAndBounds(
  tables: readonly ExactTable[],
  owners: readonly (readonly CellOwner[])[],
  tableCells: readonly Int32Array[],
): { value: Float64Array; units: Float64Array; lower: Float64Array; upper: Float64Array } {
  const N = owners.length;
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
    if (m.kind === 'count' && m.weight === undefined && dims.length > 0 && dims.every((d) => d.total !== null)) {
      // Distinct units of the whole table: every cell counts a subset of them (equals the leaf sum when additive).
      total = Math.min(
        total,
        t.cells[
          cellIndex(
            dims,
            dims.map((d) => d.total!),
          )
        ]!.units,
      );
    }
    const lo = nonNeg ? 0 : -absTotal;
    const hi = nonNeg ? total : absTotal;
    const loc = tableCells[ti]!;
    t.cells.forEach((c, i) => {
      const id = loc[i]!;
      if (owners[id]![0]!.table === ti && owners[id]![0]!.index === i) {
        value[id] = internalValue(t, c);
        units[id] = c.units;
      } else if (internalValue(t, c) !== value[id]) {
        // Linked tables must agree on a shared cell, else the relations of one table would lie about the other.
        throw new StatguardError(
          'SDC_INFEASIBLE',
          `linked tables disagree on a shared cell: ${describeCell(tables, ti, i)} and ${describeCell(tables, owners[id]![0]!.table, owners[id]![0]!.index)}`,
        );
      }
      lower[id] = Math.max(lower[id]!, lo);
      upper[id] = Math.min(upper[id]!, hi);
    });
  });
  return { value, units, lower, upper };
}

/** The relations of every table (duplicates dropped), each with its additivity verdict, and the relations per cell. */
function tableRelations(
  tables: readonly ExactTable[],
  tableCells: readonly Int32Array[],
  value: Float64Array,
): { relations: Relation[]; cellRelations: number[][] } {
  const N = value.length;
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
        const additive = isAdditive(tables, list, value, t, i);
        relations.push({
          cells: Int32Array.from(list),
          coefs: Int8Array.from(list.map((_, k) => (k === 0 ? 1 : -1))),
          additive,
        });
        for (const c of list) cellRelations[c]!.push(r);
      }
    });
  });
  return { relations, cellRelations };
}

/**
 * Additivity verdict of one relation (aggregate list[0], children list[1..]) on the exact values, or an error.
 * Counts are integers (exact comparison); sums use a 1e-9 relative tolerance against rounding of scaled values.
 */
function isAdditive(
  tables: readonly ExactTable[],
  list: readonly number[],
  v: Float64Array,
  t: ExactTable,
  i: number,
): boolean {
  const agg = v[list[0]!]!;
  let sum = 0;
  let mag = Math.abs(agg);
  let maxChild = -Infinity;
  for (let k = 1; k < list.length; k++) {
    const c = v[list[k]!]!;
    sum += c;
    mag += Math.abs(c);
    maxChild = Math.max(maxChild, c);
  }
  // Weighted counts add up like sums (each row adds its weight to every ancestor cell).
  if (t.plan.measure.kind !== 'count' || t.plan.measure.weight !== undefined) {
    if (Math.abs(agg - sum) <= 1e-9 * Math.max(1, mag)) return true;
    // A unit's contribution to a sum is split across cells, so magnitude tables always add up: this is a bug upstream.
    throw new StatguardError(
      'SDC_INFEASIBLE',
      `cells do not add up to their aggregate at ${describeCell(tables, tables.indexOf(t), i)}: a magnitude table must be additive (internal error in the aggregation)`,
    );
  }
  if (agg === sum) return true;
  // Distinct-unit counts: max(child) <= aggregate <= sum(children) must hold whatever the overlaps.
  if (agg >= maxChild && agg <= sum) return false;
  throw new StatguardError(
    'SDC_INFEASIBLE',
    `cells do not add up to their aggregate at ${describeCell(tables, tables.indexOf(t), i)}: a count of distinct units must lie between its largest child and the sum of its children`,
  );
}

/** Table id and node codes of a cell (never its value), for error messages. */
function describeCell(tables: readonly ExactTable[], ti: number, index: number): string {
  const plan = tables[ti]!.plan;
  const dims = plan.dimensions;
  const codes = cellCoords(dims, index).map((n, d) => dims[d]!.nodes[n]!.code);
  // Shadow tables of published releases (id `against:<k>:<table>`) are named by their published table id.
  const name = plan.id.startsWith('against:')
    ? `published table ${JSON.stringify(plan.title)}`
    : `table ${JSON.stringify(plan.id)}`;
  return `${name}, cell (${codes.join(', ')})`;
}

/** A cell of the linked system by its codes in a table of the release (else a published one), never its value. */
export function cellName(sys: CellSystem, tables: readonly ExactTable[], g: number): string {
  const owners = sys.owners[g]!;
  const o = owners.find((x) => !tables[x.table]!.plan.id.startsWith('against:')) ?? owners[0]!;
  return describeCell(tables, o.table, o.index);
}
