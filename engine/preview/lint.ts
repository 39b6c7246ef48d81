/**
 * Policy lint: what a reviewer should look at, each finding with its reason
 * and the JSON pointer of the policy part it concerns.
 *
 * Plan-level checks need only the plan; data-level checks (categories absent
 * from the data, tables mostly below the threshold) need the exact tables and
 * are reviewer-only (derived from exact counts, but they name categories and
 * tables, never a value); the budget check needs the dataset's ledger.
 *
 * Never for a dp policy: a fact about the exact data (a category with no unit,
 * a count of dropped rows) is itself a disclosure outside the privacy budget,
 * and fitting the declared domain to it would make the release depend on the
 * data ("domains never from the data"). A dp plan gets plan-level and budget
 * checks only, whatever data it is given.
 */
import { overBudget, type LedgerState } from '../dp/index.ts';
import { plannedSelections } from '../dp/partition.ts';
import { validatePolicy } from '../policy/index.ts';
import { planCost } from '../regime.ts';
import type { AggregateStats } from '../source/index.ts';
import type { ExactTable, Plan } from '../types.ts';
import { cellCoords } from '../types.ts';

export type LintSeverity = 'error' | 'warning';

export interface LintFinding {
  readonly severity: LintSeverity;
  /** Stable code of the check. */
  readonly code:
    | 'INVALID'
    | 'LOW_THRESHOLD'
    | 'NO_THRESHOLD'
    | 'HIGH_EPSILON'
    | 'HIGH_RHO'
    | 'MOSTLY_BELOW_THRESHOLD'
    | 'BUDGET_EXCEEDS_LEDGER'
    | 'CATEGORY_NOT_IN_DATA'
    | 'CATEGORY_NOT_DECLARED'
    | 'OPEN_DOMAIN';
  /** JSON pointer in the policy document. */
  readonly path: string;
  readonly message: string;
}

/** Thresholds of the lint checks (documented in README.md). */
export const LINT_LIMITS = {
  minThreshold: 3,
  maxEpsilon: 10,
  maxRho: 5,
  /** A table is "mostly below the threshold" when more than this share of its non-empty interior cells are. */
  belowThresholdShare: 0.5,
} as const;

export type { LedgerState };

/** The validator's errors as findings (empty when the document is valid). */
export function lintDocument(json: unknown): LintFinding[] {
  const v = validatePolicy(json);
  if (v.ok) return [];
  return v.errors.map((e) => ({ severity: 'error', code: 'INVALID', path: e.path, message: e.message }));
}

export interface LintContext {
  readonly exact?: readonly ExactTable[];
  readonly stats?: AggregateStats;
  /** null or absent: the ledger is unknown and the budget check is skipped. */
  readonly ledger?: LedgerState | null;
}

