/**
 * The coarse fallback: when the secondary search cannot finish within the time limit, a pattern whose protection the
 * audit proves quickly, and the figures an officer needs to decide how to coarsen the table.
 *
 * Ladder (first pattern the audit passes wins): publish, besides the primaries' complement, only the cells with at most
 * k dimensions below their total, k = (dimensions - 1) down to 0 (k = dimensions - 1 hides the table's interior,
 * k = 0 publishes the grand total alone), then nothing at all (every cell not fixed suppressed). Such patterns hide
 * whole sub-tables, so nearly every sensitive cell sits in a balanced cube of suppressed cells: the audit certifies it
 * by a witness without an LP over the large component, and a failing rung is rejected at its first failing cell
 * (failFast). Guarantee: the returned pattern passed the full audit; when no rung passes before the deadline the run
 * is refused (SDC_INFEASIBLE, with the figures and what to do), never published half-checked.
 */
import { StatguardError } from '../errors.ts';
import { cellCoords } from '../types.ts';
import type { ExactTable } from '../types.ts';
import { auditPattern } from './audit.ts';
import type { AuditResult } from './audit.ts';
import { TimeUp } from './deadline.ts';
import type { Deadline } from './deadline.ts';
import type { CoarseFallback, SecondaryInput, SecondaryResult } from './problem.ts';

/** How many dimensions of a table cell are below their total (hierarchy levels below the root count). */
function orderOf(t: ExactTable, index: number): number {
  const dims = t.plan.dimensions;
  return cellCoords(dims, index).reduce((n, node, d) => n + (node === dims[d]!.total ? 0 : 1), 0);
}

/** Per cell (local id) its order: the smallest over the tables holding it (shared cells agree on it). */
function cellOrders(input: SecondaryInput): Int32Array {
  const { sys, tables } = input;
  const order = new Int32Array(sys.cellCount).fill(1 << 30);
  tables.forEach((t, ti) =>
    sys.tableCells[ti]!.forEach((g, i) => {
      order[g] = Math.min(order[g]!, orderOf(t, i));
    }),
  );
  return order;
}

/**
 * The coarse pattern of a group whose search ran out of time (`reason`), proven by the audit before `deadline`.
 * Throws SDC_INFEASIBLE (naming the figures and what to do) when no rung is proven in time.
 */
export async function coarsePattern(
  input: SecondaryInput,
  deadline: Deadline,
  reason: string,
): Promise<SecondaryResult> {
  const { sys } = input;
  const order = cellOrders(input);
  const maxDims = Math.max(0, ...input.tables.map((t) => t.plan.dimensions.length));
  const figures = coarseningFigures(input);
  const share = `${(100 * figures.shareSensitive).toFixed(1)}% of the cells are sensitive`;
  let last = '';
  for (let k = maxDims - 1; k >= -1; k--) {
    const sup = new Uint8Array(sys.cellCount);
    for (let c = 0; c < sys.cellCount; c++) sup[c] = input.primary[c] || (!input.fixed?.[c] && order[c]! > k) ? 1 : 0;
    const key = sup.join('');
    if (key === last) continue;
    last = key;
    // Cheap necessary condition first: a sensitive cell alone in an additive relation is exactly determined.
    if (aloneSensitive(input, sup)) continue;
    let audit: AuditResult;
    try {
      audit = await auditPattern(sys, sup, input.sensitive, {
        singletons: input.singletons !== false,
        // Under the insider model the rung must be proven against every insider too (insiders.ts), in the same time.
        ...(input.insiders === true ? { insiders: true } : {}),
        tables: input.tables,
        intervals: 'certified',
        failFast: true,
        deadline,
      });
    } catch (e) {
      if (e instanceof TimeUp) break;
      throw e;
    }
    if (!audit.passes) continue;
    const description =
      k < 0
        ? 'every cell suppressed (no cell could be published safely)'
        : k === 0
          ? 'only the grand total published'
          : `only the margins with at most ${k} dimension(s) below the total published (the interior of the table suppressed)`;
    const coarse: CoarseFallback = { reason, publishedMarginOrder: k, description, ...figures };
    return {
      suppressed: sup,
      method: 'heuristic',
      optimalFinished: null,
      audit,
      iterations: 0,
      neverSuppressViolations: countViolations(input, sup),
      cleanupFinished: false,
      cleanupRemoved: 0,
      coarse,
    };
  }
  throw new StatguardError(
    'SDC_INFEASIBLE',
    `secondary suppression could not finish within secondary.timeLimitSeconds (${reason}) and no coarse pattern could be proven${input.insiders === true ? ' safe against the public and against insiders (protection.secondary.insiders "singletons": the lone contributor of a suppressed cell knows its value)' : ''} in the time left; ${share}. Coarsen the table (${figures.suggestions.join('; ') || 'merge categories or drop a dimension'}) or raise secondary.timeLimitSeconds`,
  );
}

