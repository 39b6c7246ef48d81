/**
 * `protectSdc`: the sdc regime for a release (primary rules, one linked system, secondary suppression, final audit).
 *
 * Guarantee: every returned table's suppression pattern passed the attacker audit of all tables together (else
 * AUDIT_FAILED); suppressed cells carry value null and a status only; the reviewer report (attacker intervals from
 * exact values) is kept apart from the tables and must never be published.
 */
import { StatguardError } from '../errors.ts';
import { cellCoords } from '../types.ts';
import type { ConfStatus, ExactTable, InsiderModel, ProtectedCell, ProtectedTable, SdcPlan } from '../types.ts';
import type { CellAudit } from './audit.ts';
import { Deadline } from './deadline.ts';
import { finalAudit, insiderModel, insiderSection, unprovenAgainstInsiders } from './insider-final.ts';
import type { InsiderSection } from './insider-final.ts';
import { applyPrimaryRules, assessDifference } from './primary.ts';
import type { CellAssessment, PrimaryResult, PrimaryRule } from './primary.ts';
import { buildCellSystem, cellName } from './relations.ts';
import type { CellSystem } from './relations.ts';
import { cellCosts } from './problem.ts';
import type { CoarseFallback, GroupRun } from './problem.ts';
import { secondarySuppression } from './secondary.ts';
import type { PublishedTableLink } from './published.ts';
import type { SensitiveCell } from './sensitive.ts';

/** Attacker interval of one sensitive cell, in the table's natural unit (mean tables: of the cell's sum). Reviewer-only. */
export interface SensitiveCellReport {
  /** Node codes per dimension. */
  readonly codes: readonly string[];
  readonly status: ConfStatus;
  readonly rule: PrimaryRule;
  readonly value: number;
  readonly min: number;
  readonly max: number;
  readonly requiredUpper: number;
  readonly requiredLower: number;
  readonly passes: boolean;
  readonly margin: number;
}

export interface SdcTableReport {
  readonly tableId: string;
  readonly cells: number;
  readonly primary: Readonly<Record<PrimaryRule, number>>;
  readonly primaryTotal: number;
  readonly secondary: number;
  readonly shareCellsSuppressed: number;
  /** Share of the table's grand total (sum of leaf cells, absolute) lying in suppressed leaf cells. */
  readonly shareValueSuppressed: number;
  readonly sensitive: readonly SensitiveCellReport[];
  readonly narrowestMargin: number;
}

/**
 * Reviewer-only report (secure zone). It contains attacker intervals derived
 * from exact values of suppressed cells: never publish it.
 */
export interface SdcReport {
  readonly secure: true;
  /**
   * 'optimal' only when every link group's optimal run proved its pattern optimal, else 'heuristic' (the pattern is
   * the heuristic's or a coarse one; per group: `groups`, with `optimalStop` and `coarse`).
   */
  readonly method: 'optimal' | 'heuristic';
  /** Whether every group's MIP proved optimality within its time limit; null when some group used the heuristic. */
  readonly optimalFinished: boolean | null;
  /** Per independent link group: its tables, the method that ran, whether it finished, its secondary cells and time. */
  readonly groups?: readonly GroupRun[];
  /** The search ran out of time in some group: the coarse pattern used, and the figures for coarsening the table. */
  readonly coarse?: CoarseFallback;
  readonly tables: readonly SdcTableReport[];
  readonly auditPasses: boolean;
  readonly narrowestMargin: number;
  readonly linkGroups: number;
  readonly neverSuppressViolations: number;
  readonly singletonRule: boolean;
  /**
   * The insider model the pattern was protected under, and what each insider (the contributor of a suppressed one-unit
   * cell, who knows its value) could still learn of another unit's sensitive cell: empty under 'singletons' (the
   * audit refuses any), the attacks left open under 'lone-cell', not computed under 'none' (insider-final.ts).
   */
  readonly insiders: InsiderSection;
  /** Relations of distinct-unit count tables that do not add up, audited as inequalities (see relations.ts). */
  readonly inequalityRelations: number;
}

export interface SdcResult {
  readonly tables: ProtectedTable[];
  readonly report: SdcReport;
}

const STATUS_RANK: Record<ConfStatus, number> = { A: 0, O: 1, T: 2, C: 3, D: 4, F: 5 };

