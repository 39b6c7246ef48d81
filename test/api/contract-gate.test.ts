/**
 * The contract gate (issue 20, item 2), against its interface, on every dialect: each of the four boundaries refused
 * with the problem code and `term` naming it; scale counted per UTC day and in total; two requests racing for the
 * last table of the day never both pass; dp charged to the contract's share AND the dataset's ledger only when a
 * table was computed; a cancelled reservation gives the table back.
 */
import t from 'tap';
import { makeContractGate, type ContractGate, type DpCost, type GateQuery } from '../../api/contracts/gate.ts';
import { gateSchemaOf, type GateSchema } from '../../api/contracts/boundaries.ts';
import type { ApiError } from '../../api/errors.ts';
import type { Actor } from '../../api/store/audit.ts';
import { verifyChains } from '../../api/store/chain.ts';
import { ledgerSpent } from '../../api/store/ledger.ts';
import { dialects } from './dialects.ts';
import { contractFor, DP_TERMS, registerDatasets, researcher, TERMS } from './contracts-helpers.ts';

const levelled = (name: string, codes: Record<string, number>) => ({
  name,
  levels: Math.max(...Object.values(codes)),
  codes: Object.entries(codes).map(([code, level]) => ({ code, level })),
});
/** Built from the shape of the on-demand public schema (engine/ondemand/query.ts PublicSchema) by gateSchemaOf. */
const SCHEMA: GateSchema = gateSchemaOf({
  dimensions: [
    levelled('region', { _T: 0, N: 1, S: 1, N1: 2, N2: 2, S1: 2 }),
    levelled('sex', { _T: 0, '1': 1, '2': 1 }),
    levelled('age', { _T: 0, Y0_49: 1, Y50_: 1, Y0_9: 2 }),
    levelled('income', { _T: 0, low: 1, high: 1 }),
  ],
});

const Q: GateQuery = { dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }], measure: 'count' };

interface Refusal {
  code: string;
  status: number;
  term: unknown;
  retryAfter?: unknown;
}

async function refused(p: Promise<unknown>): Promise<Refusal | 'passed'> {
  try {
    await p;
    return 'passed';
  } catch (e) {
    const a = e as ApiError;
    return { code: a.code, status: a.status, term: a.extra?.term, retryAfter: a.extra?.retryAfter };
  }
}

