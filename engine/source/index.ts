export type {
  AggregateContext,
  AggregateResult,
  AggregateStats,
  ClampCount,
  ExactTruncation,
  Source,
} from './source.ts';
export { truncationCap } from './source.ts';
export { csvSource, scanCsv } from './csv-source.ts';
export { RowConverter, REASONS, type Reason } from './row-converter.ts';
export { parseScaled, parseStrictInteger, parseStrictNumber } from './parse-number.ts';
export { sourceFor, type SourceForOptions } from './source-for.ts';
export { postgresSource, connectionUrl, type PostgresSourceOptions } from './postgres-source.ts';
export { pgliteSource, pgliteExecutor, type PgliteLike, type PgliteSourceOptions } from './pglite-source.ts';
export {
  duckdbSource,
  duckdbExecutor,
  defaultDuckdbMemoryLimit,
  type DuckdbConnectionLike,
  type DuckdbSourceOptions,
} from './duckdb-source.ts';
export { aggregateSql, type SqlExecutor, type SqlInputInfo } from './sql-source.ts';
export {
  buildSql,
  planUsesTop,
  type SqlFlavor,
  type SqlRelation,
  type SqlQueryPlan,
  type CompiledSql,
} from './sql/index.ts';
export { pgRelation, pgInputInfo } from './pg-relation.ts';
