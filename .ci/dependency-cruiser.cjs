/**
 * Import rules checked by `npm run check` (and so by .ci/run):
 * - no import cycle anywhere in engine/, api/ or cli/, type-only imports included;
 * - engine/ never imports api/ or cli/, nor fastify;
 * - database drivers (pg, PGlite, DuckDB, kysely) only in engine/source/ (the source adapters).
 */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'no import cycle', from: {}, to: { circular: true } },
    {
      name: 'engine-not-api',
      severity: 'error',
      comment: 'the engine is usable without the API, the store or the CLI',
      from: { path: '^engine/' },
      to: { path: '^(api|cli)/' },
    },
    {
      name: 'engine-no-fastify',
      severity: 'error',
      from: { path: '^engine/' },
      to: { path: 'node_modules/(fastify|@fastify/)' },
    },
    {
      name: 'drivers-only-in-source-adapters',
      severity: 'error',
      comment: 'database drivers are reached through engine/source/ only',
      from: { path: '^engine/', pathNot: '^engine/source/' },
      to: { path: 'node_modules/(pg|@electric-sql/pglite|@duckdb/|kysely)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
