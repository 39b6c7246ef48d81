import t from 'tap';
import { parseScaled, parseStrictInteger, parseStrictNumber } from '../../engine/source/index.ts';

t.test('strict integer and number parsing', async (t) => {
  t.equal(parseStrictInteger('42'), 42);
  t.equal(parseStrictInteger('-7'), -7);
  t.equal(parseStrictInteger('+3'), 3);
  for (const bad of ['', ' 1', '1 ', '12abc', '1.0', '0x10', '1e3', 'Infinity', 'NaN', '9007199254740993'])
    t.ok(Number.isNaN(parseStrictInteger(bad)), JSON.stringify(bad));
  t.equal(parseStrictNumber('1.5'), 1.5);
  t.equal(parseStrictNumber('.5'), 0.5);
  t.equal(parseStrictNumber('-2e3'), -2000);
  for (const bad of ['', '.', '-', '1.2.3', '12abc', 'Infinity', '1e999', '1,5'])
    t.ok(Number.isNaN(parseStrictNumber(bad)), JSON.stringify(bad));
});

t.test('scaled integers are exact and round half away from zero', async (t) => {
  const cases: [string, number, number][] = [
    ['1.005', 2, 101], // 1.005 * 100 is 100.49999999999999 in float64
    ['1.004', 2, 100],
    ['-1.005', 2, -101],
    ['2.5', 0, 3],
    ['-2.5', 0, -3],
    ['2.4999', 0, 2],
    ['0.5', 0, 1],
    ['-0.4', 0, 0],
    ['1e3', 0, 1000],
    ['1.5e-1', 1, 2],
    ['12', 3, 12000],
    ['0.07', 2, 7],
    ['123456789.123', 2, 12345678912],
    ['-0', 0, 0],
    ['.25', 1, 3],
  ];
  for (const [raw, d, want] of cases) t.equal(parseScaled(raw, d, false), want, `${raw} @${d}`);
  t.ok(Object.is(parseScaled('-0.4', 0, false), 0), 'no negative zero');
  t.equal(parseScaled('12', 2, true), 1200);
  t.ok(Number.isNaN(parseScaled('1.5', 0, true)), 'integer column rejects a fraction');
  for (const bad of ['', 'abc', '12abc', '1e999', 'Infinity', '.', '1..2'])
    t.ok(Number.isNaN(parseScaled(bad, 2, false)), JSON.stringify(bad));
});
