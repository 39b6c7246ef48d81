import { StatguardError } from '../errors.ts';

/**
 * A perturbation table (ptable) of the cell key method, in the tau-Argus / sdcTools `ptable` layout: for each
 * original count i (0..imax; counts above imax use row imax), entries (j, p, v = j - i, p_int_ub) where the cell key
 * selects the entry whose cumulative interval [p_int_ub - p, p_int_ub) contains it.
 */
export interface PtableEntry {
  readonly i: number;
  readonly j: number;
  readonly p: number;
  readonly v: number;
  /** Upper end of the cumulative probability interval of the entry within its row. */
  readonly ub: number;
}

export interface Ptable {
  /** Entries per row i (index = i), each row ordered by j with ub increasing to 1. */
  readonly rows: readonly (readonly PtableEntry[])[];
  /** Parameters when generated here (null when read from a file that does not state them). */
  readonly params: PtableParams | null;
}

export interface PtableParams {
  /** Maximum deviation D: |v| <= D. */
  readonly D: number;
  /** Target variance V of the perturbation (rows where it is attainable). */
  readonly V: number;
  /** Counts 1..js are never published: a perturbed count is 0 or > js. */
  readonly js: number;
  /** Optional probability of no perturbation (p(v = 0)) for rows i > js; absent: maximum entropy decides. */
  readonly pstay?: number;
}

/**
 * Generate a ptable from (D, V, js[, pstay]) by maximum entropy, the construction of the sdcTools `ptable` package:
 * row i is a distribution over the targets j in [max(0, i-D), i+D] with j = 0 or j > js (so 1..js never appear),
 * unbiased (E[v] = 0) with variance V, of maximum entropy under these constraints: p(v) ∝ exp(a v + b v^2), (a, b)
 * found by Newton's method on the convex dual. Rows i = 0..D+js+1 are listed; the last one (where no constraint near
 * zero bites) serves every larger count. Row 0 is the identity (an empty cell stays empty).
 * Guarantee (checked): every row sums to 1, |v| <= D, j never in 1..js, E[v] = 0 to 1e-9 wherever the support
 * allows it; the variance is V where attainable (else the closest attainable, which the rows report by their moments).
 * Deterministic: the same parameters always give the same table, hence the same perturbation of the same cell.
 */
export function generatePtable(params: PtableParams): Ptable {
  const { D, V, js } = params;
  if (!Number.isInteger(D) || D < 1 || D > 100)
    throw new StatguardError('POLICY_INVALID', `ckm maximum deviation D must be an integer in 1..100 (got ${D})`, {
      path: '/protection/ptable/maxDeviation',
    });
  if (!(V > 0) || V > D * D)
    throw new StatguardError('POLICY_INVALID', `ckm variance V must be in (0, D^2] (got ${V})`, {
      path: '/protection/ptable/variance',
    });
  if (!Number.isInteger(js) || js < 0 || js >= D + 50)
    throw new StatguardError('POLICY_INVALID', `ckm js must be a non-negative integer (got ${js})`, {
      path: '/protection/ptable/js',
    });
  const pstay = params.pstay;
  if (pstay !== undefined && !(pstay >= 0 && pstay < 1))
    throw new StatguardError('POLICY_INVALID', 'ckm pstay must be in [0, 1)', { path: '/protection/ptable/pstay' });
  const imax = D + js + 1;
  const rows: PtableEntry[][] = [[{ i: 0, j: 0, p: 1, v: 0, ub: 1 }]];
  for (let i = 1; i <= imax; i++) {
    const js_: number[] = [];
    for (let j = Math.max(0, i - D); j <= i + D; j++) if (j === 0 || j > js) js_.push(j);
    const vs = js_.map((j) => j - i);
    let probs: number[];
    const stay = pstay !== undefined && i > js ? pstay : undefined;
    if (stay !== undefined) {
      // p(0) fixed; the rest is the maximum-entropy distribution with the remaining variance, scaled by 1 - pstay.
      const rest = vs.filter((v) => v !== 0);
      const q = maxEntropy(rest, V / (1 - stay));
      probs = vs.map((v) => (v === 0 ? stay : (1 - stay) * q[rest.indexOf(v)]!));
    } else probs = maxEntropy(vs, V);
    let acc = 0;
    const row: PtableEntry[] = [];
    js_.forEach((j, k) => {
      const p = probs[k]!;
      if (p <= 0) return;
      acc += p;
      row.push({ i, j, p, v: j - i, ub: acc });
    });
    // Cumulative bounds end exactly at 1 (float rounding of the running sum).
    row[row.length - 1] = { ...row[row.length - 1]!, ub: 1 };
    rows.push(row);
  }
  return { rows, params: { ...params } };
}

