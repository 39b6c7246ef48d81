export { applyPrimaryRules, internalValue, isMagnitude, markedCells } from './primary.ts';
export type { PrimaryCell, PrimaryResult, PrimaryRule } from './primary.ts';
export { buildCellSystem } from './relations.ts';
export type { CellOwner, CellSystem, Relation } from './relations.ts';
export { AUDIT_TOLERANCE } from './tolerance.ts';
export { components } from './components.ts';
export type { Component } from './components.ts';
export type { SensitiveCell } from './sensitive.ts';
export { determinedCells } from './determined.ts';
export type { AttackDual } from './attacker-lp.ts';
export { auditPattern } from './audit.ts';
export type { AuditOptions, AuditResult, CellAudit, SingletonExposure } from './audit.ts';
export {
  OPTIMAL_MAX_CELLS,
  cellCosts,
  cleanupPattern,
  heuristicSuppression,
  optimalSuppression,
  restrictToTables,
  secondarySuppression,
} from './secondary.ts';
export type { GroupRun, HeuristicOptions, SecondaryInput, SecondaryResult } from './secondary.ts';
export { protectSdc } from './protect.ts';
export type { ProtectSdcOptions, SdcReport, SdcResult, SdcTableReport, SensitiveCellReport } from './protect.ts';
export { linkPublished, readPublishedReleases } from './published.ts';
export type { PublishedTableLink, PublishedTableSpec } from './published.ts';
