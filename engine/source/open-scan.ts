/**
 * Where the data is read, an open column (policy `domain: "open"`, dp only) collects the codes it meets instead of
 * refusing them: one pass over the input reads the raw text of each open column used by a table (CSV: the file's
 * records; SQL: `SELECT DISTINCT` over the relation, in the database), then `withOpenDomains` (engine/policy/
 * open-domain.ts) rebuilds the plan over these candidates and the source aggregates as for declared domains.
 *
 * The candidates are exact facts about the data and never leave the engine as such: every table is aggregated over
 * them, and only categories chosen by private partition selection (engine/dp/partition.ts, noisy counts) are
 * published. A candidate met only in rows that turn out invalid, or trimmed by contribution bounding, has no unit in
 * the selection count and is never published. A record with the wrong field count contributes no code here (the
 * aggregation pass reports or drops it).
 */
import { sql } from 'kysely';
import type { Plan } from '../types.ts';
import { needsOpenDomains, openColumnsUsed, withOpenDomains } from '../policy/open-domain.ts';
import { headerNames } from './csv-records.ts';
import { streamCsv } from './csv-stream.ts';
import { compile, FLAVORS } from './sql/index.ts';
import type { SqlRelation } from './sql/types.ts';
import type { SqlExecutor } from './sql-executor.ts';

/** The plan over the codes its open columns hold in a CSV file (the plan itself when it has none to collect). */
export async function openDomainsCsv(plan: Plan): Promise<Plan> {
  if (!needsOpenDomains(plan) || plan.dataset.source.kind !== 'csv') return plan;
  const src = plan.dataset.source;
  const open = openColumnsUsed(plan).map((c) => c.name);
  const met = new Map(open.map((n) => [n, new Set<string>()] as const));
  let header: string[] | null = null;
  let at: number[] = [];
  let line = 0;
  await streamCsv(src.path, src.delimiter, {
    onBytes: () => {},
    onRecord: (fields) => {
      line++;
      if (header === null) {
        // Same header rule as csv-records.ts (BOM removed, names trimmed); a missing column is reported by the
        // aggregation pass (CSV_HEADER), so it is skipped here.
        try {
          header = headerNames(fields, plan, src.path, line);
        } catch {
          header = []; // reported by the aggregation pass (CSV_HEADER)
        }
        at = open.map((n) => header!.indexOf(n));
        return;
      }
      if (fields.length !== header.length) return;
      at.forEach((i, j) => {
        if (i >= 0) met.get(open[j]!)!.add(fields[i]!);
      });
    },
    line: () => line,
    header: () => header,
  });
  return withOpenDomains(plan, new Map([...met].map(([n, s]) => [n, [...s]] as const)));
}

/** The plan over the codes its open columns hold in a relation (`SELECT DISTINCT`, text as the conversion reads it). */
export async function openDomainsSql(plan: Plan, exec: SqlExecutor, rel: SqlRelation): Promise<Plan> {
  if (!needsOpenDomains(plan)) return plan;
  const flavor = FLAVORS[exec.flavor];
  const met = new Map<string, string[]>();
  for (const c of openColumnsUsed(plan)) {
    const v = sql`COALESCE(${flavor.text(sql.ref(c.name))}, '')`;
    const q = compile(sql`SELECT DISTINCT ${v} AS v FROM ${rel.from}`);
    const rows = await exec.query(q.sql, q.parameters);
    met.set(
      c.name,
      rows.map((r) => String(r.v)),
    );
  }
  return withOpenDomains(plan, met);
}