export interface ProtectSdcOptions {
  /**
   * Apply the singleton rule in the audit (default true): a contributor alone in a suppressed cell must not be
   * able to compute a sensitive cell from a relation where only the two of them stay hidden.
   */
  readonly singletonRule?: boolean;
  /** The insider model (default: the plan's `secondary.insiders`, else 'singletons'); `singletonRule: false` means 'none'. */
  readonly insiders?: InsiderModel;
  /**
   * Tables already published from the same dataset (`--against`), recomputed from the current microdata
   * (`linkPublished`). They join the attacker's system: their published cells are constants that can never be
   * suppressed (the public already has them), their suppressed cells are suppressed here too and stay sensitive
   * when they were primaries there (or the rules flag them now). Only the new tables are returned.
   */
  readonly published?: readonly PublishedTableLink[];
}

/**
 * Protect tables under the sdc regime: primary rules per table, one linked system over all tables, secondary
 * suppression per link group, then a final full audit of all tables together (the guarantee above).
 */
export async function protectSdc(
  tables: readonly ExactTable[],
  plan: SdcPlan,
  options: ProtectSdcOptions = {},
): Promise<SdcResult> {
  if (plan.regime !== 'sdc') throw new StatguardError('USAGE', 'protectSdc needs an sdc protection plan');
  if (tables.length === 0) throw new StatguardError('EMPTY_INPUT', 'protectSdc was given no tables');
  const links = options.published ?? [];
  const T = tables.length;
  const all = [...tables, ...links.map((l) => l.table)];
  const primaries = all.map((t) => applyPrimaryRules(t, plan));
  // Also decides additivity per relation (distinct-unit counts may be non-additive) and refuses inconsistent tables.
  const built = buildCellSystem(all);

  // Merge primary results over shared cells: a cell is sensitive if any owner finds it so.
  const N = built.cellCount;
  const primary = new Uint8Array(N);
  const never = new Uint8Array(N);
  const status: ConfStatus[] = new Array<ConfStatus>(N).fill('F');
  const rule: (PrimaryRule | null)[] = new Array<PrimaryRule | null>(N).fill(null);
  const sensMap = new Map<number, SensitiveCell>();
  // Cells published in a linked release: constants for the attacker, never suppressible (fixed).
  const fixed = new Uint8Array(N);
  const fixedBy = new Map<number, string>();
  // Cells of a linked release that changed since it was published and are sensitive in the difference table.
  const differences = new Map<number, CellAssessment>();
  primaries.forEach((p, ti) => {
    const loc = built.tableCells[ti]!;
    const link = ti >= T ? links[ti - T]! : null;
    p.cells.forEach((c, i) => {
      const g = loc[i]!;
      if (c.neverSuppress) never[g] = 1;
      if (link) {
        if (!link.suppressed[i]) {
          const diff = link.changed[i];
          if (diff !== null && diff !== undefined) {
            // Changed since that release (a correction): its difference is a cell of the difference table.
            const a = assessDifference(plan, link.table.plan, diff);
            if (a.rules.length > 0) differences.set(g, maxAssessment(differences.get(g), a));
            return;
          }
          fixed[g] = 1;
          fixedBy.set(g, `${link.release} (table ${JSON.stringify(link.tableId)})`);
          return;
        }
        // Suppressed there: stays suppressed here (publishing it now would disclose it); sensitive when it was a
        // primary there or the rules flag it now, with the rule's protection or frequencyProtection percent.
        primary[g] = 1;
        if (!c.unsafe && !link.primary[i]) return;
        const level = c.unsafe ? c.upper : (plan.frequencyProtection / 100) * Math.abs(built.value[g]!);
        const prev = sensMap.get(g);
        sensMap.set(g, { id: g, upper: Math.max(prev?.upper ?? 0, level), lower: Math.max(prev?.lower ?? 0, level) });
        return;
      }
      if (!c.unsafe) return;
      primary[g] = 1;
      if (STATUS_RANK[c.status] < STATUS_RANK[status[g]!]) {
        status[g] = c.status;
        rule[g] = c.rule;
      }
      const prev = sensMap.get(g);
      sensMap.set(g, { id: g, upper: Math.max(prev?.upper ?? 0, c.upper), lower: Math.max(prev?.lower ?? 0, c.lower) });
    });
  });
  // A sensitive difference must stay hidden, unless a release on the current data already published the cell (then
  // the difference is public already, and was audited when that release was).
  for (const [g, a] of differences) {
    if (fixed[g]) continue;
    primary[g] = 1;
    if (STATUS_RANK[a.status] < STATUS_RANK[status[g]!]) {
      status[g] = a.status;
      rule[g] = a.rules[0]!;
    }
    const prev = sensMap.get(g);
    sensMap.set(g, { id: g, upper: Math.max(prev?.upper ?? 0, a.level), lower: Math.max(prev?.lower ?? 0, a.level) });
  }
  const sys = differences.size > 0 ? withoutTotalBounds(built) : built;
  for (let g = 0; g < N; g++) {
    if (fixed[g] && (primary[g] || sensMap.has(g))) {
      throw new StatguardError(
        'SDC_INFEASIBLE',
        `${cellName(sys, all, g)} must be suppressed, but it was already published in ${fixedBy.get(g)}: the new release cannot protect it`,
      );
    }
    if (primary[g] && never[g]) {
      throw new StatguardError(
        'SDC_INFEASIBLE',
        `a cell marked neverSuppress in one table is sensitive in a linked table (${cellName(sys, all, g)})`,
      );
    }
  }
  const sensitive = [...sensMap.values()].sort((a, b) => a.id - b.id);
  const cost = cellCosts(sys, plan.secondary.cost);
  const insiders = insiderModel(options, plan.secondary.insiders);
  const singletons = insiders !== 'none';
  // The end of the release's time limit: the final audit's insider phase must end by then (insider-final.ts).
  const limit = Deadline.after(plan.secondary.timeLimitSeconds);
  const sec = await secondarySuppression(
    { sys, tables: all, sensitive, primary, never, fixed, cost, singletons, insiders: insiders === 'singletons' },
    plan.secondary,
  ).catch(unprovenAgainstInsiders);

  // Final, independent full audit (guarantee above): never trust the search's own bookkeeping. The search's witnesses
  // only save work: each is checked exactly against the final pattern before it counts.
  const audit = await finalAudit(sys, sec, sensitive, all, insiders, limit);
  if (!audit.passes)
    throw new StatguardError('AUDIT_FAILED', 'the final suppression pattern does not pass the attacker audit');

  const auditById = new Map(audit.cells.map((c) => [c.id, c]));
  const protectedTables: ProtectedTable[] = tables.map((t, ti) => {
    const loc = sys.tableCells[ti]!;
    const m = t.plan.measure;
    const scale = m.kind === 'count' ? 1 : 10 ** m.decimals;
    const cells: ProtectedCell[] = t.cells.map((c, i) => {
      const g = loc[i]!;
      if (sec.suppressed[g]) {
        // Suppressed: value null, status only (primary status, or D for secondary).
        return Object.freeze({ value: null, conf: status[g] !== 'F' ? status[g]! : 'D', obs: 'A', accuracy: null });
      }
      return Object.freeze({ value: publishedValue(t, c, scale), conf: 'F', obs: 'A', accuracy: null });
    });
    return Object.freeze({ kind: 'protected', plan: t.plan, cells: Object.freeze(cells) });
  });

  const tableReports = tables.map((t, ti) =>
    tableReport(t, ti, sys, primaries[ti]!, sec.suppressed, primary, status, rule, auditById),
  );
  return {
    tables: protectedTables,
    report: {
      secure: true,
      method: sec.method,
      optimalFinished: sec.optimalFinished,
      ...(sec.groups ? { groups: sec.groups } : {}),
      ...(sec.coarse ? { coarse: sec.coarse } : {}),
      tables: tableReports,
      auditPasses: audit.passes,
      narrowestMargin: audit.narrowestMargin,
      linkGroups: new Set(sys.linkGroup).size,
      neverSuppressViolations: sec.neverSuppressViolations,
      singletonRule: singletons,
      insiders: insiderSection(sys, all, audit, insiders),
      inequalityRelations: sys.relations.filter((r) => !r.additive).length,
    },
  };
}

