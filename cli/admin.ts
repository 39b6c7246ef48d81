/**
 * The officer actions of the store commands, done one of two ways:
 *
 * - directly on the store: a PostgreSQL server (DATABASE_URL; its transactions serialise several writers), or an
 *   embedded PGlite folder that no process holds, opened under its lock (api/store/lock.ts) for the command's
 *   duration, so no server can start on it meanwhile;
 * - through the serving process, when a statguard server holds the embedded folder: over its admin routes
 *   (/v1/admin/...) with the officer credential it wrote (api/store/credential.ts). The server's own store applies
 *   the change, so it takes effect at once and nothing is written to the folder behind the server's back.
 *
 * When a server holds the store and the credential cannot be used (missing, unreadable, open to others), or the
 * server is a public zone without officer routes or does not answer, the command stops with STORE_LOCKED naming
 * the serving process (pid, URL) and changes nothing. Read-only commands (keys list) take the same path: PGlite
 * is not safe to open from a second process even for reading.
 */
import { ApiError, ERRORS, type ApiErrorCode } from '../api/errors.ts';
import type { Actor } from '../api/store/audit.ts';
import type { BudgetState, ReleaseCost } from '../api/store/budget.ts';
import { checkpoint, verifyChains, type Checkpoint, type VerifyReport } from '../api/store/chain.ts';
import { credentialFile, readCredential } from '../api/store/credential.ts';
import { publishedHistory, type PublishedHistoryEntry } from '../api/store/cross-release.ts';
import { openStore, storeOptionsFromEnv, type Store } from '../api/store/db.ts';
import { createDataset, type DatasetInfo, type NewDataset } from '../api/store/datasets.ts';
import { createKey, listKeys, revokeKey, type KeyInfo } from '../api/store/keys.ts';
import { StoreHeld, type LockHolder } from '../api/store/lock.ts';
import type { LoadedRelease } from '../api/store/release-dir.ts';
import {
  approveRelease,
  createContract,
  setDatasetBudget,
  storeDraft,
  withdrawRelease,
} from '../api/store/releases.ts';
import {
  listSigningKeys,
  registerSigningKey,
  revokeSigningKey,
  type SigningKeyInfo,
} from '../api/store/signing-keys.ts';

export interface Admin {
  /** `direct (<store>)` or `through the server at <url>`. */
  readonly via: string;
  /** Store a release as a draft: the checked release (direct) or its files (uploaded to the server, which checks them). */
  publish(
    rel: LoadedRelease,
    files: ReadonlyMap<string, Buffer>,
  ): Promise<{
    id: string;
    version: number;
    cost: ReleaseCost;
    warning: string | null;
  }>;
  approve(id: string): Promise<{ supersedes: string | null; budget: BudgetState }>;
  withdraw(id: string, reason: string): Promise<void>;
  createKey(role: string, name: string): Promise<{ id: string; key: string; role: string; name: string }>;
  listKeys(): Promise<KeyInfo[]>;
  revokeKey(id: string): Promise<void>;
  createContract(c: { keyId: string; releaseId: string; tables: string[] | null; expiresAt: string }): Promise<{
    id: string;
  }>;
  setBudget(id: string, b: { rho?: number | undefined; epsilon?: number | undefined }): Promise<BudgetState>;
  createDataset(d: NewDataset): Promise<DatasetInfo>;
  registerSigningKey(publicKeyPem: string, name: string): Promise<{ id: string; created: boolean }>;
  listSigningKeys(): Promise<SigningKeyInfo[]>;
  revokeSigningKey(id: string): Promise<void>;
  /** Every release of a dataset that is or was published, with its public cells (what `release` links). */
  published(datasetId: string): Promise<PublishedHistoryEntry[]>;
  /** Walk the audit and ledger hash chains (against a checkpoint exported earlier, when given). */
  verifyAudit(cp: Checkpoint | null): Promise<VerifyReport>;
  /** The verified heads of the chains. */
  auditCheckpoint(): Promise<Checkpoint>;
  close(): Promise<void>;
}

export function direct(store: Store, actor: Actor): Admin {
  const db = store.db;
  return {
    via: `store ${store.kind} (${store.location})`,
    publish: (rel) => storeDraft(db, rel, actor),
    approve: (id) => approveRelease(db, id, actor),
    withdraw: (id, reason) => withdrawRelease(db, id, reason, actor),
    createKey: (role, name) => createKey(db, role, name, actor),
    listKeys: () => listKeys(db),
    revokeKey: (id) => revokeKey(db, id, actor),
    createContract: (c) => createContract(db, c, actor),
    setBudget: (id, b) => setDatasetBudget(db, id, b, actor),
    createDataset: async (d) => (await createDataset(db, d, actor)).dataset,
    registerSigningKey: (pem, name) => registerSigningKey(db, pem, name, actor),
    listSigningKeys: () => listSigningKeys(db),
    revokeSigningKey: (id) => revokeSigningKey(db, id, actor),
    published: async (id) => {
      const known = await db.selectFrom('datasets').select('id').where('id', '=', id).executeTakeFirst();
      if (!known) throw new ApiError('DATASET_NOT_FOUND', `no dataset ${JSON.stringify(id)}`, { dataset: id });
      return publishedHistory(db, id);
    },
    verifyAudit: (cp) => verifyChains(db, cp),
    auditCheckpoint: () => checkpoint(db),
    close: () => store.close(),
  };
}

