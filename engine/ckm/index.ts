/** The cell key method (ckm regime): ptables, record keys, table protection and what the manifest states. */
export { formatPtable, generatePtable, lookupPerturbation, parsePtable } from './ptable.ts';
export type { Ptable, PtableEntry, PtableParams } from './ptable.ts';
export { protectCkm, ptableFor } from './protect.ts';
export type { CkmReport } from './protect.ts';
export {
  datasetBoundingKey,
  recordKeyOf,
  recordKeySecret,
  recordKeySource,
  type RecordKeySource,
} from './record-key.ts';
export { describeCkm, type CkmGuarantee } from './describe.ts';
