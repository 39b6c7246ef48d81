/**
 * Registered datasets: a dataset exists in the store before any release of it, created by an officer with its title,
 * total budget, the one regime it is published under and whether it is a demo.
 *
 * Guarantee: only `createDataset` creates a dataset (audited, in the same transaction); the store never creates one
 * on first sight. A dataset's regime and demo flag never change once registered (the one-regime rule and "seeded
 * means demo" rest on them). A row left by an older version (created on first sight, regime NULL) is not registered
 * until an officer registers it with `createDataset`, which then completes that row.
 */
import { sql, type Kysely } from 'kysely';
import { ApiError } from '../errors.ts';
import { writeAudit, type Actor } from './audit.ts';
import { DEFAULT_TOTAL_EPSILON, DEFAULT_TOTAL_RHO } from './budget.ts';
import type { Database } from './schema.ts';

export type DatasetRegime = 'sdc' | 'dp' | 'ckm';
export const DATASET_REGIMES: readonly DatasetRegime[] = ['sdc', 'dp', 'ckm'];

export interface NewDataset {
  readonly id: string;
  readonly title: string;
  readonly regime: string;
  readonly rho?: number | undefined;
  readonly epsilon?: number | undefined;
  readonly demo?: boolean | undefined;
}

export interface DatasetInfo {
  readonly id: string;
  readonly title: string;
  readonly regime: DatasetRegime;
  readonly demo: boolean;
  readonly totalRho: number;
  readonly totalEpsilon: number;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checked(d: NewDataset): DatasetInfo {
  if (!ID.test(d.id))
    throw new ApiError('BAD_REQUEST', `dataset id ${JSON.stringify(d.id)} must be letters, digits, "_", "." or "-"`);
  if (d.title.trim() === '') throw new ApiError('BAD_REQUEST', 'a dataset needs a non-empty title');
  if (!DATASET_REGIMES.includes(d.regime as DatasetRegime))
    throw new ApiError(
      'BAD_REQUEST',
      `regime must be one of ${DATASET_REGIMES.join(', ')}; got ${JSON.stringify(d.regime)}`,
    );
  for (const [k, v] of [
    ['rho', d.rho],
    ['epsilon', d.epsilon],
  ] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0))
      throw new ApiError('BAD_REQUEST', `${k} must be a finite number >= 0`);
  }
  return {
    id: d.id,
    title: d.title,
    regime: d.regime as DatasetRegime,
    demo: d.demo === true,
    totalRho: d.rho ?? DEFAULT_TOTAL_RHO,
    totalEpsilon: d.epsilon ?? DEFAULT_TOTAL_EPSILON,
  };
}

/** Register a dataset (officer; audited). `ifAbsent`: an identical registration is a no-op (first starts). */
export async function createDataset(
  db: Kysely<Database>,
  spec: NewDataset,
  actor: Actor,
  opts: { readonly ifAbsent?: boolean } = {},
): Promise<{ dataset: DatasetInfo; created: boolean }> {
  const d = checked(spec);
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .selectFrom('datasets')
      .select(['id', 'regime', 'demo'])
      .where('id', '=', d.id)
      .forUpdate()
      .executeTakeFirst();
    if (row && row.regime !== null) {
      if (opts.ifAbsent && row.regime === d.regime && row.demo === d.demo) return { dataset: d, created: false };
      throw new ApiError(
        'DATASET_EXISTS',
        `dataset ${d.id} is already registered (regime ${row.regime}${row.demo ? ', demo' : ''})`,
      );
    }
    const values = {
      title: d.title,
      regime: d.regime,
      demo: d.demo,
      total_rho: d.totalRho,
      total_epsilon: d.totalEpsilon,
      created_by: actor.caller,
      updated_by: actor.caller,
    };
    if (row)
      await tx
        .updateTable('datasets')
        .set({ ...values, updated_at: sql<Date>`now()` })
        .where('id', '=', d.id)
        .execute();
    else
      await tx
        .insertInto('datasets')
        .values({ id: d.id, ...values })
        .execute();
    await writeAudit(tx, {
      actor,
      action: 'dataset.create',
      target: d.id,
      outcome: 'ok',
      detail: { title: d.title, regime: d.regime, demo: d.demo, rho: d.totalRho, epsilon: d.totalEpsilon },
    });
    return { dataset: d, created: true };
  });
}