/** p(v) ∝ exp(a v + b v^2) with E[v] = 0 and E[v^2] = V (closest attainable when not), by damped Newton on the dual. */
function maxEntropy(vs: readonly number[], V: number): number[] {
  let a = 0;
  let b = 0;
  const dist = (a_: number, b_: number): number[] => {
    const e = vs.map((v) => a_ * v + b_ * v * v);
    const m = Math.max(...e);
    const w = e.map((x) => Math.exp(x - m));
    const z = w.reduce((s, x) => s + x, 0);
    return w.map((x) => x / z);
  };
  const dual = (a_: number, b_: number): number => {
    const e = vs.map((v) => a_ * v + b_ * v * v);
    const m = Math.max(...e);
    return m + Math.log(e.reduce((s, x) => s + Math.exp(x - m), 0)) - b_ * V;
  };
  for (let it = 0; it < 500; it++) {
    const p = dist(a, b);
    let m1 = 0;
    let m2 = 0;
    let m3 = 0;
    let m4 = 0;
    vs.forEach((v, k) => {
      const q = p[k]!;
      m1 += q * v;
      m2 += q * v * v;
      m3 += q * v ** 3;
      m4 += q * v ** 4;
    });
    const g1 = m1;
    const g2 = m2 - V;
    if (Math.abs(g1) < 1e-12 && Math.abs(g2) < 1e-10) break;
    // Hessian = covariance of (v, v^2).
    const h11 = m2 - m1 * m1;
    const h12 = m3 - m1 * m2;
    const h22 = m4 - m2 * m2;
    const det = h11 * h22 - h12 * h12;
    let da: number;
    let db: number;
    if (det > 1e-14) {
      da = -(h22 * g1 - h12 * g2) / det;
      db = -(-h12 * g1 + h11 * g2) / det;
    } else {
      da = -g1;
      db = -g2;
    }
    let step = 1;
    const f0 = dual(a, b);
    while (step > 1e-8 && dual(a + step * da, b + step * db) > f0 + 1e-4 * step * (g1 * da + g2 * db)) step /= 2;
    a += step * da;
    b += step * db;
  }
  return dist(a, b);
}

/** The count perturbation for original count `count` and cell key `ck` in [0, 1): v of the entry whose interval holds ck. */
export function lookupPerturbation(pt: Ptable, count: number, ck: number): number {
  if (!(ck >= 0 && ck < 1)) throw new StatguardError('USAGE', `cell key must lie in [0, 1) (got ${ck})`);
  if (!Number.isInteger(count) || count < 0)
    throw new StatguardError('USAGE', 'ckm perturbs non-negative integer counts');
  const row = pt.rows[Math.min(count, pt.rows.length - 1)]!;
  for (const e of row) if (ck < e.ub) return e.v;
  return row[row.length - 1]!.v;
}

/** Write a ptable in the tau-Argus / sdcTools text layout: `i;j;p;v;p_int_ub`, one entry per line. */
export function formatPtable(pt: Ptable): string {
  const num = (x: number): string => String(Number(x.toPrecision(12)));
  const lines = ['i;j;p;v;p_int_ub'];
  for (const row of pt.rows) for (const e of row) lines.push([e.i, e.j, num(e.p), e.v, num(e.ub)].join(';'));
  return `${lines.join('\n')}\n`;
}

/**
 * Read a ptable file in the tau-Argus / sdcTools layout: a header naming at least i, j, p, v and p_int_ub (quoted or
 * not; other columns such as p_int_lb and type are ignored; the magnitude variant with fractional j is read too),
 * separated by `;`. Errors name the file and line. Rows must be complete (cumulative bounds reaching 1).
 */
export function parsePtable(text: string, file = 'ptable'): Ptable {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new StatguardError('SOURCE_UNREADABLE', 'ptable file has no entries', { file });
  const head = lines[0]!.split(';').map((h) => h.trim().replace(/^"|"$/g, ''));
  const col = (name: string): number => {
    const k = head.indexOf(name);
    if (k < 0)
      throw new StatguardError(
        'SOURCE_UNREADABLE',
        `ptable file lacks the column ${JSON.stringify(name)} (header: ${head.join(';')})`,
        { file, line: 1 },
      );
    return k;
  };
  const ci = col('i');
  const cj = col('j');
  const cp = col('p');
  const cv = col('v');
  const cub = head.indexOf('p_int_ub') >= 0 ? head.indexOf('p_int_ub') : col('p_ij_ub');
  const rows: PtableEntry[][] = [];
  lines.slice(1).forEach((l, k) => {
    const f = l.split(';').map((x) => x.trim().replace(/^"|"$/g, ''));
    const n = (c: number): number => {
      const x = Number(f[c]);
      if (f[c] === undefined || f[c] === '' || !Number.isFinite(x))
        throw new StatguardError(
          'SOURCE_UNREADABLE',
          `ptable line ${k + 2}: ${JSON.stringify(head[c])} is not a number`,
          { file, line: k + 2, value: f[c] ?? '' },
        );
      return x;
    };
    const e: PtableEntry = { i: n(ci), j: n(cj), p: n(cp), v: n(cv), ub: n(cub) };
    if (!Number.isInteger(e.i) || e.i < 0)
      throw new StatguardError('SOURCE_UNREADABLE', `ptable line ${k + 2}: i must be a non-negative integer`, {
        file,
        line: k + 2,
      });
    (rows[e.i] ??= []).push(e);
  });
  rows.forEach((row, i) => {
    row.sort((x, y) => x.ub - y.ub);
    if (Math.abs(row[row.length - 1]!.ub - 1) > 1e-6)
      throw new StatguardError(
        'SOURCE_UNREADABLE',
        `ptable row i = ${i}: cumulative probabilities end at ${row[row.length - 1]!.ub}, not 1`,
        { file },
      );
  });
  for (let i = 0; i < rows.length; i++)
    if (!rows[i]) throw new StatguardError('SOURCE_UNREADABLE', `ptable has no row for i = ${i}`, { file });
  return { rows, params: null };
}
