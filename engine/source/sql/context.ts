/**
 * The immutable context every statement builder of engine/source/sql reads: the plan's record layout, the engine's
 * flavour and the connection's form, the typed conversion and the grouping model. Built once per `buildSql`.
 */
import type { RecordLayout } from '../../aggregate/record-layout.ts';
import type { Conversion } from './conversion.ts';
import type { Flavor, SqlForm } from './flavor.ts';
import type { GroupingModel } from './levels.ts';

export interface SqlContext {
  readonly layout: RecordLayout;
  readonly flavor: Flavor;
  readonly form: SqlForm;
  /** Whether the plan reads top contributions (planUsesTop). */
  readonly needTop: boolean;
  /** Hex of the bounding key (sent as a bind parameter, never inlined). */
  readonly keyHex: string;
  readonly maxRowsPerUnit: number;
  /** Cap of a unit's dropped rows in the unit statistics' `trimmed` (a dp truncation report's maxDroppedPerUnit, or m). */
  readonly dropCap: number;
  readonly conv: Conversion;
  readonly grouping: GroupingModel;
}

/** Tops ranked by a row_number() window (an engine without a bounded top-k aggregate, when the plan reads tops). */
export const rankedTops = (ctx: SqlContext): boolean => !ctx.flavor.boundedTopK && ctx.needTop;
