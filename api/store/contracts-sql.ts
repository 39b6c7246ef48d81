/**
 * Migration 006: access requests, table contracts and their use (issue 20, items 1 and 2).
 *
 * - `access_requests`: a researcher key asks for a dataset's table service (purpose, requested terms, duration in
 *   days). Its status moves only forward, once: pending -> approved (with the contract it created) or refused (with a
 *   reason); a decided request never changes again (trigger).
 * - `table_contracts`: the terms an officer granted (the requested ones, or narrower): scale, level and form as one
 *   JSON document validated with ajv (terms.ts), time as the columns `starts_at` / `ends_at`. Never updated or
 *   deleted (trigger): a contract ends by its end date.
 * - `contract_usage`: one row per table taken under a contract. The gate reserves it (state `reserved`, inside the
 *   transaction that checked the limits, under the contract's lock) and the route records it (`used`, with the dp
 *   cost actually charged) or gives it back (`cancelled`); a recorded or cancelled row never changes, no row is
 *   deleted (trigger). Rows hold the query's shape (dimensions, levels, measure, filter codes, format), never a value.
 * - `budget_ledger.release_id` may be NULL: a dp on-demand table is charged to its dataset's ledger without a release
 *   (`created_by` = `contract:<id>`, part of the row's hash, so the chain binds the charge to its contract).
 */
import type { Migration } from 'kysely';
import { statementMigration } from './statement-migration.ts';

const M006: readonly string[] = [
  `CREATE TABLE access_requests (
        id text PRIMARY KEY,
        key_id text NOT NULL REFERENCES api_keys(id),
        dataset_id text NOT NULL REFERENCES datasets(id),
        purpose text NOT NULL CHECK (length(purpose) > 0),
        terms jsonb NOT NULL,
        duration_days integer NOT NULL CHECK (duration_days > 0),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused')),
        reason text,
        contract_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        decided_at timestamptz,
        decided_by text,
        CHECK (status <> 'refused' OR (reason IS NOT NULL AND length(reason) > 0)),
        CHECK ((status = 'approved') = (contract_id IS NOT NULL)),
        CHECK ((status = 'pending') = (decided_at IS NULL))
      )`,
  `CREATE INDEX access_requests_key_idx ON access_requests (key_id, created_at)`,
  `CREATE INDEX access_requests_status_idx ON access_requests (status, created_at)`,
  `CREATE FUNCTION statguard_access_request_forward() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'access request % cannot be deleted', OLD.id; END IF;
        IF OLD.status <> 'pending' THEN RAISE EXCEPTION 'access request % is %: it cannot change', OLD.id, OLD.status; END IF;
        IF NEW.id <> OLD.id OR NEW.key_id <> OLD.key_id OR NEW.dataset_id <> OLD.dataset_id OR NEW.purpose <> OLD.purpose
            OR NEW.terms <> OLD.terms OR NEW.duration_days <> OLD.duration_days OR NEW.created_at <> OLD.created_at THEN
          RAISE EXCEPTION 'access request %: what was requested cannot change', OLD.id;
        END IF;
        RETURN NEW;
      END $$`,
  `CREATE TRIGGER access_requests_forward BEFORE UPDATE OR DELETE ON access_requests
        FOR EACH ROW EXECUTE FUNCTION statguard_access_request_forward()`,
  `CREATE TABLE table_contracts (
        id text PRIMARY KEY,
        request_id text NOT NULL UNIQUE REFERENCES access_requests(id),
        key_id text NOT NULL REFERENCES api_keys(id),
        dataset_id text NOT NULL REFERENCES datasets(id),
        terms jsonb NOT NULL,
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        CHECK (ends_at > starts_at)
      )`,
  `CREATE INDEX table_contracts_key_idx ON table_contracts (key_id, dataset_id)`,
  `CREATE FUNCTION statguard_table_contract_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'table contract %: its terms are immutable (% refused)', OLD.id, TG_OP;
      END $$`,
  `CREATE TRIGGER table_contracts_immutable BEFORE UPDATE OR DELETE ON table_contracts
        FOR EACH ROW EXECUTE FUNCTION statguard_table_contract_immutable()`,
  `CREATE TABLE contract_usage (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        contract_id text NOT NULL REFERENCES table_contracts(id),
        at timestamptz NOT NULL DEFAULT now(),
        day text NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
        state text NOT NULL CHECK (state IN ('reserved', 'used', 'cancelled')),
        cells integer NOT NULL CHECK (cells >= 0),
        rho double precision NOT NULL DEFAULT 0 CHECK (rho >= 0),
        epsilon double precision NOT NULL DEFAULT 0 CHECK (epsilon >= 0),
        query jsonb NOT NULL,
        recorded_at timestamptz
      )`,
  `CREATE INDEX contract_usage_contract_idx ON contract_usage (contract_id, day)`,
  `CREATE INDEX contract_usage_reserved_idx ON contract_usage (state) WHERE state = 'reserved'`,
  `CREATE FUNCTION statguard_contract_usage_forward() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'contract use % cannot be deleted', OLD.id; END IF;
        IF OLD.state <> 'reserved' THEN RAISE EXCEPTION 'contract use % is %: it cannot change', OLD.id, OLD.state; END IF;
        IF NEW.contract_id <> OLD.contract_id OR NEW.day <> OLD.day OR NEW.at <> OLD.at OR NEW.query <> OLD.query THEN
          RAISE EXCEPTION 'contract use %: only its state and cost are recorded', OLD.id;
        END IF;
        RETURN NEW;
      END $$`,
  `CREATE TRIGGER contract_usage_forward BEFORE UPDATE OR DELETE ON contract_usage
        FOR EACH ROW EXECUTE FUNCTION statguard_contract_usage_forward()`,
  `ALTER TABLE budget_ledger ALTER COLUMN release_id DROP NOT NULL`,
];

export const m006: Migration = statementMigration(
  M006,
  'migration 006 cannot be reverted (contracts and their use are part of the trace)',
);
