/**
 * Text and HTML renderings of previews, comparisons, sweeps and lint findings
 * (the JSON form is the objects themselves). Secure-zone output: it carries
 * exact-derived figures; never serve it on a public route.
 */
import { comparePreviews, previewFigures, type Comparison } from './compare.ts';
import type { LintFinding } from './lint.ts';
import type { Preview } from './preview.ts';
import { escapeXml, fmtNumber, METRIC_LABELS } from './svg.ts';
import type { Sweep } from './sweep.ts';

const fmt = (v: number | string | null): string => (v === null ? '-' : typeof v === 'string' ? v : fmtNumber(v));

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function lintText(findings: readonly LintFinding[]): string {
  if (findings.length === 0) return 'no findings\n';
  return findings.map((f) => `${f.severity} ${f.code} at ${f.path || '/'}: ${f.message}`).join('\n') + '\n';
}

export function previewText(p: Preview): string {
  const out: string[] = [];
  out.push(
    `preview of ${p.policy.id} ${p.policy.version} (${p.policy.file}) on dataset ${p.dataset}: regime ${p.regime}; nothing written, no budget spent`,
  );
  out.push(`SECURE ZONE: figures below derive from exact values; do not publish this report.`);
  out.push(
    `rows read ${p.rows.read}, dropped ${p.rows.dropped}; randomness ${p.randomness.source}${p.randomness.seed !== null ? ` (seed ${p.randomness.seed})` : ''}`,
  );
  if (p.sdc)
    out.push(
      `sdc: secondary ${p.sdc.method}${p.sdc.optimalFinished === false ? ' (optimal not proven: heuristic pattern)' : ''}; audit ${p.sdc.auditPasses ? 'passes' : 'FAILS'}; smallest margin ${fmt(p.sdc.smallestMargin)}; insiders ${p.sdc.insiders.model}${p.sdc.insiders.exposed > 0 ? ` (${p.sdc.insiders.exposed} other units' cells an insider could compute or narrow)` : ''}`,
    );
  for (const s of p.sdc?.optimalStops ?? [])
    out.push(
      `optimal method stopped (${s.tables.join(', ')}): ${s.reason}; pattern cost ${fmt(s.incumbentCost)}, proven lower bound ${fmt(s.lowerBound)}, gap ${fmt(100 * s.gap)}%`,
    );
  if (p.sdc?.coarse)
    out.push(
      `TIME LIMIT: ${p.sdc.coarse.reason}; coarse pattern: ${p.sdc.coarse.description}. ${fmt(100 * p.sdc.coarse.shareSensitive)}% of the cells are sensitive; to coarsen: ${p.sdc.coarse.suggestions.join('; ') || 'merge categories or drop a dimension'}`,
    );
  if (p.budget) {
    const b = p.budget;
    out.push(
      `budget: ${b.mechanism}, epsilon ${fmt(b.total.epsilon)}, delta ${fmt(b.total.delta)}, rho ${fmt(b.total.rho)}; ledger cost rho ${fmt(b.cost.rho)}${b.cost.epsilon !== null ? `, epsilon ${fmt(b.cost.epsilon)}` : ''}`,
    );
    out.push(
      b.ledger === 'unknown'
        ? 'remaining budget on the ledger: unknown (no store; use --store or DATABASE_URL / STATGUARD_DATA_DIR)'
        : `remaining on the ledger: rho ${fmt(b.ledger.remainingRho)} of ${fmt(b.ledger.totalRho)}, epsilon ${fmt(b.ledger.remainingEpsilon)} of ${fmt(b.ledger.totalEpsilon)}; ${b.ledger.fits ? 'the release fits' : 'the release would be REFUSED'}`,
    );
    // Noisy counts only (the exact ones are never shown, even here).
    for (const c of b.truncation?.counts ?? [])
      out.push(
        `truncation report (share ${fmt(b.truncation!.share)} of the budget): ${c.quantity === 'rows-dropped' ? 'rows dropped by bounding' : `values of ${c.column} clamped to [${c.bounds!.join(', ')}]`} about ${c.value} +- ${fmt(c.halfWidth95)} (noisy)`,
      );
  }
  out.push('');
  const rows = previewFigures(p).filter((f) => f.table !== '*');
  let current = '';
  const buf: string[][] = [];
  const flush = (): void => {
    if (!current) return;
    const t = p.tables.find((x) => x.id === current)!;
    out.push(`table ${t.id}: ${t.title}`);
    out.push(table(['figure', 'value'], buf.splice(0)));
    if (t.sdc && t.sdc.sensitive.length > 0) {
      out.push('  sensitive cells: codes, rule, value, attacker interval, required protection, margin');
      for (const s of t.sdc.sensitive)
        out.push(
          `  (${s.codes.join(', ')}) ${s.rule}/${s.status}: ${fmt(s.value)} in [${fmt(s.min)}, ${fmt(s.max)}], needs -${fmt(s.requiredLower)}/+${fmt(s.requiredUpper)}, margin ${fmt(s.margin)}${s.passes ? '' : ' FAILS'}`,
        );
    }
    if (t.risk.sparse)
      out.push(
        `  SPARSE: ${fmtNumber(t.risk.sparsityShare)} of published non-empty interior cells rest on 1 or 2 units (threshold ${p.sparsityThreshold})`,
      );
    out.push('');
  };
  for (const f of rows) {
    if (f.table !== current) {
      flush();
      current = f.table;
    }
    buf.push([f.figure, fmt(f.value)]);
  }
  flush();
  if (p.combination) {
    const c = p.combination;
    out.push(
      `combination with ${c.releases.length} published release(s) of ${p.dataset}: ${c.linkedTables.length} table(s) linked, ${c.unlinkedTables.length} not linked${c.unlinkedTables.length ? ` (${c.unlinkedTables.join(', ')})` : ''}; ${c.recovered.length === 0 ? 'no suppressed cell recoverable' : `${c.recovered.length} cell(s) RECOVERABLE`}`,
    );
    for (const r of c.recovered)
      out.push(
        `  ${r.table} (${r.codes.join(', ')}): ${r.how === 'published' ? `published in ${r.release}` : 'attacker interval too narrow when combined'}`,
      );
  } else if (p.regime === 'sdc') {
    out.push('combination with published releases: not checked (no store or no published release of this dataset)');
  }
  out.push(`lint: ${p.lint.length === 0 ? 'no findings' : ''}`);
  if (p.lint.length > 0) out.push(lintText(p.lint).trimEnd());
  return out.join('\n') + '\n';
}

export function compareText(c: Comparison): string {
  const head = ['table', 'figure', `A ${c.a.policy.id}`, `B ${c.b.policy.id}`, 'B - A'];
  const rows = c.rows.map((r) => [
    r.table,
    r.figure,
    fmt(r.a),
    fmt(r.b),
    r.diff === null ? '' : (r.diff > 0 ? '+' : '') + fmtNumber(r.diff),
  ]);
  return `comparison on dataset ${c.a.dataset}: A = ${c.a.policy.id} (${c.a.regime}), B = ${c.b.policy.id} (${c.b.regime}); nothing written, no budget spent\nSECURE ZONE: figures derive from exact values.\n\n${table(head, rows)}\n`;
}

export function sweepText(s: Sweep): string {
  const dp = s.regime === 'dp';
  const head = dp
    ? [s.param, 'mean abs err', 'max abs err', 'rel>10%', 'rel>50%', '95% half-width', 'suppressed']
    : [s.param, 'suppressed cells', 'value suppressed', 'primary', 'secondary'];
  const rows = s.points.map((p) =>
    dp
      ? [
          fmt(p.value),
          fmt(p.meanAbsError),
          fmt(p.maxAbsError),
          fmt(p.shareRelAbove10),
          fmt(p.shareRelAbove50),
          fmt(p.halfWidth95),
          fmt(p.shareCellsSuppressed),
        ]
      : [fmt(p.value), fmt(p.shareCellsSuppressed), fmt(p.shareValueSuppressed), fmt(p.primary), fmt(p.secondary)],
  );
  return `sweep of ${s.param} for ${s.policy} (${s.regime}; shares are cell-weighted over tables; chart: ${METRIC_LABELS[s.metric]})\n${table(head, rows)}\n`;
}

const h = escapeXml;

function htmlTable(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((x) => `<th scope="col">${h(x)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${h(c)}</th>` : `<td>${h(c)}</td>`)).join('')}</tr>`).join('')}</tbody></table>`;
}

