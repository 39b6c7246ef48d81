/**
 * Publication workflow: draft -> published (approve) -> withdrawn.
 *
 * Guarantees:
 * - Atomic: each operation runs in one transaction (release, tables, ledger
 *   entry and its audit row together); a failure leaves nothing behind.
 * - No overspending: approve locks the dataset row (SELECT ... FOR UPDATE)
 *   before summing the ledger and inserting its entry, so two concurrent
 *   approvals on the same dataset are serialised and the second one sees the
 *   first one's spending (tested concurrently on a PostgreSQL server).
 * - Immutability: once published, a release's content is never changed (also
 *   enforced by a trigger); a correction is a new version of the same policy,
 *   which supersedes the previously published one on approval.
 */
import { unaudited, unauditedMessage } from './cross-release.ts';
import { sql, type Kysely, type Transaction } from 'kysely';
import { ApiError } from '../errors.ts';
import { writeAudit, type Actor } from './audit.ts';
import { budgetProblem, type BudgetState, type ReleaseCost } from './budget.ts';
import { refuseExpired } from './expiry.ts';
import { approvalCharge, chargeWithDraws, ledgerSpent, statedSpend } from './ledger.ts';
import { checkDataset, verifySigned } from './publish-checks.ts';
import type { LoadedRelease } from './release-dir.ts';
import type { Database, ReleaseRow } from './schema.ts';

export interface DraftResult {
  readonly id: string;
  readonly version: number;
  readonly cost: ReleaseCost;
  readonly budget: BudgetState;
  /** Set when approving this draft now would exceed the dataset's budget. */
  readonly warning: string | null;
}

/** Lock the dataset row and read its budget state (call inside a transaction). */
async function lockBudget(tx: Transaction<Database>, datasetId: string): Promise<BudgetState> {
  const ds = await tx
    .selectFrom('datasets')
    .select(['total_rho', 'total_epsilon'])
    .where('id', '=', datasetId)
    .forUpdate()
    .executeTakeFirst();
  if (!ds) throw new ApiError('DATASET_NOT_FOUND', `no dataset ${JSON.stringify(datasetId)}`);
  const spent = (await ledgerSpent(tx, [datasetId])).get(datasetId)!;
  return {
    totalRho: ds.total_rho,
    totalEpsilon: ds.total_epsilon,
    spentRho: spent.rho,
    spentEpsilon: spent.epsilon,
  };
}

export async function budgetState(db: Kysely<Database>, datasetId: string): Promise<BudgetState> {
  return db.transaction().execute((tx) => lockBudget(tx, datasetId));
}

/**
 * Store a checked release as a draft, after verifying its signature, its registered dataset and its input
 * fingerprint (publish-checks.ts). Dataset, regime, policy id and cost come from the signed policy's plan
 * (`rel.signed`), never from the manifest's own fields.
 */
