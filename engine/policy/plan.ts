/**
 * Policy document -> Plan: every default filled, every reference resolved,
 * the whole object frozen. Expects a document accepted by `validatePolicy`
 * (inconsistencies found anyway are thrown as POLICY_INVALID naming the path).
 *
 * Guarantees the later steps rely on:
 * - dimensions are DimensionPlans from `buildDimension` (declared domains,
 *   hierarchies partition the leaves, totals where asked);
 * - measure bounds are exact scaled integers (value * 10^decimals, safe
 *   integers), so clamping and sums run in integer arithmetic;
 * - budget shares are the table weights normalised to sum to 1 (dp), so the
 *   tables' privacy costs add up to exactly the declared budget; 0 for sdc.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { StatguardError } from '../errors.ts';
import type {
  Category,
  CkmPlan,
  ColumnPlan,
  DatasetPlan,
  DerivedColumnPlan,
  DimensionPlan,
  DpPlan,
  LabelMap,
  MeasurePlan,
  OnDemandPlan,
  Plan,
  ProtectionPlan,
  ReleaseMeta,
  SourcePlan,
  TablePlan,
  TruncationReportPlan,
  WeightPlan,
} from '../types.ts';
import { buildDimension, resolveHierarchy } from './dimension.ts';
import {
  collectTranslations,
  policyLanguages,
  totalLabel,
  translateDimension,
  unitKey,
  withDefaultLabels,
} from './labels.ts';
import { checkSelectionThreshold } from '../dp/partition.ts';
import type {
  CkmProtectionDoc,
  ColumnDoc,
  DpProtectionDoc,
  OnDemandMeasureDoc,
  PolicyDoc,
  SourceDoc,
  TableDoc,
} from './policy-doc.ts';
import { ptr, scaleExact } from './json-read.ts';

export interface PlanContext {
  /** Path of the policy file (made absolute); relative source paths resolve against its directory. */
  readonly policyPath: string;
  /** SHA-256 (hex) of the policy file bytes. */
  readonly policySha256: string;
}

/** Default protection percent for cells flagged by the minimum frequency rule. */
export const DEFAULT_FREQUENCY_PROTECTION = 10;
export const DEFAULT_DELTA = 1e-10;
/**
 * A dp policy that does not say publishes each noisy cell on its own; `consistency: "hierarchical"` (opt-in) publishes
 * tables that add up (engine/dp/consistency.ts). Opt-in while the fit's accuracy simulation takes tens of seconds on
 * sparse tables of a few thousand cells (bench:consistency), so existing policies keep their run time.
 */
export const DEFAULT_CONSISTENCY = 'none' as const;

