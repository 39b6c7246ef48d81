/**
 * Combination check: could a cell this policy suppresses be recovered by
 * combining its tables with releases already published from the same dataset?
 *
 * Method: one attacker system over the new policy's exact tables
 * (engine/sdc `buildCellSystem`); every cell of a published table that maps
 * onto a cell of that system (same measure, same dimension hierarchies, a
 * missing dimension = its total) and was published exactly (OBS_STATUS A, value
 * equal to the exact one) becomes known to the attacker. The new suppression
 * pattern minus the known cells is then audited with `auditPattern` against the
 * new policy's primary protection levels. A sensitive cell published in an
 * earlier release is recovered outright; one whose attacker interval becomes too
 * narrow is recovered within its protection level.
 *
 * Limits (stated in the report): published tables whose cells are not all cells
 * of the new system (a dimension the new tables lack, another hierarchy, a mean
 * or rounded/noisy table) are not linked and are listed as such; noisy (dp)
 * cells are never treated as known (a noisy value does not pin a cell).
 */
import { applyPrimaryRules, auditPattern, buildCellSystem } from '../sdc/index.ts';
import type { CellSystem, SensitiveCell } from '../sdc/index.ts';
import type { DimensionPlan, ExactTable, ProtectedTable, SdcPlan } from '../types.ts';
import { cellCoords } from '../types.ts';

export interface PublishedRelease {
  readonly id: string;
  readonly tables: readonly ProtectedTable[];
}

export interface RecoveredCell {
  readonly table: string;
  readonly codes: readonly string[];
  /** published: the cell itself is published in `release`; interval: the combined audit fails for it. */
  readonly how: 'published' | 'interval';
  readonly release: string | null;
}

export interface CombinationCheck {
  /** Published releases examined (same dataset). */
  readonly releases: readonly string[];
  /** Published tables linked into the audit, as "release/table". */
  readonly linkedTables: readonly string[];
  /** Published tables that could not be linked (see limits), as "release/table". */
  readonly unlinkedTables: readonly string[];
  /** Cells of the new system made known by earlier releases. */
  readonly knownCells: number;
  readonly recovered: readonly RecoveredCell[];
  readonly passes: boolean;
}

const TOTAL = '\u0000T';

function measureKey(m: ExactTable['plan']['measure'] | ProtectedTable['plan']['measure']): string | null {
  if (m.kind === 'count') return 'count';
  if (m.kind === 'sum') return `sum:${m.column}`;
  return null;
}

