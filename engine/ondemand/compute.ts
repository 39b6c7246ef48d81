/**
 * One on-demand table, computed in the secure zone: the query checked against the declared schema, the dataset's
 * resident rows (resident.ts) aggregated with the engine's `Aggregator` at every dimension's finest level (filtered
 * rows skipped), cut to the requested levels (project.ts) and protected by the dataset's regime through
 * `REGIMES` (engine/regime.ts):
 * - ckm: `protectCkm` with the dataset's p-table; the cell keys come from the resident rows' record keys (the
 *   dataset's own secret), so the same cell gets the same value in every query, for every researcher;
 * - dp: `protectDp` with the per-query budget (`onDemand.dp`) as the table's whole budget; a real (crypto) query is
 *   appended to the dataset's draw log before any noise is drawn (every draw is spent), and the result states what it
 *   cost so the API charges the contract and the ledger.
 *
 * Guarantee: only a `ProtectedTable` leaves `computeOnDemand`; nothing exact (no unit count, no row count of the
 * population) is returned. (`exactOnDemand`, the table before protection, never leaves the secure zone: the worker
 * answers with `computeOnDemand` only; test/robustness/no-leak.test.ts uses it to know what must not appear.)
 */
import { StatguardError } from '../errors.ts';
import type { DpPlan, ExactTable, Plan, ProtectedTable, RandomSource, TablePlan } from '../types.ts';
import { Aggregator } from '../aggregate/aggregate.ts';
import { makeRecordLayout, type RecordLayout } from '../aggregate/record-layout.ts';
import { budgetCost, type ReleaseCost } from '../dp/index.ts';
import { REGIMES } from '../regime.ts';
import { randomSourceFor } from '../random.ts';
import { appendDraw } from '../secure/index.ts';
import { projectTable } from './project.ts';
import { checkQuery, onDemandOf, type OnDemandPlanOf, type OnDemandQuery } from './query.ts';
import type { ResidentData } from './resident.ts';

/** A protected on-demand table and what it cost. */
export interface OnDemandResult {
  readonly dataset: string;
  readonly regime: 'ckm' | 'dp';
  /** The protected cells in the shape published tables have (value, status flags, accuracy). */
  readonly table: ProtectedTable;
  readonly cells: number;
  /** dp: what the query spent (rho, and epsilon for pure dp); null under ckm. */
  readonly cost: ReleaseCost | null;
  /** 'seeded' only in tests and demos: reproducible noise, no privacy guarantee. */
  readonly randomness: 'crypto' | 'seeded';
  /** One sentence on the protection, for the table's metadata. */
  readonly guarantee: string;
}

export interface ComputeOptions {
  /** Tests and demos: the dp noise from this seed (reproducible, not private). Absent: node:crypto. */
  readonly seed?: string | undefined;
}

/** The table plan of a query at every dimension's finest level, with a title from the labels. */
function queryTable(plan: OnDemandPlanOf, q: OnDemandQuery): TablePlan {
  const od = plan.onDemand;
  const m = od.measures.find((x) => x.name === q.measure)!;
  const dims = q.dimensions.map((d) => od.dimensions.find((x) => x.name === d.name)!);
  const by = dims.map((d) => d.label).join(' by ');
  const filter = Object.entries(q.filter ?? {}).map(([k, codes]) => `${k} in ${codes.join(', ')}`);
  return {
    id: 'on-demand',
    title: `${m.title} by ${by}${filter.length > 0 ? ` (${filter.join('; ')})` : ''}`,
    description: 'Table on demand, computed in the secure zone and protected on the fly.',
    dimensions: dims,
    measure: m.measure,
    budgetShare: plan.protection.regime === 'dp' ? 1 : 0,
    neverSuppress: [],
    alwaysSuppress: [],
  };
}

/** Per variable of the resident layout: which category indices pass the filter (null: no filter on it). */
function filterMasks(plan: OnDemandPlanOf, data: ResidentData, q: OnDemandQuery): (Uint8Array | null)[] {
  const masks: (Uint8Array | null)[] = data.layout.variables.map(() => null);
  for (const [name, codes] of Object.entries(q.filter ?? {})) {
    const dim = plan.onDemand.dimensions.find((d) => d.name === name)!;
    const v = data.layout.variables.findIndex((x) => x.name === name);
    const keep = new Set(
      codes.flatMap((c) => dim.nodes.find((n) => n.code === c)!.leaves.map((l) => dim.nodes[l]!.code)),
    );
    masks[v] = Uint8Array.from(data.layout.variables[v]!.codes, (c) => (keep.has(c) ? 1 : 0));
  }
  return masks;
}