export function planPolicy(written: PolicyDoc, ctx: PlanContext): Plan {
  const policyPath = resolve(ctx.policyPath);
  // Labels per language (labels.ts): planned in the default language, translations attached to the dimensions.
  const languages = written.languages !== undefined ? policyLanguages(written) : null;
  const translations = languages ? collectTranslations(written, languages) : null;
  const doc = withDefaultLabels(written);
  const ds = doc.dataset;
  const derivedDocs = ds.derived ?? [];
  const colDocs = new Map(ds.columns.map((c) => [c.name, c] as const));

  const onDemandDims = doc.onDemand ? onDemandDimensionNames(doc) : [];
  const needed = neededColumns(doc, onDemandDims);

  const columns: ColumnPlan[] = ds.columns.map((c) => ({
    name: c.name,
    type: c.type,
    ...(c.type === 'categorical' ? { categories: (c.categories ?? []).map(cat) } : {}),
    ...(c.type === 'categorical' && c.domain === 'open' ? { open: true } : {}),
    missingValues: [...(c.missingValues ?? [])],
    required: c.required ?? needed.has(c.name),
    ...(c.constraints?.minimum !== undefined ? { minimum: c.constraints.minimum } : {}),
    ...(c.constraints?.maximum !== undefined ? { maximum: c.constraints.maximum } : {}),
  }));

  const derived: DerivedColumnPlan[] = derivedDocs.map((d) =>
    d.bins
      ? {
          name: d.name,
          from: d.from,
          bins: d.bins.map((b) => ({ code: b.code, label: b.label, min: b.min, max: b.max })),
          categories: d.bins.map(cat),
        }
      : { name: d.name, from: d.from, map: { ...(d.map ?? {}) }, categories: (d.categories ?? []).map(cat) },
  );

  // Domain and label of every column usable as a dimension.
  const domains = new Map<string, { label: string; categories: readonly Category[] }>();
  for (const c of ds.columns)
    if (c.type === 'categorical')
      domains.set(c.name, { label: c.title ?? c.name, categories: (c.categories ?? []).map(cat) });
  derivedDocs.forEach((d, i) => domains.set(d.name, { label: d.title ?? d.name, categories: derived[i]!.categories }));

  const dataset: DatasetPlan = {
    id: ds.id,
    source: planSource(ds.source, policyPath),
    unit: {
      column: ds.unit.column ?? null,
      kind: ds.unit.kind,
      maxRowsPerUnit: ds.unit.maxRowsPerUnit ?? 1,
      ...(ds.unit.holding !== undefined ? { holding: ds.unit.holding } : {}),
    },
    columns,
    derived,
    onInvalidRow: ds.onInvalidRow ?? 'error',
  };

  const isDp = doc.protection.regime === 'dp';
  const weights = doc.tables.map((t) => t.weight ?? 1);
  const sel = doc.protection.regime === 'dp' ? doc.protection.partitionSelection : undefined;
  // The partition selection (open domains) takes its weight from the same budget as the tables.
  const selWeight = sel ? (sel.weight ?? 1) : 0;
  const weightSum = weights.reduce((a, b) => a + b, 0) + selWeight;
  // A truncation report takes its share of the total first; the tables and the selection share the rest by weight.
  const report =
    doc.protection.regime === 'dp' ? truncationReportPlan(doc.protection, ds.unit.maxRowsPerUnit ?? 1) : null;
  const tableShare = 1 - (report?.share ?? 0);
  // A dimension in the default language, translations attached (multilingual policies).
  const dimension = (name: string, total: boolean, where: string): DimensionPlan => {
    const dim = planDimension(doc, name, total, where, domains, languages?.[0]);
    return languages ? translateDimension(dim, translations!.get(dim.name), languages) : dim;
  };
  const tables: TablePlan[] = doc.tables.map((t, i) => ({
    id: t.id,
    title: t.title,
    description: t.description ?? '',
    dimensions: t.dimensions.map((d, j) =>
      typeof d === 'string'
        ? dimension(d, true, ptr('tables', i, 'dimensions', j))
        : dimension(d.column, d.total ?? true, ptr('tables', i, 'dimensions', j)),
    ),
    measure: withUnit(
      planMeasure(t.measure, ptr('tables', i, 'measure'), colDocs, ds.weight),
      t.measure.unit,
      translations?.get(unitKey(i))?.title,
    ),
    // Shares sum to 1 (up to float rounding of the division): the per-table costs compose to the total budget.
    budgetShare: isDp ? (weights[i]! / weightSum) * tableShare : 0,
    neverSuppress: (t.neverSuppress ?? []).map((x) => [...x]),
    alwaysSuppress: (t.alwaysSuppress ?? []).map((x) => [...x]),
  }));

  const p = doc.protection;
  const protection: ProtectionPlan =
    p.regime === 'ckm'
      ? planCkm(p, policyPath)
      : p.regime === 'sdc'
        ? {
            regime: 'sdc',
            minFrequency: p.rules.minFrequency?.n ?? null,
            frequencyProtection: p.rules.minFrequency?.protectionPercent ?? DEFAULT_FREQUENCY_PROTECTION,
            dominance: (p.rules.dominance ?? []).map((r) => ({ n: r.n, k: r.k })),
            pPercent: p.rules.pPercent?.p ?? null,
            pq: p.rules.pq ? { p: p.rules.pq.p, q: p.rules.pq.q } : null,
            secondary: {
              method: p.secondary?.method ?? 'auto',
              cost: p.secondary?.cost ?? 'unity',
              timeLimitSeconds: p.secondary?.timeLimitSeconds ?? 60,
              insiders: p.secondary?.insiders ?? 'singletons',
            },
            zeroCells: p.zeroCells ?? 'publish',
          }
        : planDp(p, (selWeight / weightSum) * tableShare, report);

  const release = planRelease(doc, languages);
  const onDemand =
    doc.onDemand &&
    planOnDemand(
      doc,
      onDemandDims,
      (n, w) => dimension(n, true, w),
      (m, w) => planMeasure(m, w, colDocs, ds.weight),
    );

  const plan = deepFreeze({
    policyId: doc.id,
    policyVersion: doc.version,
    policySha256: ctx.policySha256,
    policyPath,
    release,
    dataset,
    tables,
    protection,
    ...(onDemand ? { onDemand } : {}),
  } satisfies Plan);
  // Open domains: an integer selection threshold below what delta allows is refused before any data is read.
  checkSelectionThreshold(plan);
  return plan;
}

