/**
 * kysely set up once as a SQL text compiler (PostgreSQL quoting rules, no driver): every statement of engine/source/sql is
 * a kysely `sql` fragment compiled here. Both engines read this text: DuckDB accepts PostgreSQL's quoting and `$n`
 * parameters.
 */
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import type { RawBuilder } from 'kysely';

/** A SQL fragment. */
export type Frag = RawBuilder<unknown>;

/** A statement's text with its bind parameters ($1, ...). */
export interface CompiledSql {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

const compiler = new Kysely<Record<string, never>>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

export function compile(q: Frag): CompiledSql {
  const c = q.compile(compiler);
  return { sql: c.sql, parameters: c.parameters };
}

/** A literal inlined in the text (policy constants only; microdata values are bind parameters). */
export const lit = (v: string | number): Frag => sql.lit(v) as Frag;
export const join = (parts: readonly Frag[], sep = sql`, `): Frag => sql.join(parts, sep) as Frag;
/** A quoted identifier. */
export const ref = (name: string): Frag => sql.ref(name) as Frag;
