export { Aggregator } from './aggregate.ts';
export { ContributionBounder, DEFAULT_MAX_BUFFERED_UNITS, type BoundOptions, type BoundStats } from './bound.ts';
export {
  makeRecordLayout,
  type ClampSpec,
  type MeasureSource,
  type RecordLayout,
  type TableBinding,
  type VariableSpec,
} from './record-layout.ts';
