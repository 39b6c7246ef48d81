import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import { checkPgColumns, pgInputInfo, pgRelation } from './pg-relation.ts';
import { aggregateSql } from './sql-source.ts';
import type { SqlExecutor } from './sql-source.ts';
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
}

/** The connection URL of a postgres source: explicit, else $<connection>, else $DATABASE_URL (null when unset). */
export function connectionUrl(connection: string | null, env: Readonly<Record<string, string | undefined>> = process.env): string | null {
  const v = env[connection ?? 'DATABASE_URL'];
  return v !== undefined && v !== '' ? v : null;
}

/**
 * A PostgreSQL server (or Citus coordinator) source: validation, bounding and
 * aggregation run in the database (sql-builder.ts); only cells travel. The
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
        throw new StatguardError('SOURCE_UNREADABLE', `no connection for postgres source: set ${src.connection ?? 'DATABASE_URL'}`, { path: '/dataset/source/connection' });
      }
      const pg = (await import('pg')).default;
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        const exec: SqlExecutor = {
          flavor: 'postgres',
          query: async (text, params) => (await pool.query(text, [...params])).rows as Record<string, unknown>[],
          ...(opts.citus === true ? { materialize: false, groupingSets: false } : {}),
        };
        try {
          await exec.query('SELECT 1', []);
        } catch (e) {
          // Never echo the URL (it may hold a password).
          throw new StatguardError('SOURCE_UNREADABLE', `cannot connect to the postgres source (${src.connection ?? 'DATABASE_URL'}): ${(e as Error).message}`);
        }
        await checkPgColumns(exec, src, plan);
        return await aggregateSql(plan, ctx, exec, pgRelation(src), pgInputInfo(src));
      } finally {
        await pool.end();
      }
    },
  };
}
