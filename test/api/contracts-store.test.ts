/**
 * Access requests and table contracts in the store (issue 20, item 1), on every dialect: request -> approve (as
 * asked or narrowed, never wider) / refuse (reason required), one decision only (in the code and in the database),
 * every step in the audit chain.
 */
import { sql } from 'kysely';
import t from 'tap';
import type { ApiError } from '../../api/errors.ts';
import {
  approveAccessRequest,
  createAccessRequest,
  listAccessRequests,
  refuseAccessRequest,
} from '../../api/contracts/requests.ts';
import { checkTerms, widenings } from '../../api/contracts/terms.ts';
import { verifyChains } from '../../api/store/chain.ts';
import { dialects } from './dialects.ts';
import { OFFICER, registerDatasets, researcher, TERMS } from './contracts-helpers.ts';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'passed';
  } catch (e) {
    return (e as ApiError).code ?? String(e);
  }
}

t.test('terms: ajv names every problem by JSON path; widenings lists what an approval would widen', async (t) => {
  try {
    checkTerms({ ...TERMS, scale: { ...TERMS.scale, tablesPerDay: -1 }, form: { measures: [], formats: ['xml'] } });
    t.fail('invalid terms pass');
  } catch (e) {
    const msg = (e as Error).message;
    t.match(msg, /\/terms\/scale\/tablesPerDay/);
    t.match(msg, /\/terms\/form\/measures/);
    t.match(msg, /\/terms\/form\/formats\/0 .*json, csv, jsonstat/);
  }
  t.same(widenings(TERMS, TERMS), [], 'the same terms widen nothing');
  const narrower = {
    ...TERMS,
    scale: { ...TERMS.scale, tablesPerDay: 1 },
    level: { ...TERMS.level, variables: { region: { maxLevel: 0 } }, minPopulation: 50 },
    form: { ...TERMS.form, formats: ['csv' as const] },
  };
  t.same(widenings(TERMS, narrower), [], 'narrower terms widen nothing');
  const wider = {
    scale: { ...TERMS.scale, cellsTotal: 401, dpShare: { rho: 1 } },
    level: { variables: { region: {}, district: {} }, maxDimensions: 3 },
    form: { measures: ['count', 'income'], formats: ['json' as const] },
  };
  t.same(widenings(TERMS, wider).sort(), [
    '/terms/form/measures/1',
    '/terms/level/maxDimensions',
    '/terms/level/variables/district',
    '/terms/level/variables/region/maxLevel',
    '/terms/scale/cellsTotal',
    '/terms/scale/dpShare/rho',
  ]);
});

