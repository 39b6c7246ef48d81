/**
 * The group-commit writer chains its batches itself (migration 005, store/chain-append.ts), on every store dialect:
 * - its canonical rendering is PostgreSQL's: `jsonbText` prints what `detail::text` prints for arbitrary JSON
 *   (fast-check, fixed seed), and `microsToIso` what the chain's `to_char` prints for a time stamp;
 * - batches with hostile values, interleaved with rows chained by the database's trigger (a mutation's own row) and
 *   with a second writer (another API process on the same store), all verify;
 * - the database refuses a statement whose rows do not continue the head, do not follow each other or go back in
 *   time, and verification catches a row inserted with a hash that is not its own.
 */
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import t from 'tap';
import { AuditBuffer } from '../../api/audit-buffer.ts';
import { writeAudit, type AuditEntry } from '../../api/store/audit.ts';
import { ChainAppender, chainBatch, jsonbText, microsToIso, readTip } from '../../api/store/chain-append.ts';
import { verifyChains } from '../../api/store/chain.ts';
import type { Database } from '../../api/store/schema.ts';
import { dialects } from './dialects.ts';

const SEED = 170_005;
const anonymous = { caller: 'anonymous', role: 'anonymous' } as const;

// JSON values as a route's audit detail may hold them: objects, arrays, strings (any Unicode, quotes, backslashes,
// controls), integers and doubles of every magnitude (exponent notation in JS), booleans, null.
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0001', 'a', 'é', '\u{1F600}', '/', '\u007f') }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(1e21, -1.5e-7, 5e-324, 1.7976931348623157e308, 123456789012345680000, 0.1, -0),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** Every string of `v` (keys too) is one PostgreSQL can hold: no NUL, no lone surrogate (cleanEntry replaces those). */
function storable(v: unknown): boolean {
  const ok = (s: string) =>
    !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s) && !s.includes('\u0000');
  if (typeof v === 'string') return ok(v);
  if (Array.isArray(v)) return v.every(storable);
  if (v && typeof v === 'object') return Object.entries(v).every(([k, x]) => ok(k) && storable(x));
  return true;
}

