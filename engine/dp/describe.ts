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
}

export function describeDp(plan: Plan & { readonly protection: DpPlan }, acc: DpAccounting): RegimeStatement {
  const p = plan.protection;
  return {
    guarantee: dpGuarantee(acc, neighbouringText(plan)),
    budget: { ...acc.total },
    methods: [
      `Contribution bounding: at most ${plan.dataset.unit.maxRowsPerUnit} row(s) per ${plan.dataset.unit.kind}, chosen by a keyed hash independent of row order; measure values clamped to the declared bounds.`,
      `Noise: ${p.mechanism === 'discrete-laplace' ? 'discrete Laplace' : 'discrete Gaussian'} mechanism sampled exactly in integer arithmetic (Canonne, Kamath, Steinke 2020), added independently to every published cell including totals.`,
      'Post-processing only: non-negativity, rounding' +
        (p.noisyThreshold !== null ? `, suppression of cells whose noisy value is below ${p.noisyThreshold}` : '') +
        '.',
      'Category domains are taken from the policy (public knowledge), never from the data.',
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
  if (acc.mechanism === 'discrete-laplace') {
    return {
      regime: 'dp',
      statement: `Pure epsilon-differential privacy with epsilon = ${fmt(t.epsilon)} for the whole release, neighbouring = ${neighbouring}.`,
      definition: 'pure-dp',
      neighbouring,
      ...t,
    };
  }
  return {
    regime: 'dp',
    statement: `rho-zero-concentrated differential privacy with rho = ${fmt(t.rho)} for the whole release (implies (epsilon = ${fmt(t.epsilon)}, delta = ${fmt(t.delta)})-differential privacy), neighbouring = ${neighbouring}.`,
    definition: 'zcdp',
    neighbouring,
    ...t,
  };
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v);
}
