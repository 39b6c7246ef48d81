// statguard web page, tables on demand under contract (issue 20):
// - researchers: an access request form (purpose, terms, duration), their requests with status and reason, and their
//   contracts' use against every limit (GET /v1/contracts), and the table builder over those contracts (builder.js);
// - officers (secure zone): the pending requests, each with approve (as requested, or narrowed: edit the terms and
//   the end) and refuse (a reason is required), and the supervision view across contracts (GET /v1/admin/contracts).
// Which parts show depends on what the key may call: the API decides, the page only follows.
'use strict';

(function (SG) {
  const { $, el, fmt } = SG;

  const num = (id) => {
    const v = $(id).value.trim();
    return v === '' ? undefined : Number(v);
  };
  const list = (s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');

  /** The terms the form asks for (the same JSON document the API validates). */
  SG.termsFromForm = function termsFromForm() {
    const variables = {};
    for (const v of list($('access-variables').value)) {
      const [name, level] = v.split(':').map((x) => x.trim());
      variables[name] = level === undefined || level === '' ? {} : { maxLevel: Number(level) };
    }
    const rho = num('access-rho');
    const minPopulation = num('access-minpop');
    return {
      scale: {
        tablesPerDay: num('access-tables-day'),
        cellsPerDay: num('access-cells-day'),
        tablesTotal: num('access-tables-total'),
        cellsTotal: num('access-cells-total'),
        ...(rho !== undefined ? { dpShare: { rho } } : {}),
      },
      level: {
        variables,
        maxDimensions: num('access-maxdims'),
        ...(minPopulation !== undefined ? { minPopulation } : {}),
      },
      form: {
        measures: list($('access-measures').value),
        formats: [...document.querySelectorAll('input[name="access-format"]:checked')].map((c) => c.value),
      },
    };
  };

  /** One line per boundary: what the terms allow. */
  function termsSummary(t) {
    const s = t.scale;
    const vars = Object.entries(t.level.variables)
      .map(([n, v]) => (v.maxLevel === undefined ? n : `${n} (to level ${v.maxLevel})`))
      .join(', ');
    const share = s.dpShare
      ? `; dp share ${Object.entries(s.dpShare)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`
      : '';
    const minPop = t.level.minPopulation ? `; filtered population at least ${fmt(t.level.minPopulation)}` : '';
    return el(
      'ul',
      { class: 'terms' },
      el('li', {
        text: `Scale: ${fmt(s.tablesPerDay)} tables and ${fmt(s.cellsPerDay)} cells a day, ${fmt(s.tablesTotal)} tables and ${fmt(s.cellsTotal)} cells in total${share}`,
      }),
      el('li', { text: `Level: ${vars}; at most ${t.level.maxDimensions} dimensions at once${minPop}` }),
      el('li', { text: `Form: aggregate tables of ${t.form.measures.join(', ')} as ${t.form.formats.join(', ')}` }),
    );
  }

  function requestItem(r, actions) {
    return el(
      'li',
      { class: `request status-${r.status}`, 'data-id': r.id },
      el('strong', { text: `${r.dataset}: ${r.status}` }),
      ` (${r.id}, ${r.keyName}, asked ${r.createdAt.slice(0, 10)} for ${r.durationDays} days)`,
      el('p', { text: `Purpose: ${r.purpose}` }),
      r.reason ? el('p', { class: 'reason', text: `Reason: ${r.reason}` }) : null,
      r.contract ? el('p', { text: `Contract ${r.contract}` }) : null,
      termsSummary(r.terms),
      actions || null,
    );
  }

  /** A contract's use against every limit, with meters; `who` adds the researcher (supervision). */
  function usageBlock(c, who) {
    const pct = (f) => `${Math.round(f * 100)}%`;
    return el(
      'article',
      { class: `contract status-${c.status}`, 'data-id': c.id },
      el('h4', {
        text: `${c.id}: ${c.dataset}${who ? `, ${c.keyName}` : ''} (${c.status}, ${c.start.slice(0, 10)} to ${c.end.slice(0, 10)})`,
      }),
      el('p', {
        class: 'closest',
        text: `Closest to its limits: ${c.closest.term} at ${pct(c.closest.fraction)}; last use ${c.lastUse || 'never'}`,
      }),
      el(
        'table',
        { class: 'usage' },
        el('caption', { text: `Use on ${c.day} (UTC) and in total` }),
        el(
          'thead',
          {},
          el('tr', {}, ...['Limit', 'Used', 'Of', 'Left', ''].map((h) => el('th', { scope: 'col', text: h }))),
        ),
        el(
          'tbody',
          {},
          ...c.limits.map((l) =>
            el(
              'tr',
              { 'data-term': l.term },
              el('th', { scope: 'row', text: l.term }),
              el('td', { text: fmt(l.used) }),
              el('td', { text: fmt(l.limit) }),
              el('td', { text: fmt(l.remaining) }),
              el(
                'td',
                {},
                el('meter', { min: 0, max: 1, high: 0.8, value: Math.min(1, l.fraction), text: pct(l.fraction) }),
              ),
            ),
          ),
        ),
      ),
      c.recent.length > 0
        ? el(
            'ul',
            { class: 'uses', 'aria-label': 'Latest uses' },
            ...c.recent.map((u) =>
              el('li', {
                text: `${u.at}: ${u.state}, ${fmt(u.cells)} cells, ${u.query.measure} by ${u.query.dimensions
                  .map((d) => (d.level === undefined ? d.name : `${d.name}@${d.level}`))
                  .join(' x ')}${u.rho || u.epsilon ? `, dp rho ${u.rho} epsilon ${u.epsilon}` : ''}`,
              }),
            ),
          )
        : null,
    );
  }

  async function loadResearcher() {
    const [requests, contracts] = await Promise.all([SG.api('/v1/access-requests'), SG.api('/v1/contracts')]);
    $('my-requests').replaceChildren(...requests.items.map((r) => requestItem(r)));
    if (requests.items.length === 0) $('my-requests').append(el('li', { text: 'No request yet.' }));
    $('my-contracts').replaceChildren(...contracts.items.map((c) => usageBlock(c, false)));
    await SG.builderContracts(contracts.items);
  }
  SG.loadResearcher = loadResearcher;

  function decisionForms(r) {
    const terms = el('textarea', { rows: 6, spellcheck: 'false', 'aria-label': `Terms to grant for ${r.id}` });
    terms.value = JSON.stringify(r.terms, null, 1);
    const end = el('input', { type: 'datetime-local', 'aria-label': `End of the contract for ${r.id}` });
    const reason = el('input', { 'aria-label': `Reason for ${r.id}`, placeholder: 'Reason (required to refuse)' });
    const status = el('span', { role: 'status' });
    const decide = async (what) => {
      status.textContent = '';
      try {
        const body =
          what === 'refuse'
            ? { reason: reason.value }
            : {
                terms: JSON.parse(terms.value),
                ...(end.value ? { end: new Date(end.value).toISOString() } : {}),
                ...(reason.value ? { reason: reason.value } : {}),
              };
        await SG.api(`/v1/admin/access-requests/${encodeURIComponent(r.id)}/${what}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        await loadOfficer();
      } catch (e) {
        status.textContent = e.message;
      }
    };
    return el(
      'div',
      { class: 'decision' },
      el('label', { text: 'Terms to grant (narrow them here; never wider than asked)' }),
      terms,
      el('label', { text: 'End (optional; at most the requested duration)' }),
      end,
      reason,
      el('button', { type: 'button', class: 'approve', text: 'Approve', on: { click: () => decide('approve') } }),
      el('button', { type: 'button', class: 'refuse', text: 'Refuse', on: { click: () => decide('refuse') } }),
      status,
    );
  }

  async function loadOfficer() {
    const [pending, contracts] = await Promise.all([
      SG.api('/v1/admin/access-requests?status=pending'),
      SG.api('/v1/admin/contracts'),
    ]);
    $('pending-requests').replaceChildren(...pending.items.map((r) => requestItem(r, decisionForms(r))));
    if (pending.items.length === 0) $('pending-requests').append(el('li', { text: 'No pending request.' }));
    $('supervision').replaceChildren(...contracts.items.map((c) => usageBlock(c, true)));
    if (contracts.items.length === 0) $('supervision').append(el('p', { text: 'No contract yet.' }));
  }

  /** Show the parts the key may use: researcher (own requests) and/or officer (decisions, supervision). */
  SG.setupAccess = async function setupAccess() {
    $('access').hidden = true;
    $('officer-access').hidden = true;
    if (!SG.key()) return;
    let me;
    try {
      me = await SG.api('/v1/me');
    } catch {
      return; // an unknown or revoked key: the catalogue says so
    }
    if (me.role === 'researcher') {
      await loadResearcher();
      $('access').hidden = false;
    } else if (me.role === 'officer' && document.body.dataset.zone !== 'public') {
      await loadOfficer();
      $('officer-access').hidden = false;
    }
  };

  SG.setupAccessForm = function setupAccessForm() {
    $('access-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      $('access-status').textContent = '';
      try {
        const r = await SG.api('/v1/access-requests', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            dataset: $('access-dataset').value.trim(),
            purpose: $('access-purpose').value,
            terms: SG.termsFromForm(),
            durationDays: num('access-days'),
          }),
        });
        $('access-status').textContent = `Request ${r.id} sent: ${r.status}.`;
        await loadResearcher();
      } catch (e) {
        $('access-status').textContent = e.message;
      }
    });
  };
})(globalThis.SG);