/** A standalone HTML page (no script) for a preview, a comparison, and optionally a sweep chart. */
export function previewHtml(a: Preview, b?: Preview, sweepSvgText?: string): string {
  const title = b ? `Comparison: ${a.policy.id} vs ${b.policy.id}` : `Preview: ${a.policy.id}`;
  let body: string;
  if (b) {
    const c = comparePreviews(a, b);
    body = htmlTable(
      ['figure', 'table', `A ${a.policy.id}`, `B ${b.policy.id}`, 'B - A'],
      c.rows.map((r) => [r.figure, r.table, fmt(r.a), fmt(r.b), r.diff === null ? '' : fmtNumber(r.diff)]),
    );
  } else {
    body = htmlTable(
      ['figure', 'table', 'value'],
      previewFigures(a).map((f) => [f.figure, f.table, fmt(f.value)]),
    );
  }
  const lint = (b ? [a, b] : [a])
    .flatMap((p) =>
      p.lint.map(
        (f) => `<li><strong>${h(p.policy.id)}</strong> ${h(f.code)} at <code>${h(f.path)}</code>: ${h(f.message)}</li>`,
      ),
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${h(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th[scope=row],th[scope=col]{text-align:left}.warn{background:#fff3cd;padding:.5rem}</style></head>
<body><h1>${h(title)}</h1><p class="warn">Secure zone: figures derive from exact values. Nothing was written and no budget was spent.</p>
${body}
${sweepSvgText ? `<h2>Sweep</h2>${sweepSvgText}` : ''}
<h2>Lint</h2>${lint ? `<ul>${lint}</ul>` : '<p>No findings.</p>'}
</body></html>
`;
}
