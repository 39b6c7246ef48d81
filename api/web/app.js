// statguard web page: researchers browse releases and tables; reviewers preview policies.
// Plain DOM building only (textContent; markup is never built from strings), so nothing from the API is interpreted as markup.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'statguard.apiKey';
  const state = { release: null, table: null, meta: null };

  const key = () => sessionStorage.getItem(KEY) || '';
  const headers = () => (key() ? { authorization: `Bearer ${key()}` } : {});

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'on') for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat())
      if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function showError(msg) {
    const p = $('error');
    p.textContent = msg;
    p.hidden = !msg;
  }

  async function api(url, opts = {}) {
    const r = await fetch(url, { ...opts, headers: { ...headers(), ...(opts.headers || {}) } });
    const type = r.headers.get('content-type') || '';
    const body = type.includes('json') ? await r.json() : await r.text();
    if (!r.ok) {
      const err = new Error(body && body.detail ? `${body.code}: ${body.detail}` : `HTTP ${r.status}`);
      err.status = r.status;
      err.body = body;
      throw err;
    }
    return body;
  }

  const fmt = (v) => {
    if (v === null || v === undefined) return '–';
    if (typeof v !== 'number') return String(v);
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
    return String(Number(v.toPrecision(6)));
  };

  /* ---------------- researchers: releases and tables ---------------- */

  async function loadReleases() {
    const ul = $('releases');
    try {
      const r = await api('/v1/releases?limit=100');
      ul.replaceChildren(
        ...(r.items.length === 0
          ? [el('li', { text: 'No release is published yet.' })]
          : r.items.map((x) =>
              el(
                'li',
                {},
                el(
                  'button',
                  { type: 'button', class: 'link', 'data-release': x.id, on: { click: () => openRelease(x.id) } },
                  x.title,
                ),
                ` (${x.id}; ${x.regime}; ${x.status}${x.withdrawReason ? `: ${x.withdrawReason}` : ''})`,
              ),
            )),
      );
    } catch (e) {
      ul.replaceChildren(el('li', { text: `Cannot list releases: ${e.message}` }));
    }
  }

  async function openRelease(id) {
    showError('');
    try {
      const r = await api(`/v1/releases/${encodeURIComponent(id)}`);
      state.release = r;
      $('release').hidden = false;
      $('release-h').textContent = r.release.title;
      $('release-guarantee').textContent = r.manifest && r.manifest.guarantee ? r.manifest.guarantee.statement : '';
      $('tables').replaceChildren(
        ...r.tables.map((t) =>
          el(
            'li',
            {},
            el(
              'button',
              { type: 'button', class: 'link', 'data-table': t.id, on: { click: () => openTable(t.id) } },
              t.title,
            ),
            ` (${t.cells} cells, ${t.suppressed} suppressed)`,
          ),
        ),
      );
      $('table').hidden = true;
      $('release-h').focus?.();
    } catch (e) {
      showError(e.message);
    }
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

  function buildFilters(t) {
    const form = $('filters');
    form.replaceChildren(
      ...t.dimensions.map((d) =>
        el(
          'fieldset',
          { 'data-dim': d.name },
          el('legend', { text: d.label }),
          ...d.categories.map((c, i) => {
            const id = `f-${d.name}-${i}`;
            return el(
              'div',
              {},
              el('input', { type: 'checkbox', id, value: c.code, checked: true, on: { change: () => loadCells() } }),
              ' ',
              el('label', { for: id, text: `${c.code} ${c.label}` }),
            );
          }),
        ),
      ),
    );
  }

  async function openTable(tableId) {
    showError('');
    const t = state.release.tables.find((x) => x.id === tableId);
    state.table = t;
    $('table').hidden = false;
    $('table-h').textContent = t.title;
    $('table-notes').replaceChildren(...tableNotes(t).map((n) => el('li', {}, n)));
    buildFilters(t);
    await loadCells();
  }

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

  function downloadLinks(base, sel) {
    const span = $('downloads');
    const formats = [
      ['csv', 'CSV'],
      ['jsonstat', 'JSON-stat'],
      ['sdmx-csv', 'SDMX-CSV'],
      ['xlsx', 'Excel (xlsx)'],
      ['parquet', 'Parquet'],
      ['json', 'JSON'],
    ];
    const ext = { csv: 'csv', jsonstat: 'json', 'sdmx-csv': 'csv', xlsx: 'xlsx', parquet: 'parquet', json: 'json' };
    span.replaceChildren(
      ...formats.flatMap(([f, label], i) => {
        const q = new URLSearchParams(sel);
        q.set('format', f);
        if (f === 'json') q.set('labels', 'both');
        const href = `${base}?${q}`;
        const name = `${state.release.release.id}-${state.table.id}.${ext[f]}`;
        const a = el('a', { href, download: name, 'data-format': f, text: label });
        // With a key, the browser would not send it on a plain link: fetch with the header and save the response.
        a.addEventListener('click', async (ev) => {
          if (!key()) return;
          ev.preventDefault();
          try {
            const r = await fetch(href, { headers: headers() });
            if (!r.ok) throw new Error(`HTTP ${r.status}`);
            const url = URL.createObjectURL(await r.blob());
            const tmp = el('a', { href: url, download: name });
            document.body.append(tmp);
            tmp.click();
            tmp.remove();
            setTimeout(() => URL.revokeObjectURL(url), 10000);
          } catch (e) {
            showError(`Download failed: ${e.message}`);
          }
        });
        return i === 0 ? [a] : [' · ', a];
      }),
    );
  }

  async function loadCells() {
    const rel = state.release.release.id;
    const t = state.table;
    const base = `/v1/releases/${encodeURIComponent(rel)}/tables/${encodeURIComponent(t.id)}`;
    const sel = selection();
    downloadLinks(base, sel);
    const q = new URLSearchParams(sel);
    q.set('labels', 'both');
    try {
      const data = await api(`${base}?${q}`);
      renderCells(data);
    } catch (e) {
      showError(e.message);
    }
  }

  function cellNode(c) {
    if (c.value === null)
      return el('td', { class: 'suppressed', 'data-conf': c.conf }, '–', el('span', { class: 'status', text: c.conf }));
    const acc = c.halfWidth95 !== null && c.halfWidth95 !== undefined ? ` ± ${fmt(c.halfWidth95)}` : '';
    return el(
      'td',
      { 'data-conf': c.conf },
      fmt(c.value) + acc,
      el('span', { class: 'status', text: c.obs === 'E' ? `${c.conf}/E` : c.conf }),
    );
  }

  function renderCells(data) {
    const table = $('cells');
    $('cells-caption').textContent = `${data.title} (${data.measure}); ${data.cells.length} cells`;
    const dims = data.dimensions;
    const thead = table.tHead;
    const tbody = table.tBodies[0];
    if (dims.length === 2) {
      // Cross table: rows = first dimension, columns = second.
      const [r, c] = dims;
      const lab = (d, i) => (d.labels ? `${d.codes[i]} ${d.labels[i]}` : d.codes[i]);
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
            ...c.codes.map((__, j) => cellNode(data.cells[i * c.codes.length + j])),
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
        ...data.cells.map((cell) =>
          el(
            'tr',
            {},
            ...cell.key.map((k, d) => el('th', { scope: 'row', text: cell.labels ? `${k} ${cell.labels[d]}` : k })),
            cellNode(cell),
          ),
        ),
      );
    }
  }

  /* ---------------- reviewers: preview, compare, sweep ---------------- */

  async function setupReviewer() {
    const sec = $('reviewer');
    if (document.body.dataset.zone === 'public' || !key()) {
      sec.hidden = true;
      return;
    }
    try {
      const r = await api('/v1/previews/policies');
      const opts = r.items.map((p) => el('option', { value: p.file, text: `${p.title} (${p.file}, ${p.regime})` }));
      $('policy-a').replaceChildren(...opts);
      $('policy-b').replaceChildren(el('option', { value: '', text: '(none)' }), ...opts.map((o) => o.cloneNode(true)));
      sec.hidden = false;
    } catch {
      sec.hidden = true; // not a reviewer or officer key
    }
  }

  function parseSweep(text) {
    const m = /^\s*([a-z]+)\s*=\s*(.+)$/.exec(text);
    if (!m) throw new Error('sweep: write it as param=v1,v2,... (epsilon, rho, threshold, p or n)');
    return { param: m[1], values: m[2].split(',').map((v) => Number(v.trim())) };
  }

  function figureTable(head, rows, caption) {
    return el(
      'table',
      { class: 'figures' },
      el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col', text: h })))),
      el(
        'tbody',
        {},
        ...rows.map((r) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row', text: r[0] }),
            ...r.slice(1).map((v) => {
              const td = el('td', { text: typeof v === 'object' && v !== null ? v.text : fmt(v) });
              if (v && typeof v === 'object' && v.cls) td.className = v.cls;
              return td;
            }),
          ),
        ),
      ),
    );
  }

  function figuresOf(p) {
    const rows = [];
    const push = (t, f, v) => rows.push([f, t, v]);
    for (const t of p.tables) {
      push(t.id, 'suppressed', t.suppressed);
      push(t.id, 'share of cells suppressed', t.shareCellsSuppressed);
      if (t.sdc) {
        push(t.id, 'primary', t.sdc.primaryTotal);
        push(t.id, 'secondary', t.sdc.secondary);
        push(t.id, 'smallest margin', t.sdc.smallestMargin);
      }
      if (t.dp) {
        push(t.id, 'noise scale', t.dp.noiseScale);
        push(t.id, 'expected 95% half-width', t.dp.halfWidth95);
        push(t.id, 'mean absolute error', t.dp.error.meanAbsError);
        push(t.id, 'share rel. error > 10%', t.dp.error.shareRelAbove10);
      }
      push(t.id, 'published cells with 1-2 units', t.risk.publishedOneOrTwo);
    }
    return rows;
  }

  function renderPreview(res) {
    const out = $('preview-out');
    const parts = [];
    if (res.comparison) {
      const c = res.comparison;
      parts.push(
        figureTable(
          ['figure', 'table', `A ${c.a.policy.id}`, `B ${c.b.policy.id}`, 'B − A'],
          c.rows.map((r) => [
            r.figure,
            r.table,
            r.a,
            r.b,
            r.diff === null
              ? ''
              : {
                  text: (r.diff > 0 ? '+' : '') + fmt(r.diff),
                  cls: r.diff > 0 ? 'diff-pos' : r.diff < 0 ? 'diff-neg' : '',
                },
          ]),
          `Comparison of ${c.a.policy.id} and ${c.b.policy.id}`,
        ),
      );
      for (const p of [c.a, c.b]) parts.push(lintList(p));
    } else {
      const p = res.preview;
      const head = el('p', {
        text:
          `${p.policy.id}: regime ${p.regime}` +
          (p.budget
            ? `; epsilon ${fmt(p.budget.total.epsilon)}, rho ${fmt(p.budget.total.rho)}; ledger ${p.budget.ledger === 'unknown' ? 'unknown' : `remaining rho ${fmt(p.budget.ledger.remainingRho)}`}`
            : '') +
          (p.combination ? `; ${p.combination.recovered.length} cell(s) recoverable with published releases` : ''),
      });
      parts.push(
        head,
        figureTable(['figure', 'table', 'value'], figuresOf(p), `Preview of ${p.policy.id}`),
        lintList(p),
      );
    }
    out.replaceChildren(...parts);
    const fig = $('chart');
    if (res.svg) {
      const doc = new DOMParser().parseFromString(res.svg, 'image/svg+xml');
      const svg = doc.documentElement;
      if (svg.nodeName === 'svg') {
        $('chart-svg').replaceChildren(document.importNode(svg, true));
        $('chart-caption').textContent = `Sweep of ${res.sweep.param} for ${res.sweep.policy}`;
        fig.hidden = false;
      }
    } else {
      fig.hidden = true;
    }
  }

  function lintList(p) {
    if (p.lint.length === 0) return el('p', { text: `${p.policy.id}: no lint findings.` });
    return el(
      'div',
      {},
      el('h3', { text: `Lint: ${p.policy.id}` }),
      el('ul', {}, ...p.lint.map((f) => el('li', {}, `${f.code} at `, el('code', { text: f.path }), `: ${f.message}`))),
    );
  }

  async function runPreview(ev) {
    ev.preventDefault();
    showError('');
    const status = $('preview-status');
    status.textContent = 'Running…';
    try {
      const a = $('policy-a').value;
      const b = $('policy-b').value;
      const body = { policy: await api(`/v1/previews/policies/${encodeURIComponent(a)}`) };
      if (b) body.compare = await api(`/v1/previews/policies/${encodeURIComponent(b)}`);
      const sw = $('sweep').value.trim();
      if (sw) body.sweep = parseSweep(sw);
      const res = await api('/v1/previews', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      renderPreview(res);
      status.textContent = 'Done.';
    } catch (e) {
      status.textContent = '';
      showError(
        e.message +
          (e.body && e.body.problems ? ` (${e.body.problems.map((p) => `${p.path}: ${p.message}`).join('; ')})` : ''),
      );
    }
  }

  /* ---------------- key handling ---------------- */

  async function keyChanged() {
    $('key-status').textContent = key() ? 'Key in use for this tab.' : 'No key: anonymous.';
    await Promise.all([loadReleases(), setupReviewer()]);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('key-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('api-key').value.trim();
      if (v) sessionStorage.setItem(KEY, v);
      $('api-key').value = '';
      keyChanged();
    });
    $('key-clear').addEventListener('click', () => {
      sessionStorage.removeItem(KEY);
      keyChanged();
    });
    $('preview-form').addEventListener('submit', runPreview);
    keyChanged();
  });
})();