for (const d of dialects()) {
  t.test(`contract gate on ${d.name}`, async (t) => {
    const store = await d.open();
    t.teardown(async () => {
      await store.close();
      await d.cleanup();
    });
    const db = store.db;
    await registerDatasets(db);
    let clock = new Date('2026-12-07T10:00:00Z');
    const gate: ContractGate = makeContractGate({
      db,
      now: () => clock,
      schema: async () => SCHEMA,
      population: async (_ds, filter) => (filter.region?.includes('S') ? 40 : 500),
    });
    const take = async (a: Actor, q: GateQuery = Q, cells = 10, ds = 'people', cost?: DpCost) => {
      const auth = await gate.authorise(a, ds, q, cells, cost);
      await gate.recordUse(auth, cells, cost);
      return auth;
    };

    t.test('time: none, not started, active, expired', async (t) => {
      const { actor } = await researcher(db, 'Tim');
      t.match(await refused(gate.authorise(actor, 'people', Q, 10)), {
        code: 'CONTRACT_NONE',
        status: 403,
        term: 'contract',
      });
      t.match(await refused(gate.authorise({ caller: 'anonymous', role: 'anonymous' }, 'people', Q, 1)), {
        code: 'CONTRACT_NONE',
      });
      await contractFor(db, actor, { start: new Date('2026-12-10T00:00:00Z'), days: 2 });
      t.match(await refused(gate.authorise(actor, 'people', Q, 10)), {
        code: 'CONTRACT_NOT_STARTED',
        status: 403,
        term: 'time.start',
      });
      clock = new Date('2026-12-10T00:00:00Z');
      t.equal(await refused(take(actor)), 'passed', 'served from its start');
      clock = new Date('2026-12-11T23:59:59Z');
      t.equal(await refused(take(actor)), 'passed', 'served until just before its end');
      clock = new Date('2026-12-12T00:00:00Z');
      t.match(await refused(gate.authorise(actor, 'people', Q, 10)), {
        code: 'CONTRACT_EXPIRED',
        status: 403,
        term: 'time.end',
      });
      clock = new Date('2026-12-07T10:00:00Z');
    });

    t.test('form: measures and formats', async (t) => {
      const { actor } = await researcher(db, 'Fay');
      await contractFor(db, actor, { start: clock });
      t.match(await refused(gate.authorise(actor, 'people', { ...Q, measure: 'income' }, 10)), {
        code: 'CONTRACT_FORM',
        status: 403,
        term: 'form.measures',
      });
      t.match(await refused(gate.authorise(actor, 'people', { ...Q, format: 'jsonstat' }, 10)), {
        code: 'CONTRACT_FORM',
        term: 'form.formats',
      });
      t.equal(await refused(take(actor, { ...Q, format: 'csv' })), 'passed', 'an allowed format passes');
    });

    t.test('level: variables, hierarchy depth, dimensions at once, filtered population', async (t) => {
      const { actor } = await researcher(db, 'Lev');
      await contractFor(db, actor, {
        start: clock,
        terms: { ...TERMS, level: { ...TERMS.level, minPopulation: 100 } },
      });
      const level = async (q: GateQuery) => refused(gate.authorise(actor, 'people', q, 10));
      t.match(await level({ dimensions: [{ name: 'income' }], measure: 'count' }), {
        code: 'CONTRACT_LEVEL',
        status: 403,
        term: 'level.variables.income',
      });
      t.match(await level({ dimensions: [{ name: 'region', level: 2 }], measure: 'count' }), {
        code: 'CONTRACT_LEVEL',
        term: 'level.variables.region.maxLevel',
      });
      t.match(
        await level({ dimensions: [{ name: 'region' }], measure: 'count' }),
        { code: 'CONTRACT_LEVEL', term: 'level.variables.region.maxLevel' },
        'an omitted level is the finest (districts), refused under regions-only',
      );
      t.match(
        await level({ dimensions: [{ name: 'sex' }], measure: 'count', filter: { region: ['N1'] } }),
        { code: 'CONTRACT_LEVEL', term: 'level.variables.region.maxLevel' },
        'a filter on a district is as deep as a district table',
      );
      t.match(
        await level({ dimensions: [{ name: 'sex' }], measure: 'count', filter: { income: ['low'] } }),
        { code: 'CONTRACT_LEVEL', term: 'level.variables.income' },
        'a filter on a variable not allowed',
      );
      t.match(
        await level({
          dimensions: [{ name: 'region', level: 1 }, { name: 'sex' }, { name: 'age', level: 1 }],
          measure: 'count',
        }),
        { code: 'CONTRACT_LEVEL', term: 'level.maxDimensions' },
      );
      t.match(
        await level({ dimensions: [{ name: 'sex' }], measure: 'count', filter: { region: ['S'] } }),
        { code: 'CONTRACT_LEVEL', term: 'level.minPopulation' },
        'a filter below the minimum population',
      );
      t.equal(
        await refused(take(actor, { dimensions: [{ name: 'sex' }], measure: 'count', filter: { region: ['N'] } })),
        'passed',
        'a filter at or above the minimum population passes',
      );
      t.equal(
        await refused(take(actor, { dimensions: [{ name: 'age', level: 2 }, { name: 'sex' }], measure: 'count' })),
        'passed',
      );
      const blind = makeContractGate({ db, now: () => clock, schema: async () => SCHEMA });
      t.match(
        await refused(
          blind.authorise(
            actor,
            'people',
            { dimensions: [{ name: 'sex' }], measure: 'count', filter: { region: ['N'] } },
            1,
          ),
        ),
        { code: 'CONTRACT_LEVEL', term: 'level.minPopulation' },
        'without a protected population figure a filtered query fails closed',
      );
    });

    t.test('scale: tables and cells per day (429) and in total (403)', async (t) => {
      const { actor } = await researcher(db, 'Sal');
      await contractFor(db, actor, { start: clock });
      // TERMS: 3 tables / 100 cells a day, 5 tables / 400 cells in total.
      await take(actor, Q, 60);
      t.match(await refused(gate.authorise(actor, 'people', Q, 41)), {
        code: 'CONTRACT_SCALE',
        status: 429,
        term: 'scale.cellsPerDay',
      });
      await take(actor, Q, 40);
      const r = await refused(gate.authorise(actor, 'people', Q, 1));
      t.match(r, { code: 'CONTRACT_SCALE', status: 429, term: 'scale.cellsPerDay' }, '100 cells taken today');
      clock = new Date('2026-12-08T10:00:00Z');
      t.equal((r as Refusal).retryAfter, 14 * 3600, 'retry after midnight UTC');
      await take(actor, Q, 10);
      await take(actor, Q, 10);
      await take(actor, Q, 10);
      t.match(await refused(gate.authorise(actor, 'people', Q, 10)), {
        code: 'CONTRACT_SCALE',
        status: 403,
        term: 'scale.tablesTotal',
      });
      clock = new Date('2026-12-07T10:00:00Z');
      const { actor: other } = await researcher(db, 'Otto');
      await contractFor(db, other, { start: clock });
      t.match(await refused(gate.authorise(other, 'people', Q, 401)), {
        code: 'CONTRACT_SCALE',
        term: 'scale.cellsTotal',
      });
      await take(other, Q, 1);
      await take(other, Q, 1);
      await take(other, Q, 1);
      t.match(await refused(gate.authorise(other, 'people', Q, 1)), {
        code: 'CONTRACT_SCALE',
        status: 429,
        term: 'scale.tablesPerDay',
      });
    });

    t.test('two requests racing for the last table of the day: exactly one passes', async (t) => {
      for (let round = 0; round < 3; round++) {
        const { actor } = await researcher(db, `Race${round}`);
        await contractFor(db, actor, { start: clock });
        await take(actor, Q, 1);
        await take(actor, Q, 1);
        const both = await Promise.all([
          refused(gate.authorise(actor, 'people', Q, 1)),
          refused(gate.authorise(actor, 'people', Q, 1)),
        ]);
        t.equal(both.filter((x) => x === 'passed').length, 1, `round ${round}: one passes`);
        t.match(
          both.find((x) => x !== 'passed'),
          { code: 'CONTRACT_SCALE', term: 'scale.tablesPerDay' },
        );
      }
    });

    t.test('a cancelled reservation gives the table back; a reservation is settled once', async (t) => {
      const { actor } = await researcher(db, 'Cal');
      await contractFor(db, actor, { start: clock });
      await take(actor, Q, 1);
      await take(actor, Q, 1);
      const a = await gate.authorise(actor, 'people', Q, 1);
      t.match(await refused(gate.authorise(actor, 'people', Q, 1)), { term: 'scale.tablesPerDay' }, 'held');
      await gate.cancel(a);
      t.match(await refused(gate.recordUse(a, 1)), { code: 'INVALID_STATE' }, 'a cancelled use is not recorded');
      const b = await gate.authorise(actor, 'people', Q, 1);
      t.match(await refused(gate.recordUse(b, 2)), { code: 'INVALID_STATE' }, 'no more cells than authorised');
      t.match(await refused(gate.recordUse(b, 1, { rho: 0.1 })), { code: 'INVALID_STATE' }, 'no unreserved dp cost');
      await gate.recordUse(b, 1);
      t.match(await refused(gate.recordUse(b, 1)), { code: 'INVALID_STATE' }, 'recorded once');
    });

    t.test('dp: charged to the share and the ledger on a computed answer only', async (t) => {
      const { actor } = await researcher(db, 'Dee');
      const roomy = { ...DP_TERMS, scale: { ...DP_TERMS.scale, tablesPerDay: 10 } };
      await contractFor(db, actor, { dataset: 'incomes', terms: roomy, start: clock });
      // Approved while the whole budget (0.25) was left; each share alone fits, both together do not.
      const { actor: big } = await researcher(db, 'Big');
      const large = { ...DP_TERMS, scale: { ...DP_TERMS.scale, dpShare: { rho: 0.2 } } };
      await contractFor(db, big, { dataset: 'incomes', terms: large, start: clock });
      const spent = async () => (await ledgerSpent(db, ['incomes'])).get('incomes')!.rho;
      const a = await gate.authorise(actor, 'incomes', Q, 10, { rho: 0.04 });
      await gate.recordUse(a, 10, { rho: 0.04 });
      t.equal(await spent(), 0.04, 'the dataset ledger is charged');
      const cached = await gate.authorise(actor, 'incomes', Q, 10, { rho: 0.04 });
      await gate.recordUse(cached, 10);
      t.equal(await spent(), 0.04, 'a cached answer charges no budget');
      await take(actor, Q, 10, 'incomes', { rho: 0.05 });
      t.match(await refused(gate.authorise(actor, 'incomes', Q, 10, { rho: 0.02 })), {
        code: 'CONTRACT_SCALE',
        status: 403,
        term: 'scale.dpShare.rho',
      });
      t.equal(
        await refused(gate.authorise(actor, 'incomes', Q, 10, { rho: 0.005, epsilon: 0.1 }).then(gate.cancel)),
        'passed',
        'a share limits the quantities it states (rho here), as the costs of the route state both for pure dp',
      );
      const { actor: none } = await researcher(db, 'Nil');
      await contractFor(db, none, { dataset: 'incomes', start: clock });
      t.match(
        await refused(gate.authorise(none, 'incomes', Q, 10, { rho: 0.01, epsilon: null })),
        { code: 'CONTRACT_SCALE', status: 403, term: 'scale.dpShare' },
        'no share: no dp table',
      );
      t.equal(
        await refused(gate.authorise(none, 'incomes', Q, 10).then(gate.cancel)),
        'passed',
        'no cost, no share needed',
      );
      t.match(
        await refused(gate.authorise(big, 'incomes', Q, 10, { rho: 0.2 })),
        { code: 'BUDGET_EXCEEDED' },
        "two shares (0.1 and 0.2) overbook the dataset's 0.25: its total still holds (0.09 spent)",
      );
      const ledger = await db.selectFrom('budget_ledger').selectAll().where('dataset_id', '=', 'incomes').execute();
      t.equal(ledger.length, 2);
      t.equal(ledger[0]!.release_id, null);
      t.match(ledger[0]!.created_by, /^contract:tc_/);
      t.ok((await verifyChains(db)).ok, 'the ledger and audit chains verify with on-demand charges');
      const uses = await db.selectFrom('audit_log').select('detail').where('action', '=', 'contract.use').execute();
      t.ok(uses.length >= 3, 'every use is audited');
    });
  });
}
