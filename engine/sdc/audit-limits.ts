/**
 * The audit's work limits (audit.ts): how much exact LP work the 'auto' mode spends before it falls back to the
 * certified mode, and where the singleton rule's pinned test starts with region LPs. Limits on work only: every
 * verdict stays proven either way (exact intervals or checked witnesses).
 */

/**
 * Components up to this many suppressed cells get exact LP intervals in the default 'auto' mode: there the LPs are
 * cheap (a few ms each) and reviewers see the attacker's exact interval. Beyond it, one LP per sensitive cell and
 * direction over a component of thousands of cells costs seconds each, and witnesses decide almost every cell.
 */
export const EXACT_AUDIT_MAX_CELLS = 2000;

/**
 * LP solves the 'auto' mode spends on exact intervals at most (smallest components first, two per sensitive cell):
 * beyond it, components are audited as in 'certified'. After a heuristic on a 100,000-cell table the pattern falls
 * into components of a few hundred cells holding thousands of sensitive cells, whose exact intervals would cost
 * about 20 ms per LP (measured: 2,360 LPs, 46 s) for a verdict the witnesses already give.
 */
export const EXACT_AUDIT_MAX_SOLVES = 1000;

/**
 * Work the 'auto' mode spends on exact intervals at most, in LP solves times component cells (an LP's cost grows
 * with its component): beyond it, as in 'certified'. Measured on the sparse 4-dimension 1k bench table, whose pattern
 * is one 980-cell component holding 357 sensitive cells: 714 exact LPs (700,000 cell-solves) took 3.8 CPU s, 19 s on
 * the loaded shared machine, the whole final share of a 20 s time limit, where the search's witnesses certify every
 * cell in milliseconds. The 1k dense table's components (tens of cells) stay exact.
 */
export const EXACT_AUDIT_MAX_WORK = 200_000;

/**
 * The singleton rule's "pinned" test tries region LPs (witness.ts `localMove`) before the component's own two LPs
 * only on components of at least this many suppressed cells. Measured on the 1,001-cell witness test table (one
 * component of about 600 cells at density 0.6): the region ladder took 60% of a certified audit, the component's
 * optima, whose two optimal points also clear every cell they differ on, a fraction of it.
 */
export const REGION_LP_MIN_CELLS = 5000;
