/**
 * Secondary suppression of a release, the dispatcher: one independent problem per link group, each solved by the
 * optimal method or the heuristic.
 *
 * Guarantee: the union of the groups' patterns passes the audit of all tables together before it is returned
 * (AUDIT_FAILED otherwise).
 */
import { StatguardError } from '../errors.ts';
import type { SdcPlan } from '../types.ts';
import { auditPattern } from './audit.ts';
import { coarsePattern } from './coarse.ts';
import { Deadline, TimeUp } from './deadline.ts';
import { heuristicSuppression } from './heuristic.ts';
import { optimalSuppression } from './optimal.ts';
import type { GroupRun, SecondaryInput, SecondaryResult } from './problem.ts';
import type { CellSystem } from './relations.ts';
import type { Witnesses } from './witness-check.ts';

/**
 * The cells of one link group `auto` sends to the MIP at most. Measured (HiGHS wasm, one core, MIP + cut loop to
 * proven optimality): the 48-cell ACS income table ~0.1-1 s; random 2-level hierarchical sum tables with 25% primaries:
 * 900 cells 7-13 s, 1775 cells 12 s, where the heuristic + clean-up needs 14 s (900 cells) to 130 s+ (1775, budget hit)
 * for a worse pattern. The MIP would pay off beyond 2000 cells; the limit stays below 900 because the test suite pins
 * `auto` to the heuristic on a 900-cell table. The time limit (per group) is the safety net either way.
 */
export const OPTIMAL_MAX_CELLS = 800;

/**
 * Secondary suppression of a release, one independent problem per link group.
 *
 * Tables of different link groups share no cell and no relation (relations.ts), so the attacker's system is the
 * product of the groups' systems: a pattern passes the audit of the whole release exactly when its restriction to
 * every group passes that group's audit. Each group therefore gets its own method (`auto`: the MIP for groups of at
 * most OPTIMAL_MAX_CELLS cells, else the heuristic with clean-up) and its own time limit (`timeLimitSeconds` per
 * group, for the MIP and for the clean-up pass). Guarantee: the union pattern is re-audited over all tables together
 * before it is returned (AUDIT_FAILED otherwise), and protectSdc audits it once more.
 */
