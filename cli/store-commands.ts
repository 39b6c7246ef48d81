/**
 * The publication store and API commands (dispatched by cli/main.ts):
 *
 *   statguard publish <release-dir>
 *   statguard approve <release-id>
 *   statguard withdraw <release-id> --reason <text>
 *   statguard keys create --role officer|reviewer|researcher --name <name>
 *   statguard keys list | keys revoke <key-id>
 *   statguard contracts create --key <key-id> --release <release-id> --expires <date> [--tables a,b]
 *   statguard datasets create <dataset-id> --title <t> --regime sdc|dp|ckm [--rho <x>] [--epsilon <x>] [--demo]
 *   statguard datasets set-budget <dataset-id> [--rho <x>] [--epsilon <x>]
 *   statguard signing-keys register [--pem <file> | --local] [--name <name>]
 *   statguard signing-keys list | signing-keys revoke <key-id>
 *   statguard audit verify [--checkpoint <file>] | audit checkpoint [--out <file>]
 *   statguard db grant <role>   (PostgreSQL server: as DATABASE_OWNER_URL, else DATABASE_URL)
 *   statguard serve [--port <n>] [--host <h>] [--public] [--max-cells <n>] [--public-url <url>]
 *
 * The store is PostgreSQL at DATABASE_URL when set, else embedded PGlite in
 * STATGUARD_DATA_DIR (default .statguard/db). One writer for the embedded
 * store (cli/admin.ts): while a statguard server holds it, every command goes
 * through that server's admin routes with its officer credential (audited as
 * that key), or stops with STORE_LOCKED naming the server; otherwise the
 * command opens the store under its lock (audited as `cli:<os user>`).
 * Exit codes: 0 ok, 1 failed, 2 usage (with the command's short usage; `--help` prints its help). fastify loads
 * only for `serve`.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { parseCheckpoint, type Checkpoint } from '../api/store/chain.ts';
import { ApiError } from '../api/errors.ts';
import type { Actor } from '../api/store/audit.ts';
import type { PublishedHistoryEntry } from '../api/store/cross-release.ts';
import { DEFAULT_DATA_DIR, openStore, storeOptionsFromEnv, type Store } from '../api/store/db.ts';
import { lockFile } from '../api/store/lock.ts';
import { parseRelease } from '../api/store/release-dir.ts';
import { grantApiRole } from '../api/store/roles.ts';
import { readReleaseFiles, ReleaseInvalid } from '../engine/release/index.ts';
import { connect, direct, type Admin } from './admin.ts';
import { jsonError, note, parse, result, usageFailure, UsageError, type Io } from './io.ts';

/** What a command gets: its arguments, the output, the acting officer and the store (connected on first use). */
interface Run {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly io: Io;
  readonly actor: Actor;
  readonly open: () => Promise<Admin>;
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0]!;
}

function num(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`${name} needs a number, got ${JSON.stringify(v)}`);
  return n;
}

const COMMANDS: Readonly<Record<string, (r: Run) => Promise<number>>> = {
  publish,
  approve,
  withdraw,
  keys,
  contracts,
  datasets,
  'signing-keys': signingKeys,
  audit,
  db,
  serve,
};

let lent: Store | null = null;

/**
 * Test hook: the commands use this already-open store (the one the environment names) instead of opening and closing
 * their own; `null` restores the default. Only the cost of opening changes: the same queries run on the same store.
 */
export function lendCommandStore(store: Store | null): void {
  lent = store;
}

/** The officer acting on the command line: audited as `cli:<os user>`. */
const cliActor = (): Actor => ({ caller: `cli:${os.userInfo().username}`, role: 'officer' });

/** The store for a command: the lent one (tests), else directly or through the serving process (cli/admin.ts). */
const openAdmin = async (cmd: string, actor: Actor, io: Io): Promise<Admin> =>
  lent ? direct({ ...lent, close: async () => {} }, actor) : await connect(cmd, actor, io.err);

