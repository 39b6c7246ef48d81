/**
 * The embedded store keeps a short table of PGlite result parsers (api/store/db.ts `trimParsers`: PGlite copies the
 * table on every query, and its ~290 array parsers made each query cost about 110 us more): every type the store
 * reads still comes back parsed, scalars and arrays of common types alike, on every dialect.
 */
import { sql } from 'kysely';
import t from 'tap';
import { dialects } from './dialects.ts';

for (const d of dialects()) {
  t.test(`query results are parsed on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const r = await sql<Record<string, unknown>>`SELECT 5::int4 AS i4, 2::int2 AS i2, 1.5::float8 AS f8, true AS bo,
        'x'::text AS tx, 'v'::varchar AS vc, '{"x": [1, null]}'::jsonb AS jb, '{"y": 2}'::json AS js,
        '2026-12-07T21:00:00Z'::timestamptz AS ts, '\\x0102'::bytea AS by,
        ARRAY['a', 'b,c', NULL]::text[] AS ta, ARRAY[1, 2]::int4[] AS ia, ARRAY[true, false]::bool[] AS ba,
        ARRAY[1.5, -2]::float8[] AS fa, ARRAY['{"z": 1}']::jsonb[] AS ja, ARRAY['v']::varchar[] AS va,
        ARRAY['2026-12-07T21:00:00Z']::timestamptz[] AS tsa`.execute(store.db);
    const row = r.rows[0]!;
    t.same(
      { ...row, by: Array.from(row.by as Uint8Array) },
      {
        i4: 5,
        i2: 2,
        f8: 1.5,
        bo: true,
        tx: 'x',
        vc: 'v',
        jb: { x: [1, null] },
        js: { y: 2 },
        ts: new Date('2026-12-07T21:00:00Z'),
        by: [1, 2],
        ta: ['a', 'b,c', null],
        ia: [1, 2],
        ba: [true, false],
        fa: [1.5, -2],
        ja: [{ z: 1 }],
        va: ['v'],
        tsa: [new Date('2026-12-07T21:00:00Z')],
      },
    );
    t.ok(row.ts instanceof Date && (row.tsa as unknown[])[0] instanceof Date, 'time stamps are Dates');
  });
}
