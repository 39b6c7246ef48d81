/**
 * The first three projections of the typed conversion: each source column read once as text, each regex test and each
 * float value computed once per row and referenced by name in the conversion expressions (conversion.ts), so no
 * expression is repeated per bin or constraint. Also the code lists mapped by a join against a VALUES list.
 * A `RowTexts` is filled while the conversion expressions are written, then read once by `projections` and `joins`.
 */
import { sql } from 'kysely';
import { join, lit, ref } from './compiler.ts';
import type { Frag } from './compiler.ts';
import type { Flavor, SqlForm } from './flavor.ts';
import type { SqlRelation } from './types.ts';

/** Same syntax as parse-number.ts (anchored; matched in full). */
export const INT_RE = '^[+-]?[0-9]+$';
export const NUM_RE = '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$';
export const MAX_SAFE = 9007199254740991;
/** Code lists at least this long are mapped by a join against a VALUES list rather than a CASE (see `lookup`). */
export const LOOKUP_MIN = 9;

type CodePairs = readonly (readonly [string, number])[];

export class RowTexts {
  private readonly texts = new Map<string, string>();
  private readonly oks = new Map<string, { alias: string; text: string; re: string }>();
  private readonly floats = new Map<string, { alias: string; text: string; ok: string; re: string }>();
  private readonly lookups: { alias: string; text: string; pairs: CodePairs }[] = [];

  constructor(
    private readonly flavor: Flavor,
    private readonly form: SqlForm,
  ) {}

  /** The text of column `name` (NULL read as ''). */
  raw(name: string): Frag {
    let a = this.texts.get(name);
    if (a === undefined) {
      a = `t${this.texts.size}`;
      this.texts.set(name, a);
    }
    return ref(a);
  }

  /** Whether the text of column `name` matches `re`. */
  okOf(name: string, re: string): Frag {
    const key = `${name}\u0000${re}`;
    let o = this.oks.get(key);
    if (o === undefined) {
      this.raw(name);
      o = { alias: `o${this.oks.size}`, text: this.texts.get(name)!, re };
      this.oks.set(key, o);
    }
    return ref(o.alias);
  }

  /** float64 of the text (NULL unless it matches `re`). */
  floatOf(name: string, re: string): Frag {
    const key = `${name}\u0000${re}`;
    let f = this.floats.get(key);
    if (f === undefined) {
      this.okOf(name, re);
      f = { alias: `f${this.floats.size}`, text: this.texts.get(name)!, ok: this.oks.get(key)!.alias, re };
      this.floats.set(key, f);
    }
    return ref(f.alias);
  }

  /**
   * The looked-up value of the text of column `name` (NULL when not listed), or null to use a CASE. Code lists of
   * LOOKUP_MIN codes or more are mapped by a LEFT JOIN against a VALUES list (a hash join: one probe per row) instead of a
   * CASE that compares the text with every code in turn; DuckDB maps every list by a cast to an inline ENUM (no join:
   * joins also slowed the CSV scan under them). Same rule: a listed code gives its value, anything else falls through to
   * the missing-value check. Not in the Citus form, which keeps every statement a plain scan of the distributed table.
   */
  lookup(name: string, pairs: CodePairs): Frag | null {
    if (this.flavor.enumLookup !== null && pairs.length > 0) return this.flavor.enumLookup(this.raw(name), pairs);
    if (!this.form.lookups || pairs.length < LOOKUP_MIN) return null;
    this.raw(name);
    const alias = `j${this.lookups.length}`;
    this.lookups.push({ alias, text: this.texts.get(name)!, pairs });
    return ref(`${alias}i`);
  }

  /**
   * Levels 1-3: the texts (and the row number) read from the relation (`where`: a filter of its rows, or nothing), the
   * regex tests, the float values; each level fenced when the form asks (PostgreSQL would otherwise pull the subqueries
   * up and evaluate every expression once per reference).
   */
  projections(rel: SqlRelation, where: Frag): Frag {
    const { flavor, form } = this;
    const level1 = sql`SELECT ${join([
      ...[...this.texts].map(([name, a]) => sql`COALESCE(${flavor.text(ref(name))}, '') AS ${sql.ref(a)}`),
      sql`${rel.rowNumberColumn !== null ? sql.ref(rel.rowNumberColumn) : sql`CAST(NULL AS bigint)`} AS ln`,
    ])} FROM ${rel.from}${where}${form.fence}`;
    const level2 =
      this.oks.size === 0
        ? level1
        : sql`SELECT l1.*, ${join([...this.oks.values()].map((o) => sql`${flavor.matches(ref(o.text), o.re)} AS ${sql.ref(o.alias)}`))} FROM (${level1}) l1${form.fence}`;
    return this.floats.size === 0
      ? level2
      : sql`SELECT l2.*, ${join([...this.floats.values()].map((f) => sql`CASE WHEN ${sql.ref(f.ok)} THEN ${flavor.float(ref(f.text), f.re === INT_RE)} END AS ${sql.ref(f.alias)}`))} FROM (${level2}) l2${form.fence}`;
  }

  /** The LEFT JOINs of the looked-up code lists (see `lookup`). */
  joins(): Frag {
    return join(
      this.lookups.map(
        (l) =>
          sql` LEFT JOIN (VALUES ${join(l.pairs.map(([c, k]) => sql`(${lit(c)}, ${lit(k)})`))}) AS ${sql.ref(l.alias)}(${sql.ref(`${l.alias}c`)}, ${sql.ref(`${l.alias}i`)}) ON ${sql.ref(`${l.alias}c`)} = ${sql.ref(l.text)}`,
      ),
      sql``,
    );
  }
}
