/**
 * PGlite source: embedded PostgreSQL (WASM), an open instance or a data directory, running the PostgreSQL statements on
 * one connection.
 */
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import { checkPgColumns, pgExecutor, pgInputInfo, pgRelation } from './pg-relation.ts';
import { aggregateSql } from './sql-source.ts';
import type { SqlExecutor } from './sql-executor.ts';
import type { AggregateContext, AggregateResult, Source } from './source.ts';

/** The part of a PGlite instance this source uses (structural, so engine/ needs no driver import). */
export interface PgliteLike {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  close?(): Promise<void>;
}

export interface PgliteSourceOptions {
  /** An open PGlite instance (kept open), or absent to open one on `dataDir`. */
  readonly db?: PgliteLike;
  /** PGlite data directory (embedded default); used when `db` is absent. */
  readonly dataDir?: string;
}

export function pgliteExecutor(db: PgliteLike): SqlExecutor {
  return pgExecutor(db);
}

/**
 * A PostgreSQL-kind source on embedded PGlite (WASM PostgreSQL): the same SQL
 * as a PostgreSQL server (sql/), for tests and the embedded default.
 */
export function pgliteSource(opts: PgliteSourceOptions = {}): Source {
  return {
    kind: 'postgres',
    aggregate: async (plan: Plan, ctx: AggregateContext): Promise<AggregateResult> => {
      const src = plan.dataset.source;
      if (src.kind !== 'postgres') throw new StatguardError('USAGE', `pgliteSource cannot read a ${src.kind} source`);
      let db = opts.db;
      let owned = false;
      if (db === undefined) {
        if (opts.dataDir === undefined)
          throw new StatguardError('USAGE', 'pgliteSource needs an open PGlite instance or a dataDir');
        const { PGlite } = await import('@electric-sql/pglite');
        db = (await PGlite.create(opts.dataDir)) as unknown as PgliteLike;
        owned = true;
      }
      try {
        const exec = pgliteExecutor(db);
        await checkPgColumns(exec, src, plan);
        return await aggregateSql(plan, ctx, exec, pgRelation(src), pgInputInfo(src));
      } finally {
        if (owned) await db.close?.();
      }
    },
  };
}
