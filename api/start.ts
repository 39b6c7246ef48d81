/**
 * `npm start` on a fresh machine: open (or create) the store, publish the
 * given release directories (the example policies' demo releases) unless
 * they are already stored, and serve the API.
 *
 * Idempotent: a release whose policy SHA-256 and input SHA-256 are already
 * stored (not withdrawn) is not stored again; a stored draft is approved.
 *
 * One writer: the embedded store is opened under its lock (a second start on
 * the same folder is refused naming the first), and the server writes the
 * officer credential the store commands use to go through it (server.ts).
 * First start: the secure zone's signing key (engine/secure/signing.ts, created on first use) is registered in the
 * store, and so is the dataset of each example release (regime from its signed policy, registered as demo), each as
 * an audited action of the system caller; both are no-ops when already registered. Nothing else registers on its own.
 */
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { ApiConfig } from './config.ts';
import { ApiError } from './errors.ts';
import type { Actor } from './store/audit.ts';
import { openStore, type Store } from './store/db.ts';
import { localSigningKey } from '../engine/secure/signing.ts';
import { createDataset } from './store/datasets.ts';
import { loadReleaseDir, type LoadedRelease } from './store/release-dir.ts';
import { registerSigningKey } from './store/signing-keys.ts';
import { approveRelease, findByFingerprint, storeDraft } from './store/releases.ts';
import { credentialNote, serve, storeOptionsFromEnv } from './server.ts';

export interface StartOptions {
  readonly releaseDirs: readonly string[];
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly host?: string;
  /** Default: PORT from the environment, else 3000. 0 picks a free port. */
  readonly port?: number;
  readonly config?: Partial<ApiConfig>;
  readonly log?: (s: string) => void;
}

export interface Started {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly url: string;
  /** Release ids published by this start (empty on a second start). */
  readonly published: readonly string[];
  readonly reused: readonly string[];
  /** The officer credential file (embedded store), or null. */
  readonly credential: string | null;
  close(): Promise<void>;
}

/** Publish the release directories not yet in the store; returns [published, reused] ids. */
export async function publishDirs(
  store: Store,
  dirs: readonly string[],
  actor: Actor,
): Promise<{ published: string[]; reused: string[] }> {
  const published: string[] = [];
  const reused: string[] = [];
  const rels: LoadedRelease[] = [];
  for (const dir of dirs) rels.push(await loadReleaseDir(dir));
  for (const rel of rels) {
    // A release an officer withdrew stays withdrawn: a later start neither fails on it nor publishes it again.
    const same = await store.db
      .selectFrom('releases')
      .select(['id', 'status'])
      .where('manifest_sha256', '=', rel.manifestSha256)
      .executeTakeFirst();
    if (same?.status === 'withdrawn') {
      reused.push(same.id);
      continue;
    }
    const found = await findByFingerprint(store.db, rel.manifest.policy.sha256, rel.manifest.input.sha256);
    if (found?.status === 'published') {
      reused.push(found.id);
      continue;
    }
    const id = found ? found.id : (await storeDraft(store.db, rel, actor)).id;
    await approveRelease(store.db, id, actor);
    published.push(id);
  }
  return { published, reused };
}

/**
 * Register the secure zone's signing key and the datasets of the example releases (idempotent, audited as `actor`).
 * Returns the key id.
 */
export async function registerExamples(store: Store, dirs: readonly string[], actor: Actor): Promise<string> {
  const key = localSigningKey();
  await registerSigningKey(store.db, key.publicKeyPem, 'secure zone (registered at first start)', actor);
  for (const dir of dirs) {
    const rel = await loadReleaseDir(dir);
    const { datasetId, regime } = rel.signed;
    await createDataset(store.db, { id: datasetId, title: `Example dataset ${datasetId}`, regime, demo: true }, actor, {
      ifAbsent: true,
    });
  }
  return key.keyId;
}

export async function start(opts: StartOptions): Promise<Started> {
  const log = opts.log ?? ((s: string) => process.stdout.write(s));
  const env = storeOptionsFromEnv();
  const store = await openStore({
    databaseUrl: opts.databaseUrl ?? env.databaseUrl,
    dataDir: opts.dataDir ?? env.dataDir,
    lock: { purpose: 'serve', command: 'start', ...(opts.log ? { log: opts.log } : {}) },
  });
  try {
    const actor: Actor = { caller: `system:start:${os.userInfo().username}`, role: 'officer' };
    await registerExamples(store, opts.releaseDirs, actor);
    const { published, reused } = await publishDirs(store, opts.releaseDirs, actor);
    const port = opts.port ?? (process.env.PORT ? Number(process.env.PORT) : 3000);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ApiError('BAD_REQUEST', `PORT must be an integer 0..65535, got ${JSON.stringify(process.env.PORT)}`);
    const { app, url, credential } = await serve({
      store,
      host: opts.host ?? '127.0.0.1',
      port,
      ...(opts.config ? { config: opts.config } : {}),
    });
    log(
      `statguard store: ${store.kind} (${store.location}); ${published.length} release(s) published now, ${reused.length} already published\n` +
        `statguard API listening on ${url}\n  docs:    ${url}/docs\n  openapi: ${url}/openapi.json\n  releases: ${url}/v1/releases\n` +
        credentialNote(credential),
    );
    return {
      app,
      store,
      url,
      published,
      reused,
      credential: credential?.file ?? null,
      close: async () => {
        await app.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
