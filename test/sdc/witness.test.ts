import t from 'tap';
import seedrandom from 'seedrandom';
import { auditPattern } from '../../engine/sdc/audit.ts';
import { applyPrimaryRules } from '../../engine/sdc/primary.ts';
import { buildCellSystem } from '../../engine/sdc/relations.ts';
import { checkWitness, checkWitnessOf } from '../../engine/sdc/witness-check.ts';
import { cheapestWitness } from '../../engine/sdc/cheapest-witness.ts';
import { findWitness, findWitnesses } from '../../engine/sdc/witness.ts';
import { forEachCube } from '../../engine/sdc/cubes.ts';
import { requiredMovement } from '../../engine/sdc/sensitive.ts';
import type { Witnesses } from '../../engine/sdc/witness-check.ts';
import type { Witness } from '../../engine/sdc/witness-check.ts';
import { highsRuntime } from '../../engine/sdc/highs.ts';
import { cellIndex } from '../../engine/types.ts';
import type { ExactTable } from '../../engine/types.ts';
import { cats, makeTable, sdcPlan, sumMeasure } from './helpers.ts';

/** A seeded 3-dimensional sum table with two-level hierarchies and a total on every dimension. */
function table3(seed: string): ExactTable {
  const rng = seedrandom(seed);
  const dim = (name: string, groups: number, per: number) => {
    const leaves = Array.from({ length: groups * per }, (_, i) => `${name}${String(i).padStart(2, '0')}`);
    return {
      name,
      categories: cats(...leaves),
      hierarchy: Array.from({ length: groups }, (_, g) => ({
        code: `${name.toUpperCase()}${g}`,
        label: `${name}${g}`,
        children: leaves.slice(g * per, g * per + per),
      })),
    };
  };
  const specs = [dim('a', 3, 3), dim('b', 2, 4), dim('c', 2, 2)];
  const rows: { codes: string[]; value: number }[] = [];
  for (const a of specs[0]!.categories)
    for (const b of specs[1]!.categories)
      for (const c of specs[2]!.categories) {
        const n = Math.floor(rng() * rng() * 6);
        for (let u = 0; u < n; u++)
          rows.push({ codes: [a.code, b.code, c.code], value: 1 + Math.floor(rng() * (rng() < 0.1 ? 3000 : 200)) });
      }
  return makeTable('t3', specs, rows, sumMeasure);
}

t.test('every enumerated cube is an alternative table (balanced in every relation, within bounds)', async (t) => {
  const tab = table3('witness-cubes');
  const sys = buildCellSystem([tab]);
  const all = new Uint8Array(sys.cellCount).fill(1);
  const rng = seedrandom('witness-cubes-cells');
  let cubes = 0;
  let broken = 0;
  for (let trial = 0; trial < 60; trial++) {
    const index = Math.floor(rng() * tab.cells.length);
    forEachCube(
      sys,
      [tab],
      0,
      index,
      () => 1,
      4,
      (cube) => {
        cubes++;
        t.equal(cube.ids[0], sys.tableCells[0]![index], 'the centre comes first');
        if (cube.capUp > 0) {
          const w: Witness = {
            ids: cube.ids,
            delta: Float64Array.from(cube.signs, (s) => s * cube.capUp),
            amount: cube.capUp,
          };
          if (!checkWitness(sys, all, w)) t.fail(`cube around cell ${index} is not an alternative table`);
          // The same cells with one sign flipped (or moved beyond the capacity) must be refused.
          if (cube.ids.length > 1) {
            const flipped = Float64Array.from(w.delta);
            flipped[1] = -flipped[1]!;
            if (checkWitness(sys, all, { ...w, delta: flipped })) broken++;
          }
        }
        return false;
      },
    );
  }
  t.ok(cubes > 500, `many cubes checked (${cubes})`);
  t.equal(broken, 0, 'a cube with one sign flipped never passes');
});

