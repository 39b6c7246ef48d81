// The insider model under the time limit (issue 21): every insider phase checks the shared deadline; a search that
// runs out of time falls back to the coarse pattern, proven against insiders too, or is refused saying what was not
// proven. Never a pattern published on an unfinished insider proof.
import t from 'tap';
import seedrandom from 'seedrandom';
import { auditPattern } from '../../engine/sdc/audit.ts';
import { components } from '../../engine/sdc/components.ts';
import { Deadline, TimeUp } from '../../engine/sdc/deadline.ts';
import { highsRuntime } from '../../engine/sdc/highs.ts';
import { insiderExposures } from '../../engine/sdc/insiders.ts';
import { mergeSensitive } from '../../engine/sdc/sensitive.ts';
import { protectSdc } from '../../engine/sdc/protect.ts';
import type { ExactTable, InsiderModel } from '../../engine/types.ts';
import { cats, makeTable, sdcPlan, secondaryInputOf } from './helpers.ts';

/**
 * A sparse 3-dimension count table (6 x 5 x 6 leaves, all margins: 1,029 cells) from 500 persons, skewed so that
 * most interior cells hold 0-3 persons: many one-unit cells, most interior cells sensitive at minimum frequency 10.
 */
function sparse(): ExactTable {
  const rng = seedrandom('insiders-timelimit');
  const sizes = [6, 5, 6];
  const specs = sizes.map((n, d) => ({
    name: `d${d}`,
    categories: cats(...Array.from({ length: n }, (_, i) => `c${d}_${i}`)),
  }));
  const rows = Array.from({ length: 500 }, () => ({
    codes: sizes.map((n, d) => `c${d}_${Math.floor(rng() ** 1.5 * n)}`),
    value: 1,
  }));
  return makeTable('sparse3', specs, rows);
}

const plan = (seconds: number, insiders?: InsiderModel) =>
  sdcPlan({
    minFrequency: 10,
    secondary: { method: 'heuristic', cost: 'unity', timeLimitSeconds: seconds, ...(insiders ? { insiders } : {}) },
  });

/** Module start-up and the last solver call a check cannot interrupt (as timelimit.test.ts). */
const ALLOWANCE_SECONDS = 1;

t.test('insiders on, a tight limit: in time, and proven against insiders or refused', async (t) => {
  await highsRuntime();
  const tab = sparse();
  const limit = 6;
  const started = Date.now();
  const r = await protectSdc([tab], plan(limit)).catch((e: unknown) => e);
  const seconds = (Date.now() - started) / 1000;
  t.ok(seconds <= limit * 1.1 + ALLOWANCE_SECONDS, `ended in ${seconds} s (limit ${limit} s)`);
  if (r instanceof Error) {
    // A refusal must say that the insider proof is what could not be finished.
    t.match(r, { code: 'SDC_INFEASIBLE', message: /insiders/ });
    t.comment(`refused: ${r.message.slice(0, 160)}`);
    return;
  }
  const res = r as Awaited<ReturnType<typeof protectSdc>>;
  t.same(res.report.insiders, { model: 'singletons', audited: true, complete: true, exposures: [] });
  t.comment(res.report.coarse ? `coarse: ${res.report.coarse.description}` : 'heuristic pattern');
  // Independent re-check without witnesses (every interval by LP): no insider exposes another unit's cell.
  const input = secondaryInputOf(tab, plan(limit));
  const pattern = new Uint8Array(input.sys.cellCount);
  res.tables[0]!.cells.forEach((c, i) => {
    if (c.value === null) pattern[input.sys.tableCells[0]![i]!] = 1;
  });
  const a = await auditPattern(input.sys, pattern, input.sensitive, { insiders: true });
  t.equal(a.passes, true, 'the LP-only audit with insiders passes the published pattern');
  t.same(a.insiders, []);
});

// 0.1 s: on this 2-core machine, with the code warm, the whole protection and its proof against insiders can finish in
// 0.29 s, so 0.3 s sometimes resolved (3 of 6 runs of this file); 0.1 s is refused by the final audit every time, and
// 0.02 s ends before the heuristic (a refusal that names the time limit, not insiders).
const NO_TIME = 0.1;

t.test('insiders on, no time to prove even a coarse pattern against them: a refusal naming insiders', async (t) => {
  await highsRuntime();
  const started = Date.now();
  await t.rejects(protectSdc([sparse()], plan(NO_TIME)), {
    code: 'SDC_INFEASIBLE',
    // Refused in the coarse fallback or in the final audit, depending on the machine's speed: both name insiders.
    message: /safe against (the public and against )?insiders/,
  });
  const seconds = (Date.now() - started) / 1000;
  t.ok(seconds <= NO_TIME * 1.1 + ALLOWANCE_SECONDS, `refused after ${seconds} s`);
});

t.test("insiders 'none': no insider work, the report says so", async (t) => {
  await highsRuntime();
  const r = await protectSdc([sparse()], plan(6, 'none'));
  t.same(r.report.insiders, { model: 'none', audited: false, complete: false, exposures: [] });
  t.equal(r.report.singletonRule, false);
});

t.test('the insider audit stops at its deadline: TimeUp, or a partial report when asked', async (t) => {
  const tab = sparse();
  const input = secondaryInputOf(tab, plan(6));
  // Every cell with more than one dimension below its total hidden, with the primaries: one-unit cells suppressed.
  const sup = Uint8Array.from(input.primary);
  for (let c = 0; c < sup.length; c++) if (input.sys.units[c] === 1) sup[c] = 1;
  const base = {
    sys: input.sys,
    suppressed: sup,
    sens: mergeSensitive(input.sensitive),
    comps: components(input.sys, sup),
    deadline: new Deadline(Date.now() - 1),
  };
  await t.rejects(insiderExposures(base), TimeUp, 'an expired deadline throws TimeUp');
  const partial = await insiderExposures({ ...base, partial: true });
  t.equal(partial.complete, false, 'a partial audit says it is incomplete');
  t.equal(partial.insiders, 0);
  const full = await insiderExposures({ ...base, deadline: Deadline.after(120), partial: true });
  t.equal(full.complete, true);
  t.ok(full.insiders > 0, `${full.insiders} insiders audited`);
});
