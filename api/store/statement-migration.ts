/**
 * A migration made of SQL statements run one by one (PGlite's extended protocol runs a single statement per query)
 * that cannot be reverted: the store's records are append-only, so `down` refuses, saying why.
 */
import { sql, type Kysely, type Migration } from 'kysely';

export function statementMigration(statements: readonly string[], irreversible: string): Migration {
  return {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      for (const stmt of statements) await sql.raw(stmt).execute(db);
    },
    async down(): Promise<void> {
      throw new Error(irreversible);
    },
  };
}