function remote(holder: LockHolder, key: string, lockFile: string): Admin {
  const base = holder.url!.replace(/\/$/, '');
  const call = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${base}/v1/admin${route}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new StoreHeld(
        lockFile,
        holder,
        `it does not answer (${(e as Error).cause ?? (e as Error).message}); nothing was changed`,
      );
    }
    const text = await res.text();
    let doc: Record<string, unknown> = {};
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* reported below */
    }
    if (res.ok) return doc as T;
    const code =
      typeof doc.code === 'string' && Object.hasOwn(ERRORS, doc.code) ? (doc.code as ApiErrorCode) : 'INTERNAL';
    const detail = typeof doc.detail === 'string' ? doc.detail : `HTTP ${res.status}`;
    if (res.status === 401)
      throw new StoreHeld(
        lockFile,
        holder,
        `it refused the officer credential ${credentialFile(lockFile.replace(/\.lock$/, ''))} (${detail}); nothing was changed (restart the server for a new credential)`,
      );
    throw new ApiError(code, detail);
  };
  const enc = encodeURIComponent;
  return {
    via: `the server at ${base} (pid ${holder.pid})`,
    publish: async (_rel, files) =>
      call('POST', '/releases', { files: Object.fromEntries([...files].map(([n, b]) => [n, b.toString('utf8')])) }),
    approve: (id) => call('POST', `/releases/${enc(id)}/approve`),
    withdraw: async (id, reason) => {
      await call('POST', `/releases/${enc(id)}/withdraw`, { reason });
    },
    createKey: (role, name) => call('POST', '/keys', { role, name }),
    listKeys: async () => (await call<{ items: KeyInfo[] }>('GET', '/keys')).items,
    revokeKey: async (id) => {
      await call('POST', `/keys/${enc(id)}/revoke`);
    },
    createContract: (c) =>
      call('POST', '/contracts', {
        key: c.keyId,
        release: c.releaseId,
        expires: new Date(c.expiresAt).toISOString(),
        ...(c.tables ? { tables: c.tables } : {}),
      }),
    setBudget: (id, b) =>
      call('PUT', `/datasets/${enc(id)}/budget`, {
        ...(b.rho !== undefined ? { rho: b.rho } : {}),
        ...(b.epsilon !== undefined ? { epsilon: b.epsilon } : {}),
      }),
    createDataset: (d) =>
      call('POST', '/datasets', {
        id: d.id,
        title: d.title,
        regime: d.regime,
        ...(d.rho !== undefined ? { rho: d.rho } : {}),
        ...(d.epsilon !== undefined ? { epsilon: d.epsilon } : {}),
        ...(d.demo !== undefined ? { demo: d.demo } : {}),
      }),
    registerSigningKey: (publicKey, name) => call('POST', '/signing-keys', { publicKey, name }),
    listSigningKeys: async () => (await call<{ items: SigningKeyInfo[] }>('GET', '/signing-keys')).items,
    revokeSigningKey: async (id) => {
      await call('POST', `/signing-keys/${enc(id)}/revoke`);
    },
    published: async (id) =>
      (await call<{ items: PublishedHistoryEntry[] }>('GET', `/datasets/${enc(id)}/published`)).items,
    verifyAudit: (cp) => call('POST', '/audit/verify', cp ? { checkpoint: cp } : {}),
    auditCheckpoint: () => call('GET', '/audit/checkpoint'),
    close: async () => {},
  };
}

/** Open the store for a command: directly, or through the server that holds it (see the header). */
export async function connect(command: string, actor: Actor, log: (s: string) => void): Promise<Admin> {
  const env = storeOptionsFromEnv();
  try {
    return direct(await openStore({ ...env, lock: { purpose: 'command', command, log } }), actor);
  } catch (e) {
    if (!(e instanceof StoreHeld) || !e.holder || e.holder.purpose !== 'serve') throw e;
    const h = e.holder;
    if (!h.url) throw new StoreHeld(e.file, h, 'retry when it listens; nothing was changed');
    if (!h.admin)
      throw new StoreHeld(
        e.file,
        h,
        'a public-zone server has no officer routes: stop it to change the store; nothing was changed',
      );
    const location = e.file.replace(/\.lock$/, '');
    let key: string;
    try {
      key = await readCredential(credentialFile(location));
    } catch (c) {
      throw new StoreHeld(e.file, h, `${(c as Error).message}; nothing was changed`);
    }
    return remote(h, key, e.file);
  }
}