/** The ckm protection: a generated p-table's parameters or a p-table file (resolved against the policy's folder). */
function planCkm(p: CkmProtectionDoc, policyPath: string): CkmPlan {
  return {
    regime: 'ckm',
    ptable:
      p.ptable.file === undefined
        ? {
            D: required(p.ptable.maxDeviation, '/protection/ptable/maxDeviation'),
            V: required(p.ptable.variance, '/protection/ptable/variance'),
            js: p.ptable.js ?? 0,
            pstay: p.ptable.pstay ?? null,
          }
        : null,
    ptableFile:
      p.ptable.file === undefined
        ? null
        : isAbsolute(p.ptable.file)
          ? p.ptable.file
          : resolve(dirname(policyPath), p.ptable.file),
    recordKey: p.recordKey ? { column: p.recordKey.column, decimals: p.recordKey.decimals ?? 8 } : null,
    magnitudePercent: p.magnitudePercent ?? 10,
    roundingBase: p.roundingBase ?? null,
  };
}

/** Columns a release cannot do without: the unit column, and every column a table (or on-demand) dimension reads. */
function neededColumns(doc: PolicyDoc, onDemandDims: readonly string[]): Set<string> {
  const ds = doc.dataset;
  const needed = new Set<string>();
  if (ds.unit.column !== undefined) needed.add(ds.unit.column);
  if (ds.unit.holding !== undefined) needed.add(ds.unit.holding);
  if (ds.weight !== undefined) needed.add(ds.weight);
  for (const t of [...doc.tables, { dimensions: onDemandDims }]) {
    for (const d of t.dimensions) {
      const name = typeof d === 'string' ? d : d.column;
      needed.add(name);
      const der = (ds.derived ?? []).find((x) => x.name === name);
      if (der) needed.add(der.from);
    }
  }
  return needed;
}

/** The columns a policy offers on demand: as declared, or every closed-domain dimension column read from required columns. */
function onDemandDimensionNames(doc: PolicyDoc): string[] {
  if (doc.onDemand?.dimensions) return [...doc.onDemand.dimensions];
  const ds = doc.dataset;
  const derived = ds.derived ?? [];
  const optional = new Set(ds.columns.filter((c) => c.required === false).map((c) => c.name));
  return [
    ...ds.columns.filter((c) => c.type === 'categorical' && c.domain !== 'open' && c.required !== false),
    ...derived.filter(
      (d) => !optional.has(d.from) && !ds.columns.some((c) => c.name === d.from && c.domain === 'open'),
    ),
  ].map((c) => c.name);
}

/** The on-demand section: dimensions at their finest level with totals, `count` then the named measures, per-query dp budget. */
function planOnDemand(
  doc: PolicyDoc,
  names: readonly string[],
  dimension: (name: string, where: string) => DimensionPlan,
  measure: (m: OnDemandMeasureDoc | { kind: 'count' }, where: string) => MeasurePlan,
): OnDemandPlan {
  const od = doc.onDemand!;
  const count = measure({ kind: 'count' }, ptr('onDemand'));
  const p = doc.protection;
  return {
    maxCells: od.maxCells,
    maxDimensions: od.maxDimensions,
    cacheEntries: od.cacheEntries ?? DEFAULT_ON_DEMAND_CACHE,
    dimensions: names.map((n, j) => dimension(n, ptr('onDemand', 'dimensions', j))),
    measures: [
      { name: 'count', title: 'Count', measure: count },
      ...(od.measures ?? []).map((m, i) => ({
        name: m.name,
        title: m.title ?? m.name,
        measure: measure(m, ptr('onDemand', 'measures', i)),
      })),
    ],
    dp:
      p.regime === 'dp'
        ? p.mechanism === 'discrete-laplace'
          ? { epsilon: required(od.dp?.epsilon, '/onDemand/dp/epsilon'), rho: null }
          : { epsilon: null, rho: required(od.dp?.rho, '/onDemand/dp/rho') }
        : null,
  };
}

