// Minimal typing of the parts of jstat (https://github.com/jstat/jstat) used by the robustness tests.
declare module 'jstat' {
  interface Beta {
    /** Quantile of Beta(a, b) at probability p (regularised incomplete beta inverted by Newton/Halley steps). */
    inv(p: number, a: number, b: number): number;
    cdf(x: number, a: number, b: number): number;
  }
  const jStat: { beta: Beta };
  export default jStat;
}