for (const d of dialects()) {
  t.test(`access requests on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;
    await registerDatasets(db);
    const rae = await researcher(db, 'Rae');
    const sam = await researcher(db, 'Sam');
    const now = new Date('2026-12-07T10:00:00Z');

    t.test('request, list own, approve narrowed, one decision only', async (t) => {
      const req = await createAccessRequest(db, rae.actor, {
        dataset: 'people',
        purpose: 'regional ageing',
        terms: TERMS,
        durationDays: 10,
      });
      t.equal(req.status, 'pending');
      t.equal(req.keyName, 'Rae');
      t.same(
        (await listAccessRequests(db, { key: rae.actor.caller })).map((r) => r.id),
        [req.id],
        'the researcher lists its own request',
      );
      t.same(await listAccessRequests(db, { key: sam.actor.caller }), [], 'not the others');
      const wider = { ...TERMS, level: { ...TERMS.level, maxDimensions: 5 } };
      try {
        await approveAccessRequest(db, req.id, OFFICER, { terms: wider }, now);
        t.fail('a wider approval passes');
      } catch (e) {
        t.equal((e as ApiError).code, 'BAD_REQUEST');
        t.match((e as Error).message, /\/terms\/level\/maxDimensions/);
      }
      t.equal(
        await code(
          approveAccessRequest(db, req.id, OFFICER, { start: now.toISOString(), end: '2026-12-20T10:00:00Z' }, now),
        ),
        'BAD_REQUEST',
        'an end beyond the requested 10 days is refused',
      );
      const narrowed = { ...TERMS, scale: { ...TERMS.scale, tablesPerDay: 1 } };
      const ok = await approveAccessRequest(db, req.id, OFFICER, { terms: narrowed, reason: 'one a day' }, now);
      t.equal(ok.request.status, 'approved');
      t.equal(ok.request.contract, ok.contract);
      const c = await db
        .selectFrom('table_contracts')
        .selectAll()
        .where('id', '=', ok.contract)
        .executeTakeFirstOrThrow();
      t.equal((c.terms as unknown as typeof TERMS).scale.tablesPerDay, 1, 'the contract holds the narrowed terms');
      t.equal(new Date(c.ends_at).getTime() - new Date(c.starts_at).getTime(), 10 * 86_400_000, 'for 10 days');
      t.equal(await code(refuseAccessRequest(db, req.id, OFFICER, 'too late')), 'INVALID_STATE', 'decided once');
      t.equal(await code(approveAccessRequest(db, req.id, OFFICER, {}, now)), 'INVALID_STATE');
      t.not(
        await code(sql`UPDATE access_requests SET status = 'refused', reason = 'x' WHERE id = ${req.id}`.execute(db)),
        'passed',
        'the database refuses a second decision',
      );
      t.not(await code(sql`DELETE FROM table_contracts WHERE id = ${ok.contract}`.execute(db)), 'passed', 'no delete');
      t.not(
        await code(sql`UPDATE table_contracts SET ends_at = now() + interval '1 year'`.execute(db)),
        'passed',
        'a contract is never extended in place',
      );
    });

    t.test('refuse needs a reason; bad requests are refused with their path', async (t) => {
      const req = await createAccessRequest(db, sam.actor, {
        dataset: 'people',
        purpose: 'x',
        terms: TERMS,
        durationDays: 5,
      });
      t.equal(await code(refuseAccessRequest(db, req.id, OFFICER, '  ')), 'BAD_REQUEST');
      const r = await refuseAccessRequest(db, req.id, OFFICER, 'purpose too vague');
      t.equal(r.status, 'refused');
      t.equal(r.reason, 'purpose too vague');
      t.equal(await code(refuseAccessRequest(db, 'ar_nope', OFFICER, 'x')), 'ACCESS_REQUEST_NOT_FOUND');
      const bad = (o: Record<string, unknown>) =>
        createAccessRequest(db, sam.actor, {
          dataset: 'people',
          purpose: 'p',
          terms: TERMS,
          durationDays: 5,
          ...o,
        } as never);
      t.equal(await code(bad({ dataset: 'firms' })), 'BAD_REQUEST', 'an sdc dataset offers no tables on demand');
      t.equal(await code(bad({ dataset: 'nowhere' })), 'DATASET_NOT_FOUND');
      t.equal(await code(bad({ durationDays: 0 })), 'BAD_REQUEST');
      t.equal(await code(bad({ purpose: ' ' })), 'BAD_REQUEST');
      t.equal(
        await code(bad({ terms: { ...TERMS, scale: { ...TERMS.scale, dpShare: { rho: 1 } } } })),
        'BAD_REQUEST',
        'a dp share only for a dp dataset',
      );
      t.equal(
        await code(
          createAccessRequest(db, OFFICER, { dataset: 'people', purpose: 'p', terms: TERMS, durationDays: 1 }),
        ),
        'FORBIDDEN',
        'only researchers request',
      );
    });

    t.test('a dp share is never larger than what is left of the dataset budget', async (t) => {
      const ask = (rho: number) =>
        createAccessRequest(db, sam.actor, {
          dataset: 'incomes',
          purpose: 'incomes by region',
          terms: { ...TERMS, scale: { ...TERMS.scale, dpShare: { rho } } },
          durationDays: 5,
        });
      const big = await ask(1);
      try {
        await approveAccessRequest(db, big.id, OFFICER, {}, now);
        t.fail('a share beyond the budget passes');
      } catch (e) {
        t.equal((e as ApiError).code, 'BUDGET_EXCEEDED');
        t.match((e as Error).message, /\/terms\/scale\/dpShare\/rho: 1 is more than the 0.25 left/);
      }
      const narrowed = { ...TERMS, scale: { ...TERMS.scale, dpShare: { rho: 0.2 } } };
      t.equal((await approveAccessRequest(db, big.id, OFFICER, { terms: narrowed }, now)).request.status, 'approved');
    });

    t.test('every step is in the audit chain', async (t) => {
      const rows = await db
        .selectFrom('audit_log')
        .select(['action', 'caller'])
        .where('action', 'like', 'access.%')
        .orderBy('id')
        .execute();
      t.same(
        rows.map((r) => r.action),
        ['access.request', 'access.approve', 'access.request', 'access.refuse', 'access.request', 'access.approve'],
      );
      t.equal(rows[0]!.caller, rae.actor.caller);
      t.equal(rows[1]!.caller, OFFICER.caller);
      t.ok((await verifyChains(db)).ok, 'the chains verify');
    });
  });
}
