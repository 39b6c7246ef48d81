/** Table contracts (issue 20): access requests, the contract gate of the on-demand route, usage and supervision. */
export { makeContractGate, type Authorised, type ContractGate, type DpCost, type GateOptions } from './gate.ts';
export { gateSchemaOf, type GateQuery, type GateSchema } from './boundaries.ts';
export { checkTerms, termsSchema, type ContractTerms } from './terms.ts';
export { approveAccessRequest, createAccessRequest, listAccessRequests, refuseAccessRequest } from './requests.ts';
export { contractUsage, ownContracts, superviseContracts } from './usage.ts';