export async function storeDraft(db: Kysely<Database>, rel: LoadedRelease, actor: Actor): Promise<DraftResult> {
  const m = rel.manifest;
  const { cost, datasetId, regime, policyId } = rel.signed;
  return db.transaction().execute(async (tx) => {
    const keyId = await verifySigned(tx, rel);
    await checkDataset(tx, rel, actor);
    const budget = await lockBudget(tx, datasetId);
    const dup = await tx
      .selectFrom('releases')
      .select('id')
      .where('manifest_sha256', '=', rel.manifestSha256)
      .executeTakeFirst();
    if (dup)
      throw new ApiError('RELEASE_DUPLICATE', `this release is already stored as ${dup.id}`, { release: dup.id });
    const last = await tx
      .selectFrom('releases')
      .select(sql<number>`coalesce(max(version), 0)`.as('v'))
      .where('policy_id', '=', policyId)
      .executeTakeFirstOrThrow();
    const version = Number(last.v) + 1;
    const id = `${policyId}-v${version}`;
    await tx
      .insertInto('releases')
      .values({
        id,
        policy_id: policyId,
        policy_version: m.policy.version,
        policy_sha256: m.policy.sha256,
        input_sha256: m.input.sha256,
        manifest_sha256: rel.manifestSha256,
        dataset_id: datasetId,
        status: 'draft',
        version,
        supersedes: null,
        superseded_by: null,
        title: m.release.title,
        regime,
        audience: m.release.audience,
        demo: m.release.demo,
        expires: m.release.expires ?? null,
        randomness: m.randomness.source,
        rho: cost.rho,
        epsilon: cost.epsilon,
        manifest: JSON.stringify(m),
        created_by: actor.caller,
        approved_at: null,
        approved_by: null,
        withdrawn_at: null,
        withdrawn_by: null,
        withdraw_reason: null,
        signing_key: keyId,
        signature: JSON.stringify(rel.signature),
      })
      .execute();
    for (const t of rel.tables) {
      await tx
        .insertInto('release_tables')
        .values({
          release_id: id,
          table_id: t.id,
          position: t.position,
          title: t.title,
          description: t.description,
          measure: JSON.stringify(t.measure),
          dimensions: JSON.stringify(t.dimensions),
          privacy: JSON.stringify(t.privacy),
          cell_count: t.cellCount,
          suppressed: t.suppressed,
          cells: JSON.stringify(t.cells),
        })
        .execute();
    }
    // Warn with what approval would charge: the cost raised to the dataset's cumulative spend (unpublished draws).
    const spent = { rho: budget.spentRho, epsilon: budget.spentEpsilon };
    const missing = await unaudited(tx, { id, dataset_id: datasetId, regime, manifest: m });
    const warning =
      budgetProblem(budget, chargeWithDraws(cost, statedSpend(m), spent)) ??
      (missing.length > 0 ? unauditedMessage(id, datasetId, missing) : null);
    await writeAudit(tx, {
      actor,
      action: 'release.publish',
      target: id,
      outcome: 'ok',
      detail: {
        policy: policyId,
        dataset: datasetId,
        version,
        signingKey: keyId,
        rho: cost.rho,
        epsilon: cost.epsilon,
        ...(warning ? { warning } : {}),
      },
    });
    return { id, version, cost, budget, warning };
  });
}

export interface ApproveResult {
  readonly id: string;
  readonly supersedes: string | null;
  readonly budget: BudgetState;
}

