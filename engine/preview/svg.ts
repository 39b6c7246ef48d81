/**
 * A sweep as a standalone SVG line chart (hand-written: axes, ticks, line,
 * points, labels), accessible: role="img", <title> and <desc> naming the
 * policy, the parameter and every point's value, so a screen reader gets the
 * data the picture shows. Every text is XML-escaped.
 */
import type { Sweep, SweepMetric } from './sweep.ts';

export const METRIC_LABELS: Record<SweepMetric, string> = {
  shareRelAbove10: 'share of cells with relative error > 10%',
  shareRelAbove50: 'share of cells with relative error > 50%',
  meanAbsError: 'mean absolute error',
  maxAbsError: 'max absolute error',
  halfWidth95: 'expected 95% half-width',
  shareCellsSuppressed: 'share of cells suppressed',
  shareValueSuppressed: 'share of value suppressed',
};

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Round "nice" tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.5;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

export function fmtNumber(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

export function sweepSvg(sweep: Sweep, opts: { metric?: SweepMetric; width?: number; height?: number } = {}): string {
  const metric = opts.metric ?? sweep.metric;
  const W = opts.width ?? 640;
  const H = opts.height ?? 360;
  const m = { left: 70, right: 20, top: 40, bottom: 56 };
  const pts = sweep.points
    .map((p) => ({ x: p.value, y: (p as unknown as Record<string, number | null>)[metric] ?? null }))
    .filter((p): p is { x: number; y: number } => p.y !== null && Number.isFinite(p.y));
  const label = METRIC_LABELS[metric];
  const title = `${sweep.policy}: ${label} by ${sweep.param}`;
  const desc =
    pts.length > 0
      ? `Line chart of ${label} for ${sweep.param} = ${pts.map((p) => `${fmtNumber(p.x)}: ${fmtNumber(p.y)}`).join('; ')}.`
      : `No ${label} values to plot.`;
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const logX = xs.length > 1 && Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) >= 20;
  const tx = (v: number): number => (logX ? Math.log10(v) : v);
  const xLo = xs.length ? tx(Math.min(...xs)) : 0;
  const xHi = xs.length ? tx(Math.max(...xs)) : 1;
  const yTicks = niceTicks(Math.min(0, ...ys), Math.max(...(ys.length ? ys : [1])));
  const yLo = yTicks[0]!;
  const yHi = yTicks[yTicks.length - 1]!;
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const sx = (v: number): number => m.left + (xHi > xLo ? ((tx(v) - xLo) / (xHi - xLo)) * pw : pw / 2);
  const sy = (v: number): number => m.top + ph - (yHi > yLo ? ((v - yLo) / (yHi - yLo)) * ph : ph / 2);
  const r = (v: number): string => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="sg-title sg-desc" font-family="system-ui, sans-serif" font-size="12">`,
  );
  parts.push(`<title id="sg-title">${escapeXml(title)}</title>`);
  parts.push(`<desc id="sg-desc">${escapeXml(desc)}</desc>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="600" fill="#111">${escapeXml(title)}</text>`,
  );
  // y axis, grid and ticks
  for (const t of yTicks) {
    const y = r(sy(t));
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#333">${escapeXml(fmtNumber(t))}</text>`,
    );
  }
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#333"/>`);
  parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#333"/>`);
  // x ticks at the swept values (they are what the reviewer chose)
  for (const x of xs) {
    const X = r(sx(x));
    parts.push(`<line x1="${X}" x2="${X}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#333"/>`);
    parts.push(
      `<text x="${X}" y="${m.top + ph + 18}" text-anchor="middle" fill="#333">${escapeXml(fmtNumber(x))}</text>`,
    );
  }
  parts.push(
    `<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle" fill="#111">${escapeXml(sweep.param + (logX ? ' (log scale)' : ''))}</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#111">${escapeXml(label)}</text>`,
  );
  if (pts.length > 0) {
    parts.push(
      `<polyline class="sg-line" fill="none" stroke="#1f5fa8" stroke-width="2" points="${pts.map((p) => `${r(sx(p.x))},${r(sy(p.y))}`).join(' ')}"/>`,
    );
    for (const p of pts)
      parts.push(
        `<circle cx="${r(sx(p.x))}" cy="${r(sy(p.y))}" r="4" fill="#1f5fa8"><title>${escapeXml(`${sweep.param} ${fmtNumber(p.x)}: ${fmtNumber(p.y)}`)}</title></circle>`,
      );
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
