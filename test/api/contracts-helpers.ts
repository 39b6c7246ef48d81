/**
 * Shared set-up of the table-contract tests (not a test file): registered datasets (ckm, dp, sdc), a researcher key,
 * terms to request, and an approved contract.
 */
import type { Kysely } from 'kysely';
import { approveAccessRequest, createAccessRequest } from '../../api/contracts/requests.ts';
import type { ContractTerms } from '../../api/contracts/terms.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createDataset } from '../../api/store/datasets.ts';
import { createKey } from '../../api/store/keys.ts';
import type { Database } from '../../api/store/schema.ts';

export const OFFICER: Actor = { caller: 'cli:officer', role: 'officer' };

export const TERMS: ContractTerms = {
  scale: { tablesPerDay: 3, cellsPerDay: 100, tablesTotal: 5, cellsTotal: 400 },
  level: { variables: { region: { maxLevel: 1 }, sex: {}, age: { maxLevel: 2 } }, maxDimensions: 2 },
  form: { measures: ['count'], formats: ['json', 'csv'] },
};

export const DP_TERMS: ContractTerms = { ...TERMS, scale: { ...TERMS.scale, dpShare: { rho: 0.1 } } };

export async function registerDatasets(db: Kysely<Database>): Promise<void> {
  await createDataset(db, { id: 'people', title: 'People (ckm)', regime: 'ckm' }, OFFICER);
  await createDataset(db, { id: 'incomes', title: 'Incomes (dp)', regime: 'dp', rho: 0.25 }, OFFICER);
  await createDataset(db, { id: 'firms', title: 'Firms (sdc)', regime: 'sdc' }, OFFICER);
}

export async function researcher(db: Kysely<Database>, name = 'Rae'): Promise<{ actor: Actor; key: string }> {
  const k = await createKey(db, 'researcher', name, OFFICER);
  return { actor: { caller: k.id, role: 'researcher' }, key: k.key };
}

/** Request and approve a contract; returns its id. */
export async function contractFor(
  db: Kysely<Database>,
  actor: Actor,
  o: { dataset?: string; terms?: ContractTerms; start?: Date; end?: Date; days?: number } = {},
): Promise<string> {
  const req = await createAccessRequest(db, actor, {
    dataset: o.dataset ?? 'people',
    purpose: 'study of regional age structure',
    terms: o.terms ?? TERMS,
    durationDays: o.days ?? 30,
  });
  const now = o.start ?? new Date();
  const r = await approveAccessRequest(
    db,
    req.id,
    OFFICER,
    { start: now.toISOString(), ...(o.end ? { end: o.end.toISOString() } : {}) },
    now,
  );
  return r.contract;
}
