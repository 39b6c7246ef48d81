export type { AggregateContext, AggregateResult, AggregateStats, Source } from './source.ts';
export { csvSource } from './csv-source.ts';
export { RowConverter, REASONS, type Reason } from './row-converter.ts';
export { parseScaled, parseStrictInteger, parseStrictNumber } from './parse-number.ts';
