// statguard web page, reviewers and officers (secure zone only): preview a policy without publishing anything or
// spending budget: one of the server's example policies, or one pasted or uploaded (validated by POST /v1/previews,
// whose POLICY_INVALID answer lists every problem with its JSON path); compare with a second policy, sweep a
// parameter, with charts. Every view of preview data carries the marking "not for publication": its figures derive
// from exact values and must not leave the secure zone unmarked.
'use strict';

(function (SG) {
  const { $, el, fmt } = SG;
  const NFP = 'Not for publication';

  SG.setupReviewer = async function setupReviewer() {
    const sec = $('reviewer');
    if (document.body.dataset.zone === 'public' || !SG.key()) {
      sec.hidden = true;
      return;
    }
    try {
      const r = await SG.api('/v1/previews/policies');
      const opts = r.items.map((p) => el('option', { value: p.file, text: `${p.title} (${p.file}, ${p.regime})` }));
      $('policy-a').replaceChildren(...opts);
      $('policy-b').replaceChildren(el('option', { value: '', text: '(none)' }), ...opts.map((o) => o.cloneNode(true)));
      sec.hidden = false;
    } catch {
      sec.hidden = true; // not a reviewer or officer key
    }
  };

  /* ---------------- the policy: example, pasted or uploaded ---------------- */

  /** The pasted or uploaded policy as JSON; a syntax error names its line and column. */
  function ownPolicy() {
    const text = $('policy-text').value;
    if (text.trim() === '') return null;
    try {
      return JSON.parse(text);
    } catch (e) {
      const m = /position (\d+)/.exec(e.message);
      let where = '';
      if (m) {
        const before = text.slice(0, Number(m[1])).split('\n');
        where = ` at line ${before.length}, column ${before[before.length - 1].length + 1}`;
      }
      const err = new Error(`Your policy is not valid JSON${where}: ${e.message}`);
      err.problems = [{ path: '(document)', message: `not valid JSON${where}` }];
      throw err;
    }
  }

  async function readUpload() {
    const f = $('policy-file').files[0];
    if (!f) return;
    if (f.size > 1024 * 1024) {
      $('policy-file-status').textContent = `${f.name} is larger than 1 MiB: not loaded.`;
      return;
    }
    $('policy-text').value = await f.text();
    $('policy-file-status').textContent = `Loaded ${f.name} (${fmt(f.size)} bytes).`;
  }

  function showProblems(problems, where) {
    const box = $('policy-problems');
    if (!problems || problems.length === 0) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    box.replaceChildren(
      el('h3', { text: `${where}: ${problems.length} problem${problems.length === 1 ? '' : 's'}` }),
      el(
        'ul',
        {},
        ...problems.map((p) => el('li', {}, el('code', { class: 'json-path', text: p.path || '/' }), ` ${p.message}`)),
      ),
    );
  }

  /* ---------------- figures ---------------- */

  const nfpBanner = (what) =>
    el(
      'p',
      { class: 'nfp' },
      el('strong', { text: `${NFP}: ` }),
      `${what} derive from exact values; secure zone only.`,
    );

  function figureTable(head, rows, caption) {
    return el(
      'table',
      { class: 'figures' },
      el('caption', {}, `${caption} `, el('span', { class: 'nfp', text: `(${NFP.toLowerCase()})` })),
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

  function lintList(p) {
    if (p.lint.length === 0) return el('p', { class: 'lint' }, `${p.policy.id}: no lint findings.`);
    return el(
      'div',
      { class: 'lint' },
      el('h3', { text: `Lint: ${p.policy.id}` }),
      el(
        'ul',
        {},
        ...p.lint.map((f) =>
          el('li', {}, `${f.code} at `, el('code', { class: 'json-path', text: f.path }), `: ${f.message}`),
        ),
      ),
    );
  }

  /** One marked block of the output: a banner, then its content. */
  const view = (name, what, ...content) =>
    el('div', { class: 'nfp-view', 'data-view': name }, nfpBanner(what), ...content);

  function comparisonView(c) {
    const diff = (d) =>
      d === null ? '' : { text: (d > 0 ? '+' : '') + fmt(d), cls: d > 0 ? 'diff-pos' : d < 0 ? 'diff-neg' : '' };
    const host = $('preview-out');
    return view(
      'comparison',
      'These figures',
      SG.suppressionChart(host, [
        { name: `A ${c.a.policy.id}`, preview: c.a },
        { name: `B ${c.b.policy.id}`, preview: c.b },
      ]),
      figureTable(
        ['figure', 'table', `A ${c.a.policy.id}`, `B ${c.b.policy.id}`, 'B − A'],
        c.rows.map((r) => [r.figure, r.table, r.a, r.b, diff(r.diff)]),
        `Comparison of ${c.a.policy.id} and ${c.b.policy.id}`,
      ),
      lintList(c.a),
      lintList(c.b),
    );
  }

  function previewView(p) {
    const budget = p.budget
      ? `; epsilon ${fmt(p.budget.total.epsilon)}, rho ${fmt(p.budget.total.rho)}; ledger ${p.budget.ledger === 'unknown' ? 'unknown' : `remaining rho ${fmt(p.budget.ledger.remainingRho)}`}`
      : '';
    const comb = p.combination ? `; ${p.combination.recovered.length} cell(s) recoverable with published releases` : '';
    return view(
      'preview',
      'These figures',
      el('p', { text: `${p.policy.id}: regime ${p.regime}${budget}${comb}` }),
      SG.suppressionChart($('preview-out'), [{ name: p.policy.id, preview: p }]),
      figureTable(['figure', 'table', 'value'], figuresOf(p), `Preview of ${p.policy.id}`),
      lintList(p),
    );
  }

  function sweepView(sw) {
    const metric = sw.metric;
    const extra = metric !== 'shareCellsSuppressed';
    return view(
      'sweep',
      'The sweep',
      SG.sweepChart($('preview-out'), sw),
      figureTable(
        [sw.param, 'cells', 'share of cells suppressed', ...(extra ? [SG.metricName(metric)] : [])],
        sw.points.map((p) => [String(p.value), p.cells, p.shareCellsSuppressed, ...(extra ? [p[metric]] : [])]),
        `Sweep of ${sw.param} for ${sw.policy}`,
      ),
    );
  }

  let shown = null;
  function renderPreview(res) {
    shown = res;
    const parts = [res.comparison ? comparisonView(res.comparison) : previewView(res.preview)];
    if (res.sweep) parts.push(sweepView(res.sweep));
    $('preview-out').replaceChildren(...parts);
  }

  /* ---------------- running ---------------- */

  function parseSweep(text) {
    const m = /^\s*([a-z]+)\s*=\s*(.+)$/.exec(text);
    if (!m) throw new Error('sweep: write it as param=v1,v2,... (epsilon, rho, threshold, p or n)');
    return { param: m[1], values: m[2].split(',').map((v) => Number(v.trim())) };
  }

  async function runPreview(ev) {
    ev.preventDefault();
    SG.showError('');
    showProblems(null);
    const status = $('preview-status');
    status.textContent = 'Running…';
    let where = 'Policy';
    try {
      const own = ownPolicy();
      const b = $('policy-b').value;
      const body = {
        policy: own !== null ? own : await SG.api(`/v1/previews/policies/${encodeURIComponent($('policy-a').value)}`),
      };
      if (b) body.compare = await SG.api(`/v1/previews/policies/${encodeURIComponent(b)}`);
      const sw = $('sweep').value.trim();
      if (sw) body.sweep = parseSweep(sw);
      where = own !== null ? 'Your policy' : 'Policy';
      const res = await SG.api('/v1/previews', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      renderPreview(res);
      status.textContent = `Done (${own !== null ? 'your policy' : $('policy-a').value}).`;
    } catch (e) {
      status.textContent = '';
      const problems = e.problems || (e.body && e.body.problems);
      if (problems) {
        const side = e.body && /^compare:/.test(e.body.detail || '') ? 'Compared policy' : where;
        showProblems(problems, side);
      }
      SG.showError(e.message);
    }
  }

  SG.setupReviewerForm = function setupReviewerForm() {
    // The charts are drawn at the output's width: drawn again (from the same answer) when it changes.
    let timer = null;
    let lastWidth = $('preview-out').clientWidth;
    window.addEventListener('resize', () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const w = $('preview-out').clientWidth;
        if (shown && w !== lastWidth) renderPreview(shown);
        lastWidth = w;
      }, 200);
    });
    $('preview-form').addEventListener('submit', runPreview);
    $('policy-file').addEventListener('change', () => readUpload());
    $('policy-clear').addEventListener('click', () => {
      $('policy-text').value = '';
      $('policy-file').value = '';
      $('policy-file-status').textContent = '';
      showProblems(null);
    });
  };
})(globalThis.SG);