/** A published (not suppressed) cell's value in the measure's unit. */
function publishedValue(t: ExactTable, c: ExactTable['cells'][number], scale: number): number | null {
  const m = t.plan.measure;
  // Weighted estimates are floats: published rounded to the measure's precision (counts: whole numbers).
  if (m.kind === 'count') return m.weight ? Math.round(c.sum) : c.units;
  if (m.kind === 'sum') return (m.weight ? Math.round(c.sum) : c.sum) / scale;
  if (m.kind === 'quantile')
    throw new StatguardError('POLICY_INVALID', `table ${t.plan.id}: quantiles need the dp regime`);
  // A mean over units (each unit's total in the cell) or over rows, as the policy says.
  const n = m.per === 'row' ? c.rows : c.units;
  return n > 0 ? c.sum / n / scale : null;
}

/**
 * The system of a correction: the a priori upper bound of a non-negative cell (its table's exact total, see
 * relations.ts) is dropped, since the corrected data's totals are public only where they are published, and those are
 * constants of the system already. Keeping it would hand the attacker the exact new total that the correction hides,
 * and make a sensitive difference of a total impossible to protect.
 */
function withoutTotalBounds(sys: CellSystem): CellSystem {
  const upper = Float64Array.from(sys.upper, (u, g) => (sys.lower[g]! >= 0 ? Infinity : u));
  return { ...sys, upper };
}

