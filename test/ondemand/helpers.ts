/** Policies of the on-demand tests: the census on-demand example, and variants of it as documents. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { planPolicy, validatePolicy } from '../../engine/policy/index.ts';
import type { PolicyDoc } from '../../engine/policy/index.ts';
import type { Plan } from '../../engine/types.ts';

export const ONDEMAND_POLICY = resolve('policies', 'census-ondemand.json');

/** A fresh copy of the census on-demand policy document. */
export function ondemandDoc(): PolicyDoc {
  return JSON.parse(readFileSync(ONDEMAND_POLICY, 'utf8')) as PolicyDoc;
}

/** The same dataset under dp (discrete Laplace), `epsilon` per query. */
export function dpDoc(epsilon = 0.5): PolicyDoc {
  const doc = ondemandDoc() as unknown as Record<string, unknown>;
  doc.id = 'census-ondemand-dp';
  doc.protection = { regime: 'dp', mechanism: 'discrete-laplace', budget: { epsilon: 1 } };
  (doc.onDemand as Record<string, unknown>).dp = { epsilon };
  return doc as unknown as PolicyDoc;
}

/** Validate and plan a document as if it were the example policy's file. */
export function planDoc(doc: unknown): Plan {
  const v = validatePolicy(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return planPolicy(v.policy, { policyPath: ONDEMAND_POLICY, policySha256: '0'.repeat(64) });
}
