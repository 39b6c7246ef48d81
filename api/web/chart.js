// statguard web page, charts drawn by Observable Plot (served from node_modules as /static/plot.min.js on d3):
// a table by a chosen dimension as bars or lines, with error bars from the 95% half-widths and suppressed cells as
// gaps carrying their flag; and the reviewer's preview, comparison and sweep figures (marked not for publication).
'use strict';

(function (SG) {
  const { $, el, fmt } = SG;
  const NFP = 'NOT FOR PUBLICATION';
  const chartWidth = (node) => Math.max(300, Math.min(900, (node.clientWidth || 640) - 8));
  const short = (s, n = 22) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

  /* ---------------- a table ---------------- */

  /** The chart's controls for a table: mark (bars, lines), the dimension along x, and a category of each other one. */
  function controls(s) {
    const dims = s.data.dimensions;
    const by = $('chart-by');
    const prevBy = by.value;
    by.replaceChildren(...dims.map((d) => el('option', { value: d.name, text: d.label })));
    by.value = dims.some((d) => d.name === prevBy) ? prevBy : dims[dims.length > 1 ? 1 : 0].name;
    const byDim = by.value;
    const meta = new Map(s.table.dimensions.map((d) => [d.name, d]));
    $('chart-fix').replaceChildren(
      ...dims
        .filter((d) => d.name !== byDim)
        .map((d) => {
          const id = `chart-fix-${d.name}`;
          const old = document.getElementById(id);
          const roots = new Set(
            meta
              .get(d.name)
              .categories.filter((c) => c.parent === null)
              .map((c) => c.code),
          );
          const sel = el(
            'select',
            { id, 'data-fix': d.name, on: { change: () => SG.drawTableChart(s) } },
            ...d.codes.map((c, i) => el('option', { value: c, text: d.labels ? `${c} ${d.labels[i]}` : c })),
          );
          sel.value = old && d.codes.includes(old.value) ? old.value : d.codes.find((c) => roots.has(c)) || d.codes[0];
          return el('label', { for: id }, `${d.label}: `, sel);
        }),
    );
  }

  /** The cells along the chosen dimension, the others fixed; a suppressed cell keeps its flag and no value. */
  function series(s) {
    const dims = s.data.dimensions;
    const d = dims.findIndex((x) => x.name === $('chart-by').value);
    const fixed = dims.map((x) => {
      const sel = document.getElementById(`chart-fix-${x.name}`);
      return sel ? sel.value : null;
    });
    const rows = s.data.cells
      .filter((c) => c.key.every((k, i) => i === d || k === fixed[i]))
      .map((c) => {
        const hw = c.value !== null && c.halfWidth95 != null ? c.halfWidth95 : null;
        return {
          x: c.labels ? `${c.key[d]} ${c.labels[d]}` : c.key[d],
          value: c.value,
          lo: hw === null ? null : c.value - hw,
          hi: hw === null ? null : c.value + hw,
          conf: c.conf,
        };
      });
    return { dim: dims[d], rows };
  }

  SG.drawTableChart = function drawTableChart(s) {
    if (!s.data) return;
    controls(s);
    const { dim, rows } = series(s);
    const kind = $('chart-kind').value;
    const pub = rows.filter((r) => r.value !== null);
    const gaps = rows.filter((r) => r.value === null);
    const ci = pub.filter((r) => r.lo !== null);
    const host = $('table-chart');
    const width = chartWidth(host);
    const longest = Math.max(...rows.map((r) => Math.min(22, r.x.length)));
    const rotate = rows.length * longest * 6 > width - 80;
    // Caps of the error bars: 12 px wide at most, centred in the band.
    const band = ((width - 70 - 20) / Math.max(1, rows.length)) * 0.75;
    const cap = { x: 'x', stroke: '#222', inset: Math.max(0, band / 2 - 6) };
    const tip = (r) =>
      r.value === null
        ? `${r.x}: suppressed (${r.conf})`
        : `${r.x}: ${fmt(r.value)}${r.lo !== null ? ` (95% interval ${fmt(r.lo)} to ${fmt(r.hi)})` : ''}`;
    const marks = [
      kind === 'line'
        ? Plot.lineY(rows, { x: 'x', y: (r) => (r.value === null ? NaN : r.value), stroke: '#1f5fa8', strokeWidth: 2 })
        : Plot.barY(pub, { x: 'x', y: 'value', fill: '#6f9bd1', title: tip }),
      kind === 'line' ? Plot.dot(pub, { x: 'x', y: 'value', fill: '#1f5fa8', r: 3.5, title: tip }) : null,
      Plot.ruleX(ci, { x: 'x', y1: 'lo', y2: 'hi', stroke: '#222', strokeWidth: 1.5, className: 'error-bar' }),
      Plot.tickY(ci, { ...cap, y: 'lo' }),
      Plot.tickY(ci, { ...cap, y: 'hi' }),
      Plot.ruleY([0]),
      Plot.text(gaps, {
        x: 'x',
        y: () => 0,
        text: (r) => `– ${r.conf}`,
        dy: -10,
        fill: '#a40000',
        fontWeight: 'bold',
        fontSize: 12,
        title: tip,
        className: 'suppressed-flag',
      }),
    ].filter(Boolean);
    const svg = Plot.plot({
      className: 'sg-plot',
      width,
      height: 340,
      marginLeft: 70,
      marginRight: 20,
      marginBottom: rotate ? 90 : 40,
      x: {
        type: 'band',
        domain: rows.map((r) => r.x),
        label: dim.label,
        padding: 0.25,
        tickRotate: rotate ? -35 : 0,
        tickFormat: (v) => short(v),
      },
      y: { grid: true, label: s.data.measure, tickFormat: fmt, zero: true },
      ariaLabel: `${s.data.title} by ${dim.label}`,
      ariaDescription: rows.map(tip).join('; '),
      marks,
    });
    host.replaceChildren(SG.plotted(svg));
    $('chart-caption').textContent =
      `${s.data.title} by ${dim.label}` +
      (ci.length > 0 ? '; black bars: 95% intervals' : '') +
      (gaps.length > 0 ? `; ${gaps.length} suppressed cell(s) shown as gaps with their flag` : '');
  };

  SG.setupChart = function setupChart() {
    $('chart-by').addEventListener('change', () => SG.drawTableChart(SG.catalogueState));
    $('chart-kind').addEventListener('change', () => SG.drawTableChart(SG.catalogueState));
    // Drawn at the container's width: drawn again when the width changes (a phone turned, a window resized).
    let timer = null;
    let lastWidth = 0;
    window.addEventListener('resize', () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const s = SG.catalogueState;
        const w = $('table-chart').clientWidth;
        if (s.view === 'chart' && s.data && w !== lastWidth) SG.drawTableChart(s);
        lastWidth = w;
      }, 200);
    });
  };

  /* ---------------- reviewer figures (not for publication) ---------------- */

  /** Plot's marks that write the marking into the chart itself, so a copied or saved chart keeps it. */
  const marking = (dy = -14) =>
    Plot.text([NFP], {
      frameAnchor: 'top-right',
      text: (d) => d,
      fill: '#a40000',
      fontWeight: 'bold',
      fontSize: 11,
      dy,
      facet: 'super',
    });

  function figure(svg, caption) {
    return el(
      'figure',
      { class: 'preview-chart' },
      SG.plotted(svg),
      el('figcaption', {}, el('strong', { class: 'nfp', text: `${NFP}. ` }), caption),
    );
  }

  /** Share of cells suppressed per table: one policy, or A and B side by side. */
  SG.suppressionChart = function suppressionChart(host, parts) {
    const rows = parts.flatMap(({ name, preview }) =>
      preview.tables.map((t) => ({ table: t.id, policy: name, share: t.shareCellsSuppressed })),
    );
    const svg = Plot.plot({
      className: 'sg-plot',
      width: chartWidth(host),
      height: 280,
      marginTop: parts.length > 1 ? 56 : 30,
      marginLeft: 60,
      x: {
        label: parts.length > 1 ? null : 'table',
        padding: 0.2,
        // Side by side, a bar is named by its side (A, B); the caption names the policies.
        tickFormat: parts.length > 1 ? (v) => v.split(' ')[0] : (v) => short(v, 14),
      },
      fx: parts.length > 1 ? { label: 'table', axis: 'top', padding: 0.15 } : undefined,
      y: { label: 'share of cells suppressed', grid: true, domain: [0, Math.max(0.05, ...rows.map((r) => r.share))] },
      color: { domain: parts.map((p) => p.name), range: ['#6f9bd1', '#e69f00'] },
      marks: [
        parts.length > 1
          ? Plot.barY(rows, {
              fx: 'table',
              x: 'policy',
              y: 'share',
              fill: 'policy',
              title: (r) => `${r.policy} ${r.table}: ${fmt(r.share)}`,
            })
          : Plot.barY(rows, { x: 'table', y: 'share', fill: 'policy', title: (r) => `${r.table}: ${fmt(r.share)}` }),
        Plot.ruleY([0]),
        marking(parts.length > 1 ? -40 : -14),
      ],
    });
    return figure(
      svg,
      `Share of cells suppressed by table${parts.length > 1 ? ` (${parts.map((p) => p.name).join(' blue, ')} orange)` : ''}.`,
    );
  };

  const METRIC_NAMES = {
    shareRelAbove10: 'share of cells with relative error > 10%',
    shareRelAbove50: 'share of cells with relative error > 50%',
    meanAbsError: 'mean absolute error',
    maxAbsError: 'largest absolute error',
    halfWidth95: 'expected 95% half-width',
    shareCellsSuppressed: 'share of cells suppressed',
    shareValueSuppressed: 'share of value suppressed',
  };

  SG.metricName = (m) => METRIC_NAMES[m] || m;

  /** A sweep: its default figure against the swept parameter, one point per value. */
  SG.sweepChart = function sweepChart(host, sweep) {
    const pts = sweep.points.map((p) => ({ x: p.value, y: p[sweep.metric] })).filter((p) => p.y !== null);
    const label = METRIC_NAMES[sweep.metric] || sweep.metric;
    const svg = Plot.plot({
      className: 'sg-plot',
      width: chartWidth(host),
      height: 280,
      marginTop: 30,
      marginLeft: 60,
      x: { label: sweep.param, type: sweep.points.every((p) => p.value > 0) && sweep.param !== 'n' ? 'log' : 'linear' },
      y: { label, grid: true, zero: true, tickFormat: fmt },
      ariaLabel: `Sweep of ${sweep.param} for ${sweep.policy}: ${label}`,
      marks: [
        Plot.lineY(pts, { x: 'x', y: 'y', stroke: '#1f5fa8', strokeWidth: 2 }),
        Plot.dot(pts, { x: 'x', y: 'y', fill: '#1f5fa8', r: 4, title: (p) => `${sweep.param} = ${p.x}: ${fmt(p.y)}` }),
        marking(),
      ],
    });
    return figure(svg, `Sweep of ${sweep.param} for ${sweep.policy}: ${label}.`);
  };
})(globalThis.SG);
