/**
 * What an sdc release states in its manifest: the guarantee (no suppressed cell recoverable exactly or within its
 * protection interval from the published cells, by a linear attacker over all tables), the method notes (the
 * primary rules, the secondary suppression and any release it was linked with) and no per-table accounting.
 * Text comes from the plan and the linked tables only.
 */
import path from 'node:path';
import type { Plan, SdcPlan, UnitPlan } from '../types.ts';
import type { GuaranteeOf, RegimeStatement } from '../release/manifest.ts';
import type { PublishedTableLink, SdcReport } from './index.ts';

export interface SdcGuarantee extends GuaranteeOf<'sdc'> {
  readonly unit: UnitPlan['kind'];
}

export function describeSdc(
  plan: Plan & { readonly protection: SdcPlan },
  links: readonly PublishedTableLink[],
  report?: SdcReport,
): RegimeStatement {
  const p = plan.protection;
  const guarantee: SdcGuarantee = {
    regime: 'sdc',
    statement:
      'Statistical disclosure control: cells failing the primary rules are suppressed, and secondary suppressions ensure no suppressed cell can be recovered exactly or within its protection interval from the published cells of this release (linear attacker audit over all tables).',
    unit: plan.dataset.unit.kind,
  };
  return {
    guarantee,
    budget: null,
    methods: [
      ...primaryRuleNotes(p),
      `Secondary suppression: ${p.secondary.method} method, cost ${p.secondary.cost}; every suppression pattern was audited by linear programming over all tables of the release together (attacker intervals checked against each sensitive cell's protection level).`,
      ...(report ? runNotes(report) : []),
      ...(links.length > 0
        ? [
            `Linked with ${links.length} table(s) already published from dataset ${plan.dataset.id} (${[...new Set(links.map((l) => l.release))].map((r) => path.basename(path.resolve(r))).join(', ')}): their published cells were constants and their suppressed cells unknowns of the same audit, so no cell suppressed here or there can be recovered by combining the releases.`,
          ]
        : []),
      ...correctionNotes(links),
    ],
    privacy: plan.tables.map(() => null),
  };
}

/**
 * What actually ran, when it differs from the policy's method: the optimal method stopped without proof, or the time
 * limit forced a coarse pattern. No cost, bound or gap figure here (with value costs they derive from suppressed
 * values); those stay in the reviewer report.
 */
function runNotes(r: SdcReport): string[] {
  const out: string[] = [];
  const stopped = (r.groups ?? []).filter((g) => g.method === 'optimal' && g.optimalFinished === false);
  if (stopped.length > 0)
    out.push(
      `The optimal method did not prove optimality within the time limit for ${stopped.length} of ${r.groups!.length} group(s) of linked tables: the published pattern there is the heuristic's (audited), not a proven optimum.`,
    );
  if (r.coarse)
    out.push(
      `The secondary search did not finish within the time limit: a coarse pattern was published instead (${r.coarse.description}), audited like any other.`,
    );
  // The insider model (policy protection.secondary.insiders): what the audit claims about a cell's lone contributor.
  const insiders = {
    singletons:
      "Insiders: the lone contributor of each suppressed cell, who knows its value, was audited as an attacker too: no other unit's sensitive cell can be recovered exactly or within its protection interval by such a contributor.",
    'lone-cell':
      "Insiders: only the singleton rule was applied (no relation leaves a lone contributor's cell and a sensitive cell the only hidden cells); a lone contributor was not audited against every other cell.",
    none: 'Insiders: no protection against the lone contributor of a suppressed cell (singleton rule off).',
  } as const;
  out.push(insiders[r.insiders.model]);
  return out;
}

function primaryRuleNotes(p: SdcPlan): string[] {
  const out: string[] = [];
  if (p.minFrequency !== null)
    out.push(`Minimum frequency rule: a cell with 0 < units < ${p.minFrequency} is suppressed.`);
  for (const d of p.dominance)
    out.push(
      `(${d.n},${d.k}) dominance rule: a cell whose ${d.n} largest unit contributions exceed ${d.k}% of its total is suppressed.`,
    );
  if (p.pPercent !== null)
    out.push(
      `p% rule with p = ${p.pPercent}: a cell is suppressed when the second largest contributor could estimate the largest within ${p.pPercent}%.`,
    );
  if (p.pq !== null) out.push(`(p,q) rule with p = ${p.pq.p}, q = ${p.pq.q}.`);
  out.push(p.zeroCells === 'suppress' ? 'Empty cells are suppressed.' : 'Empty cells are published as 0.');
  return out;
}

/** A correction: published cells that changed since, judged as the difference table of the changed units. */
function correctionNotes(links: readonly PublishedTableLink[]): string[] {
  const changed = links.reduce((n, l) => n + l.changed.filter((d) => d !== null).length, 0);
  if (changed === 0) return [];
  return [
    `Correction: ${changed} cell(s) published earlier changed with the microdata since. Their differences (the changed units' contributions, which anyone can compute from the two releases) were judged by the primary rules as a table of their own, assuming the fewest contributors a difference allows, and the sensitive ones were protected like primary cells.`,
  ];
}