/** Aggregate the resident rows that pass the filter into the query's table at its finest levels. */
function aggregateResident(
  data: ResidentData,
  layout: RecordLayout,
  masks: readonly (Uint8Array | null)[],
): ExactTable {
  const nv = data.layout.variables.length;
  const nc = data.layout.clamps.length;
  const varOf = layout.variables.map((v) => data.layout.variables.findIndex((x) => x.name === v.name));
  const srcOf = (c: RecordLayout['clamps'][number]): number => {
    const s = layout.measureSources[c.source]!;
    return data.layout.clamps.findIndex((x) => {
      const xs = data.layout.measureSources[x.source]!;
      return xs.column === s.column && xs.decimals === s.decimals && x.lower === c.lower && x.upper === c.upper;
    });
  };
  const clampOf = layout.clamps.map(srcOf);
  if (varOf.includes(-1) || clampOf.includes(-1))
    throw new StatguardError('USAGE', 'the query names a dimension or measure the resident dataset does not hold');
  const fv = Int32Array.from(masks.flatMap((m, v) => (m ? [v] : [])));
  const fm = masks.filter((m): m is Uint8Array => m !== null);
  const agg = new Aggregator(layout);
  const nq = varOf.length;
  const nk = clampOf.length;
  const qv = Int32Array.from(varOf);
  const qc = Int32Array.from(clampOf);
  const cats = new Int32Array(nq);
  const vals = new Float64Array(nk);
  const { cats: rc, vals: rv, unit, key, holding, rows } = data;
  const withKey = key.length > 0;
  const withHolding = holding.length > 0;
  let begun = false;
  for (let r = 0; r < rows; r++) {
    const u = unit[r]!;
    const first = r === 0 || unit[r - 1] !== u;
    const single = first && (r + 1 === rows || unit[r + 1] !== u);
    if (first) {
      if (withKey) agg.setRecordKey(key[r]!);
      if (withHolding) agg.setHolding(holding[r]!);
    }
    let pass = true;
    for (let f = 0; f < fv.length; f++)
      if (fm[f]![rc[r * nv + fv[f]!]!] !== 1) {
        pass = false;
        break;
      }
    if (pass) {
      const co = r * nv;
      const vo = r * nc;
      for (let i = 0; i < nq; i++) cats[i] = rc[co + qv[i]!]!;
      for (let i = 0; i < nk; i++) vals[i] = rv[vo + qc[i]!]!;
      if (single) agg.addSingle(cats, vals);
      else {
        if (!begun) agg.beginUnit();
        begun = true;
        agg.addUnitRow(cats, vals);
      }
    }
    // The unit's last row closes it.
    if (!single && begun && (r + 1 === rows || unit[r + 1] !== u)) {
      agg.endUnit();
      begun = false;
    }
  }
  return agg.finish()[0]!;
}

/**
 * The exact table a checked query asks for (aggregated at the finest levels, cut to the requested ones), before any
 * protection. Secure zone only: `computeOnDemand` protects it; tests search every output for its values.
 */
export function exactOnDemand(od: OnDemandPlanOf, data: ResidentData, q: OnDemandQuery): ExactTable {
  const tp = queryTable(od, q);
  const layout = makeRecordLayout({ ...od, tables: [tp] });
  const exact = aggregateResident(data, layout, filterMasks(od, data, q));
  const { dimensions: _full, ...rest } = tp;
  return projectTable(
    exact,
    q.dimensions.map((d) => d.level),
    rest,
  );
}

/** Compute and protect the table a query asks for, from the dataset's resident rows. */
export async function computeOnDemand(
  plan: Plan,
  data: ResidentData,
  query: unknown,
  opts: ComputeOptions = {},
): Promise<OnDemandResult> {
  const od = onDemandOf(plan);
  const cut = exactOnDemand(od, data, checkQuery(od, query));
  const rng = randomSourceFor(opts.seed);
  const p = od.protection;
  if (p.regime === 'ckm') {
    const { tables } = await REGIMES.ckm.protect([cut], { ...od, protection: p }, { rng, published: [] });
    return result(
      od,
      tables[0]!,
      null,
      data.keys,
      'cell key method: each cell perturbed by its cell key (the same cell has the same value in every query)',
    );
  }
  if (p.regime !== 'dp') throw new StatguardError('ON_DEMAND_NOT_OFFERED', 'tables on demand need ckm or dp');
  const cost = budgetCost(od.onDemand.dp!);
  const dpPlan: DpPlan = {
    ...p,
    epsilon: od.onDemand.dp!.epsilon,
    rho: od.onDemand.dp!.rho,
    truncationReport: null,
  };
  // Every draw is spent: a real query is in the draw log before its noise is drawn.
  if (rng.kind === 'crypto')
    appendDraw(od.dataset.id, { policy: { id: od.policyId, sha256: od.policySha256 }, regime: 'dp', cost });
  const res = await REGIMES.dp.protect([cut], { ...od, protection: dpPlan }, { rng, published: [] });
  const budget = cost.epsilon !== null ? `epsilon = ${cost.epsilon}` : `rho = ${cost.rho}`;
  return result(
    od,
    res.tables[0]!,
    cost,
    rng.kind,
    `differential privacy: ${dpPlan.mechanism} noise, ${budget} for this table`,
  );
}

function result(
  plan: Plan,
  table: ProtectedTable,
  cost: ReleaseCost | null,
  randomness: RandomSource['kind'],
  guarantee: string,
): OnDemandResult {
  return {
    dataset: plan.dataset.id,
    regime: plan.protection.regime as 'ckm' | 'dp',
    table,
    cells: table.cells.length,
    cost,
    randomness,
    guarantee: randomness === 'seeded' ? `reproducible demo noise; not private (${guarantee})` : guarantee,
  };
}