export async function approveRelease(db: Kysely<Database>, id: string, actor: Actor): Promise<ApproveResult> {
  return db.transaction().execute(async (tx) => {
    const r = await tx
      .selectFrom('releases')
      .select(['id', 'status', 'dataset_id', 'policy_id', 'regime', 'rho', 'epsilon', 'expires', 'manifest'])
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!r) throw new ApiError('RELEASE_NOT_FOUND', `no release ${JSON.stringify(id)}`, { release: id });
    if (r.status !== 'draft')
      throw new ApiError('INVALID_STATE', `release ${id} is ${r.status}; only a draft can be approved`, {
        release: id,
        state: r.status,
      });
    // An expired release is never published (the database's clock: one clock for every process).
    refuseExpired(id, r.expires, (await sql<{ now: Date }>`SELECT now() AS now`.execute(tx)).rows[0]!.now);
    // Serialisation point: the dataset row lock makes read-check-insert of the ledger atomic across transactions.
    const state = await lockBudget(tx, r.dataset_id);
    // One regime per dataset (checked under the same lock): a DP guarantee is void once exact or perturbed tables of
    // the same microdata are public (and exact tables published later void it too); a cell-key-perturbed value of a
    // cell another release suppresses discloses it approximately.
    const conflicting = await tx
      .selectFrom('releases')
      .select(['id', 'regime'])
      .where('dataset_id', '=', r.dataset_id)
      .where('status', 'in', ['published', 'withdrawn'])
      .where('regime', '<>', r.regime)
      .orderBy('id')
      .executeTakeFirst();
    if (conflicting) {
      throw new ApiError(
        'REGIME_CONFLICT',
        `release ${id} (${r.regime}) cannot be published on dataset ${r.dataset_id}: release ${conflicting.id} (${conflicting.regime}) was published from the same dataset`,
        { release: id, dataset: r.dataset_id, conflict: conflicting.id },
      );
    }
    // Cross-release disclosure control (under the same dataset lock): audited with every release ever published.
    const missing = await unaudited(tx, r);
    if (missing.length > 0)
      throw new ApiError('RELEASE_NOT_AUDITED', unauditedMessage(id, r.dataset_id, missing), {
        release: id,
        dataset: r.dataset_id,
        missing: missing.map((m) => m.release),
      });
    // Every draw is spent: the release's cost, raised to the dataset's cumulative spend (unpublished draws included).
    const cost = await approvalCharge(tx, id, { rho: r.rho, epsilon: r.epsilon }, state);
    const problem = budgetProblem(state, cost);
    if (problem)
      throw new ApiError('BUDGET_EXCEEDED', `release ${id} on dataset ${r.dataset_id}: ${problem}`, {
        release: id,
        dataset: r.dataset_id,
      });
    await tx
      .insertInto('budget_ledger')
      .values({
        dataset_id: r.dataset_id,
        release_id: id,
        rho: cost.rho,
        epsilon: cost.epsilon,
        created_by: actor.caller,
      })
      .execute();
    const prev = await tx
      .selectFrom('releases')
      .select('id')
      .where('policy_id', '=', r.policy_id)
      .where('status', '=', 'published')
      .where('superseded_by', 'is', null)
      .where('id', '<>', id)
      .orderBy('version', 'desc')
      .executeTakeFirst();
    if (prev) await tx.updateTable('releases').set({ superseded_by: id }).where('id', '=', prev.id).execute();
    await tx
      .updateTable('releases')
      .set({
        status: 'published',
        approved_at: sql<Date>`now()`,
        approved_by: actor.caller,
        supersedes: prev?.id ?? null,
      })
      .where('id', '=', id)
      .execute();
    await writeAudit(tx, {
      actor,
      action: 'release.approve',
      target: id,
      outcome: 'ok',
      detail: {
        dataset: r.dataset_id,
        rho: cost.rho,
        epsilon: cost.epsilon,
        supersedes: prev?.id ?? null,
        ...(cost.unpublished ? { unpublishedDraws: cost.unpublished } : {}),
      },
    });
    return {
      id,
      supersedes: prev?.id ?? null,
      budget: { ...state, spentRho: state.spentRho + cost.rho, spentEpsilon: state.spentEpsilon + (cost.epsilon ?? 0) },
    };
  });
}

export async function withdrawRelease(db: Kysely<Database>, id: string, reason: string, actor: Actor): Promise<void> {
  if (reason.trim() === '') throw new ApiError('BAD_REQUEST', 'a withdrawal needs a reason');
  await db.transaction().execute(async (tx) => {
    const r = await tx.selectFrom('releases').select(['status']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!r) throw new ApiError('RELEASE_NOT_FOUND', `no release ${JSON.stringify(id)}`, { release: id });
    if (r.status !== 'published')
      throw new ApiError('INVALID_STATE', `release ${id} is ${r.status}; only a published release can be withdrawn`, {
        release: id,
        state: r.status,
      });
    // The budget stays spent: the values were public while the release was out.
    await tx
      .updateTable('releases')
      .set({ status: 'withdrawn', withdrawn_at: sql<Date>`now()`, withdrawn_by: actor.caller, withdraw_reason: reason })
      .where('id', '=', id)
      .execute();
    await writeAudit(tx, { actor, action: 'release.withdraw', target: id, outcome: 'ok', detail: { reason } });
  });
}

export async function setDatasetBudget(
  db: Kysely<Database>,
  datasetId: string,
  budget: { rho?: number | undefined; epsilon?: number | undefined },
  actor: Actor,
): Promise<BudgetState> {
  for (const [k, v] of Object.entries(budget)) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0))
      throw new ApiError('BAD_REQUEST', `${k} must be a finite number >= 0`);
  }
  return db.transaction().execute(async (tx) => {
    const before = await lockBudget(tx, datasetId);
    const totalRho = budget.rho ?? before.totalRho;
    const totalEpsilon = budget.epsilon ?? before.totalEpsilon;
    await tx
      .updateTable('datasets')
      .set({ total_rho: totalRho, total_epsilon: totalEpsilon, updated_at: sql<Date>`now()`, updated_by: actor.caller })
      .where('id', '=', datasetId)
      .execute();
    await writeAudit(tx, {
      actor,
      action: 'dataset.set-budget',
      target: datasetId,
      outcome: 'ok',
      detail: { rho: totalRho, epsilon: totalEpsilon, before: { rho: before.totalRho, epsilon: before.totalEpsilon } },
    });
    return { ...before, totalRho, totalEpsilon };
  });
}

