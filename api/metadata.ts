/**
 * Metadata documents of a release, built from the stored structure only (release_tables rows without their cells,
 * and the signed manifest): codelists in the style of PxWeb API v2 `/codelists`, table metadata (dimensions,
 * measure, unit, notes, methods, contact, dates) and the SDMX structure (engine/release/sdmx-structure.ts).
 *
 * Guarantee: nothing here reads a cell, so no value, published or suppressed, can reach a metadata document.
 *
 * Languages: a release's languages are its manifest's `release.languages` (the signed policy's `languages`; absent:
 * one language, `en`); the first is the default. A stored node or dimension may carry `labels` (every language);
 * a label missing in a language falls back to the default label. `resolveLang` refuses a language the release does
 * not have (400 UNKNOWN_LANGUAGE naming the ones it has).
 */
import type { Manifest } from '../engine/release/manifest.ts';
import { toSdmxStructure, type Names } from '../engine/release/sdmx-structure.ts';
import { ApiError } from './errors.ts';
import type { StoredDimension } from './store/schema.ts';

export const DEFAULT_LANGUAGE = 'en';

/** Labels that can carry translations (stored nodes and dimensions). */
interface Labelled {
  readonly label: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** The stored row of a table without its cells. */
export interface TableRow {
  readonly table_id: string;
  readonly title: string;
  readonly description: string;
  readonly measure: Record<string, unknown>;
  readonly privacy: Record<string, unknown> | null;
  readonly dimensions: readonly StoredDimension[];
  readonly cell_count: number;
  readonly suppressed: number;
}

export function releaseLanguages(manifest: Pick<Manifest, 'release'>): readonly string[] {
  const l = manifest.release.languages;
  return Array.isArray(l) && l.length > 0 ? l : [DEFAULT_LANGUAGE];
}

/** The language to answer in: the requested one if the release has it, else 400; none requested: the default. */
export function resolveLang(languages: readonly string[], requested: string | undefined): string {
  if (requested === undefined || requested === '') return languages[0]!;
  if (!languages.includes(requested))
    throw new ApiError(
      'UNKNOWN_LANGUAGE',
      `lang: this release has no labels in ${JSON.stringify(requested)}; its languages are ${languages.join(', ')}`,
      { parameter: 'lang', value: requested, languages },
    );
  return requested;
}

export function labelIn(x: Labelled, lang: string): string {
  return x.labels?.[lang] ?? x.label;
}

export function namesOf(x: Labelled, languages: readonly string[]): Names {
  return Object.fromEntries(languages.map((l) => [l, labelIn(x, l)]));
}

/** A stored dimension with its labels in `lang` (the shape the engine's formatters are rebuilt from). */
export function localizeDimension(d: StoredDimension, lang: string): StoredDimension {
  return { name: d.name, label: labelIn(d, lang), nodes: d.nodes.map((n) => ({ ...n, label: labelIn(n, lang) })) };
}

export interface CodelistValue {
  code: string;
  label: string;
  parent: string | null;
  order: number;
  level: number;
  leaf: boolean;
}

export interface Codelist {
  id: string;
  label: string;
  type: 'Valueset';
  tables: string[];
  values: CodelistValue[];
}

/** Depth of each node (0 for roots). */
function levels(d: StoredDimension): number[] {
  const out = d.nodes.map(() => -1);
  const depth = (i: number): number => {
    if (out[i]! >= 0) return out[i]!;
    const p = d.nodes[i]!.parent;
    out[i] = p === null ? 0 : depth(p) + 1;
    return out[i]!;
  };
  d.nodes.forEach((_, i) => depth(i));
  return out;
}

/** One dimension's codelist: every node (leaves, hierarchy levels, total) in node order, with its parent. */
export function codelistOf(d: StoredDimension, lang: string, table: string): Codelist {
  const lv = levels(d);
  const hasChild = new Set(d.nodes.map((n) => n.parent).filter((p): p is number => p !== null));
  return {
    id: d.name,
    label: labelIn(d, lang),
    type: 'Valueset',
    tables: [table],
    values: d.nodes.map((n, i) => ({
      code: n.code,
      label: labelIn(n, lang),
      parent: n.parent === null ? null : d.nodes[n.parent]!.code,
      order: i,
      level: lv[i]!,
      leaf: !hasChild.has(i),
    })),
  };
}

/**
 * The codelists of several tables, one per dimension name: a dimension used by several tables (with or without its
 * total) gets one list holding every code any of them has, in first-seen order, and names every table using it.
 */
export function mergeCodelists(tables: readonly TableRow[], lang: string): Codelist[] {
  const out = new Map<string, Codelist>();
  for (const t of tables) {
    for (const d of t.dimensions) {
      const cl = codelistOf(d, lang, t.table_id);
      const seen = out.get(d.name);
      if (!seen) {
        out.set(d.name, cl);
        continue;
      }
      seen.tables.push(t.table_id);
      const have = new Set(seen.values.map((v) => v.code));
      for (const v of cl.values)
        if (!have.has(v.code)) seen.values.push({ ...v, order: seen.values.length, parent: v.parent });
    }
  }
  return [...out.values()];
}

/** The declared unit of a stored measure per language (every language of the release), or undefined. */
export function unitNames(m: Record<string, unknown>, languages: readonly string[]): Names | undefined {
  if (typeof m.unit !== 'string') return undefined;
  const labels = (m.unitLabels ?? {}) as Record<string, string>;
  return Object.fromEntries(languages.map((l) => [l, labels[l] ?? (m.unit as string)]));
}

/** A stored measure with its declared unit (if any) in `lang`. */
export function measureIn(m: Record<string, unknown>, lang: string): Record<string, unknown> {
  const unit = (m.unitLabels as Record<string, string> | undefined)?.[lang];
  return unit !== undefined ? { ...m, unit } : m;
}

/** What a measure is, in words, and its unit (the declared one in `lang`, else what a count or a column is in). */
export function measureOf(
  m: Record<string, unknown>,
  unitKind: string,
  lang = DEFAULT_LANGUAGE,
): Record<string, unknown> {
  const declared =
    typeof m.unit === 'string' ? ((m.unitLabels as Record<string, string> | undefined)?.[lang] ?? m.unit) : null;
  const kind = String(m.kind);
  const column = typeof m.column === 'string' ? m.column : null;
  const label =
    kind === 'count'
      ? `number of ${unitKind}s`
      : kind === 'quantile'
        ? `quantile ${String(m.quantile)} of ${column}`
        : `${kind} of ${column}${kind === 'mean' && m.per === 'row' ? ' per row' : ''}`;
  return {
    id: 'OBS_VALUE',
    label,
    kind,
    unit: declared ?? (kind === 'count' ? `${unitKind}s` : `unit of ${column}`),
    ...(column !== null ? { column } : {}),
    ...(Array.isArray(m.bounds) ? { bounds: m.bounds } : {}),
    ...(m.per !== undefined ? { per: m.per } : {}),
    ...(m.quantile !== undefined ? { quantile: m.quantile } : {}),
  };
}

/** Notes a reader should see beside the table: what moves the values besides protection, and suppression. */
export function notesOf(t: TableRow, regime: string): string[] {
  const notes: string[] = [];
  const bias = (t.privacy as { bias?: readonly { note?: unknown }[] } | null)?.bias;
  if (Array.isArray(bias)) for (const b of bias) if (typeof b.note === 'string') notes.push(b.note);
  if (t.suppressed > 0)
    notes.push(
      `${t.suppressed} of ${t.cell_count} cells are suppressed: their value is null (empty in CSV) and CONF_STATUS says why.`,
    );
  if (regime === 'dp')
    notes.push('Values carry differentially private noise (OBS_STATUS E); NOISE_SD and HALF_WIDTH_95 state accuracy.');
  if (regime === 'ckm') notes.push('Values are perturbed by the cell key method (OBS_STATUS E).');
  return notes;
}

/** The SDMX-JSON 2.0 structure message of a stored table. */
export function structureOf(
  t: TableRow,
  manifest: Pick<Manifest, 'release' | 'createdAt'>,
  lang: string,
): Record<string, unknown> {
  const languages = releaseLanguages(manifest);
  return toSdmxStructure({
    tableId: t.table_id,
    names: Object.fromEntries(languages.map((l) => [l, t.title])),
    description: t.description,
    dimensions: t.dimensions.map((d) => ({
      name: d.name,
      names: namesOf(d, languages),
      nodes: d.nodes.map((n) => ({ code: n.code, names: namesOf(n, languages), parent: n.parent })),
    })),
    measure: String(t.measure.kind),
    ...(unitNames(t.measure, languages) ? { unit: unitNames(t.measure, languages)! } : {}),
    languages,
    lang,
    prepared: manifest.createdAt,
  });
}