t.test('checkWitness refuses published cells, broken bounds and broken relations', async (t) => {
  const tab = table3('witness-refuse');
  const sys = buildCellSystem([tab]);
  const all = new Uint8Array(sys.cellCount).fill(1);
  // A leaf cell with positive value: its first cube.
  const index = tab.cells.findIndex((c, i) => c.sum > 0 && sys.cellRelations[sys.tableCells[0]![i]!]!.length === 3);
  let cube = null as null | { ids: Int32Array; signs: Int8Array; capUp: number };
  forEachCube(
    sys,
    [tab],
    0,
    index,
    () => 1,
    4,
    (c) => {
      if (c.capUp > 0) {
        cube = c;
        return true;
      }
      return false;
    },
  );
  t.ok(cube, 'a cube with room exists');
  const c = cube!;
  const ok: Witness = { ids: c.ids, delta: Float64Array.from(c.signs, (s) => s * c.capUp), amount: c.capUp };
  t.equal(checkWitness(sys, all, ok), true);
  const some = Uint8Array.from(all);
  some[c.ids[c.ids.length - 1]!] = 0;
  t.equal(checkWitness(sys, some, ok), false, 'a published cell cannot move');
  t.equal(
    checkWitness(sys, all, { ...ok, delta: Float64Array.from(c.signs, (s) => s * (c.capUp * 2 + 1)) }),
    false,
    'beyond a cell bound',
  );
  t.equal(
    checkWitness(sys, all, { ids: c.ids.slice(0, 1), delta: Float64Array.of(1), amount: 1 }),
    false,
    'one cell alone breaks its relations',
  );
});

t.test('the certified audit gives the exact audit verdict, inside the exact intervals', async (t) => {
  const plan = sdcPlan({ minFrequency: 3, dominance: [{ n: 1, k: 80 }] });
  let compared = 0;
  let certified = 0;
  let failing = 0;
  let exactMs = 0;
  let certMs = 0;
  for (const seed of ['w1', 'w2', 'w3']) {
    const tab = table3(`witness-audit-${seed}`);
    const sys = buildCellSystem([tab]);
    const p = applyPrimaryRules(tab, plan);
    const sens = p.cells.flatMap((c, i) =>
      c.unsafe ? [{ id: sys.tableCells[0]![i]!, upper: c.upper, lower: c.lower }] : [],
    );
    const rng = seedrandom(`pattern-${seed}`);
    for (const density of [0.3, 0.85]) {
      const sup = new Uint8Array(sys.cellCount);
      for (const s of sens) sup[s.id] = 1;
      for (let c = 0; c < sys.cellCount; c++) if (rng() < density) sup[c] = 1;
      let t0 = performance.now();
      const exact = await auditPattern(sys, sup, sens, { intervals: 'exact' });
      exactMs += performance.now() - t0;
      t0 = performance.now();
      const cert = await auditPattern(sys, sup, sens, { tables: [tab], intervals: 'certified' });
      certMs += performance.now() - t0;
      t.equal(cert.passes, exact.passes, `${seed} density ${density}: same verdict`);
      // Singleton exposures may differ in detail: the exact mode counts out only cells the equalities determine, the
      // certified mode also cells the bounds pin (LP min == max), which is where they differ (a pinned cell is as
      // good as published). Both always fail such patterns: the verdicts above are compared.
      const byId = new Map(exact.cells.map((c) => [c.id, c]));
      for (const c of cert.cells) {
        const e = byId.get(c.id)!;
        compared++;
        if (!e.passes) failing++;
        if (c.passes !== e.passes) t.fail(`cell ${c.id}: certified ${c.passes} vs exact ${e.passes}`);
        if (c.certified) {
          certified++;
          const tol = 1e-6 * Math.max(1, Math.abs(e.value));
          if (c.min < e.min - tol || c.max > e.max + tol)
            t.fail(`cell ${c.id}: certified [${c.min}, ${c.max}] outside exact [${e.min}, ${e.max}]`);
        }
      }
    }
  }
  t.ok(certified > 50, `witnesses decided many cells (${certified} of ${compared})`);
  t.ok(failing > 0, `failing cells were compared too (${failing})`);
  t.comment(`exact audits ${(exactMs / 1000).toFixed(1)} s, certified ${(certMs / 1000).toFixed(1)} s`);
});