export async function createContract(
  db: Kysely<Database>,
  c: { keyId: string; releaseId: string; tables: string[] | null; expiresAt: string },
  actor: Actor,
): Promise<{ id: string }> {
  const expires = new Date(c.expiresAt);
  if (Number.isNaN(expires.getTime()))
    throw new ApiError('BAD_REQUEST', `expiry ${JSON.stringify(c.expiresAt)} is not a date`);
  return db.transaction().execute(async (tx) => {
    const key = await tx
      .selectFrom('api_keys')
      .select(['role', 'revoked_at'])
      .where('id', '=', c.keyId)
      .executeTakeFirst();
    if (!key || key.revoked_at !== null)
      throw new ApiError('KEY_NOT_FOUND', `no active API key ${JSON.stringify(c.keyId)}`);
    if (key.role !== 'researcher')
      throw new ApiError('BAD_REQUEST', `key ${c.keyId} has role ${key.role}; contracts are for researcher keys`);
    const rel = await tx.selectFrom('releases').select('id').where('id', '=', c.releaseId).executeTakeFirst();
    if (!rel)
      throw new ApiError('RELEASE_NOT_FOUND', `no release ${JSON.stringify(c.releaseId)}`, { release: c.releaseId });
    if (c.tables) {
      const have = new Set(
        (await tx.selectFrom('release_tables').select('table_id').where('release_id', '=', c.releaseId).execute()).map(
          (t) => t.table_id,
        ),
      );
      const missing = c.tables.filter((t) => !have.has(t));
      if (missing.length > 0)
        throw new ApiError(
          'TABLE_NOT_FOUND',
          `release ${c.releaseId} has no table ${missing.map((x) => JSON.stringify(x)).join(', ')}`,
        );
    }
    const id = `c_${(await sql<{ id: string }>`SELECT md5(random()::text || clock_timestamp()::text) AS id`.execute(tx)).rows[0]!.id.slice(0, 16)}`;
    await tx
      .insertInto('contracts')
      .values({
        id,
        key_id: c.keyId,
        release_id: c.releaseId,
        tables: JSON.stringify(c.tables),
        expires_at: expires,
        created_by: actor.caller,
      })
      .execute();
    await writeAudit(tx, {
      actor,
      action: 'contract.create',
      target: c.releaseId,
      outcome: 'ok',
      detail: { contract: id, key: c.keyId, tables: c.tables, expires: expires.toISOString() },
    });
    return { id };
  });
}

/** Active contracts of a key: release id -> covered table ids (null = all tables). */
export async function activeContracts(db: Kysely<Database>, keyId: string): Promise<Map<string, Set<string> | null>> {
  const rows = await db
    .selectFrom('contracts')
    .select(['release_id', 'tables'])
    .where('key_id', '=', keyId)
    .where('expires_at', '>', sql<Date>`now()`)
    .execute();
  const out = new Map<string, Set<string> | null>();
  for (const r of rows) {
    const tables = r.tables as string[] | null;
    const prev = out.get(r.release_id);
    if (tables === null || prev === null) out.set(r.release_id, null);
    else out.set(r.release_id, new Set([...(prev ?? []), ...tables]));
  }
  return out;
}

export async function getRelease(db: Kysely<Database>, id: string): Promise<ReleaseRow | undefined> {
  return db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A release already stored for this policy and input (not withdrawn), for idempotent demo starts. */
export async function findByFingerprint(
  db: Kysely<Database>,
  policySha: string,
  inputSha: string,
): Promise<Pick<ReleaseRow, 'id' | 'status'> | undefined> {
  return db
    .selectFrom('releases')
    .select(['id', 'status'])
    .where('policy_sha256', '=', policySha)
    .where('input_sha256', '=', inputSha)
    .where('status', '<>', 'withdrawn')
    .orderBy('version', 'desc')
    .executeTakeFirst();
}
