export { buildSql, planUsesTop } from './build.ts';
export { compile, type CompiledSql, type Frag } from './compiler.ts';
export { FLAVORS, type Flavor, type SqlFlavor, type SqlForm } from './flavor.ts';
export { POS_FACTOR, REASON_OF } from './codes.ts';
export { groupingChunks, groupingMask } from './grouping-mask.ts';
export type {
  AggMode,
  AggStatement,
  BucketTops,
  BuildSqlOptions,
  GroupingSet,
  LevelCol,
  PendingTopCell,
  SqlQueryPlan,
  SqlRelation,
  UnitKey,
  VarCanon,
} from './types.ts';