function dimSignature(d: DimensionPlan): string {
  return JSON.stringify(
    d.nodes
      .map((n) => [n.code, n.parent === null ? null : d.nodes[n.parent]!.code])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
}

function nodeToken(d: DimensionPlan, n: number): string {
  const node = d.nodes[n]!;
  return node.parent === null && !node.leaf ? TOTAL : node.code;
}

/** Primary protection of the new tables, merged over shared cells exactly as protectSdc does. */
function sensitiveCells(tables: readonly ExactTable[], sys: CellSystem, plan: SdcPlan): SensitiveCell[] {
  const sens = new Map<number, SensitiveCell>();
  tables.forEach((t, ti) => {
    const p = applyPrimaryRules(t, plan);
    const loc = sys.tableCells[ti]!;
    p.cells.forEach((c, i) => {
      if (!c.unsafe) return;
      const g = loc[i]!;
      const prev = sens.get(g);
      sens.set(g, { id: g, upper: Math.max(prev?.upper ?? 0, c.upper), lower: Math.max(prev?.lower ?? 0, c.lower) });
    });
  });
  return [...sens.values()].sort((a, b) => a.id - b.id);
}

export async function combinationCheck(
  exact: readonly ExactTable[],
  protectedTables: readonly ProtectedTable[],
  plan: SdcPlan,
  published: readonly PublishedRelease[],
  opts: { singletons?: boolean } = {},
): Promise<CombinationCheck> {
  const sys = buildCellSystem(exact);
  // Cell keys of the new system, per link group (the same identification buildCellSystem uses).
  const groupDims = new Map<number, Map<string, DimensionPlan>>();
  const groupMeasure = new Map<number, string | null>();
  exact.forEach((t, ti) => {
    const g = sys.linkGroup[ti]!;
    const m = groupDims.get(g) ?? new Map<string, DimensionPlan>();
    for (const d of t.plan.dimensions) m.set(d.name, d);
    groupDims.set(g, m);
    groupMeasure.set(g, measureKey(t.plan.measure));
  });
  const keyOf = (g: number, dims: readonly DimensionPlan[], coords: readonly number[]): string => {
    const names = [...groupDims.get(g)!.keys()].sort();
    return `${g}\u0001${names
      .map((name) => {
        const d = dims.findIndex((x) => x.name === name);
        return d < 0 ? TOTAL : nodeToken(dims[d]!, coords[d]!);
      })
      .join('\u0001')}`;
  };
  const ids = new Map<string, number>();
  exact.forEach((t, ti) => {
    const g = sys.linkGroup[ti]!;
    const loc = sys.tableCells[ti]!;
    t.cells.forEach((_, i) => ids.set(keyOf(g, t.plan.dimensions, cellCoords(t.plan.dimensions, i)), loc[i]!));
  });

  const suppressed = new Uint8Array(sys.cellCount);
  protectedTables.forEach((t, ti) => {
    const loc = sys.tableCells[ti]!;
    t.cells.forEach((c, i) => {
      if (c.value === null) suppressed[loc[i]!] = 1;
    });
  });

  const knownBy = new Map<number, string>();
  const linked: string[] = [];
  const unlinked: string[] = [];
  for (const rel of published) {
    for (const pt of rel.tables) {
      const name = `${rel.id}/${pt.plan.id}`;
      const mk = measureKey(pt.plan.measure);
      let group = -1;
      for (const [g, dims] of groupDims) {
        if (groupMeasure.get(g) !== mk || mk === null) continue;
        if (pt.plan.dimensions.every((d) => dims.has(d.name) && dimSignature(dims.get(d.name)!) === dimSignature(d))) {
          group = g;
          break;
        }
      }
      if (group < 0) {
        unlinked.push(name);
        continue;
      }
      const gids: number[] = [];
      let ok = true;
      for (let i = 0; i < pt.cells.length && ok; i++) {
        const id = ids.get(keyOf(group, pt.plan.dimensions, cellCoords(pt.plan.dimensions, i)));
        if (id === undefined) ok = false;
        else gids.push(id);
      }
      if (!ok) {
        unlinked.push(name);
        continue;
      }
      linked.push(name);
      const scale = pt.plan.measure.kind === 'sum' ? 10 ** exactDecimals(exact, sys, group) : 1;
      pt.cells.forEach((c, i) => {
        if (c.value === null || c.obs !== 'A') return;
        const g = gids[i]!;
        // Known only when published exactly (rounded or perturbed values do not pin the cell).
        if (Math.abs(c.value * scale - sys.value[g]!) > 1e-9 * Math.max(1, Math.abs(sys.value[g]!))) return;
        if (!knownBy.has(g)) knownBy.set(g, rel.id);
      });
    }
  }

  const sensitive = sensitiveCells(exact, sys, plan);
  const combined = suppressed.slice();
  let knownCells = 0;
  for (const [g] of knownBy) {
    if (combined[g]) {
      combined[g] = 0;
      knownCells++;
    }
  }
  const recovered: RecoveredCell[] = [];
  const describe = (g: number): { table: string; codes: string[] } => {
    const o = sys.owners[g]![0]!;
    const dims = exact[o.table]!.plan.dimensions;
    return { table: exact[o.table]!.plan.id, codes: cellCoords(dims, o.index).map((n, d) => dims[d]!.nodes[n]!.code) };
  };
  const open = sensitive.filter((s) => {
    if (!suppressed[s.id]) return false;
    const by = knownBy.get(s.id);
    if (by !== undefined) {
      recovered.push({ ...describe(s.id), how: 'published', release: by });
      return false;
    }
    return true;
  });
  if (knownCells > 0 && open.length > 0) {
    const audit = await auditPattern(sys, combined, open, { singletons: opts.singletons !== false });
    for (const c of audit.cells) if (!c.passes) recovered.push({ ...describe(c.id), how: 'interval', release: null });
  }
  return {
    releases: published.map((r) => r.id),
    linkedTables: linked,
    unlinkedTables: unlinked,
    knownCells,
    recovered,
    passes: recovered.length === 0,
  };
}

function exactDecimals(exact: readonly ExactTable[], sys: CellSystem, group: number): number {
  const ti = sys.linkGroup.findIndex((g) => g === group);
  const m = exact[ti]!.plan.measure;
  return m.kind === 'count' ? 0 : m.decimals;
}
