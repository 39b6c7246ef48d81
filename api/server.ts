/**
 * Listens: builds the app over a store and serves it on host:port.
 */
import type { FastifyInstance } from 'fastify';
import { build, type BuildOptions } from './app.ts';

export interface ServeOptions extends BuildOptions {
  readonly host?: string;
  readonly port?: number;
}

export async function serve(opts: ServeOptions): Promise<{ app: FastifyInstance; url: string }> {
  const app = await build(opts);
  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 3000 });
  return { app, url: address };
}

/** Store options from the environment: DATABASE_URL selects the server, STATGUARD_DATA_DIR the PGlite folder. */
export { storeOptionsFromEnv } from './store/db.ts';
