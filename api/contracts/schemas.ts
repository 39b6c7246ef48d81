/** JSON Schemas of the access-request and contract routes (validation and the OpenAPI document). */
import { termsSchema } from './terms.ts';

const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const accessRequestBody = {
  type: 'object',
  required: ['dataset', 'purpose', 'terms', 'durationDays'],
  additionalProperties: false,
  properties: {
    dataset: { type: 'string', minLength: 1, maxLength: 200, description: 'The registered dataset (ckm or dp)' },
    purpose: { type: 'string', minLength: 1, maxLength: 4000, description: 'What the tables are for' },
    terms: termsSchema,
    durationDays: { type: 'integer', minimum: 1, maximum: 3660, description: 'How long the contract should run' },
  },
} as const;

export const accessRequest = {
  type: 'object',
  required: ['id', 'key', 'keyName', 'dataset', 'purpose', 'terms', 'durationDays', 'status', 'createdAt'],
  properties: {
    id: { type: 'string' },
    key: { type: 'string', description: 'The requesting API key id' },
    keyName: { type: 'string' },
    dataset: { type: 'string' },
    purpose: { type: 'string' },
    terms: termsSchema,
    durationDays: { type: 'integer' },
    status: { type: 'string', enum: ['pending', 'approved', 'refused'] },
    reason: { type: ['string', 'null'], description: "The officer's reason (required for a refusal)" },
    contract: { type: ['string', 'null'], description: 'The contract an approval created' },
    createdAt: dateTime,
    decidedAt: nullableDateTime,
    decidedBy: { type: ['string', 'null'] },
  },
} as const;

export const approveBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    terms: { ...termsSchema, description: 'Narrowed terms (default: as requested); never wider than requested' },
    start: { ...dateTime, description: 'Start of the contract (default: now)' },
    end: { ...dateTime, description: 'End of the contract (default and latest: start + the requested duration)' },
    reason: { type: 'string', minLength: 1, maxLength: 4000 },
  },
} as const;

export const refuseBody = {
  type: 'object',
  required: ['reason'],
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 4000, description: 'Shown to the researcher' } },
} as const;

const limit = {
  type: 'object',
  required: ['term', 'limit', 'used', 'remaining', 'fraction'],
  properties: {
    term: { type: 'string', description: 'e.g. scale.cellsPerDay' },
    limit: { type: 'number' },
    used: { type: 'number' },
    remaining: { type: 'number' },
    fraction: { type: 'number', description: 'used / limit' },
  },
} as const;

const use = {
  type: 'object',
  required: ['at', 'state', 'cells', 'rho', 'epsilon', 'query'],
  properties: {
    at: dateTime,
    state: { type: 'string', enum: ['reserved', 'used', 'cancelled'] },
    cells: { type: 'integer' },
    rho: { type: 'number' },
    epsilon: { type: 'number' },
    query: {
      type: 'object',
      description: 'What was taken: dimensions and levels, measure, filter codes, format (never a value)',
      additionalProperties: true,
    },
  },
} as const;

export const contractUsageSchema = {
  type: 'object',
  required: ['id', 'key', 'keyName', 'dataset', 'request', 'status', 'start', 'end', 'terms', 'day', 'limits'],
  properties: {
    id: { type: 'string' },
    key: { type: 'string' },
    keyName: { type: 'string' },
    dataset: { type: 'string' },
    request: { type: 'string' },
    status: { type: 'string', enum: ['active', 'not-started', 'expired'] },
    start: dateTime,
    end: dateTime,
    terms: termsSchema,
    day: { type: 'string', description: 'The UTC day the per-day limits count' },
    limits: { type: 'array', items: limit },
    time: {
      type: 'object',
      properties: { fraction: { type: 'number' }, remainingSeconds: { type: 'integer' } },
    },
    closest: {
      type: 'object',
      description: 'The limit the contract is closest to (largest fraction, time included)',
      properties: { term: { type: 'string' }, fraction: { type: 'number' } },
    },
    lastUse: nullableDateTime,
    recent: { type: 'array', items: use, description: 'The latest uses, newest first' },
  },
} as const;
