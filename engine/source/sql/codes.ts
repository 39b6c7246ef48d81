/**
 * Row error codes of the generated SQL: `e` = position * POS_FACTOR + reason code (0 = valid row). Positions count the
 * layout variables, then the measure sources, then the unit column (RowConverter's order); reason codes map to the same
 * reason classes as the CSV path.
 */
import { REASONS } from '../row-converter.ts';
import type { Reason } from '../row-converter.ts';

/** Reason codes used inside SQL (1..7); 0 = valid row. Order of REASON_OF matches the codes. */
export const RC = {
  unknownCategory: 1,
  missingValue: 2,
  wrongType: 3,
  outOfRange: 4,
  noBin: 5,
  unmapped: 6,
  missingUnit: 7,
} as const;
export const REASON_OF: Readonly<Record<number, Reason>> = {
  1: REASONS.unknownCategory,
  2: REASONS.missingValue,
  3: REASONS.wrongType,
  4: REASONS.outOfRange,
  5: REASONS.noBin,
  6: REASONS.unmapped,
  7: REASONS.missingUnit,
};
/** Row error code = position * 16 + reason code; position counts layout variables, then measure sources, then the unit column. */
export const POS_FACTOR = 16;
