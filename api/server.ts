/**
 * Listens: builds the app over a store and serves it on host:port.
 *
 * On an embedded store (a PGlite folder, which this process holds under its lock: store/lock.ts) the server first
 * makes sure the officer credential exists (store/credential.ts; not for the public zone, which has no officer
 * routes), then listens, then writes its URL into the lock file: the store commands find it there and go through
 * its admin routes with that credential instead of opening the folder a second time.
 */
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { build, type BuildOptions } from './app.ts';
import { ensureOfficerCredential, type Credential } from './store/credential.ts';

export interface ServeOptions extends BuildOptions {
  readonly host?: string;
  readonly port?: number;
}

export interface Serving {
  readonly app: FastifyInstance;
  readonly url: string;
  /** The officer credential file of an embedded store (null otherwise, and in the public zone). */
  readonly credential: Credential | null;
}

export async function serve(opts: ServeOptions): Promise<Serving> {
  const credential =
    opts.public === true
      ? null
      : await ensureOfficerCredential(opts.store, {
          caller: `system:serve:${os.userInfo().username}`,
          role: 'officer',
        });
  const app = await build(opts);
  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 3000 });
  await opts.store.lock?.announce(address, opts.public !== true);
  return { app, url: address, credential };
}

/** How a start tells where the officer credential is (npm start, statguard serve). */
export function credentialNote(c: Credential | null): string {
  if (!c) return '';
  return (
    `  officer credential: ${c.file}${c.created ? ` (new officer key ${c.created})` : ''}\n` +
    '    statguard keys|publish|approve|withdraw|contracts|datasets use it while this server runs;\n' +
    '    for the admin routes: curl -H "Authorization: Bearer $(cat <that file>)" .../v1/admin/...\n'
  );
}

/** Store options from the environment: DATABASE_URL selects the server, STATGUARD_DATA_DIR the PGlite folder. */
export { storeOptionsFromEnv } from './store/db.ts';