export function lintPlan(plan: Plan, ctx: LintContext = {}): LintFinding[] {
  const out: LintFinding[] = [];
  const p = plan.protection;
  let threshold: number | null = null;
  if (p.regime === 'sdc') {
    threshold = p.minFrequency;
    if (p.minFrequency === null) {
      out.push({
        severity: 'warning',
        code: 'NO_THRESHOLD',
        path: '/protection/rules',
        message: 'no minimum frequency rule: cells resting on one or two units can be published',
      });
    } else if (p.minFrequency < LINT_LIMITS.minThreshold) {
      out.push({
        severity: 'warning',
        code: 'LOW_THRESHOLD',
        path: '/protection/rules/minFrequency/n',
        message: `minimum frequency ${p.minFrequency} is below ${LINT_LIMITS.minThreshold}: cells of ${p.minFrequency === 1 ? 'one unit' : 'two units'} are published, and a unit in a pair knows the other's contribution`,
      });
    }
  } else if (p.regime === 'dp') {
    threshold = p.noisyThreshold;
    if (p.epsilon !== null && p.epsilon > LINT_LIMITS.maxEpsilon) {
      out.push({
        severity: 'warning',
        code: 'HIGH_EPSILON',
        path: '/protection/budget/epsilon',
        message: `epsilon ${p.epsilon} is above ${LINT_LIMITS.maxEpsilon}: the guarantee is weak (odds of any inference may change by a factor up to e^${p.epsilon})`,
      });
    }
    if (p.rho !== null && p.rho > LINT_LIMITS.maxRho) {
      out.push({
        severity: 'warning',
        code: 'HIGH_RHO',
        path: '/protection/budget/rho',
        message: `rho ${p.rho} is above ${LINT_LIMITS.maxRho}: the guarantee is weak`,
      });
    }
    // Open domains: what partition selection will publish, from the plan alone (never from the data).
    for (const sel of plannedSelections(plan)) {
      const i = plan.dataset.columns.findIndex((c) => c.name === sel.column);
      out.push({
        severity: 'warning',
        code: 'OPEN_DOMAIN',
        path: `/dataset/columns/${i}/domain`,
        message: `column ${sel.column} has an open domain: a category is published only when its noisy unit count reaches ${sel.threshold} (noise sd ${round(sel.noiseSd)}, delta ${sel.delta}); categories with fewer units will mostly be left out, and its categories are labelled by their codes`,
      });
    }
    if (p.noisyThreshold !== null && p.noisyThreshold < LINT_LIMITS.minThreshold) {
      out.push({
        severity: 'warning',
        code: 'LOW_THRESHOLD',
        path: '/protection/noisyThreshold',
        message: `noisy threshold ${p.noisyThreshold} is below ${LINT_LIMITS.minThreshold}: many published cells will rest on very few units (the guarantee still holds; the figures are mostly noise)`,
      });
    }
  }

  const cost = planCost(plan);
  if (cost && ctx.ledger) {
    const l = ctx.ledger;
    const remRho = l.totalRho - l.spentRho;
    const remEps = l.totalEpsilon - l.spentEpsilon;
    const over = overBudget(l, cost);
    if (over.rho) {
      out.push({
        severity: 'warning',
        code: 'BUDGET_EXCEEDS_LEDGER',
        path: '/protection/budget',
        message: `the release costs rho ${round(cost.rho)} but only ${round(remRho)} of the dataset's ${round(l.totalRho)} remains on the ledger: publishing it would be refused`,
      });
    }
    if (over.epsilon) {
      out.push({
        severity: 'warning',
        code: 'BUDGET_EXCEEDS_LEDGER',
        path: '/protection/budget/epsilon',
        message: `the release costs epsilon ${round(cost.epsilon!)} but only ${round(remEps)} of the dataset's ${round(l.totalEpsilon)} remains on the ledger: publishing it would be refused`,
      });
    }
  }

  const dataFacts = plan.protection.regime !== 'dp';
  if (ctx.exact && dataFacts) {
    // Tables mostly below the threshold (non-empty interior cells with units < threshold).
    if (threshold !== null) {
      ctx.exact.forEach((t, ti) => {
        const dims = t.plan.dimensions;
        let nonEmpty = 0;
        let below = 0;
        t.cells.forEach((c, i) => {
          if (c.units === 0 || !cellCoords(dims, i).every((n, d) => dims[d]!.nodes[n]!.leaf)) return;
          nonEmpty++;
          if (c.units < threshold!) below++;
        });
        if (nonEmpty > 0 && below / nonEmpty > LINT_LIMITS.belowThresholdShare) {
          out.push({
            severity: 'warning',
            code: 'MOSTLY_BELOW_THRESHOLD',
            path: `/tables/${planTableIndex(plan, t.plan.id, ti)}`,
            message: `table ${t.plan.id}: ${below} of its ${nonEmpty} non-empty interior cells are below the threshold ${threshold}; most of the table would be suppressed (coarsen a dimension or drop one)`,
          });
        }
      });
    }
    // Declared categories with no unit in any table that uses them (empty rows or columns).
    const seen = new Set<string>();
    for (const t of ctx.exact) {
      const dims = t.plan.dimensions;
      dims.forEach((dim, d) => {
        const units = new Float64Array(dim.nodes.length);
        t.cells.forEach((c, i) => {
          const k = cellCoords(dims, i)[d]!;
          units[k] = units[k]! + c.units;
        });
        dim.nodes.forEach((node, n) => {
          if (!node.leaf || units[n]! > 0) return;
          const key = `${dim.name}\u0000${node.code}`;
          if (seen.has(key)) return;
          seen.add(key);
          out.push({
            severity: 'warning',
            code: 'CATEGORY_NOT_IN_DATA',
            path: columnPath(plan, dim.name),
            message: `category ${JSON.stringify(node.code)} (${node.label}) of ${dim.name} is declared but has no unit in the data: table ${t.plan.id} gets an empty row or column`,
          });
        });
      });
    }
  }
  if (ctx.stats && dataFacts) {
    const unknown = Object.entries(ctx.stats.dropReasons).filter(([r, n]) => /category/.test(r) && n > 0);
    for (const [reason, n] of unknown) {
      out.push({
        severity: 'warning',
        code: 'CATEGORY_NOT_DECLARED',
        path: '/dataset/onInvalidRow',
        message: `${n} row(s) dropped for "${reason}": the data holds categories the policy does not declare`,
      });
    }
  }
  return out;
}

function planTableIndex(plan: Plan, id: string, fallback: number): number {
  const i = plan.tables.findIndex((t) => t.id === id);
  return i < 0 ? fallback : i;
}

function columnPath(plan: Plan, name: string): string {
  const c = plan.dataset.columns.findIndex((x) => x.name === name);
  if (c >= 0) return `/dataset/columns/${c}/categories`;
  const d = plan.dataset.derived.findIndex((x) => x.name === name);
  if (d >= 0) return `/dataset/derived/${d}/${plan.dataset.derived[d]!.bins ? 'bins' : 'categories'}`;
  return '/dataset';
}

const round = (x: number): string => String(Math.round(x * 1e6) / 1e6);