t.test('a large protection is carried by a sum of cubes or the local LP', async (t) => {
  const tab = table3('witness-sum');
  const sys = buildCellSystem([tab]);
  const all = new Uint8Array(sys.cellCount).fill(1);
  const highs = await highsRuntime();
  // The grand total moving down by a quarter of its value: no single cube carries it (its chains end in small leaf cells).
  const totalIndex = cellIndex(
    tab.plan.dimensions,
    tab.plan.dimensions.map((d) => d.total!),
  );
  const total = sys.tableCells[0]![totalIndex]!;
  const need = sys.value[total]! / 4;
  let single = 0;
  forEachCube(
    sys,
    [tab],
    0,
    totalIndex,
    () => 1,
    8,
    (c) => {
      single = Math.max(single, c.capDown);
      return false;
    },
  );
  t.ok(single < need, `no single cube carries it (best ${single} < ${need})`);
  const w = findWitness(sys, [tab], all, total, -1, need, false, highs);
  t.ok(w, 'a witness exists when everything is suppressed');
  t.ok(w!.amount >= need * (1 - 1e-9), 'it carries the whole movement');
  t.equal(checkWitness(sys, all, w!), true);
  const exact = await auditPattern(sys, all, [{ id: total, upper: 0, lower: need }], { intervals: 'exact' });
  t.ok(exact.cells[0]!.min <= sys.value[total]! - need + 1e-6, 'the exact LP agrees');
});

t.test(
  "cheapestWitness: the LP relaxation of one cell's suppression problem gives a witness once its cells are suppressed",
  async (t) => {
    const plan = sdcPlan({ minFrequency: 3, dominance: [{ n: 1, k: 80 }] });
    const highs = await highsRuntime();
    let solved = 0;
    for (const seed of ['c1', 'c2']) {
      const tab = table3(`cheapest-${seed}`);
      const sys = buildCellSystem([tab]);
      const p = applyPrimaryRules(tab, plan);
      const sens = p.cells.flatMap((c, i) =>
        c.unsafe ? [{ id: sys.tableCells[0]![i]!, upper: c.upper, lower: c.lower }] : [],
      );
      // Cells the witness may not use: every fifth published cell (as cells fixed by an earlier release).
      const rng = seedrandom(`cheapest-fixed-${seed}`);
      const fixed = new Uint8Array(sys.cellCount);
      for (let c = 0; c < sys.cellCount; c++) if (rng() < 0.2) fixed[c] = 1;
      let here = 0;
      for (const s of sens) {
        if (here >= 30) break; // 30 cells per table keep the exact LP checks quick
        here++;
        fixed[s.id] = 0;
        const need = requiredMovement(sys, s);
        for (const dir of [1, -1] as const) {
          const amount = dir > 0 ? need.up : need.down;
          if (amount <= need.tol) continue;
          const sup = new Uint8Array(sys.cellCount);
          for (const x of sens) sup[x.id] = 1;
          const costOf = (c: number): number => (fixed[c] ? Infinity : sup[c] ? 0 : 1);
          const got = cheapestWitness(sys, [tab], sup, s.id, dir, amount, costOf, highs);
          if (!got) continue;
          solved++;
          t.equal(
            checkWitnessOf(sys, sup, got.witness, s.id, dir),
            got.added.length === 0,
            'without its added cells it is a witness only if it adds none',
          );
          for (const c of got.added) sup[c] = 1;
          if (!checkWitnessOf(sys, sup, got.witness, s.id, dir))
            t.fail(`cell ${s.id} dir ${dir}: not a witness after suppressing its cells`);
          if (got.witness.ids.some((c) => fixed[c] === 1)) t.fail(`cell ${s.id}: a fixed cell moved`);
          // The exact attacker LP over the resulting pattern agrees that the cell moves that far.
          const exact = await auditPattern(sys, sup, [s], { intervals: 'exact', singletons: false });
          const a = sys.value[s.id]!;
          const reach = dir > 0 ? exact.cells[0]!.max - a : a - exact.cells[0]!.min;
          if (reach < amount - 1e-6 * Math.max(1, a))
            t.fail(`cell ${s.id} dir ${dir}: LP reaches ${reach} < ${amount}`);
        }
      }
    }
    t.ok(solved > 20, `witnesses built and checked (${solved})`);
  },
);