export async function secondarySuppression(
  input: SecondaryInput,
  secondary: SdcPlan['secondary'],
): Promise<SecondaryResult> {
  const { sys } = input;
  const budget = phaseDeadlines(Date.now(), secondary.timeLimitSeconds);
  const sup = Uint8Array.from(input.primary);
  const groups: GroupRun[] = [];
  let iterations = 0;
  let violations = 0;
  const witnesses = new Map<number, Witnesses>();
  const groupIds = [...new Set(sys.linkGroup)].sort((a, b) => a - b);
  let single: SecondaryResult['audit'] | null = null;
  let insiderWitnesses: SecondaryResult['insiderWitnesses'];
  for (const g of groupIds) {
    const started = Date.now();
    const tablesOf = sys.linkGroup.flatMap((x, ti) => (x === g ? [ti] : []));
    const part = restrictToTables(input, tablesOf);
    const ids = tablesOf.map((ti) => input.tables[ti]!.plan.id);
    const method =
      secondary.method === 'auto'
        ? part.input.sys.cellCount <= OPTIMAL_MAX_CELLS
          ? 'optimal'
          : 'heuristic'
        : secondary.method;
    if (part.input.sensitive.length === 0) {
      groups.push({
        tables: ids,
        cells: part.input.sys.cellCount,
        sensitive: 0,
        method,
        optimalFinished: method === 'optimal' ? true : null,
        cleanupFinished: null,
        cleanupRemoved: 0,
        secondary: 0,
        seconds: 0,
      });
      continue;
    }
    const res = await solveGroup(part.input, method, secondary.timeLimitSeconds, budget);
    iterations += res.iterations;
    violations += res.neverSuppressViolations;
    // The group's witnesses in global cell ids.
    const toGlobal = (w: Witnesses['up']): Witnesses['up'] =>
      w ? { ...w, ids: Int32Array.from(w.ids, (k) => part.ids[k]!) } : null;
    for (const [k, w] of res.witnesses ?? [])
      witnesses.set(part.ids[k]!, { up: toGlobal(w.up), down: toGlobal(w.down) });
    let secondaryCells = 0;
    res.suppressed.forEach((v, k) => {
      if (!v) return;
      const gid = part.ids[k]!;
      sup[gid] = 1;
      if (!input.primary[gid]) secondaryCells++;
    });
    groups.push({
      tables: ids,
      cells: part.input.sys.cellCount,
      sensitive: part.input.sensitive.length,
      method,
      optimalFinished: method === 'optimal' ? res.optimalFinished : null,
      cleanupFinished: res.cleanupFinished ?? null,
      cleanupRemoved: res.cleanupRemoved ?? 0,
      secondary: secondaryCells,
      seconds: (Date.now() - started) / 1000,
      ...(res.optimalStop ? { optimalStop: res.optimalStop } : {}),
      ...(res.coarse ? { coarse: res.coarse } : {}),
    });
    // One group holding every cell under the same numbering: its audit is the release's.
    if (groupIds.length === 1 && part.ids.every((gid, k) => gid === k)) {
      single = res.audit;
      insiderWitnesses = res.insiderWitnesses;
    }
  }
  // Guarantee: the union of the groups' patterns passes the audit of all tables together. With a single group that
  // is the group's own audit (same system, same pattern, same cell ids), not repeated.
  const audit =
    single ??
    (await auditPattern(sys, sup, input.sensitive, {
      singletons: input.singletons !== false,
      tables: input.tables,
      witnesses,
      // The insider phase ends with the release's limit; protectSdc turns its TimeUp into a refusal.
      ...(input.insiders === true ? { insiders: true, insiderDeadline: budget.end } : {}),
    }));
  if (!audit.passes)
    throw new StatguardError(
      'AUDIT_FAILED',
      'the suppression pattern of the link groups together does not pass the attacker audit',
    );
  const allOptimal = groups.every((x) => x.method === 'optimal');
  const proven = allOptimal && groups.every((x) => x.optimalFinished === true);
  const coarse = groups.find((x) => x.coarse)?.coarse;
  return {
    suppressed: sup,
    // Never claims 'optimal' for a pattern the MIP did not prove (time limit, solver failure: heuristic or coarse).
    method: proven ? 'optimal' : 'heuristic',
    optimalFinished: allOptimal ? proven : null,
    ...(coarse ? { coarse } : {}),
    audit,
    iterations,
    neverSuppressViolations: violations,
    groups,
    witnesses,
    ...(insiderWitnesses ? { insiderWitnesses } : {}),
  };
}

/**
 * The time budget of one release (`timeLimitSeconds` bounds the whole protection: search, clean-up, audits, fallback).
 * Shares of the limit from the start: the optimal method's cut loop until 25%; the heuristic's search (cube phase,
 * audits, repairs) until 45%; its clean-up and the audit after it until 75%; a coarse fallback's audits until 90%;
 * the rest for the final audit of protectSdc (which re-checks the search's witnesses, no search). Groups share the
 * deadlines: a group that starts late gets what is left.
 */
export interface PhaseDeadlines {
  readonly mip: Deadline;
  readonly search: Deadline;
  readonly cleanup: Deadline;
  readonly fallback: Deadline;
  /** The end of the limit (insider proofs of a pattern found in time may run until then, never later). */
  readonly end: Deadline;
}

export function phaseDeadlines(start: number, seconds: number): PhaseDeadlines {
  const at = (share: number): Deadline => new Deadline(start + seconds * 1000 * share);
  return { mip: at(0.25), search: at(0.45), cleanup: at(0.75), fallback: at(0.9), end: at(1) };
}

/**
 * One group's pattern within the budget: the method asked for; when its search runs out of time (TimeUp), the coarse
 * pattern (coarse.ts) proven by the audit, or a clear refusal (SDC_INFEASIBLE). The optimal method falls back to the
 * heuristic itself (time limit or solver failure, reason in `optimalStop`).
 */
