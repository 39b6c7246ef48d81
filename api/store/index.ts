export { openStore, migrate, DEFAULT_DATA_DIR, type Store, type StoreOptions } from './db.ts';
export { loadReleaseDir, parseRelease, type LoadedRelease } from './release-dir.ts';
export {
  storeDraft,
  approveRelease,
  withdrawRelease,
  setDatasetBudget,
  createContract,
  budgetState,
  findByFingerprint,
} from './releases.ts';
export { createKey, revokeKey, listKeys, authenticate } from './keys.ts';
export { writeAudit, queryAudit, type Actor } from './audit.ts';
export { ledgerSpent, type Spent } from './ledger.ts';
export { releaseCost, DEFAULT_TOTAL_RHO, DEFAULT_TOTAL_EPSILON } from './budget.ts';
export type { Database, Role, ReleaseStatus } from './schema.ts';
