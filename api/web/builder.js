// statguard web page, tables on demand: the table builder (issue 20) for a researcher with a contract.
// The researcher picks one of their contracts (so the dataset), then dimensions, the hierarchy level of each, a
// filter on dimensions not in the table (keep only some categories), a measure and a format. Only what both the
// dataset's declared schema (GET /v1/datasets/{id}/schema: declared facts, nothing computed from the microdata) and
// the contract's terms allow is offered: a variable the contract does not name is not listed, and the level selector
// (and the filter's codes) stop at the contract's deepest level. The page still only follows:
// the API's contract gate decides (dimensions at once, scale, time), and its refusal is shown with its problem+json
// `code` and the exact `term`. A table is shown as the catalogue shows published tables (catalogue.js: flags, ± and
// 95% intervals; a suppressed or withheld cell never has a value to show), csv and JSON-stat as text. After every
// answer the contract's use is read again (GET /v1/contracts): what is left of each limit.
'use strict';

(function (SG) {
  const { $, el, fmt } = SG;
  const state = { contracts: [], contract: null, schema: null };

  /**
   * What a contract allows of a dataset's schema (pure; the page's tests call it): the dimensions (each with its
   * deepest allowed level), the measures and the formats both allow.
   */
  SG.builderChoices = function builderChoices(schema, terms) {
    const vars = terms.level.variables;
    const dimensions = schema.dimensions
      .filter((d) => Object.prototype.hasOwnProperty.call(vars, d.name))
      .map((d) => {
        const max = vars[d.name].maxLevel;
        return { ...d, maxLevel: max === undefined ? d.levels : Math.min(max, d.levels) };
      });
    // The schema lists `count` first, then the declared measures.
    const measures = schema.measures.filter((m) => terms.form.measures.includes(m.name));
    const formats = schema.formats.filter((f) => terms.form.formats.includes(f));
    return { dimensions, measures, formats, maxDimensions: Math.min(schema.maxDimensions, terms.level.maxDimensions) };
  };

  const levelText = (d, k) => {
    const n = d.codes.filter((c) => c.level === k).length;
    if (k === 0) return '0: total only';
    return `${k}${k === d.levels ? ' (finest)' : ''}: ${n} categories`;
  };

  /**
   * A dimension's row: in the table (checkbox) at a level, or, when not in the table, a filter keeping only some of
   * its categories (codes down to the contract's deepest level only: a filter on a finer code is a finer table).
   */
  function dimensionRow(d) {
    const box = el('input', { type: 'checkbox', value: d.name, id: `builder-dim-${d.name}`, name: 'builder-dim' });
    const level = el(
      'select',
      { 'aria-label': `Hierarchy level of ${d.name}`, 'data-dim': d.name },
      ...Array.from({ length: d.maxLevel + 1 }, (_, k) =>
        el('option', { value: String(k), text: levelText(d, k), selected: k === d.maxLevel }),
      ),
    );
    const codes = d.codes.filter((c) => c.level >= 1 && c.level <= d.maxLevel);
    const filter = el(
      'select',
      {
        multiple: true,
        size: Math.min(4, codes.length),
        'aria-label': `Keep only (filter) ${d.name}`,
        'data-filter': d.name,
      },
      ...codes.map((c) => el('option', { value: c.code, text: `${c.code} ${c.label}` })),
    );
    const sync = () => {
      level.disabled = !box.checked;
      filter.disabled = box.checked;
    };
    box.addEventListener('change', sync);
    sync();
    return el(
      'div',
      { class: 'builder-dim' },
      box,
      el('label', { for: box.id, text: `${d.label} (${d.name})` }),
      level,
      codes.length > 0 ? el('span', { class: 'hint', text: 'or, not in the table, keep only:' }) : null,
      codes.length > 0 ? filter : null,
    );
  }

  function clearResult() {
    $('builder-refusal').hidden = true;
    $('builder-cells').hidden = true;
    $('builder-raw').hidden = true;
    $('builder-legend').replaceChildren();
    $('builder-caption').textContent = '';
  }

  function guaranteeText(schema) {
    if (schema.regime === 'ckm')
      return 'Protected by the cell key method: the same cell has the same value in every table, for every researcher.';
    const c = schema.costPerQuery || {};
    const cost = c.rho !== null && c.rho !== undefined ? `rho ${c.rho}` : `epsilon ${c.epsilon}`;
    return `Protected by differential privacy: each computed table costs ${cost} of the contract's share and the dataset's budget.`;
  }

  /** The form for the chosen contract, from its dataset's schema and its terms. */
  async function chooseContract(id) {
    clearResult();
    $('builder-status').textContent = '';
    state.contract = state.contracts.find((c) => c.id === id) || null;
    const box = $('builder-dimensions');
    box.replaceChildren(el('legend', { text: 'Dimensions: in the table at a level, or a filter' }));
    if (!state.contract) return;
    try {
      state.schema = await SG.api(`/v1/datasets/${encodeURIComponent(state.contract.dataset)}/schema`);
    } catch (e) {
      state.schema = null;
      $('builder-status').textContent = e.message;
      return;
    }
    const allowed = SG.builderChoices(state.schema, state.contract.terms);
    box.append(
      ...allowed.dimensions.map(dimensionRow),
      el('p', { class: 'hint', text: `At most ${allowed.maxDimensions} dimensions at once; totals are included.` }),
    );
    $('builder-measure').replaceChildren(
      ...allowed.measures.map((m) => el('option', { value: m.name, text: m.title || m.name })),
    );
    $('builder-format').replaceChildren(...allowed.formats.map((f) => el('option', { value: f, text: f })));
    $('builder-guarantee').textContent = guaranteeText(state.schema);
    showRemaining();
  }

  /** What is left of the chosen contract's limits (from its last usage read); outside its time, nothing. */
  function showRemaining() {
    const c = state.contract;
    if (!c) return $('builder-remaining').replaceChildren();
    const left = c.limits.map((l) => `${l.term} ${fmt(l.remaining)} of ${fmt(l.limit)}`).join('; ');
    $('builder-remaining').replaceChildren(
      el('strong', { text: `Contract ${c.id} (${c.status}, until ${c.end.slice(0, 16).replace('T', ' ')} UTC): ` }),
      c.status === 'active' ? `left: ${left}.` : `nothing can be taken while the contract is ${c.status}.`,
    );
  }

  /** The query the form describes (the body of POST /v1/datasets/{id}/tables). */
  function queryFromForm() {
    const dimensions = [...document.querySelectorAll('input[name="builder-dim"]:checked')].map((b) => ({
      name: b.value,
      level: Number(document.querySelector(`select[data-dim="${CSS.escape(b.value)}"]`).value),
    }));
    const filter = {};
    for (const f of document.querySelectorAll('select[data-filter]:not(:disabled)')) {
      const keep = [...f.selectedOptions].map((o) => o.value);
      if (keep.length > 0) filter[f.dataset.filter] = keep;
    }
    return {
      dimensions,
      measure: $('builder-measure').value,
      ...(Object.keys(filter).length > 0 ? { filter } : {}),
      format: $('builder-format').value,
    };
  }

  function showTable(data, format) {
    if (format === 'json') {
      $('builder-caption').textContent = `${data.title}: ${fmt(data.cells.length)} cells; ${data.measure}`;
      SG.fillCells($('builder-cells'), data);
      $('builder-cells').hidden = false;
      $('builder-legend').replaceChildren(...SG.legendNodes(data));
    } else {
      $('builder-raw').textContent = typeof data === 'string' ? data : JSON.stringify(data, null, 1);
      $('builder-raw').hidden = false;
    }
  }

  /** A refusal: its code and the term it names (problem+json), and what it says. */
  function showRefusal(e) {
    const b = e.body && typeof e.body === 'object' ? e.body : {};
    $('builder-refusal').replaceChildren(
      el('strong', { class: 'code', text: b.code || `HTTP ${e.status || '?'}` }),
      b.term ? el('span', { class: 'term', text: ` term ${b.term}` }) : null,
      `: ${b.detail || e.message}`,
    );
    $('builder-refusal').hidden = false;
  }

  async function build(ev) {
    ev.preventDefault();
    if (!state.contract || !state.schema) return;
    clearResult();
    const q = queryFromForm();
    $('builder-status').textContent = 'Computing in the secure zone…';
    try {
      // No retry on 429: a contract's daily limit does not pass in seconds, and the refusal is what to show.
      const data = await SG.api(
        `/v1/datasets/${encodeURIComponent(state.contract.dataset)}/tables`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(q) },
        false,
      );
      showTable(data, q.format);
      $('builder-status').textContent = 'Table built.';
    } catch (e) {
      $('builder-status').textContent = 'Refused.';
      showRefusal(e);
    }
    await SG.loadResearcher();
  }

  /** Called with the researcher's contracts each time they are read (contracts.js): the contract selector. */
  SG.builderContracts = async function builderContracts(contracts) {
    state.contracts = contracts;
    $('builder').hidden = contracts.length === 0;
    if (contracts.length === 0) return;
    const keep = state.contract && contracts.some((c) => c.id === state.contract.id) ? state.contract.id : null;
    const chosen = keep || (contracts.find((c) => c.status === 'active') || contracts[0]).id;
    $('builder-contract').replaceChildren(
      ...contracts.map((c) =>
        el('option', { value: c.id, text: `${c.id}: ${c.dataset} (${c.status})`, selected: c.id === chosen }),
      ),
    );
    if (keep) {
      state.contract = contracts.find((c) => c.id === keep);
      showRemaining();
    } else await chooseContract(chosen);
  };

  SG.setupBuilder = function setupBuilder() {
    $('builder-contract').addEventListener('change', (ev) => chooseContract(ev.target.value));
    $('builder-form').addEventListener('submit', build);
  };
})(globalThis.SG);
