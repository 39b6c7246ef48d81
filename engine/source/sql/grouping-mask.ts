/**
 * GROUPING() values: which level columns a result row's grouping set groups, written as bits (bit 1 = not grouped, the
 * last argument lowest), in chunks of at most GROUPING_CHUNK arguments (an int result holds that many bits). The
 * statements, the Citus form's constants and the decoder (sql-decode.ts) all use these two functions.
 */

const GROUPING_CHUNK = 30;

/** Names split into GROUPING() argument lists of at most GROUPING_CHUNK. */
export function groupingChunks(names: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < names.length; i += GROUPING_CHUNK) out.push(names.slice(i, i + GROUPING_CHUNK));
  return out;
}

/** The value GROUPING(chunk...) takes in a set grouping `grouped`: bit 1 = not grouped, the last argument lowest. */
export function groupingMask(chunk: readonly string[], grouped: ReadonlySet<string>): number {
  return chunk.reduce((acc, name) => acc * 2 + (grouped.has(name) ? 0 : 1), 0);
}