async function solveGroup(
  input: SecondaryInput,
  method: 'optimal' | 'heuristic',
  seconds: number,
  budget: PhaseDeadlines,
): Promise<SecondaryResult> {
  const heur = (start?: Uint8Array): Promise<SecondaryResult> =>
    heuristicSuppression(input, {
      cleanupSeconds: seconds,
      deadline: budget.search,
      cleanupDeadline: budget.cleanup,
      ...(start ? { start } : {}),
    });
  try {
    return method === 'heuristic' ? await heur() : await optimalSuppression(input, budget.mip, heur);
  } catch (e) {
    if (!(e instanceof TimeUp)) throw e;
    const reason = `the ${method === 'optimal' ? 'optimal method and its heuristic fallback' : 'heuristic'} did not finish within the time limit (${seconds} s; stopped in ${e.phase})`;
    const coarse = await coarsePattern(input, budget.fallback, reason);
    return method === 'optimal' ? { ...coarse, method: 'optimal', optimalFinished: false } : coarse;
  }
}

/**
 * The secondary-suppression problem restricted to some tables (a link group): their cells renumbered 0..n-1, the
 * relations among them, their sensitive cells. `ids[k]` is the global id of local cell k. Exact when no relation
 * links a cell of these tables to a cell outside them, which holds for a link group (relations are built per table
 * and a table's cells all belong to its group).
 */
export function restrictToTables(
  input: SecondaryInput,
  tableIdx: readonly number[],
): { input: SecondaryInput; ids: Int32Array } {
  const { sys } = input;
  const local = new Int32Array(sys.cellCount).fill(-1);
  const idList: number[] = [];
  for (const ti of tableIdx)
    for (const g of sys.tableCells[ti]!)
      if (local[g]! < 0) {
        local[g] = idList.length;
        idList.push(g);
      }
  const ids = Int32Array.from(idList);
  const n = ids.length;
  const pos = new Map<number, number>(tableIdx.map((ti, k) => [ti, k]));
  const pick = <A extends Float64Array | Uint8Array>(a: A, make: (n: number) => A): A => {
    const out = make(n);
    ids.forEach((g, k) => {
      out[k] = a[g]!;
    });
    return out;
  };
  const relations: CellSystem['relations'][number][] = [];
  const cellRelations: number[][] = Array.from({ length: n }, () => []);
  for (const r of sys.relations) {
    if (local[r.cells[0]!]! < 0) continue;
    const cells = Int32Array.from(r.cells, (c) => {
      const l = local[c]!;
      if (l < 0) throw new StatguardError('SDC_INFEASIBLE', 'internal error: a table relation crosses link groups');
      return l;
    });
    for (const c of cells) cellRelations[c]!.push(relations.length);
    relations.push({ cells, coefs: r.coefs, additive: r.additive });
  }
  const sub: CellSystem = {
    cellCount: n,
    tableCells: tableIdx.map((ti) => Int32Array.from(sys.tableCells[ti]!, (g) => local[g]!)),
    owners: idList.map((g) =>
      sys.owners[g]!.filter((o) => pos.has(o.table)).map((o) => ({ table: pos.get(o.table)!, index: o.index })),
    ),
    value: pick(sys.value, (k) => new Float64Array(k)),
    units: pick(sys.units, (k) => new Float64Array(k)),
    lower: pick(sys.lower, (k) => new Float64Array(k)),
    upper: pick(sys.upper, (k) => new Float64Array(k)),
    relations,
    cellRelations,
    linkGroup: tableIdx.map(() => 0),
  };
  return {
    ids,
    input: {
      sys: sub,
      tables: tableIdx.map((ti) => input.tables[ti]!),
      sensitive: input.sensitive.filter((x) => local[x.id]! >= 0).map((x) => ({ ...x, id: local[x.id]! })),
      primary: pick(input.primary, (k) => new Uint8Array(k)),
      never: pick(input.never, (k) => new Uint8Array(k)),
      ...(input.fixed ? { fixed: pick(input.fixed, (k) => new Uint8Array(k)) } : {}),
      cost: pick(input.cost, (k) => new Float64Array(k)),
      ...(input.singletons !== undefined ? { singletons: input.singletons } : {}),
      ...(input.insiders !== undefined ? { insiders: input.insiders } : {}),
    },
  };
}
