/**
 * Labels in several languages. A policy may declare `languages` (the first is the default); a label (category, bin,
 * hierarchy aggregate, prefix aggregate, column or derived column title, a table's unit of measure) is then a string (the same in every
 * language) or an object giving it per language.
 *
 * How the rest of the engine stays unchanged: `withDefaultLabels` turns every label of a document into its
 * default-language string (the document the checks and the planner have always read), and `collectTranslations`
 * keeps the labels per language, by column and code, which `translateDimension` attaches to the planned dimension
 * (`labels` on the dimension and on each node). Release files are written in the default language; the API renders
 * other languages from the stored translations.
 *
 * Guarantee (with `checkLabels`, run by validatePolicy): in a valid policy every object label names exactly the
 * declared languages, so every node of a multilingual dimension has a label in every language (totals from
 * TOTAL_LABELS, prefix aggregates without a label: their code).
 */
import type { DimensionPlan, LabelMap } from '../types.ts';
import { isObj, type Obj } from './json-read.ts';
import type { Problems } from './problems.ts';

export const DEFAULT_LANGUAGES: readonly string[] = ['en'];

/** The total's label per language (by primary language subtag); other languages: "Total". */
export const TOTAL_LABELS: Readonly<Record<string, string>> = {
  en: 'Total',
  fr: 'Total',
  de: 'Insgesamt',
  es: 'Total',
  it: 'Totale',
  nl: 'Totaal',
  pt: 'Total',
  sv: 'Totalt',
  da: 'I alt',
  nb: 'I alt',
  nn: 'I alt',
  no: 'I alt',
  fi: 'Yhteensä',
  pl: 'Ogółem',
  cy: 'Cyfanswm',
  ga: 'Iomlán',
};

export function totalLabel(lang: string): string {
  return TOTAL_LABELS[lang.split('-')[0]!.toLowerCase()] ?? 'Total';
}

/** A label as written: a string, or an object per language. */
export type LabelDoc = string | Readonly<Record<string, string>>;

/** The languages a document declares (default `en`). */
export function policyLanguages(doc: unknown): readonly string[] {
  const l = isObj(doc) ? doc.languages : undefined;
  return Array.isArray(l) && l.length > 0 && l.every((x) => typeof x === 'string')
    ? (l as string[])
    : DEFAULT_LANGUAGES;
}

/** One label found in a document: where, whose (column; code, or null for the column's title), and its value. */
interface LabelSite {
  readonly path: string;
  readonly column: string;
  readonly code: string | null;
  readonly value: unknown;
  set(v: string): void;
}

function site(path: string, column: string, code: string | null, holder: Obj, key: string): LabelSite {
  return { path, column, code, value: holder[key], set: (v) => (holder[key] = v) };
}