/** The stronger of two assessments of one cell: the better-ranked status and rule, the larger level. */
function maxAssessment(a: CellAssessment | undefined, b: CellAssessment): CellAssessment {
  if (!a) return b;
  const first = STATUS_RANK[b.status] < STATUS_RANK[a.status] ? b : a;
  return { rules: first.rules, status: first.status, level: Math.max(a.level, b.level) };
}

function tableReport(
  t: ExactTable,
  ti: number,
  sys: CellSystem,
  p: PrimaryResult,
  suppressed: Uint8Array,
  primary: Uint8Array,
  status: readonly ConfStatus[],
  rule: readonly (PrimaryRule | null)[],
  auditById: Map<number, CellAudit>,
): SdcTableReport {
  const loc = sys.tableCells[ti]!;
  const dims = t.plan.dimensions;
  const m = t.plan.measure;
  const scale = m.kind === 'count' ? 1 : 10 ** m.decimals;
  let sup = 0;
  let sec = 0;
  let prim = 0;
  let total = 0;
  let hidden = 0;
  const sensitive: SensitiveCellReport[] = [];
  let narrowest = Infinity;
  t.cells.forEach((_, i) => {
    const g = loc[i]!;
    const co = cellCoords(dims, i);
    const leaf = co.every((n, d) => dims[d]!.nodes[n]!.leaf);
    if (leaf) total += Math.abs(sys.value[g]!);
    if (!suppressed[g]) return;
    sup++;
    if (leaf) hidden += Math.abs(sys.value[g]!);
    const a = auditById.get(g);
    // Secondary: not a primary of this release (cells kept suppressed for a linked release count here too).
    if (!primary[g] || !a || status[g] === 'F') {
      sec++;
      return;
    }
    prim++;
    narrowest = Math.min(narrowest, a.margin / scale);
    sensitive.push({
      codes: co.map((n, d) => dims[d]!.nodes[n]!.code),
      status: status[g]!,
      rule: rule[g]!,
      value: a.value / scale,
      min: a.min / scale,
      max: a.max / scale,
      requiredUpper: (a.needUp - a.value) / scale,
      requiredLower: (a.value - a.needDown) / scale,
      passes: a.passes,
      margin: a.margin / scale,
    });
  });
  void p;
  const counts: Record<PrimaryRule, number> = { frequency: 0, dominance: 0, 'p-percent': 0, pq: 0, zero: 0, always: 0 };
  t.cells.forEach((_, i) => {
    const g = loc[i]!;
    if (primary[g] && rule[g]) counts[rule[g]!]++;
  });
  return {
    tableId: t.plan.id,
    cells: t.cells.length,
    primary: counts,
    primaryTotal: prim,
    secondary: sec,
    shareCellsSuppressed: t.cells.length > 0 ? sup / t.cells.length : 0,
    shareValueSuppressed: total > 0 ? hidden / total : 0,
    sensitive,
    narrowestMargin: narrowest,
  };
}
