/** What the on-demand routes need (routes/ondemand.ts): the secure zone's client and the contract gate. */
import type { SecureZone } from './client.ts';
import type { ContractGate } from './gate.ts';

export interface OnDemandService {
  readonly zone: SecureZone;
  readonly gate: ContractGate;
}