/** Answers kept per dataset in the API's on-demand cache when the policy does not say. */
export const DEFAULT_ON_DEMAND_CACHE = 256;

/**
 * The truncation report of a dp policy (engine/dp/truncation.ts), or null: its share of the total budget (given as a
 * share, or as an amount of the mechanism's budget parameter divided by the total) and the per-unit cap of the
 * dropped-row count (default maxRowsPerUnit). A report that would leave the tables no budget is refused.
 */
function truncationReportPlan(p: DpProtectionDoc, maxRowsPerUnit: number): TruncationReportPlan | null {
  const r = p.truncationReport;
  if (r === undefined) return null;
  const where = '/protection/truncationReport';
  let share: number;
  if (r.share !== undefined) share = r.share;
  else {
    const param = p.mechanism === 'discrete-laplace' ? 'epsilon' : 'rho';
    const amount = r.budget?.[param];
    const total = p.budget[param];
    if (amount === undefined || total === undefined)
      throw invalid(
        `${where}/budget`,
        `the report's budget must be given as ${param}, the parameter of ${p.mechanism}`,
      );
    share = amount / total;
  }
  if (!(share > 0 && share < 1))
    throw invalid(
      r.share !== undefined ? `${where}/share` : `${where}/budget`,
      `the truncation report does not fit in the release's budget: it would take ${share} of the total, leaving the tables nothing (it must be less than the total)`,
    );
  return { share, maxDroppedPerUnit: r.maxDroppedPerUnit ?? maxRowsPerUnit };
}

/**
 * The dp protection; `selectionShare` is the budget share of the partition selection (used when the policy has one),
 * `report` the truncation report's plan (or null).
 */
function planDp(p: DpProtectionDoc, selectionShare: number, report: TruncationReportPlan | null): DpPlan {
  const sel = p.partitionSelection;
  return {
    regime: 'dp',
    mechanism: p.mechanism,
    epsilon: p.mechanism === 'discrete-laplace' ? required(p.budget.epsilon, '/protection/budget/epsilon') : null,
    rho: p.mechanism === 'discrete-gaussian' ? required(p.budget.rho, '/protection/budget/rho') : null,
    delta: p.delta ?? DEFAULT_DELTA,
    noisyThreshold: p.noisyThreshold ?? null,
    granularityLog2: p.granularityLog2 ?? 0,
    consistency: p.consistency ?? DEFAULT_CONSISTENCY,
    ...(report ? { truncationReport: report } : {}),
    ...(sel ? { partitionSelection: { share: selectionShare, delta: sel.delta, threshold: sel.threshold } } : {}),
  };
}

/** The release metadata; languages and themes only when declared, so other policies' manifests keep their bytes. */
function planRelease(doc: PolicyDoc, languages: readonly string[] | null): ReleaseMeta {
  return {
    title: doc.release.title,
    description: doc.release.description ?? '',
    audience: doc.release.audience,
    demo: doc.release.demo ?? false,
    expires: doc.release.expires ?? null,
    contact: doc.release.contact ?? null,
    ...(languages ? { languages } : {}),
    ...(doc.release.themes !== undefined ? { themes: [...doc.release.themes] } : {}),
  };
}

/** Source kinds: relative file paths resolve against the policy's directory; a postgres connection is an env var name. */
function planSource(src: SourceDoc, policyPath: string): SourcePlan {
  if (src.kind === 'postgres') {
    return {
      kind: 'postgres',
      table: src.table,
      schema: src.schema ?? null,
      connection: src.connection ?? null,
      rowNumberColumn: src.rowNumberColumn ?? null,
    };
  }
  const path = isAbsolute(src.path) ? src.path : resolve(dirname(policyPath), src.path);
  if (src.kind === 'csv')
    return {
      kind: 'csv',
      path,
      delimiter: src.delimiter ?? ',',
      header: true,
      encoding: 'utf8',
      rename: { ...(src.rename ?? {}) },
    };
  return { kind: src.kind, path, delimiter: src.delimiter ?? ',', header: true };
}

