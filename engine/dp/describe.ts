/**
 * What a dp release states in its manifest: the guarantee (pure epsilon-DP or rho-zCDP, for the whole release, with
 * its neighbouring relation), the budget spent, the method notes and each table's accounting. Figures come from the
 * `DpAccounting` of `protectDp` and from the plan only.
 */
import type { DpPlan, Plan } from '../types.ts';
import type { GuaranteeOf, RegimeStatement } from '../release/manifest.ts';
import { biasNotes } from './bias.ts';
import type { DpAccounting } from './protect.ts';
import { consistencyMethod } from './consistency.ts';
import { quantileMethod } from './quantile.ts';
import { truncationMethod } from './truncation.ts';

export interface DpGuarantee extends GuaranteeOf<'dp'> {
  readonly definition: DpAccounting['definition'];
  readonly neighbouring: string;
  readonly epsilon: number;
  readonly delta: number;
  readonly rho: number | null;
  /** Open columns: each one's private partition selection (threshold, its delta, its budget). */
  readonly partitionSelection?: DpAccounting['partitionSelection'];
}

export function describeDp(plan: Plan & { readonly protection: DpPlan }, acc: DpAccounting): RegimeStatement {
  const p = plan.protection;
  return {
    guarantee: dpGuarantee(acc, neighbouringText(plan)),
    // The selection of open columns is part of what the release spends (its share of epsilon or rho, and its delta).
    budget: { ...acc.total, ...(acc.partitionSelection ? { partitionSelection: acc.partitionSelection } : {}) },
    methods: [
      `Contribution bounding: at most ${plan.dataset.unit.maxRowsPerUnit} row(s) per ${plan.dataset.unit.kind}, chosen by a keyed hash independent of row order; measure values clamped to the declared bounds.`,
      `Noise: ${p.mechanism === 'discrete-laplace' ? 'discrete Laplace' : 'discrete Gaussian'} mechanism sampled exactly in integer arithmetic (Canonne, Kamath, Steinke 2020), added independently to every published cell including totals.`,
      'Post-processing only: non-negativity, rounding' +
        (p.noisyThreshold !== null ? `, suppression of cells whose noisy value is below ${p.noisyThreshold}` : '') +
        '.',
      ...(acc.partitionSelection ? [partitionMethod(acc)] : []),
      acc.partitionSelection
        ? 'The categories of other columns are taken from the policy (public knowledge), never from the data.'
        : 'Category domains are taken from the policy (public knowledge), never from the data.',
      "Stated accuracy (noiseSd, halfWidth95) covers the noise only; each table's privacy.bias lists the other steps that can move its values (bounding, clamping, granularity, non-negativity), from the plan, never from the data.",
      ...(p.consistency === 'hierarchical' ? [consistencyMethod()] : []),
      ...(plan.tables.some((t) => t.measure.kind === 'quantile') ? [quantileMethod()] : []),
      ...(acc.truncation ? [truncationMethod(acc.truncation, plan.dataset.unit.kind)] : []),
    ],
    privacy: plan.tables.map((t) => {
      const a = acc.tables.find((x) => x.table === t.id);
      return a ? { ...a, bias: biasNotes(plan, t, a, acc.truncation) } : null;
    }),
    ...(acc.truncation ? { truncation: { ...acc.truncation } } : {}),
  };
}

/** The neighbouring relation in words. */
function neighbouringText(plan: Plan): string {
  const u = plan.dataset.unit;
  return u.column === null
    ? `datasets that differ by one ${u.kind} (one row; each row is its own unit)`
    : `datasets that differ by all rows of one ${u.kind} (identified by column ${u.column}; at most ${u.maxRowsPerUnit} row(s) per ${u.kind} used)`;
}

function dpGuarantee(acc: DpAccounting, neighbouring: string): DpGuarantee {
  const t = acc.total;
  const sel = acc.partitionSelection;
  const selDelta = (sel ?? []).reduce((s, x) => s + x.delta, 0);
  const selPart = sel ? { partitionSelection: sel } : {};
  if (acc.mechanism === 'discrete-laplace') {
    return {
      regime: 'dp',
      statement: sel
        ? `(epsilon, delta)-differential privacy with epsilon = ${fmt(t.epsilon)} and delta = ${fmt(t.delta)} for the whole release (delta: the chance that private partition selection publishes a category of ${selColumns(acc)} held by a single unit), neighbouring = ${neighbouring}.`
        : `Pure epsilon-differential privacy with epsilon = ${fmt(t.epsilon)} for the whole release, neighbouring = ${neighbouring}.`,
      definition: 'pure-dp',
      neighbouring,
      ...t,
      ...selPart,
    };
  }
  return {
    regime: 'dp',
    statement: sel
      ? `rho-zero-concentrated differential privacy with rho = ${fmt(t.rho)} for the whole release except an event of probability at most delta_sel = ${fmt(selDelta)} (private partition selection publishing a category of ${selColumns(acc)} held by a single unit); together they imply (epsilon = ${fmt(t.epsilon)}, delta = ${fmt(t.delta)})-differential privacy, neighbouring = ${neighbouring}.`
      : `rho-zero-concentrated differential privacy with rho = ${fmt(t.rho)} for the whole release (implies (epsilon = ${fmt(t.epsilon)}, delta = ${fmt(t.delta)})-differential privacy), neighbouring = ${neighbouring}.`,
    definition: 'zcdp',
    neighbouring,
    ...t,
    ...selPart,
  };
}

function selColumns(acc: DpAccounting): string {
  return (acc.partitionSelection ?? []).map((s) => s.column).join(', ');
}

/** The method note of private partition selection (engine/dp/partition.ts). */
function partitionMethod(acc: DpAccounting): string {
  const sel = acc.partitionSelection ?? [];
  const per = sel
    .map(
      (s) =>
        `${s.column}: ${s.epsilon !== null ? `epsilon ${fmt(s.epsilon)}` : `rho ${fmt(s.rho)}`}, delta ${fmt(s.delta)}, threshold ${s.threshold}, ${s.released} categories published`,
    )
    .join('; ');
  return `Open domains (categories not declared in the policy): the categories of each open column are those met in the data whose noisy unit count (the release's mechanism, one unit counted in at most ${acc.maxRowsPerUnit} categories) reaches a threshold set from delta, so that a category held by a single unit is published with probability at most delta (private partition selection, as in Google's differential privacy library, Tumult Analytics and OpenDP). Which categories are published depends on noisy counts only; the selection's budget and delta are part of the release's (${per}). A total over an open dimension counts every row, including categories not published.`;
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v);
}
