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
 *   statguard serve [--port <n>] [--host <h>] [--public] [--max-cells <n>]
 *
 * The store is PostgreSQL at DATABASE_URL when set, else embedded PGlite in
 * STATGUARD_DATA_DIR (default .statguard/db). Exit codes: 0 ok, 1 failed,
 * 2 usage (printed with API_USAGE). Every action is audited as caller
 * `cli:<os user>`. fastify loads only for `serve`.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { ApiError } from '../api/errors.ts';
import type { Actor } from '../api/store/audit.ts';
import { createDataset } from '../api/store/datasets.ts';
import { openStore, storeOptionsFromEnv, type Store } from '../api/store/db.ts';
import { listSigningKeys, registerSigningKey, revokeSigningKey } from '../api/store/signing-keys.ts';
import { createKey, listKeys, revokeKey } from '../api/store/keys.ts';
import { loadReleaseDir } from '../api/store/release-dir.ts';
import {
  approveRelease,
  createContract,
  setDatasetBudget,
  storeDraft,
  withdrawRelease,
} from '../api/store/releases.ts';
import { parse, usageFailure, UsageError, type Io } from './io.ts';
import { API_USAGE } from './usage.ts';

/** What a command gets: its arguments, the output, the acting officer and the store (opened on first use). */
interface Run {
  readonly args: readonly string[];
  readonly io: Io;
  readonly actor: Actor;
  readonly open: () => Promise<Store>;
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
  serve,
};

export async function runApiCommand(cmd: string, args: readonly string[], io: Io): Promise<number | undefined> {
  if (!Object.hasOwn(COMMANDS, cmd)) return undefined;
  const actor: Actor = { caller: `cli:${os.userInfo().username}`, role: 'officer' };
  let store: Store | null = null;
  const open = async (): Promise<Store> => (store = await openStore(storeOptionsFromEnv()));
  try {
    return await COMMANDS[cmd]!({ args, io, actor, open });
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, `statguard ${cmd}`, e, API_USAGE);
    if (e instanceof ApiError) {
      io.err(`statguard ${cmd}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    if (store) await (store as Store).close();
  }
}

async function publish({ args, io, actor, open }: Run): Promise<number> {
  const { positionals } = parse(args, {});
  const dir = one(positionals, 'release directory');
  const rel = await loadReleaseDir(dir);
  const s = await open();
  const r = await storeDraft(s.db, rel, actor);
  const cells = rel.tables.reduce((n, t) => n + t.cellCount, 0);
  io.out(
    `draft ${r.id} stored: policy ${rel.manifest.policy.id} ${rel.manifest.policy.version}, ${rel.tables.length} table(s), ${cells} cells; ` +
      `cost rho ${r.cost.rho}${r.cost.epsilon !== null ? `, epsilon ${r.cost.epsilon}` : ''}\n`,
  );
  if (r.warning) io.err(`statguard: warning: approving ${r.id} now would be refused: ${r.warning}\n`);
  io.out(`approve it with: statguard approve ${r.id}\n`);
  return 0;
}

async function approve({ args, io, actor, open }: Run): Promise<number> {
  const { positionals } = parse(args, {});
  const id = one(positionals, 'release id');
  const r = await approveRelease((await open()).db, id, actor);
  io.out(
    `release ${id} published${r.supersedes ? ` (supersedes ${r.supersedes})` : ''}; dataset budget spent: rho ${r.budget.spentRho} of ${r.budget.totalRho}, epsilon ${r.budget.spentEpsilon} of ${r.budget.totalEpsilon}\n`,
  );
  return 0;
}

async function withdraw({ args, io, actor, open }: Run): Promise<number> {
  const { positionals, values } = parse(args, { reason: { type: 'string' } });
  const id = one(positionals, 'release id');
  if (typeof values.reason !== 'string' || values.reason.trim() === '')
    throw new UsageError('withdraw needs --reason <text>');
  await withdrawRelease((await open()).db, id, values.reason, actor);
  io.out(`release ${id} withdrawn\n`);
  return 0;
}

async function keys({ args, io, actor, open }: Run): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { positionals, values } = parse(rest, { role: { type: 'string' }, name: { type: 'string' } });
    if (positionals.length > 0) throw new UsageError('keys create takes no positional arguments');
    if (typeof values.role !== 'string' || typeof values.name !== 'string')
      throw new UsageError('keys create needs --role <role> --name <name>');
    const k = await createKey((await open()).db, values.role, values.name, actor);
    io.out(`${k.key}\n`);
    io.err(`key ${k.id} (${k.role}, ${JSON.stringify(k.name)}) created. It is shown only this once: store it now.\n`);
    return 0;
  }
  if (sub === 'list') {
    for (const k of await listKeys((await open()).db))
      io.out(`${k.id}\t${k.role}\t${k.name}\t${k.createdAt}${k.revokedAt ? `\trevoked ${k.revokedAt}` : ''}\n`);
    return 0;
  }
  if (sub === 'revoke') {
    const { positionals } = parse(rest, {});
    const id = one(positionals, 'key id');
    await revokeKey((await open()).db, id, actor);
    io.out(`key ${id} revoked\n`);
    return 0;
  }
  throw new UsageError('keys takes create, list or revoke');
}

async function contracts({ args, io, actor, open }: Run): Promise<number> {
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
  const r = await createContract(
    (await open()).db,
    { keyId: values.key, releaseId: values.release, tables, expiresAt: values.expires },
    actor,
  );
  io.out(
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
  const { dataset: d } = await createDataset(
    (await open()).db,
    {
      id,
      title: values.title,
      regime: values.regime,
      rho: num(values.rho, '--rho'),
      epsilon: num(values.epsilon, '--epsilon'),
      demo: values.demo === true,
    },
    actor,
  );
  io.out(
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
    const r = await registerSigningKey((await open()).db, pem, name, actor);
    io.out(`signing key ${r.id} ${r.created ? 'registered' : 'was already registered'}\n`);
    return 0;
  }
  if (sub === 'list') {
    for (const k of await listSigningKeys((await open()).db))
      io.out(`${k.id}\t${k.name}\t${k.createdAt}\t${k.createdBy}${k.revokedAt ? `\trevoked ${k.revokedAt}` : ''}\n`);
    return 0;
  }
  if (sub === 'revoke') {
    const id = one(parse(rest, {}).positionals, 'signing key id');
    await revokeSigningKey((await open()).db, id, actor);
    io.out(`signing key ${id} revoked\n`);
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
  const b = await setDatasetBudget((await open()).db, id, { rho, epsilon }, actor);
  io.out(
    `dataset ${id}: total rho ${b.totalRho} (spent ${b.spentRho}), total epsilon ${b.totalEpsilon} (spent ${b.spentEpsilon})\n`,
  );
  return 0;
}

async function serve({ args, io, open }: Run): Promise<number> {
  const { positionals, values } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    public: { type: 'boolean' },
    'max-cells': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('serve takes no positional arguments');
  const port = num(values.port ?? process.env.PORT ?? '3000', '--port')!;
  const maxCells = num(values['max-cells'], '--max-cells');
  const s = await open();
  const { serve } = await import('../api/server.ts');
  const { app, url } = await serve({
    store: s,
    host: typeof values.host === 'string' ? values.host : '127.0.0.1',
    port,
    public: values.public === true,
    ...(maxCells !== undefined ? { config: { maxCells } } : {}),
  });
  io.out(
    `statguard API (${values.public ? 'public zone' : 'all routes'}) on ${url}; docs at ${url}/docs; store ${s.kind} (${s.location})\n`,
  );
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
  return 0;
}