/** Whether some additive relation has a sensitive cell as its only suppressed cell (then the rung fails). */
function aloneSensitive(input: SecondaryInput, sup: Uint8Array): boolean {
  const sens = new Uint8Array(sup.length);
  for (const s of input.sensitive) sens[s.id] = 1;
  for (let c = 0; c < sup.length; c++) if (sens[c] && !sup[c]) return true;
  for (const r of input.sys.relations) {
    if (!r.additive) continue;
    let n = 0;
    let last = -1;
    for (const c of r.cells)
      if (sup[c]) {
        n++;
        last = c;
      }
    if (n === 1 && sens[last]) return true;
  }
  return false;
}

function countViolations(input: SecondaryInput, sup: Uint8Array): number {
  let n = 0;
  for (let c = 0; c < sup.length; c++) if (sup[c] && input.never[c] && !input.primary[c]) n++;
  return n;
}

/**
 * The share of sensitive cells and suggested groupings: per table and dimension, the share of sensitive cells in the
 * table without that dimension (its margin), and the categories whose cells are most often sensitive. Counts of cells
 * only (sensitive or not), never a cell value.
 */
export function coarseningFigures(input: SecondaryInput): Pick<CoarseFallback, 'shareSensitive' | 'suggestions'> {
  const { sys, tables } = input;
  const sens = new Uint8Array(sys.cellCount);
  for (const s of input.sensitive) sens[s.id] = 1;
  const shareSensitive = sys.cellCount > 0 ? sens.reduce((n, v) => n + v, 0) / sys.cellCount : 0;
  const suggestions: string[] = [];
  const pct = (a: number, b: number): string => `${((100 * a) / Math.max(b, 1)).toFixed(0)}%`;
  tables.forEach((t, ti) => {
    const dims = t.plan.dimensions;
    if (dims.length < 2) return;
    const cells = sys.tableCells[ti]!;
    // Per dimension: sensitive/all cells of the margin without it; per leaf category: sensitive/all cells holding it.
    const margin = dims.map(() => [0, 0]);
    const byCat = dims.map((d) => d.nodes.map(() => [0, 0]));
    cells.forEach((g, i) => {
      const coords = cellCoords(dims, i);
      coords.forEach((node, d) => {
        if (node === dims[d]!.total) {
          margin[d]![0]! += sens[g]!;
          margin[d]![1]!++;
        }
        byCat[d]![node]![0]! += sens[g]!;
        byCat[d]![node]![1]!++;
      });
    });
    const best = margin
      .map(([s, n], d) => ({ d, share: s! / Math.max(n!, 1), s: s!, n: n! }))
      .sort((a, b) => a.share - b.share)[0]!;
    suggestions.push(
      `table ${t.plan.id}: without dimension ${dims[best.d]!.name} ${pct(best.s, best.n)} of its cells would be sensitive`,
    );
    dims.forEach((dim, d) => {
      const worst = dim.nodes
        .map((node, k) => ({ code: node.code, leaf: node.leaf, s: byCat[d]![k]![0]!, n: byCat[d]![k]![1]! }))
        .filter((x) => x.leaf && x.s / Math.max(x.n, 1) >= 0.5)
        .sort((a, b) => b.s / b.n - a.s / a.n)
        .slice(0, 5);
      if (worst.length >= 2)
        suggestions.push(
          `table ${t.plan.id}: merge categories of ${dim.name} mostly sensitive: ${worst.map((x) => `${x.code} (${pct(x.s, x.n)})`).join(', ')}`,
        );
    });
  });
  return { shareSensitive, suggestions };
}
