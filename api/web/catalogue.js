// statguard web page, researchers: the catalogue (releases by dataset and version, search), a table as a readable
// table with its flags and 95% intervals, the chart view (chart.js) and downloads in every format the API lists.
// The page only ever receives published cells: a suppressed cell arrives as null with its status and is shown so.
'use strict';

(function (SG) {
  const { $, el, fmt } = SG;
  const state = {
    items: [],
    details: new Map(),
    formats: ['csv', 'jsonstat', 'sdmx-csv', 'json'],
    release: null,
    table: null,
    data: null,
    view: 'table',
    // Label languages: the one the reader chose (kept across tables), the release's list and the one shown.
    chosenLang: null,
    languages: ['en'],
    lang: 'en',
    localized: new Map(),
  };
  SG.catalogueState = state;

  const STATE_TEXT = {
    current: 'current',
    withdrawn: 'withdrawn',
    expired: 'expired',
    draft: 'draft (not published)',
  };

  /* ---------------- loading ---------------- */

  SG.loadCatalogue = async function loadCatalogue() {
    const ul = $('catalogue');
    state.details.clear();
    try {
      const [list, config] = await Promise.all([SG.api('/v1/releases?limit=100'), SG.api('/v1/config')]);
      if (Array.isArray(config.formats) && config.formats.length > 0) state.formats = config.formats;
      state.items = list.items;
    } catch (e) {
      ul.replaceChildren(el('li', { text: `Cannot list releases: ${e.message}` }));
      return;
    }
    renderCatalogue();
    await loadDetails();
    renderCatalogue();
  };

  /** Each release's metadata (descriptions, dimensions, categories) for the search; a few requests at a time. */
  async function loadDetails() {
    const queue = state.items.filter((r) => !r.expired).map((r) => r.id);
    $('catalogue').setAttribute('aria-busy', 'true');
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          state.details.set(id, await SG.api(`/v1/releases/${encodeURIComponent(id)}`));
        } catch {
          // Searchable by its titles only.
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    $('catalogue').setAttribute('aria-busy', 'false');
    $('catalogue').dataset.loaded = 'true';
  }

  /* ---------------- the catalogue ---------------- */

  function stateBadge(r) {
    const text =
      r.state === 'superseded'
        ? `superseded${r.supersededByVersion ? ` by version ${r.supersededByVersion}` : ''}`
        : STATE_TEXT[r.state];
    return el('span', { class: `badge badge-${r.state}`, 'data-state': r.state, text });
  }

  function tableItem(r, t, hits) {
    return el(
      'li',
      { 'data-table-item': `${r.id}/${t.id}` },
      el(
        'button',
        {
          type: 'button',
          class: 'link',
          'data-release': r.id,
          'data-table': t.id,
          on: { click: () => SG.openTable(r.id, t.id) },
        },
        t.title,
      ),
      ` ${fmt(t.cells)} cells, ${fmt(t.suppressed)} suppressed`,
      hits && hits.length > 0
        ? el('span', { class: 'hit' }, ' — matches ', ...hits.map((h, i) => [i ? '; ' : '', `${h.what}: ${h.text}`]))
        : null,
    );
  }

  function releaseItem(r, query) {
    const entries = SG.tableFields(r, state.details.get(r.id));
    const matched = entries.map((e) => [e.table, SG.matchTable(e, query)]).filter(([, h]) => h !== null);
    if (matched.length === 0) return null;
    return el(
      'li',
      { class: `release release-${r.state}`, 'data-release-item': r.id },
      el(
        'div',
        { class: 'release-head' },
        el('span', { class: 'version', text: `Version ${r.version}` }),
        ' ',
        stateBadge(r),
        ' ',
        el('span', {
          class: 'meta',
          text: `${r.regime}; ${r.approvedAt ? r.approvedAt.slice(0, 10) : r.createdAt.slice(0, 10)}`,
        }),
        r.withdrawReason ? el('span', { class: 'meta', text: ` — ${r.withdrawReason}` }) : null,
      ),
      el('ul', { class: 'tables' }, ...matched.map(([t, hits]) => tableItem(r, t, hits))),
    );
  }

  /** The newest version's description (once its metadata is loaded). */
  function seriesDescription(s) {
    const d = state.details.get(s.releases[0].id);
    const text = d && d.manifest && d.manifest.release && d.manifest.release.description;
    return text ? el('p', { class: 'series-desc', text }) : null;
  }

  function renderCatalogue() {
    const query = $('search').value.trim();
    const groups = SG.groupReleases(state.items);
    let tables = 0;
    const out = [];
    for (const g of groups) {
      const series = [];
      for (const s of g.series) {
        const rels = s.releases.map((r) => releaseItem(r, query)).filter(Boolean);
        if (rels.length === 0) continue;
        tables += rels.reduce((n, li) => n + li.querySelectorAll('[data-table-item]').length, 0);
        series.push(
          el(
            'li',
            { class: 'series', 'data-series': s.policyId },
            el('h4', { text: s.title }),
            seriesDescription(s),
            el('ol', { class: 'versions', reversed: true }, ...rels),
          ),
        );
      }
      if (series.length === 0) continue;
      out.push(
        el(
          'li',
          { class: 'dataset', 'data-dataset': g.dataset },
          el('h3', {}, 'Dataset ', el('code', { text: g.dataset })),
          el('ul', { class: 'series-list' }, ...series),
        ),
      );
    }
    if (state.items.length === 0) out.push(el('li', { text: 'No release is published yet.' }));
    else if (out.length === 0) out.push(el('li', { class: 'no-match', text: `No table matches “${query}”.` }));
    $('catalogue').replaceChildren(...out);
    $('search-count').textContent = query
      ? `${tables} table${tables === 1 ? '' : 's'} match “${query}”.`
      : `${state.items.length} release${state.items.length === 1 ? '' : 's'}.`;
  }
  SG.renderCatalogue = renderCatalogue;

  /* ---------------- one table ---------------- */

  /** The release detail with its labels in the language to show (fetched with `lang=` once per language). */
  async function localizedDetail(releaseId) {
    const url = `/v1/releases/${encodeURIComponent(releaseId)}`;
    if (!state.details.has(releaseId)) state.details.set(releaseId, await SG.api(url));
    const base = state.details.get(releaseId);
    state.languages = SG.releaseLanguages(base);
    state.lang = SG.pickLanguage(state.languages, state.chosenLang);
    if (state.lang === state.languages[0]) return base;
    const key = `${releaseId} ${state.lang}`;
    if (!state.localized.has(key))
      state.localized.set(key, await SG.api(`${url}?${SG.withLanguage('', state.languages, state.lang)}`));
    return state.localized.get(key);
  }

  /** The language selector: shown for a release with labels in several languages; a change re-requests the table. */
  function languageSelector(releaseId, tableId) {
    const select = $('table-lang');
    $('table-lang-box').hidden = state.languages.length < 2;
    select.replaceChildren(
      ...state.languages.map((l) => el('option', { value: l, text: SG.languageName(l), selected: l === state.lang })),
    );
    select.value = state.lang;
    select.onchange = () => {
      state.chosenLang = select.value;
      SG.openTable(releaseId, tableId, selection());
    };
  }

  SG.openTable = async function openTable(releaseId, tableId, keep) {
    SG.showError('');
    let detail;
    try {
      detail = await localizedDetail(releaseId);
    } catch (e) {
      SG.showError(e.message);
      return;
    }
    const table = detail.tables.find((x) => x.id === tableId);
    if (!table) {
      // A newer version may have dropped the table (or the caller's contract may not cover it).
      SG.showError(`Release ${releaseId} (version ${detail.release.version}) has no table ${tableId} for you.`);
      return;
    }
    state.release = detail;
    state.table = table;
    state.data = null;
    const rel = SG.groupReleases(state.items)
      .flatMap((g) => g.series.flatMap((s) => s.releases))
      .find((r) => r.id === releaseId) || { ...detail.release, state: SG.releaseState(detail.release) };
    $('table').hidden = false;
    $('table-h').textContent = state.table.title;
    $('table-release').replaceChildren(
      el(
        'span',
        {},
        `${detail.release.title}, version ${detail.release.version} `,
        stateBadge(rel),
        rel.state === 'superseded' && rel.supersededBy
          ? [
              ' ',
              el(
                'button',
                { type: 'button', class: 'link', on: { click: () => SG.openTable(rel.supersededBy, tableId) } },
                'open the newer version',
              ),
            ]
          : null,
      ),
    );
    languageSelector(releaseId, tableId);
    $('table-desc').textContent = state.table.description || '';
    $('table-guarantee').textContent =
      detail.manifest && detail.manifest.guarantee ? `Guarantee: ${detail.manifest.guarantee.statement}` : '';
    $('table-notes').replaceChildren(...tableNotes(state.table).map((n) => el('li', {}, n)));
    buildFilters(state.table, keep);
    if (!keep) SG.setView('table');
    await loadCells();
    $('table-h').focus();
  };

  /** What the release says about a table beside its values: consistency (dp) and what moves values besides noise. */
  function tableNotes(t) {
    const p = t.privacy || {};
    const notes = [];
    if (p.consistency && p.consistency.method === 'hierarchical')
      notes.push(
        `Consistent: every total equals the sum of its children (${p.consistency.fit}, ${p.consistency.rounding}); the unbiased noisy measurements are in ${p.consistency.noisyFile}.`,
      );
    for (const b of Array.isArray(p.bias) ? p.bias : []) if (typeof b.note === 'string') notes.push(b.note);
    return notes;
  }

  function selection() {
    const params = new URLSearchParams();
    for (const fs of $('filters').querySelectorAll('fieldset')) {
      const boxes = [...fs.querySelectorAll('input[type=checkbox]')];
      const on = boxes.filter((b) => b.checked).map((b) => b.value);
      if (on.length > 0 && on.length < boxes.length) params.set(fs.dataset.dim, on.join(','));
    }
    return params;
  }

  /** The filters of a table; `keep` (a selection, as `selection()` gives it) keeps the reader's choice. */
  function buildFilters(t, keep) {
    $('filters').replaceChildren(
      ...t.dimensions.map((d) =>
        el(
          'fieldset',
          { 'data-dim': d.name },
          el('legend', { text: d.label }),
          ...d.categories.map((c, i) => {
            const id = `f-${d.name}-${i}`;
            const kept = keep && keep.get(d.name);
            const checked = kept ? kept.split(',').includes(c.code) : true;
            return el(
              'div',
              {},
              el('input', { type: 'checkbox', id, value: c.code, checked, on: { change: () => loadCells() } }),
              ' ',
              el('label', { for: id, text: `${c.code} ${c.label}` }),
            );
          }),
        ),
      ),
    );
  }

  /* ---------------- downloads ---------------- */

  const FORMAT_NAMES = {
    csv: 'CSV',
    jsonstat: 'JSON-stat',
    'sdmx-csv': 'SDMX-CSV',
    json: 'JSON',
    xlsx: 'Excel (xlsx)',
    parquet: 'Parquet',
  };
  const EXTENSIONS = { csv: 'csv', 'sdmx-csv': 'csv', jsonstat: 'json', json: 'json' };

  function downloadLinks(base, sel) {
    $('downloads').replaceChildren(
      ...state.formats.map((f) => {
        const q = new URLSearchParams(sel);
        q.set('format', f);
        if (f === 'json') q.set('labels', 'both');
        const href = `${base}?${q}`;
        const name = `${state.release.release.id}-${state.table.id}.${EXTENSIONS[f] || f}`;
        const a = el('a', { href, download: name, 'data-format': f, text: FORMAT_NAMES[f] || f.toUpperCase() });
        // With a key, the browser would not send it on a plain link: fetch with the header and save the response.
        a.addEventListener('click', async (ev) => {
          if (!SG.key()) return;
          ev.preventDefault();
          try {
            const r = await fetch(href, { headers: SG.headers() });
            if (!r.ok) throw new Error(`HTTP ${r.status}`);
            const url = URL.createObjectURL(await r.blob());
            const tmp = el('a', { href: url, download: name });
            document.body.append(tmp);
            tmp.click();
            tmp.remove();
            setTimeout(() => URL.revokeObjectURL(url), 10000);
          } catch (e) {
            SG.showError(`Download failed: ${e.message}`);
          }
        });
        return el('li', {}, a);
      }),
    );
  }

  /* ---------------- cells ---------------- */

  async function loadCells() {
    const base = `/v1/releases/${encodeURIComponent(state.release.release.id)}/tables/${encodeURIComponent(state.table.id)}`;
    // Downloads follow the chosen language (lang= only for another language than the release's default).
    const sel = SG.withLanguage(selection(), state.languages, state.lang);
    downloadLinks(base, sel);
    const q = new URLSearchParams(sel);
    q.set('labels', 'both');
    try {
      state.data = await SG.api(`${base}?${q}`);
      renderCells(state.data);
      if (state.view === 'chart') SG.drawTableChart(state);
    } catch (e) {
      state.data = null;
      $('cells').tHead.replaceChildren();
      $('cells').tBodies[0].replaceChildren();
      SG.showError(e.message);
    }
  }

  function measureText(data) {
    const unit = state.release.manifest && state.release.manifest.dataset && state.release.manifest.dataset.unit;
    const explicit = data.unit || (state.table.measure && state.table.measure.unit);
    return `Measure: ${data.measure}${explicit ? ` (${explicit})` : ''}${unit && unit.kind ? `; unit of observation: ${unit.kind}` : ''}`;
  }

  /** One cell as the catalogue shows it (also the table builder's, contracts.js): value, ± half-width, flag. */
  function cellNode(c, legend) {
    if (c.value === null)
      return el(
        'td',
        { class: 'suppressed', 'data-conf': c.conf, title: (legend.CONF_STATUS || {})[c.conf] || '' },
        el('span', { class: 'value', text: '–' }),
        el('span', { class: 'status', text: c.conf }),
      );
    const hw = c.halfWidth95 !== null && c.halfWidth95 !== undefined ? c.halfWidth95 : null;
    return el(
      'td',
      { 'data-conf': c.conf, 'data-obs': c.obs },
      el('span', { class: 'value', text: fmt(c.value) }),
      hw !== null ? el('span', { class: 'pm', text: ` ± ${fmt(hw)}` }) : null,
      el('span', { class: 'status', text: c.obs === 'E' ? `${c.conf}/E` : c.conf }),
      hw !== null ? el('span', { class: 'ci', text: `95%: ${SG.interval(c.value, hw)}` }) : null,
    );
  }

  const lab = (d, i) => (d.labels ? `${d.codes[i]} ${d.labels[i]}` : d.codes[i]);

  /** Fill `table` (thead and one tbody) with a table's cells in the JSON format: a cross table for two dimensions. */
  SG.fillCells = function fillCells(table, data) {
    const dims = data.dimensions;
    const thead = table.tHead;
    const tbody = table.tBodies[0];
    const cell = (c) => cellNode(c, data.legend);
    if (dims.length === 2) {
      // Cross table: rows = first dimension, columns = second.
      const [r, c] = dims;
      thead.replaceChildren(
        el(
          'tr',
          {},
          el('th', { scope: 'col', text: `${r.label} \\ ${c.label}` }),
          ...c.codes.map((_, j) => el('th', { scope: 'col', text: lab(c, j) })),
        ),
      );
      tbody.replaceChildren(
        ...r.codes.map((_, i) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row', text: lab(r, i) }),
            ...c.codes.map((__, j) => cell(data.cells[i * c.codes.length + j])),
          ),
        ),
      );
    } else {
      thead.replaceChildren(
        el(
          'tr',
          {},
          ...dims.map((d) => el('th', { scope: 'col', text: d.label })),
          el('th', { scope: 'col', text: 'value (status)' }),
        ),
      );
      tbody.replaceChildren(
        ...data.cells.map((c) =>
          el(
            'tr',
            {},
            ...c.key.map((k, d) => el('th', { scope: 'row', text: c.labels ? `${k} ${c.labels[d]}` : k })),
            cell(c),
          ),
        ),
      );
    }
  };

  /** The flags legend of a table in the JSON format. */
  SG.legendNodes = function legendNodes(data) {
    const legend = { ...(data.legend.CONF_STATUS || {}) };
    if ((data.legend.OBS_STATUS || {}).E) legend.E = data.legend.OBS_STATUS.E;
    return [
      el('strong', { text: 'Flags: ' }),
      ...Object.entries(legend).flatMap(([k, v], i) => [i ? '; ' : '', el('b', { text: k }), ` ${v}`]),
      '. A suppressed cell is shown empty (–) with its flag; ± is the 95% half-width of a noisy value.',
    ];
  };

  function renderCells(data) {
    $('cells-caption').textContent = `${data.title}: ${fmt(data.cells.length)} cells`;
    $('table-measure').textContent = measureText(data);
    SG.fillCells($('cells'), data);
    $('legend').replaceChildren(...SG.legendNodes(data));
  }

  /* ---------------- table or chart ---------------- */

  SG.setView = function setView(view) {
    state.view = view;
    $('view-table').setAttribute('aria-pressed', String(view === 'table'));
    $('view-chart').setAttribute('aria-pressed', String(view === 'chart'));
    $('cells-view').hidden = view !== 'table';
    $('chart-view').hidden = view !== 'chart';
    if (view === 'chart' && state.data) SG.drawTableChart(state);
  };

  SG.setupCatalogue = function setupCatalogue() {
    $('search').addEventListener('input', () => renderCatalogue());
    $('search-form').addEventListener('submit', (ev) => ev.preventDefault());
    $('view-table').addEventListener('click', () => SG.setView('table'));
    $('view-chart').addEventListener('click', () => SG.setView('chart'));
  };
})(globalThis.SG);
