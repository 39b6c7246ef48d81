/**
 * PostgreSQL server source (pg): the connection URL from the environment (never from a policy), reading in parts over
 * several connections, and the Citus form.
 */
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import { checkPgColumns, pgExecutor, pgInputInfo, pgQualifiedName, pgRelation } from './pg-relation.ts';
import { aggregateSql } from './sql-source.ts';
import type { ParallelExecutor, SqlExecutor } from './sql-executor.ts';
import type { AggregateContext, AggregateResult, Source } from './source.ts';

export interface PostgresSourceOptions {
  /** Connection URL; absent: the environment variable named by the policy's `connection`, else DATABASE_URL. */
  readonly url?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * The server is a Citus coordinator (the table distributed by the unit column): no temporary typed table (it would
   * collect every row on the coordinator) and no GROUPING SETS (Citus cannot distribute them); see README.md.
   */
  readonly citus?: boolean;
  /**
   * Connections reading a table at once, under one snapshot (see sql-source.ts): a plan without a unit column splits its
   * one-pass statement by ranges of heap blocks, a plan with one splits its units by unit key. Default: the server's
   * `max_parallel_workers_per_gather` (2 unless the administrator changed it; 0 or 1: one connection), as PostgreSQL itself
   * would use for a parallel scan. Only plain tables and materialised views of at least PARALLEL_MIN_BLOCKS blocks per
   * part are split; views are read whole.
   */
  readonly parallel?: number;
  /** Smallest part in heap blocks (default PARALLEL_MIN_BLOCKS; tests split tiny tables with 1). */
  readonly parallelMinBlocks?: number;
}

/** Smallest part worth its own connection: 1,024 heap blocks (8 MB with the default block size). */
const PARALLEL_MIN_BLOCKS = 1024;

/** The connection URL of a postgres source: explicit, else $<connection>, else $DATABASE_URL (null when unset). */
export function connectionUrl(
  connection: string | null,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | null {
  const v = env[connection ?? 'DATABASE_URL'];
  return v !== undefined && v !== '' ? v : null;
}

/**
 * A PostgreSQL server (or Citus coordinator) source: validation, bounding and
 * aggregation run in the database (sql/); only cells travel. The
 * driver (`pg`) is loaded on first use so engine/ has no static driver import.
 */
export function postgresSource(opts: PostgresSourceOptions = {}): Source {
  return {
    kind: 'postgres',
    aggregate: async (plan: Plan, ctx: AggregateContext): Promise<AggregateResult> => {
      const src = plan.dataset.source;
      if (src.kind !== 'postgres') throw new StatguardError('USAGE', `postgresSource cannot read a ${src.kind} source`);
      const url = opts.url ?? connectionUrl(src.connection, opts.env);
      if (url === null) {
        throw new StatguardError(
          'SOURCE_UNREADABLE',
          `no connection for postgres source: set ${src.connection ?? 'DATABASE_URL'}`,
          { path: '/dataset/source/connection' },
        );
      }
      const pg = (await import('pg')).default;
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        const name = pgQualifiedName(src);
        const parallel: ParallelExecutor = {
          blocks: async () => {
            const r = (
              await pool.query(
                `SELECT c.relkind, pg_relation_size(c.oid) / current_setting('block_size')::int AS blocks,
              current_setting('max_parallel_workers_per_gather')::int AS workers FROM pg_class c WHERE c.oid = to_regclass($1)`,
                [name],
              )
            ).rows[0] as { relkind: string; blocks: string; workers: number } | undefined;
            if (r === undefined || (r.relkind !== 'r' && r.relkind !== 'm')) return null;
            const blocks = Number(r.blocks);
            const parts = Math.min(
              opts.parallel ?? r.workers,
              Math.floor(blocks / (opts.parallelMinBlocks ?? PARALLEL_MIN_BLOCKS)),
            );
            if (!(parts >= 2)) return null;
            return Array.from({ length: parts + 1 }, (_, i) => Math.round((blocks * i) / parts));
          },
          sessions: async (snapshot, n, readOnly) => {
            if (!/^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/i.test(snapshot))
              throw new Error(`unexpected snapshot id ${JSON.stringify(snapshot)}`);
            const clients: InstanceType<typeof pg.Client>[] = [];
            const closeAll = async (): Promise<void> => {
              await Promise.all(
                clients.map(async (c) => {
                  await c.query('COMMIT').catch(() => {});
                  await c.end().catch(() => {});
                }),
              );
            };
            try {
              for (let i = 0; i < n; i++) {
                const c = new pg.Client({ connectionString: url });
                clients.push(c);
                await c.connect();
                await c.query(`BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ' READ ONLY' : ''}`);
                await c.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`);
              }
            } catch (e) {
              await closeAll();
              throw e;
            }
            return { execs: clients.map(pgExecutor), close: closeAll };
          },
        };
        const exec: SqlExecutor = {
          ...pgExecutor(pool),
          ...(opts.citus === true ? { materialize: false, groupingSets: false } : { parallel }),
        };
        try {
          await exec.query('SELECT 1', []);
        } catch (e) {
          // Never echo the URL (it may hold a password).
          throw new StatguardError(
            'SOURCE_UNREADABLE',
            `cannot connect to the postgres source (${src.connection ?? 'DATABASE_URL'}): ${(e as Error).message}`,
          );
        }
        await checkPgColumns(exec, src, plan);
        return await aggregateSql(plan, ctx, exec, pgRelation(src), pgInputInfo(src));
      } finally {
        await pool.end();
      }
    },
  };
}
