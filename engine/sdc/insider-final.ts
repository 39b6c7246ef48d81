/**
 * The insider model of a release (policy `protection.secondary.insiders`) in protectSdc's final audit, and the
 * reviewer report of what insiders could learn.
 *
 * Guarantee: under 'singletons' the final pattern is published only when the final audit proved, for every suppressed
 * one-unit cell, that its contributor cannot compute or narrow another unit's sensitive cell (insiders.ts); when that
 * proof cannot finish within the release's time limit the run is refused (SDC_INFEASIBLE), never published with a
 * claim it has not proven. Under 'lone-cell' the same audit runs for the report only, within the time left
 * (`complete: false` when the limit stopped it); under 'none' nothing insider-related runs at all (zero cost).
 */
import { StatguardError } from '../errors.ts';
import type { ExactTable, InsiderModel } from '../types.ts';
import { auditPattern } from './audit.ts';
import type { AuditOptions, AuditResult } from './audit.ts';
import { TimeUp } from './deadline.ts';
import type { Deadline } from './deadline.ts';
import { cellName } from './relations.ts';
import type { CellSystem } from './relations.ts';
import type { SensitiveCell } from './sensitive.ts';
import type { SecondaryResult } from './problem.ts';

/** What one insider could learn (reviewer-only: an interval from exact values), in the exposed table's natural unit. */
export interface InsiderReport {
  /** The one-unit suppressed cell whose contributor knows its value. */
  readonly insider: string;
  /** The other unit's sensitive cell that contributor can compute (`exact`) or narrow to [min, max]. */
  readonly exposed: string;
  readonly min: number;
  readonly max: number;
  readonly exact: boolean;
}

/** The reviewer report's insider section (SdcReport.insiders). */
export interface InsiderSection {
  readonly model: InsiderModel;
  /** Whether the insider audit ran on the final pattern (false under 'none': nothing computed). */
  readonly audited: boolean;
  /** Whether it audited every insider (false: the time limit stopped the report of a 'lone-cell' run). */
  readonly complete: boolean;
  /** What insiders could still learn: always empty under 'singletons' (the audit refuses any). */
  readonly exposures: readonly InsiderReport[];
}

/** The insider model of a run: `singletonRule: false` (engine API) means 'none'; absent everywhere: 'singletons'. */
export function insiderModel(
  options: { readonly singletonRule?: boolean; readonly insiders?: InsiderModel },
  planned: InsiderModel | undefined,
): InsiderModel {
  return options.singletonRule === false ? 'none' : (options.insiders ?? planned ?? 'singletons');
}

/**
 * protectSdc's final audit under the insider model: the public audit (with the singleton rule unless 'none') and the
 * insider phase as the model says, bounded by `limit` (the end of the release's time limit). The search's insider
 * witnesses (`cache`, same cell numbering) are checked again before they count.
 */
export async function finalAudit(
  sys: CellSystem,
  sec: SecondaryResult,
  sensitive: readonly SensitiveCell[],
  all: readonly ExactTable[],
  model: InsiderModel,
  limit: Deadline,
): Promise<AuditResult> {
  const cache = sec.insiderWitnesses;
  const opts: AuditOptions = {
    tables: all,
    // The search's witnesses only save work: each is checked exactly against the final pattern before it counts.
    ...(sec.witnesses ? { witnesses: sec.witnesses } : {}),
    singletons: model !== 'none',
    ...(model === 'none' ? {} : { insiders: model === 'singletons' ? true : 'report', insiderDeadline: limit }),
    ...(model === 'singletons' && cache ? { insiderCache: cache } : {}),
  };
  return auditPattern(sys, sec.suppressed, sensitive, opts).catch(unprovenAgainstInsiders);
}

/**
 * A TimeUp escaping an insider proof after the search (the final audits' insider phase ends with the limit) is a
 * refusal: the pattern is not proven against insiders, so nothing is published. Other errors pass through.
 */
export function unprovenAgainstInsiders(e: unknown): never {
  if (!(e instanceof TimeUp)) throw e;
  throw new StatguardError(
    'SDC_INFEASIBLE',
    `the final audit could not prove the pattern safe against insiders (the lone contributor of a suppressed cell, who knows its value) within secondary.timeLimitSeconds: nothing is published. Raise secondary.timeLimitSeconds, coarsen the table, or set protection.secondary.insiders to "lone-cell" (the reviewer report then lists what insiders could learn)`,
  );
}

/** The reviewer report's insider section from the final audit. */
export function insiderSection(
  sys: CellSystem,
  all: readonly ExactTable[],
  audit: AuditResult,
  model: InsiderModel,
): InsiderSection {
  const exposures = audit.insiders.map((x) => {
    const m = all[sys.owners[x.exposed]![0]!.table]!.plan.measure;
    const scale = m.kind === 'count' ? 1 : 10 ** m.decimals;
    return {
      insider: cellName(sys, all, x.insider),
      exposed: cellName(sys, all, x.exposed),
      min: x.min / scale,
      max: x.max / scale,
      exact: x.exact,
    };
  });
  return { model, audited: model !== 'none', complete: model !== 'none' && !audit.insidersIncomplete, exposures };
}