t.test('checkWitnessOf refuses a witness that does not move the cell it is claimed for', async (t) => {
  const tab = table3('witness-of');
  const sys = buildCellSystem([tab]);
  const all = new Uint8Array(sys.cellCount).fill(1);
  const index = tab.cells.findIndex((c, i) => c.sum > 0 && sys.cellRelations[sys.tableCells[0]![i]!]!.length === 3);
  const id = sys.tableCells[0]![index]!;
  const w = findWitness(sys, [tab], all, id, 1, 1);
  t.ok(w, 'a witness up exists');
  t.equal(checkWitnessOf(sys, all, w!, id, 1), true);
  t.equal(checkWitnessOf(sys, all, w!, id, -1), false, 'wrong direction');
  t.equal(checkWitnessOf(sys, all, { ...w!, amount: w!.amount * 2 }, id, 1), false, 'claims more than it moves');
  t.equal(
    checkWitnessOf(sys, all, { ids: new Int32Array(0), delta: new Float64Array(0), amount: 5 }, id, 1),
    false,
    'moves nothing',
  );
  const other = sys.tableCells[0]![tab.cells.findIndex((c, i) => i !== index && c.sum > 0)]!;
  t.equal(checkWitnessOf(sys, all, w!, other, 1), false, 'claimed for another cell');
});

t.test('audit hints: forged witnesses never change the verdict, true ones replace the search', async (t) => {
  const plan = sdcPlan({ minFrequency: 3, dominance: [{ n: 1, k: 80 }] });
  for (const seed of ['h1']) {
    const tab = table3(`hints-${seed}`);
    const sys = buildCellSystem([tab]);
    const p = applyPrimaryRules(tab, plan);
    const sens = p.cells.flatMap((c, i) =>
      c.unsafe ? [{ id: sys.tableCells[0]![i]!, upper: c.upper, lower: c.lower }] : [],
    );
    const rng = seedrandom(`hints-pattern-${seed}`);
    for (const density of [0.6]) {
      const sup = new Uint8Array(sys.cellCount);
      for (const s of sens) sup[s.id] = 1;
      for (let c = 0; c < sys.cellCount; c++) if (rng() < density) sup[c] = 1;
      const plain = await auditPattern(sys, sup, sens, { tables: [tab], intervals: 'certified' });
      // Forged: every sensitive cell "moves" by its whole protection through an empty or one-cell witness.
      const forged = new Map<number, Witnesses>();
      for (const s of sens) {
        const need = requiredMovement(sys, s);
        forged.set(s.id, {
          up: { ids: new Int32Array(0), delta: new Float64Array(0), amount: need.up + 1 },
          down: { ids: Int32Array.of(s.id), delta: Float64Array.of(-(need.down + 1)), amount: need.down + 1 },
        });
      }
      const withForged = await auditPattern(sys, sup, sens, {
        tables: [tab],
        intervals: 'certified',
        witnesses: forged,
      });
      t.equal(withForged.passes, plain.passes, `${seed} ${density}: same verdict with forged hints`);
      t.same(
        withForged.cells.map((c) => c.passes),
        plain.cells.map((c) => c.passes),
        'same cell verdicts',
      );
      // True hints: the witnesses the search would find; the verdict holds and fewer LPs are needed.
      const truth = new Map<number, Witnesses>();
      for (const s of sens) {
        const need = requiredMovement(sys, s);
        truth.set(s.id, findWitnesses(sys, [tab], sup, s.id, need.up, need.down));
      }
      const hinted = await auditPattern(sys, sup, sens, { tables: [tab], intervals: 'certified', witnesses: truth });
      t.equal(hinted.passes, plain.passes, 'same verdict with true hints');
      t.same(
        hinted.cells.map((c) => c.passes),
        plain.cells.map((c) => c.passes),
        'same cell verdicts with true hints',
      );
      t.ok(
        hinted.certifiedCells >= plain.certifiedCells && plain.certifiedCells > 0,
        `true hints certify as many cells (${hinted.certifiedCells} vs ${plain.certifiedCells})`,
      );
      t.ok(
        plain.cells.some((c) => !c.passes) && plain.cells.some((c) => c.passes),
        'the pattern has passing and failing cells',
      );
    }
  }
});