export async function runApiCommand(cmd: string, args: readonly string[], io: Io): Promise<number | undefined> {
  if (!Object.hasOwn(COMMANDS, cmd)) return undefined;
  const actor = cliActor();
  let admin: Admin | null = null;
  const open = async (): Promise<Admin> => (admin = await openAdmin(cmd, actor, io));
  try {
    return await COMMANDS[cmd]!({ cmd, args, io, actor, open });
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, cmd, e);
    if (e instanceof ApiError) {
      if (io.json) return jsonError(io, { code: e.code, message: e.message }, 1);
      io.err(`statguard ${cmd}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    if (admin) await (admin as Admin).close();
  }
}

/**
 * The releases of a dataset that are or were published, read from the store for `statguard release` (cross-release
 * disclosure control), directly or through the serving process like every store command; null when there is no store
 * yet (no DATABASE_URL and no embedded store folder) or the dataset is not registered in it (nothing published).
 */
export async function publishedInStore(
  datasetId: string,
  io: Io,
): Promise<{ via: string; entries: PublishedHistoryEntry[] } | null> {
  const env = storeOptionsFromEnv();
  const location = path.resolve(env.dataDir ?? DEFAULT_DATA_DIR);
  if (!lent && !env.databaseUrl && !existsSync(path.join(location, 'PG_VERSION')) && !existsSync(lockFile(location)))
    return null;
  const admin = await openAdmin('release', cliActor(), io);
  try {
    return { via: admin.via, entries: await admin.published(datasetId) };
  } catch (e) {
    if (e instanceof ApiError && e.code === 'DATASET_NOT_FOUND') return null;
    throw e;
  } finally {
    await admin.close();
  }
}

async function publish({ args, io, open }: Run): Promise<number> {
  const { positionals } = parse(args, {});
  const dir = one(positionals, 'release directory');
  let files: Map<string, Buffer>;
  try {
    files = await readReleaseFiles(dir);
  } catch (e) {
    throw e instanceof ReleaseInvalid ? new ApiError('RELEASE_INVALID', e.message, { where: e.where }) : e;
  }
  const rel = parseRelease(files); // checked here too, so a bad directory fails before the store is touched
  const r = await (await open()).publish(rel, files);
  const cells = rel.tables.reduce((n, t) => n + t.cellCount, 0);
  result(
    io,
    {
      draft: r.id,
      policy: rel.manifest.policy.id,
      version: rel.manifest.policy.version,
      tables: rel.tables.length,
      cells,
      cost: r.cost,
      ...(r.warning ? { warning: r.warning } : {}),
    },
    `draft ${r.id} stored: policy ${rel.manifest.policy.id} ${rel.manifest.policy.version}, ${rel.tables.length} table(s), ${cells} cells; ` +
      `cost rho ${r.cost.rho}${r.cost.epsilon !== null ? `, epsilon ${r.cost.epsilon}` : ''}\n`,
  );
  if (r.warning) io.err(`statguard: warning: approving ${r.id} now would be refused: ${r.warning}\n`);
  note(io, `approve it with: statguard approve ${r.id}\n`);
  return 0;
}

async function approve({ args, io, open }: Run): Promise<number> {
  const { positionals } = parse(args, {});
  const id = one(positionals, 'release id');
  const r = await (await open()).approve(id);
  result(
    io,
    { published: id, supersedes: r.supersedes ?? null, budget: r.budget },
    `release ${id} published${r.supersedes ? ` (supersedes ${r.supersedes})` : ''}; dataset budget spent: rho ${r.budget.spentRho} of ${r.budget.totalRho}, epsilon ${r.budget.spentEpsilon} of ${r.budget.totalEpsilon}\n`,
  );
  return 0;
}

async function withdraw({ args, io, open }: Run): Promise<number> {
  const { positionals, values } = parse(args, { reason: { type: 'string' } });
  const id = one(positionals, 'release id');
  if (typeof values.reason !== 'string' || values.reason.trim() === '')
    throw new UsageError('withdraw needs --reason <text>');
  await (await open()).withdraw(id, values.reason);
  result(io, { withdrawn: id }, `release ${id} withdrawn\n`);
  return 0;
}

async function keys({ args, io, open }: Run): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { positionals, values } = parse(rest, { role: { type: 'string' }, name: { type: 'string' } });
    if (positionals.length > 0) throw new UsageError('keys create takes no positional arguments');
    if (typeof values.role !== 'string' || typeof values.name !== 'string')
      throw new UsageError('keys create needs --role <role> --name <name>');
    const k = await (await open()).createKey(values.role, values.name);
    result(io, { id: k.id, role: k.role, name: k.name, key: k.key }, `${k.key}\n`);
    io.err(`key ${k.id} (${k.role}, ${JSON.stringify(k.name)}) created. It is shown only this once: store it now.\n`);
    return 0;
  }
  if (sub === 'list') {
    for (const k of await (await open()).listKeys())
      result(
        io,
        { id: k.id, role: k.role, name: k.name, createdAt: k.createdAt, revokedAt: k.revokedAt ?? null },
        `${k.id}\t${k.role}\t${k.name}\t${k.createdAt}${k.revokedAt ? `\trevoked ${k.revokedAt}` : ''}\n`,
      );
    return 0;
  }
  if (sub === 'revoke') {
    const { positionals } = parse(rest, {});
    const id = one(positionals, 'key id');
    await (await open()).revokeKey(id);
    result(io, { revoked: id }, `key ${id} revoked\n`);
    return 0;
  }
  throw new UsageError('keys takes create, list or revoke');
}

async function contracts({ args, io, open }: Run): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'create') throw new UsageError('contracts takes create');
  const { positionals, values } = parse(rest, {
    key: { type: 'string' },
    release: { type: 'string' },
    expires: { type: 'string' },
    tables: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('contracts create takes no positional arguments');
  if (typeof values.key !== 'string' || typeof values.release !== 'string' || typeof values.expires !== 'string')
    throw new UsageError('contracts create needs --key, --release and --expires');
  const tables =
    typeof values.tables === 'string'
      ? values.tables
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '')
      : null;
  const r = await (
    await open()
  ).createContract({ keyId: values.key, releaseId: values.release, tables, expiresAt: values.expires });
  result(
    io,
    {
      contract: r.id,
      key: values.key,
      release: values.release,
      tables,
      expiresAt: new Date(values.expires).toISOString(),
    },
    `contract ${r.id}: key ${values.key} may read ${values.release}${tables ? ` (tables ${tables.join(', ')})` : ''} until ${new Date(values.expires).toISOString()}\n`,
  );
  return 0;
}

async function datasetCreate({ args, io, actor, open }: Run): Promise<number> {
  const { positionals, values } = parse(args, {
    title: { type: 'string' },
    regime: { type: 'string' },
    rho: { type: 'string' },
    epsilon: { type: 'string' },
    demo: { type: 'boolean' },
  });
  const id = one(positionals, 'dataset id');
  if (typeof values.title !== 'string' || typeof values.regime !== 'string')
    throw new UsageError('datasets create needs --title <title> --regime sdc|dp|ckm');
  const d = await (
    await open()
  ).createDataset({
    id,
    title: values.title,
    regime: values.regime,
    rho: num(values.rho, '--rho'),
    epsilon: num(values.epsilon, '--epsilon'),
    demo: values.demo === true,
  });
  result(
    io,
    { dataset: d.id, regime: d.regime, demo: d.demo, totalRho: d.totalRho, totalEpsilon: d.totalEpsilon },
    `dataset ${d.id} registered: regime ${d.regime}${d.demo ? ', demo (accepts seeded releases)' : ''}, total rho ${d.totalRho}, total epsilon ${d.totalEpsilon}\n`,
  );
  return 0;
}

async function signingKeys({ args, io, actor, open }: Run): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'register') {
    const { positionals, values } = parse(rest, {
      pem: { type: 'string' },
      local: { type: 'boolean' },
      name: { type: 'string' },
    });
    if (positionals.length > 0) throw new UsageError('signing-keys register takes no positional arguments');
    if ((typeof values.pem === 'string') === (values.local === true))
      throw new UsageError('signing-keys register needs exactly one of --pem <file> or --local');
    let pem: string;
    if (typeof values.pem === 'string') {
      try {
        pem = await readFile(values.pem, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${values.pem}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    } else {
      const { localSigningKey } = await import('../engine/secure/signing.ts');
      pem = localSigningKey().publicKeyPem;
    }
    const name =
      typeof values.name === 'string' ? values.name : values.local ? `secure zone of ${os.hostname()}` : values.pem!;
    const r = await (await open()).registerSigningKey(pem, name);
    result(
      io,
      { signingKey: r.id, created: r.created },
      `signing key ${r.id} ${r.created ? 'registered' : 'was already registered'}\n`,
    );
    return 0;
  }
  if (sub === 'list') {
    for (const k of await (await open()).listSigningKeys())
      result(
        io,
        { id: k.id, name: k.name, createdAt: k.createdAt, createdBy: k.createdBy, revokedAt: k.revokedAt ?? null },
        `${k.id}\t${k.name}\t${k.createdAt}\t${k.createdBy}${k.revokedAt ? `\trevoked ${k.revokedAt}` : ''}\n`,
      );
    return 0;
  }
  if (sub === 'revoke') {
    const id = one(parse(rest, {}).positionals, 'signing key id');
    await (await open()).revokeSigningKey(id);
    result(io, { revoked: id }, `signing key ${id} revoked\n`);
    return 0;
  }
  throw new UsageError('signing-keys takes register, list or revoke');
}

async function datasets(run: Run): Promise<number> {
  const { args, io, actor, open } = run;
  const [sub, ...rest] = args;
  if (sub === 'create') return datasetCreate({ ...run, args: rest });
  if (sub !== 'set-budget') throw new UsageError('datasets takes create or set-budget');
  const { positionals, values } = parse(rest, { rho: { type: 'string' }, epsilon: { type: 'string' } });
  const id = one(positionals, 'dataset id');
  const rho = num(values.rho, '--rho');
  const epsilon = num(values.epsilon, '--epsilon');
  if (rho === undefined && epsilon === undefined) throw new UsageError('set-budget needs --rho and/or --epsilon');
  const b = await (await open()).setBudget(id, { rho, epsilon });
  result(
    io,
    { dataset: id, ...b },
    `dataset ${id}: total rho ${b.totalRho} (spent ${b.spentRho}), total epsilon ${b.totalEpsilon} (spent ${b.spentEpsilon})\n`,
  );
  return 0;
}

/**
 * `audit verify [--checkpoint <file>]`: walk the audit log's and the ledger's hash chains; exit 1 at the first broken
 * link of either (row id and what is wrong). `audit checkpoint [--out <file>]`: print (or write) the verified heads.
 */
async function audit({ args, io, open }: Run): Promise<number> {
  const { values, positionals } = parse(args, { checkpoint: { type: 'string' }, out: { type: 'string' } });
  const sub = positionals[0];
  if (positionals.length !== 1 || (sub !== 'verify' && sub !== 'checkpoint'))
    throw new UsageError('expected audit verify or audit checkpoint');
  if (sub === 'checkpoint') {
    if (values.checkpoint !== undefined) throw new UsageError('--checkpoint belongs to audit verify');
    const checkpoint = await (await open()).auditCheckpoint();
    const text = `${JSON.stringify(checkpoint, null, 2)}\n`;
    if (values.out) {
      await writeFile(values.out, text, { flag: 'wx' });
      result(io, { checkpointFile: values.out }, `checkpoint written to ${values.out}\n`);
    } else result(io, { checkpoint }, text);
    return 0;
  }
  if (values.out !== undefined) throw new UsageError('--out belongs to audit checkpoint');
  let cp: Checkpoint | null = null;
  if (values.checkpoint !== undefined) {
    try {
      cp = parseCheckpoint(await readFile(values.checkpoint, 'utf8'), values.checkpoint);
    } catch (e) {
      throw new UsageError(`--checkpoint: ${(e as Error).message}`);
    }
  }
  const report = await (await open()).verifyAudit(cp);
  if (io.json) result(io, report as unknown as Record<string, unknown>, '');
  else
    for (const c of report.chains) {
      if (c.broken)
        io.out(`${c.chain}: BROKEN at ${c.broken.rowId ? `row ${c.broken.rowId}` : 'the head'}: ${c.broken.problem}\n`);
      else io.out(`${c.chain}: ok, ${c.count} rows, head ${c.head}${cp ? ' (extends the checkpoint)' : ''}\n`);
    }
  return report.ok ? 0 : 1;
}

/** `db grant <role>`: migrate the server store as its owner and give `role` the API's least privileges. */
async function db({ args, io }: Run): Promise<number> {
  const { positionals } = parse(args, {});
  if (positionals.length !== 2 || positionals[0] !== 'grant') throw new UsageError('expected db grant <role>');
  const env = storeOptionsFromEnv();
  const owner = env.ownerUrl ?? env.databaseUrl;
  if (!owner) throw new UsageError('db grant needs a PostgreSQL server: set DATABASE_OWNER_URL (or DATABASE_URL)');
  const store = lent ?? (await openStore({ databaseUrl: owner }));
  try {
    await grantApiRole(store.db, positionals[1]!);
  } finally {
    if (!lent) await store.close();
  }
  result(
    io,
    { granted: positionals[1] },
    `role ${positionals[1]} may now read the store and only insert into audit_log and budget_ledger; ` +
      'serve with DATABASE_URL naming it and DATABASE_OWNER_URL naming the owner\n',
  );
  return 0;
}

async function serve({ args, io }: Run): Promise<number> {
  const { positionals, values } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    public: { type: 'boolean' },
    'max-cells': { type: 'string' },
    'public-url': { type: 'string' },
    'on-demand': { type: 'string', multiple: true },
  });
  if (positionals.length > 0) throw new UsageError('serve takes no positional arguments');
  // Tables on demand: the on-demand policies the secure-zone worker serves (repeat the flag, or a comma-separated list
  // in STATGUARD_ONDEMAND_POLICIES); none: the routes answer 404 as on a server that offers none.
  const onDemandPolicies = (
    values['on-demand'] ?? (process.env.STATGUARD_ONDEMAND_POLICIES ?? '').split(',').filter((p) => p.trim() !== '')
  ).map((p) => path.resolve(p.trim()));
  for (const p of onDemandPolicies) if (!existsSync(p)) throw new UsageError(`--on-demand: no policy file at ${p}`);
  const publicUrl = values['public-url'] ?? process.env.STATGUARD_PUBLIC_URL;
  if (publicUrl !== undefined && !URL.canParse(publicUrl))
    throw new UsageError(`--public-url: ${JSON.stringify(publicUrl)} is not an absolute URL`);
  const port = num(values.port ?? process.env.PORT ?? '3000', '--port')!;
  const maxCells = num(values['max-cells'], '--max-cells');
  // The server holds the embedded store for as long as it runs (a second server on the same folder is refused).
  const s: Store = await openStore({
    ...storeOptionsFromEnv(),
    lock: { purpose: 'serve', command: 'serve', log: io.err },
  });
  try {
    const { serve, credentialNote } = await import('../api/server.ts');
    const { onDemandService } = await import('../api/ondemand/service.ts');
    const { app, url, credential } = await serve({
      store: s,
      ...(onDemandPolicies.length > 0 ? { onDemand: onDemandService(s.db, onDemandPolicies) } : {}),
      host: typeof values.host === 'string' ? values.host : '127.0.0.1',
      port,
      public: values.public === true,
      config: {
        ...(maxCells !== undefined ? { maxCells } : {}),
        // The OpenAPI `servers` and the DCAT catalogue's links name the public URL when one is given.
        ...(publicUrl !== undefined ? { servers: [{ url: publicUrl, description: 'public URL' }] } : {}),
      },
    });
    result(
      io,
      { url, docs: `${url}/docs`, zone: values.public ? 'public' : 'all', store: s.kind, location: s.location },
      // One write: whoever waits for the address also reads where the credential is.
      `statguard API (${values.public ? 'public zone' : 'all routes'}) on ${url}; docs at ${url}/docs; store ${s.kind} (${s.location})\n` +
        credentialNote(credential),
    );
    if (io.json) note(io, credentialNote(credential));
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await app.close();
  } finally {
    await s.close();
  }
  return 0;
}
