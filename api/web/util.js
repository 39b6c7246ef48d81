// statguard web page, shared helpers: DOM building, API calls, number formatting, the catalogue's grouping and search.
// Plain script (no build step): everything hangs on one global, `SG`. The pure functions (formatting, grouping,
// search) touch no DOM, so test/web/page.test.ts runs this file in a Node vm and checks them directly.
'use strict';

(function (root) {
  const SG = (root.SG = root.SG || {});
  const LOCALE = 'en';

  /* ---------------- numbers ---------------- */

  const formatters = new Map();
  function nf(opts) {
    const k = JSON.stringify(opts);
    if (!formatters.has(k)) formatters.set(k, new Intl.NumberFormat(LOCALE, opts));
    return formatters.get(k);
  }

  /**
   * A number as a reader expects it: thousands separators, never exponent notation (1.62e+7 is 16,200,000);
   * whole numbers and values of 1,000 or more without decimals, others with up to 2 decimals, small ones with 3
   * significant digits. Null (a suppressed or absent value) is an en dash.
   */
  SG.fmt = function fmt(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v !== 'number') return String(v);
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (Number.isInteger(v) || a >= 1000) return nf({ maximumFractionDigits: 0 }).format(v);
    if (a >= 1) return nf({ maximumFractionDigits: 2 }).format(v);
    return nf({ maximumSignificantDigits: 3 }).format(v);
  };

  /** The 95% interval of a noisy value: [value - half-width, value + half-width], formatted. */
  SG.interval = function interval(value, halfWidth) {
    if (value === null || value === undefined || halfWidth === null || halfWidth === undefined) return null;
    return `${SG.fmt(value - halfWidth)} to ${SG.fmt(value + halfWidth)}`;
  };

  /* ---------------- catalogue: grouping ---------------- */

  /**
   * What a release is to a reader: `current` (published, latest of its series), `superseded` (published, but a newer
   * version of the same policy replaced it), `withdrawn`, `expired` or `draft` (staff only).
   */
  SG.releaseState = function releaseState(r) {
    if (r.expired) return 'expired';
    if (r.status === 'withdrawn') return 'withdrawn';
    if (r.status === 'draft') return 'draft';
    if (r.supersededBy) return 'superseded';
    return 'current';
  };

  /**
   * Releases grouped by dataset, then by series (the releases of one policy, newest version first). Datasets and
   * series keep the order of their newest release in the list (the API lists newest first).
   */
  SG.groupReleases = function groupReleases(items) {
    const datasets = new Map();
    for (const r of items) {
      if (!datasets.has(r.datasetId)) datasets.set(r.datasetId, { dataset: r.datasetId, series: new Map() });
      const series = datasets.get(r.datasetId).series;
      if (!series.has(r.policyId)) series.set(r.policyId, { policyId: r.policyId, releases: [] });
      series.get(r.policyId).releases.push(r);
    }
    const byId = new Map(items.map((r) => [r.id, r]));
    return [...datasets.values()].map((d) => ({
      dataset: d.dataset,
      series: [...d.series.values()].map((s) => {
        const releases = [...s.releases].sort((a, b) => b.version - a.version);
        return {
          policyId: s.policyId,
          title: (releases.find((r) => SG.releaseState(r) === 'current') || releases[0]).title,
          releases: releases.map((r) => ({
            ...r,
            state: SG.releaseState(r),
            supersededByVersion: r.supersededBy && byId.has(r.supersededBy) ? byId.get(r.supersededBy).version : null,
          })),
        };
      }),
    }));
  };

  /* ---------------- catalogue: search ---------------- */

  /**
   * Searchable fields of each table of a release: from the list (titles) and, once loaded, the release's metadata
   * (descriptions, dimension names and labels, category codes and labels). Each field keeps what it is, so a match
   * can say where it was found.
   */
  SG.tableFields = function tableFields(summary, detail) {
    const relFields = [{ what: 'release', text: summary.title }];
    const desc = detail && detail.manifest && detail.manifest.release && detail.manifest.release.description;
    if (desc) relFields.push({ what: 'release description', text: desc });
    const tables = detail ? detail.tables : summary.tables;
    return tables.map((t) => {
      const fields = [...relFields, { what: 'table', text: t.title }, { what: 'table id', text: t.id }];
      if (t.description) fields.push({ what: 'description', text: t.description });
      for (const d of t.dimensions || []) {
        fields.push({ what: 'dimension', text: `${d.name} ${d.label}` });
        for (const c of d.categories) fields.push({ what: `${d.label}`, text: `${c.code} ${c.label}` });
      }
      return { table: t, fields };
    });
  };

  /**
   * Does a table match a query? Every word of the query must occur (case- and accent-insensitive) in some field;
   * returns the fields that matched (for display), or null. An empty query matches everything.
   */
  SG.matchTable = function matchTable(entry, query) {
    const norm = (s) =>
      String(s)
        .normalize('NFD')
        .replace(/[\u0300-\u036f]/g, '')
        .toLowerCase();
    const words = norm(query).split(/\s+/).filter(Boolean);
    if (words.length === 0) return [];
    const hits = [];
    for (const w of words) {
      const f = entry.fields.find((x) => norm(x.text).includes(w));
      if (!f) return null;
      if (!hits.includes(f)) hits.push(f);
    }
    return hits;
  };

  /* ---------------- DOM and API ---------------- */

  const KEY = 'statguard.apiKey';
  SG.key = () => (root.sessionStorage && root.sessionStorage.getItem(KEY)) || '';
  SG.setKey = (v) => (v ? root.sessionStorage.setItem(KEY, v) : root.sessionStorage.removeItem(KEY));
  SG.headers = () => (SG.key() ? { authorization: `Bearer ${SG.key()}` } : {});
  SG.$ = (id) => root.document.getElementById(id);

  /** Build an element: attributes (`text` sets textContent, `on` adds listeners), then children (text or nodes). */
  SG.el = function el(tag, attrs, ...children) {
    const e = root.document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'on') for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat())
      if (c !== null && c !== undefined && c !== false)
        e.append(c instanceof root.Node ? c : root.document.createTextNode(String(c)));
    return e;
  };

  /* ---------------- label languages ---------------- */

  /** The label languages of a release (its manifest's `release.languages`), the default first; none declared: en. */
  SG.releaseLanguages = function releaseLanguages(detail) {
    const l = detail && detail.manifest && detail.manifest.release && detail.manifest.release.languages;
    return Array.isArray(l) && l.length > 0 ? l.slice() : ['en'];
  };

  /** The language to show: the chosen one if the release has it, else the release's default. */
  SG.pickLanguage = function pickLanguage(languages, chosen) {
    return chosen && languages.includes(chosen) ? chosen : languages[0];
  };

  /**
   * Query parameters with the language: `lang=` only for another language than the release's default, so links in
   * the default language stay as they were (and share the server's cached responses).
   */
  SG.withLanguage = function withLanguage(params, languages, lang) {
    const q = new URLSearchParams(params);
    if (lang && lang !== languages[0]) q.set('lang', lang);
    else q.delete('lang');
    return q;
  };

  /** A language's name in that language, with its tag ("français (fr)"); the tag alone where Intl cannot name it. */
  SG.languageName = function languageName(tag) {
    try {
      const name = new Intl.DisplayNames([tag], { type: 'language' }).of(tag);
      return name && name !== tag ? `${name} (${tag})` : tag;
    } catch {
      return tag;
    }
  };

  SG.showError = function showError(msg) {
    const p = SG.$('error');
    p.textContent = msg;
    p.hidden = !msg;
  };

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** Call the API with the key; a problem+json answer becomes an Error with `status` and `body`; 429 is retried once. */
  SG.api = async function api(url, opts = {}, retry = true) {
    const r = await fetch(url, { ...opts, headers: { ...SG.headers(), ...(opts.headers || {}) } });
    if (r.status === 429 && retry) {
      await sleep(1000 * Math.min(5, Number(r.headers.get('retry-after')) || 1));
      return api(url, opts, false);
    }
    const type = r.headers.get('content-type') || '';
    const body = type.includes('json') ? await r.json() : await r.text();
    if (!r.ok) {
      const err = new Error(body && body.detail ? `${body.code}: ${body.detail}` : `HTTP ${r.status}`);
      err.status = r.status;
      err.body = body;
      throw err;
    }
    return body;
  };

  /**
   * Plot draws its SVG with a <style> element of default rules; the page's Content-Security-Policy allows no inline
   * style, so the element is removed before the chart enters the document (app.css carries the same rules for the
   * `sg-plot` class).
   */
  SG.plotted = function plotted(node) {
    for (const s of node.querySelectorAll('style')) s.remove();
    return node;
  };
})(globalThis);
