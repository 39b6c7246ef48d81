/** Statistical test helpers for the DP samplers (not a test file itself). */

/** Standard normal quantile for the upper tail p (Acklam-free: Beasley-Springer-Moro is overkill; table for the p we use). */
const Z_UPPER: Record<string, number> = { '0.001': 3.090232306167813, '0.0001': 3.719016485455709 };

/** Upper critical value of chi-square with df degrees of freedom at tail p (Wilson-Hilferty approximation). */
export function chiSquareCritical(df: number, p = 0.001): number {
  const z = Z_UPPER[String(p)];
  if (z === undefined) throw new Error(`no z for p=${p}`);
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

export function tally(draw: () => number, n: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const x = draw();
    m.set(x, (m.get(x) ?? 0) + 1);
  }
  return m;
}

export interface GofResult {
  readonly stat: number;
  readonly df: number;
  readonly critical: number;
  readonly pass: boolean;
  readonly bins: number;
}

/**
 * Chi-square goodness of fit of integer samples against a pmf. Integers in
 * [lo, hi] are merged left to right into bins of expected count >= minExpected;
 * samples below lo go to the first bin and above hi to the last (choose lo/hi
 * so the pmf mass outside is negligible).
 */
export function chiSquareGof(
  counts: Map<number, number>,
  pmf: (x: number) => number,
  lo: number,
  hi: number,
  minExpected = 20,
  p = 0.001,
): GofResult {
  let n = 0;
  for (const c of counts.values()) n += c;
  const observedAt = (x: number): number => counts.get(x) ?? 0;
  let below = 0;
  let above = 0;
  for (const [x, c] of counts) {
    if (x < lo) below += c;
    else if (x > hi) above += c;
  }
  const bins: { e: number; o: number }[] = [];
  let e = 0;
  let o = below;
  for (let x = lo; x <= hi; x++) {
    e += n * pmf(x);
    o += observedAt(x);
    if (e >= minExpected) {
      bins.push({ e, o });
      e = 0;
      o = 0;
    }
  }
  o += above;
  if (bins.length === 0) throw new Error('no bins');
  // Leftover goes into the last bin.
  const last = bins[bins.length - 1]!;
  last.e += e;
  last.o += o;
  let stat = 0;
  for (const b of bins) stat += ((b.o - b.e) * (b.o - b.e)) / b.e;
  const df = bins.length - 1;
  const critical = chiSquareCritical(df, p);
  return { stat, df, critical, pass: stat <= critical, bins: bins.length };
}

/** Two-sided z statistic of a binomial count against probability q. */
export function binomialZ(successes: number, n: number, q: number): number {
  return (successes - n * q) / Math.sqrt(n * q * (1 - q));
}

/**
 * z statistic of the sample variance (about the known mean 0) against the
 * theoretical variance, with standard error sqrt((mu4 - var^2)/n) from the pmf.
 */
export function varianceZ(
  samples: Map<number, number>,
  pmf: (x: number) => number,
  lo: number,
  hi: number,
): { z: number; sampleVar: number; theoryVar: number } {
  let n = 0;
  let s2 = 0;
  for (const [x, c] of samples) {
    n += c;
    s2 += c * x * x;
  }
  let v = 0;
  let m4 = 0;
  for (let x = lo; x <= hi; x++) {
    const p = pmf(x);
    v += p * x * x;
    m4 += p * x ** 4;
  }
  const sampleVar = s2 / n;
  return { z: (sampleVar - v) / Math.sqrt((m4 - v * v) / n), sampleVar, theoryVar: v };
}

/** Normalised discrete Gaussian pmf by direct summation (independent of the engine). */
export function gaussPmf(s2: number): (x: number) => number {
  const m = Math.ceil(15 * Math.sqrt(s2)) + 10;
  let z = 0;
  for (let x = -m; x <= m; x++) z += Math.exp(-(x * x) / (2 * s2));
  return (x) => Math.exp(-(x * x) / (2 * s2)) / z;
}

/** Discrete Laplace pmf with scale t (from its definition). */
export function laplacePmf(t: number): (x: number) => number {
  const q = Math.exp(-1 / t);
  return (x) => ((1 - q) / (1 + q)) * q ** Math.abs(x);
}
