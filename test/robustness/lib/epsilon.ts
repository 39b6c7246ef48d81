/**
 * Empirical lower bounds on epsilon (not a test file).
 *
 * For a mechanism M, neighbouring inputs D, D' and an event S fixed BEFORE
 * sampling, (epsilon, delta)-DP implies P[M(D) in S] <= e^epsilon P[M(D') in S] + delta.
 * From n0 draws of M(D) and n1 draws of M(D') we get Clopper-Pearson bounds
 * p0 >= lo0 and p1 <= hi1 (each at level alpha'), hence with confidence
 * 1 - 2 alpha':  epsilon >= ln((lo0 - delta) / hi1).
 * Over a fixed family of m events and both directions the Bonferroni
 * correction alpha' = alpha / (4 m) keeps the whole family at level alpha, so
 * the reported maximum is a valid (1 - alpha) lower confidence bound on the
 * true epsilon. A correct mechanism therefore stays below its claim (except
 * with probability alpha); a mechanism with half the noise exceeds it.
 */
import jStat from 'jstat';

/** Clopper-Pearson lower bound on p from k successes in n trials (one-sided, level alpha). */
export function cpLower(k: number, n: number, alpha: number): number {
  return k <= 0 ? 0 : jStat.beta.inv(alpha, k, n - k + 1);
}

/** Clopper-Pearson upper bound on p from k successes in n trials (one-sided, level alpha). */
export function cpUpper(k: number, n: number, alpha: number): number {
  return k >= n ? 1 : jStat.beta.inv(1 - alpha, k + 1, n - k);
}

export interface EventCount {
  readonly name: string;
  /** Occurrences among the draws of M(D) and of M(D'). */
  readonly k0: number;
  readonly k1: number;
}

export interface EpsilonBound {
  readonly epsilon: number;
  readonly event: string;
  readonly direction: "D vs D'" | "D' vs D";
}

/** Largest lower confidence bound on epsilon at this delta over the event family (Bonferroni at level alpha). */
export function epsilonLowerBound(
  events: readonly EventCount[],
  n0: number,
  n1: number,
  delta: number,
  alpha: number,
): EpsilonBound {
  const a = alpha / (4 * events.length);
  let best: EpsilonBound = { epsilon: -Infinity, event: 'none', direction: "D vs D'" };
  for (const e of events) {
    const cands: [number, number, EpsilonBound['direction']][] = [
      [cpLower(e.k0, n0, a), cpUpper(e.k1, n1, a), "D vs D'"],
      [cpLower(e.k1, n1, a), cpUpper(e.k0, n0, a), "D' vs D"],
    ];
    for (const [lo, hi, direction] of cands) {
      if (lo - delta <= 0 || hi <= 0) continue;
      const eps = Math.log((lo - delta) / hi);
      if (eps > best.epsilon) best = { epsilon: eps, event: e.name, direction };
    }
  }
  return best;
}

/**
 * Events {T >= c} and {T < c} for each threshold c (chosen before sampling),
 * counted on statistic samples t0 (from M(D)) and t1 (from M(D')).
 */
export function thresholdEvents(t0: Float64Array, t1: Float64Array, thresholds: readonly number[]): EventCount[] {
  const s0 = Float64Array.from(t0).sort();
  const s1 = Float64Array.from(t1).sort();
  const atLeast = (s: Float64Array, c: number): number => {
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! < c) lo = mid + 1;
      else hi = mid;
    }
    return s.length - lo;
  };
  const out: EventCount[] = [];
  for (const c of thresholds) {
    const k0 = atLeast(s0, c);
    const k1 = atLeast(s1, c);
    out.push({ name: `T >= ${c}`, k0, k1 }, { name: `T < ${c}`, k0: s0.length - k0, k1: s1.length - k1 });
  }
  return out;
}
