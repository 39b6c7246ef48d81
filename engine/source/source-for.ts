/**
 * sourceFor: the source adapter for a plan's source kind.
 */
import type { Plan } from '../types.ts';
import { csvSource } from './csv-source.ts';
import { duckdbSource } from './duckdb-source.ts';
import type { DuckdbSourceOptions } from './duckdb-source.ts';
import { pgliteSource } from './pglite-source.ts';
import type { PgliteLike } from './pglite-source.ts';
import { connectionUrl, postgresSource } from './postgres-source.ts';
import type { Source } from './source.ts';
import { StatguardError } from '../errors.ts';

export interface SourceForOptions {
  /** Environment for connection URLs (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Embedded default for postgres sources without a connection URL: an open PGlite, or its data directory. */
  readonly pglite?: PgliteLike;
  readonly pgliteDataDir?: string;
  readonly duckdb?: DuckdbSourceOptions;
}

/**
 * The source adapter for a plan, by `plan.dataset.source.kind`:
 * - csv: the streaming path (fast-csv, bounded memory; default for small and medium files);
 * - postgres: a PostgreSQL server (pg) when $<connection> / $DATABASE_URL is set, else embedded PGlite
 *   (an instance given here, or STATGUARD_PGLITE_DIR / `pgliteDataDir`), else SOURCE_UNREADABLE;
 * - parquet, csv-duckdb: the embedded analytical engine (DuckDB).
 * All of them return identical tables for identical data (test/source-sql). Quantile tables: csv only (USAGE otherwise).
 */
export function sourceFor(plan: Plan, opts: SourceForOptions = {}): Source {
  const src = plan.dataset.source;
  const env = opts.env ?? process.env;
  const quantile = plan.tables.find((t) => t.measure.kind === 'quantile');
  if (src.kind !== 'csv' && quantile)
    throw new StatguardError(
      'USAGE',
      `table ${quantile.id}: quantile tables need the per-cell distribution only the csv source computes; the ${src.kind} source cannot give it (read the file with source kind "csv")`,
      { path: `/tables/${plan.tables.indexOf(quantile)}/measure` },
    );
  switch (src.kind) {
    case 'csv':
      return csvSource();
    case 'postgres': {
      const url = connectionUrl(src.connection, env);
      if (url !== null) return postgresSource({ url });
      if (opts.pglite !== undefined) return pgliteSource({ db: opts.pglite });
      const dir = opts.pgliteDataDir ?? env.STATGUARD_PGLITE_DIR;
      if (dir !== undefined && dir !== '') return pgliteSource({ dataDir: dir });
      throw new StatguardError(
        'SOURCE_UNREADABLE',
        `postgres source ${src.table}: set ${src.connection ?? 'DATABASE_URL'} (or STATGUARD_PGLITE_DIR for an embedded database)`,
        { path: '/dataset/source' },
      );
    }
    case 'parquet':
    case 'csv-duckdb':
      return duckdbSource(opts.duckdb);
  }
}