function cat(c: { code: string; label: string }): Category {
  return { code: c.code, label: c.label };
}

function invalid(path: string, message: string): StatguardError {
  return new StatguardError('POLICY_INVALID', message, { path }, [{ path, message }]);
}

function required(v: number | undefined, path: string): number {
  if (v === undefined) throw invalid(path, 'missing budget');
  return v;
}

function planDimension(
  doc: PolicyDoc,
  name: string,
  total: boolean,
  where: string,
  domains: ReadonlyMap<string, { label: string; categories: readonly Category[] }>,
  language?: string,
): DimensionPlan {
  const dom = domains.get(name);
  if (dom === undefined) throw invalid(where, `dimension "${name}" is not a declared categorical or derived column`);
  try {
    const hierarchy = resolveHierarchy(doc.dataset.hierarchies?.[name], dom.categories);
    const open = doc.dataset.columns.some((c) => c.name === name && c.type === 'categorical' && c.domain === 'open');
    const dim = buildDimension({
      name,
      label: dom.label,
      categories: dom.categories,
      ...(hierarchy ? { hierarchy } : {}),
      total,
      // A multilingual policy names its total in its default language (the release files' language).
      ...(language !== undefined ? { totalLabel: totalLabel(language) } : {}),
    });
    return open ? { ...dim, open: true } : dim;
  } catch (err) {
    throw invalid(where, `dimension "${name}": ${(err as Error).message}`);
  }
}

function planMeasure(
  m: TableDoc['measure'] | OnDemandMeasureDoc | { kind: 'count' },
  where: string,
  cols: ReadonlyMap<string, ColumnDoc>,
  weightColumn?: string,
): MeasurePlan {
  let weight: WeightPlan | undefined;
  if (weightColumn !== undefined) {
    const wc = cols.get(weightColumn);
    if (wc === undefined || (wc.type !== 'integer' && wc.type !== 'number'))
      throw invalid('/dataset/weight', `weight column "${weightColumn}" must be a declared integer or number column`);
    weight = { column: weightColumn, decimals: wc.type === 'number' ? (wc.decimals ?? 0) : 0 };
  }
  if (m.kind === 'count') return weight ? { kind: 'count', weight } : { kind: 'count' };
  const c = cols.get(m.column);
  if (c === undefined || (c.type !== 'integer' && c.type !== 'number')) {
    throw invalid(`${where}/column`, `measure column "${m.column}" must be a declared integer or number column`);
  }
  const decimals = c.type === 'number' ? (c.decimals ?? 0) : 0;
  // Scaled exactly from the decimal text of the bound (validated: a safe integer).
  const lower = scaleExact(m.bounds[0], decimals);
  const upper = scaleExact(m.bounds[1], decimals);
  if (lower === null || upper === null || lower > upper) {
    throw invalid(`${where}/bounds`, 'bounds must be ordered multiples of 10^-decimals');
  }
  if (m.kind === 'quantile') {
    const a = scaleExact(m.quantile, 4);
    if (a === null || a < 1 || a > 9999 || upper - lower < m.bins)
      throw invalid(where, 'a quantile in (0, 1) with at most 4 decimals and bins <= the bounds width');
    return { kind: 'quantile', column: m.column, lower, upper, decimals, a, bins: m.bins };
  }
  return {
    kind: m.kind,
    column: m.column,
    lower,
    upper,
    decimals,
    ...(weight ? { weight } : {}),
    ...(m.kind === 'mean' && m.per ? { per: m.per } : {}),
  };
}

/** The measure with its declared unit (default language; every language when the policy is multilingual), if any. */
function withUnit(m: MeasurePlan, unit: unknown, labels: LabelMap | undefined): MeasurePlan {
  if (typeof unit !== 'string') return m;
  return { ...m, unit, ...(labels ? { unitLabels: labels } : {}) };
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}