/** Every label of a (possibly malformed) policy document, in document order. */
function labelSites(doc: unknown): LabelSite[] {
  const out: LabelSite[] = [];
  const ds = isObj(doc) && isObj(doc.dataset) ? doc.dataset : {};
  const items = (v: unknown) => (Array.isArray(v) ? v : []);
  const cats = (list: unknown, base: string, column: string) =>
    items(list).forEach((c, j) => {
      if (isObj(c) && 'label' in c) out.push(site(`${base}/${j}/label`, column, String(c.code), c, 'label'));
    });
  items(ds.columns).forEach((c, i) => {
    if (!isObj(c)) return;
    const name = String(c.name);
    if ('title' in c) out.push(site(`/dataset/columns/${i}/title`, name, null, c, 'title'));
    cats(c.categories, `/dataset/columns/${i}/categories`, name);
  });
  items(ds.derived).forEach((d, i) => {
    if (!isObj(d)) return;
    const name = String(d.name);
    if ('title' in d) out.push(site(`/dataset/derived/${i}/title`, name, null, d, 'title'));
    cats(d.bins, `/dataset/derived/${i}/bins`, name);
    cats(d.categories, `/dataset/derived/${i}/categories`, name);
  });
  const hierarchies = isObj(ds.hierarchies) ? ds.hierarchies : {};
  for (const [col, h] of Object.entries(hierarchies)) {
    const base = `/dataset/hierarchies/${col.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    const nodes = (list: unknown, at: string): void =>
      items(list).forEach((n, k) => {
        if (!isObj(n)) return;
        if ('label' in n) out.push(site(`${at}/${k}/label`, col, String(n.code), n, 'label'));
        nodes(n.children, `${at}/${k}/children`);
      });
    if (Array.isArray(h)) nodes(h, base);
    else if (isObj(h) && isObj(h.labels)) {
      const labels = h.labels;
      for (const code of Object.keys(labels)) out.push(site(`${base}/labels/${code}`, col, code, labels, code));
    }
  }
  items(isObj(doc) ? doc.tables : undefined).forEach((t, i) => {
    const m = isObj(t) ? t.measure : undefined;
    if (isObj(m) && 'unit' in m) out.push(site(`/tables/${i}/measure/unit`, unitKey(i), null, m, 'unit'));
  });
  return out;
}

/** The key under which `collectTranslations` keeps table i's unit of measure (never a column name: not a slug). */
export function unitKey(i: number): string {
  return `/tables/${i}/measure/unit`;
}

/** Semantic checks of the labels: object labels need `languages`, and name every declared language and no other. */
export function checkLabels(p: Problems, doc: unknown): void {
  const declared = isObj(doc) && Array.isArray(doc.languages);
  const languages = policyLanguages(doc);
  for (const s of labelSites(doc)) {
    if (!isObj(s.value)) continue;
    if (!declared) {
      p.bad(
        s.path,
        'a label per language needs the languages declared at the top level (e.g. "languages": ["en", "fr"])',
      );
      continue;
    }
    const keys = Object.keys(s.value);
    const missing = languages.filter((l) => !keys.includes(l));
    const extra = keys.filter((k) => !languages.includes(k));
    if (missing.length > 0)
      p.bad(
        s.path,
        `label has no ${missing.map((l) => JSON.stringify(l)).join(', ')} (languages: ${languages.join(', ')})`,
      );
    if (extra.length > 0)
      p.bad(
        s.path,
        `${extra.map((l) => JSON.stringify(l)).join(', ')} ${extra.length > 1 ? 'are not declared languages' : 'is not a declared language'} (languages: ${languages.join(', ')})`,
      );
  }
}

/** A copy of the document with every label in the default language (tolerant of malformed documents). */
export function withDefaultLabels<T>(doc: T): T {
  const lang = policyLanguages(doc)[0]!;
  const copy = structuredClone(doc);
  for (const s of labelSites(copy)) {
    if (!isObj(s.value)) continue;
    const v = s.value[lang] ?? Object.values(s.value)[0];
    s.set(typeof v === 'string' ? v : '');
  }
  return copy;
}

/** Labels per language of one column: its title and its codes' labels. */
export interface ColumnTranslations {
  title?: LabelMap;
  readonly codes: Map<string, LabelMap>;
}

const mapOf = (v: unknown, languages: readonly string[]): LabelMap | undefined =>
  typeof v === 'string'
    ? Object.fromEntries(languages.map((l) => [l, v]))
    : isObj(v)
      ? Object.fromEntries(languages.map((l) => [l, String(v[l] ?? Object.values(v)[0] ?? '')]))
      : undefined;

/** Every label of a valid document per language, by column (then code; null code: the column's title). */
export function collectTranslations(doc: unknown, languages: readonly string[]): Map<string, ColumnTranslations> {
  const out = new Map<string, ColumnTranslations>();
  for (const s of labelSites(doc)) {
    const m = mapOf(s.value, languages);
    if (!m) continue;
    let c = out.get(s.column);
    if (!c) out.set(s.column, (c = { codes: new Map() }));
    if (s.code === null) c.title = m;
    else c.codes.set(s.code, m);
  }
  return out;
}

/** The dimension with its labels in every language (a node without a translation keeps its label everywhere). */
export function translateDimension(
  dim: DimensionPlan,
  tr: ColumnTranslations | undefined,
  languages: readonly string[],
): DimensionPlan {
  const same = (label: string) => Object.freeze(Object.fromEntries(languages.map((l) => [l, label])));
  const nodes = dim.nodes.map((n, i) =>
    Object.freeze({
      ...n,
      labels: Object.freeze(
        tr?.codes.get(n.code) ??
          (i === dim.total ? Object.fromEntries(languages.map((l) => [l, totalLabel(l)])) : same(n.label)),
      ),
    }),
  );
  return Object.freeze({ ...dim, labels: Object.freeze(tr?.title ?? same(dim.label)), nodes: Object.freeze(nodes) });
}