for (const d of dialects()) {
  t.test(`the writer's chain on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;

    t.test('jsonbText prints what PostgreSQL prints for detail::text', async (t) => {
      // Values PostgreSQL can hold (no NUL, no lone surrogate: cleanEntry replaces those first).
      const values = fc.sample(json, { seed: SEED, numRuns: 400 }).filter(storable);
      t.ok(values.length > 300, `${values.length} values`);
      const r = await sql<{ i: number; text: string }>`SELECT i::int AS i, v::jsonb::text AS text
          FROM unnest(${values.map((v) => JSON.stringify(v))}::text[]) WITH ORDINALITY AS x(v, i)`.execute(db);
      let mismatches = 0;
      for (const row of r.rows) {
        const mine = jsonbText(values[row.i - 1]);
        if (mine !== row.text && mismatches++ < 3) t.equal(mine, row.text, JSON.stringify(values[row.i - 1]));
      }
      t.equal(mismatches, 0, 'every value printed alike');
    });

    t.test('microsToIso prints what the chain prints for a time stamp', async (t) => {
      const times = [0, 1, 999, 1_000_000, Date.UTC(2026, 11, 7, 23, 59, 59, 999) * 1000 + 999, 1_700_000_000_123_456];
      const r = await sql<{ text: string }>`SELECT to_char(to_timestamp(us / 1000000.0) AT TIME ZONE 'UTC',
          'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS text FROM unnest(${times}::bigint[]) WITH ORDINALITY AS x(us, i)
          ORDER BY i`.execute(db);
      t.same(
        times.map(microsToIso),
        r.rows.map((x) => x.text),
      );
    });

    t.test('batches, trigger-chained rows and a second writer make one chain that verifies', async (t) => {
      const errors: unknown[] = [];
      // `a` writes through the store's bulk path where it has one (PGlite: COPY of CSV), `b` with INSERT ... unnest.
      const a = new AuditBuffer(db, (e) => errors.push(e), store.copyCsv);
      const b = new AuditBuffer(db, (e) => errors.push(e));
      const hostile = (i: number): AuditEntry => ({
        actor: anonymous,
        action: 'table.read',
        target: `r/${i}\u0000"\\ \uD800 é \u{1F600}`,
        outcome: 'ok',
        status: 200,
        detail: {
          method: 'GET',
          i,
          f: i / 7,
          big: 1e21 * (i + 1),
          tiny: -1.5e-7,
          s: 'a"b\\c\nd\u0001',
          csv: '"",\r\n\\.\n,"x"',
          arr: [1, null],
        },
      });
      for (let round = 0; round < 3; round++) {
        await Promise.all([
          ...Array.from({ length: 20 }, (_, i) => a.push(hostile(round * 100 + i))),
          ...Array.from({ length: 7 }, (_, i) => b.push(hostile(round * 100 + 50 + i))),
          // NULL and the empty string stay apart (CSV: an unquoted empty field against "").
          a.push({ actor: anonymous, action: 'empty', target: round === 0 ? null : '', outcome: 'denied' }),
        ]);
        await writeAudit(db, { actor: anonymous, action: 'mutation', target: `m${round}`, outcome: 'ok' });
      }
      await a.flush();
      await b.flush();
      t.same(errors, [], 'no batch refused');
      const r = await verifyChains(db);
      t.ok(r.ok, JSON.stringify(r.chains));
      const n = await sql<{ n: string }>`SELECT count(*)::text AS n FROM audit_log`.execute(db);
      t.equal(Number(n.rows[0]!.n), 3 * 29, 'every row stored');
      const empty = await sql<{ target: string | null; status: number | null; detail: unknown }>`SELECT target, status,
          detail FROM audit_log WHERE action = 'empty' ORDER BY seq`.execute(db);
      t.same(
        empty.rows,
        [
          { target: null, status: null, detail: null },
          { target: '', status: null, detail: null },
          { target: '', status: null, detail: null },
        ],
        'NULL stored as NULL, the empty string as the empty string',
      );
      const times = await sql<{ ok: boolean }>`SELECT bool_and(at >= lag) AS ok FROM (SELECT at,
          lag(at, 1, at) OVER (ORDER BY seq) AS lag FROM audit_log) x`.execute(db);
      t.equal(times.rows[0]!.ok, true, 'time stamps never go backwards along the chain');
    });

    t.test("the store's bulk path (PGlite: COPY of CSV) stores every value as INSERT does", async (t) => {
      const copy = store.copyCsv;
      if (!copy) return t.equal(d.name, 'postgres', 'only a server store has no bulk path');
      let copied = 0; // batches the bulk path stored (a refused COPY falls back to INSERT in a transaction)
      const bulk = new ChainAppender(db, async (target, csv) => {
        await copy(target, csv);
        copied++;
      });
      const plain = new ChainAppender(db);
      const values = ['', 'a"b', '""', 'x,y', '\\.', '\\', "it's", 'é \u{1F600}', ' lead and trail '];
      const entries = (i: number): AuditEntry[] =>
        values.map((v, j) => ({
          actor: { caller: v || 'anonymous', role: 'anonymous' },
          action: `bulk.${i}`,
          target: j % 3 === 0 ? null : v,
          outcome: 'ok',
          status: j % 2 === 0 ? null : 200 + j,
          detail: j % 4 === 0 ? null : { v, n: j / 3, list: [v, null] },
        }));
      for (let i = 0; i < 4; i++) await bulk.append(entries(i));
      t.equal(copied, 3, 'every batch after the first (which reads the head under its lock) went through COPY');
      await plain.append(entries(9));
      const rows = await sql<{
        action: string;
        caller: string;
        target: string | null;
        status: number | null;
        detail: string | null;
      }>`SELECT action, caller, target, status, detail::text AS detail FROM audit_log
          WHERE action LIKE 'bulk.%' ORDER BY seq`.execute(db);
      const shape = (a: string) => rows.rows.filter((r) => r.action === a).map(({ action: _, ...rest }) => rest);
      t.same(shape('bulk.3'), shape('bulk.9'), 'COPY and INSERT store the same values (NULL, empty, quotes, commas)');
      t.equal(shape('bulk.3').length, values.length);
      // Another writer moved the head: the COPY is refused whole, and the batch goes in under the head's lock.
      await writeAudit(db, { actor: anonymous, action: 'moved', target: null, outcome: 'ok' });
      await bulk.append(entries(10));
      await bulk.append(entries(11));
      t.equal(copied, 4, 'the batch on a stale tip was not copied; the next one was');
      const after = await sql<{ action: string }>`SELECT action FROM audit_log WHERE seq > (SELECT max(seq) FROM
          audit_log WHERE action = 'moved') - 1 ORDER BY seq`.execute(db);
      t.same(
        after.rows.map((r) => r.action),
        ['moved', ...values.map(() => 'bulk.10'), ...values.map(() => 'bulk.11')],
        'every row once, in order',
      );
      t.ok((await verifyChains(db)).ok, 'the chain verifies');
    });

    t.test('the database refuses rows that do not continue the chain', async (t) => {
      const insert = (db: Kysely<Database>, b: ReturnType<typeof chainBatch>) => {
        const [at, caller, role, action, target, outcome, status, detail, seq, prev, hash] = b.columns;
        return sql`INSERT INTO audit_log (at, caller, role, action, target, outcome, status, detail, seq, prev_hash,
            hash) SELECT * FROM unnest(${at}::timestamptz[], ${caller}::text[], ${role}::text[], ${action}::text[],
            ${target}::text[], ${outcome}::text[], ${status}::integer[], ${detail}::jsonb[], ${seq}::bigint[],
            ${prev}::text[], ${hash}::text[])`.execute(db);
      };
      const e: AuditEntry = { actor: anonymous, action: 'forged', target: null, outcome: 'ok' };
      const tip = await readTip(db, false);
      const last = await sql<{
        at: string;
      }>`SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
          FROM audit_log WHERE seq = ${tip.seq}`.execute(db);
      t.equal(microsToIso(tip.atMicros), last.rows[0]!.at, 'the tip carries the last time stamp to the microsecond');
      const stale = { ...tip, seq: tip.seq - 1 };
      await t.rejects(insert(db, chainBatch(stale, [e])), /do not continue the head|duplicate key/, 'a taken seq');
      await t.rejects(
        insert(db, chainBatch({ ...tip, hash: 'f'.repeat(64) }, [e])),
        /do not continue the head/,
        'a prev_hash that is not the head',
      );
      await t.rejects(
        insert(db, chainBatch({ ...tip, atMicros: 0 }, [e], tip.atMicros - 1_000_000)),
        /back in time|time stamp/,
        'a time stamp before the last row',
      );
      const b = chainBatch(tip, [e, e, e]);
      (b.columns[9] as string[])[2] = 'e'.repeat(64);
      await t.rejects(insert(db, b), /does not follow the row before it/, 'a row that does not follow its predecessor');
      // Later in a batch too (migration 007 checks each row against the one before it in one window pass).
      const early = chainBatch(tip, [e, e, e, e], tip.atMicros + 2_000_000);
      (early.columns[0] as string[])[3] = microsToIso(tip.atMicros + 1_000_000);
      await t.rejects(insert(db, early), /seq \d+ does not follow.*time stamp/, 'a row earlier than the one before it');
      const second = chainBatch(tip, [e, e, e, e]);
      (second.columns[9] as string[])[1] = 'd'.repeat(64);
      await t.rejects(insert(db, second), new RegExp(`seq ${tip.seq + 2} does not follow`), 'the first bad row named');
      t.ok((await verifyChains(db)).ok, 'nothing refused was stored');

      // A row with the right links but a hash that is not its own is stored (the statement does not rehash), and
      // verification names it.
      const forged = chainBatch(tip, [e]);
      (forged.columns[1] as string[])[0] = 'someone-else';
      await insert(db, forged);
      const r = await verifyChains(db);
      t.match(r.chains[0]!.broken?.problem, /does not match its hash \(edited\)/);
    });

    // Server only (PGlite has one connection). A mutation's audit row takes the head lock, then its `seq`; a batch
    // carries its `seq` from the remembered head. Migration 008 makes the batch take the lock before inserting
    // anything: without it, the batch's row held `seq` n + 1 while it waited for the lock, the mutation then waited for
    // that `seq`, and PostgreSQL failed one of them ("deadlock detected", 2 of 50 concurrent approvals).
    if (d.name === 'postgres')
      t.test('a batch waits for the head lock before its rows: a mutation holding it is never blocked', async (t) => {
        // A store of its own: an earlier subtest forges a row into the shared one's chain.
        const own = await d.open();
        t.teardown(() => own.close());
        const db = own.db;
        const w = new ChainAppender(db);
        await w.append([{ actor: anonymous, action: 'lockfirst-warm', target: null, outcome: 'ok' }]);
        let batch: Promise<unknown> = Promise.resolve();
        let batchError: unknown = null;
        await db.transaction().execute(async (tx) => {
          // What a mutation's first audit row does: lock the head (held to its commit).
          await sql`SELECT o_seq FROM statguard_chain_tip('audit_log', true)`.execute(tx);
          batch = w
            .append([{ actor: anonymous, action: 'lockfirst-batch', target: null, outcome: 'ok' }])
            .catch((e) => {
              batchError = e;
            });
          let waiting = 0;
          for (let i = 0; i < 500 && waiting === 0; i++) {
            const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(db);
            waiting = r.rows[0]!.n;
            if (waiting === 0) await new Promise((r) => setTimeout(r, 10));
          }
          t.equal(waiting, 1, 'the batch waits for a lock');
          // The mutation's own row: it must not wait for the batch (it would if the batch held its seq already).
          await sql`SET LOCAL lock_timeout = '200ms'`.execute(tx);
          await writeAudit(tx, { actor: anonymous, action: 'lockfirst-mutation', target: null, outcome: 'ok' });
        });
        await batch;
        t.equal(batchError, null, 'the batch is stored too (refused on the moved head, then chained under the lock)');
        const rows = await sql<{ action: string }>`SELECT action FROM audit_log
            WHERE action LIKE 'lockfirst-%' ORDER BY seq`.execute(db);
        t.same(
          rows.rows.map((r) => r.action),
          ['lockfirst-warm', 'lockfirst-mutation', 'lockfirst-batch'],
        );
        const v = await verifyChains(db);
        t.ok(v.ok, `the chain verifies: ${JSON.stringify(v)}`);
      });

    t.test('an appender whose head moved retries under the lock', async (t) => {
      const store2 = await d.open();
      t.teardown(() => store2.close());
      const w = new ChainAppender(store2.db);
      await w.append([{ actor: anonymous, action: 'first', target: null, outcome: 'ok' }]);
      await writeAudit(store2.db, { actor: anonymous, action: 'moved', target: null, outcome: 'ok' });
      await w.append([{ actor: anonymous, action: 'after', target: null, outcome: 'ok' }]);
      const rows = await sql<{ action: string }>`SELECT action FROM audit_log ORDER BY seq`.execute(store2.db);
      t.same(
        rows.rows.map((r) => r.action),
        ['first', 'moved', 'after'],
      );
      t.ok((await verifyChains(store2.db)).ok);
    });
  });
}
