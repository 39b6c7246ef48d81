/**
 * Versioned migrations of the publication store, applied in name order by
 * kysely's Migrator (which records them in `kysely_migration` and takes a
 * lock, so concurrent starts do not apply one twice). Never edit a shipped
 * migration; add the next one.
 *
 * Safety properties enforced in the database itself, not only in the code:
 * - audit_log and budget_ledger are append-only: a trigger raises on UPDATE, DELETE and TRUNCATE (the ledger
 *   since 004), and both are hash chains (004, chain-sql.ts; 005, chain-batch-sql.ts: the group-commit writer chains
 *   its batches, the database checks each statement, in one pass since 007, chain-settle-sql.ts; verified by
 *   chain.ts);
 * - a release leaves `draft` only forward (draft -> published -> withdrawn)
 *   and, once out of draft, its content columns never change;
 * - release_tables rows (the published cells) are never updated, and only a
 *   draft's tables may be deleted.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { m005 } from './chain-batch-sql.ts';
import { m007, m008 } from './chain-settle-sql.ts';
import { m004 } from './chain-sql.ts';
import { m006 } from './contracts-sql.ts';
import { statementMigration } from './statement-migration.ts';

const M001: readonly string[] = [
  `CREATE TABLE datasets (
        id text PRIMARY KEY,
        total_rho double precision NOT NULL CHECK (total_rho >= 0),
        total_epsilon double precision NOT NULL CHECK (total_epsilon >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by text
      )`,
  `CREATE TABLE releases (
        id text PRIMARY KEY,
        policy_id text NOT NULL,
        policy_version text NOT NULL,
        policy_sha256 text NOT NULL,
        input_sha256 text NOT NULL,
        manifest_sha256 text NOT NULL UNIQUE,
        dataset_id text NOT NULL REFERENCES datasets(id),
        status text NOT NULL CHECK (status IN ('draft', 'published', 'withdrawn')),
        version integer NOT NULL,
        supersedes text REFERENCES releases(id),
        superseded_by text REFERENCES releases(id),
        title text NOT NULL,
        regime text NOT NULL CHECK (regime IN ('sdc', 'dp')),
        audience text NOT NULL CHECK (audience IN ('public', 'contract')),
        demo boolean NOT NULL,
        expires text,
        randomness text NOT NULL CHECK (randomness IN ('crypto', 'seeded')),
        rho double precision NOT NULL CHECK (rho >= 0),
        epsilon double precision CHECK (epsilon >= 0),
        manifest jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        approved_at timestamptz,
        approved_by text,
        withdrawn_at timestamptz,
        withdrawn_by text,
        withdraw_reason text,
        UNIQUE (policy_id, version)
      )`,
  `CREATE INDEX releases_status_idx ON releases (status, created_at)`,
  `CREATE INDEX releases_fingerprint_idx ON releases (policy_sha256, input_sha256)`,
  `CREATE TABLE release_tables (
        release_id text NOT NULL REFERENCES releases(id),
        table_id text NOT NULL,
        position integer NOT NULL,
        title text NOT NULL,
        description text NOT NULL,
        measure jsonb NOT NULL,
        dimensions jsonb NOT NULL,
        privacy jsonb,
        cell_count integer NOT NULL,
        suppressed integer NOT NULL,
        cells jsonb NOT NULL,
        PRIMARY KEY (release_id, table_id)
      )`,
  `CREATE TABLE budget_ledger (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        dataset_id text NOT NULL REFERENCES datasets(id),
        release_id text NOT NULL UNIQUE REFERENCES releases(id),
        rho double precision NOT NULL CHECK (rho >= 0),
        epsilon double precision CHECK (epsilon >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL
      )`,
  `CREATE INDEX budget_ledger_dataset_idx ON budget_ledger (dataset_id)`,
  `CREATE TABLE api_keys (
        id text PRIMARY KEY,
        hash text NOT NULL,
        role text NOT NULL CHECK (role IN ('officer', 'reviewer', 'researcher')),
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`,
  `CREATE TABLE contracts (
        id text PRIMARY KEY,
        key_id text NOT NULL REFERENCES api_keys(id),
        release_id text NOT NULL REFERENCES releases(id),
        tables jsonb,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL
      )`,
  `CREATE INDEX contracts_key_idx ON contracts (key_id)`,
  `CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        caller text NOT NULL,
        role text NOT NULL,
        action text NOT NULL,
        target text,
        outcome text NOT NULL,
        status integer,
        detail jsonb
      )`,
  `CREATE INDEX audit_log_at_idx ON audit_log (at)`,
  `CREATE FUNCTION statguard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
      END $$`,
  `CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION statguard_audit_append_only()`,
  `CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION statguard_audit_append_only()`,
  `CREATE FUNCTION statguard_release_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.status <> 'draft' THEN RAISE EXCEPTION 'release % is %: it cannot be deleted', OLD.id, OLD.status; END IF;
          RETURN OLD;
        END IF;
        IF NOT ((OLD.status = NEW.status) OR (OLD.status = 'draft' AND NEW.status = 'published')
                OR (OLD.status = 'published' AND NEW.status = 'withdrawn')) THEN
          RAISE EXCEPTION 'release %: status % -> % is not allowed', OLD.id, OLD.status, NEW.status;
        END IF;
        IF OLD.status <> 'draft' AND (NEW.manifest IS DISTINCT FROM OLD.manifest OR NEW.id <> OLD.id
            OR NEW.policy_sha256 <> OLD.policy_sha256 OR NEW.rho <> OLD.rho OR NEW.epsilon IS DISTINCT FROM OLD.epsilon
            OR NEW.audience <> OLD.audience OR NEW.dataset_id <> OLD.dataset_id OR NEW.version <> OLD.version
            OR NEW.approved_at IS DISTINCT FROM OLD.approved_at) THEN
          RAISE EXCEPTION 'release % is %: its content is immutable', OLD.id, OLD.status;
        END IF;
        RETURN NEW;
      END $$`,
  `CREATE TRIGGER releases_immutable BEFORE UPDATE OR DELETE ON releases
        FOR EACH ROW EXECUTE FUNCTION statguard_release_immutable()`,
  `CREATE FUNCTION statguard_release_tables_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' THEN RAISE EXCEPTION 'release_tables rows are immutable'; END IF;
        IF EXISTS (SELECT 1 FROM releases r WHERE r.id = OLD.release_id AND r.status <> 'draft') THEN
          RAISE EXCEPTION 'tables of release % cannot be deleted', OLD.release_id;
        END IF;
        RETURN OLD;
      END $$`,
  `CREATE TRIGGER release_tables_immutable BEFORE UPDATE OR DELETE ON release_tables
        FOR EACH ROW EXECUTE FUNCTION statguard_release_tables_immutable()`,
];

const m001: Migration = statementMigration(M001, 'migration 001 cannot be reverted (the audit log is append-only)');

/** 002: releases may use the cell key method (regime 'ckm'), a third protection option beside sdc and dp. */
const m002: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await sql.raw(`ALTER TABLE releases DROP CONSTRAINT releases_regime_check`).execute(db);
    await sql
      .raw(`ALTER TABLE releases ADD CONSTRAINT releases_regime_check CHECK (regime IN ('sdc', 'dp', 'ckm'))`)
      .execute(db);
  },
  async down(): Promise<void> {
    throw new Error('migration 002 cannot be reverted');
  },
};

/**
 * 003: registered datasets, registered signing keys, input fingerprints bound to one dataset (issue 16).
 * - datasets gain a title, the one regime they are published under and a demo flag; rows created on first sight by
 *   earlier versions keep regime NULL and are refused at publish until an officer registers them (`datasets create`);
 * - dataset_inputs binds each input fingerprint (SHA-256 of the microdata) to the first dataset that released it
 *   (filled from the releases already stored);
 * - signing_keys holds the public keys whose signatures the store accepts (revocation keeps the row);
 * - releases record the key that signed them and their signature.
 */
const M003: readonly string[] = [
  `ALTER TABLE datasets ADD COLUMN title text, ADD COLUMN regime text CHECK (regime IN ('sdc', 'dp', 'ckm')),
        ADD COLUMN demo boolean NOT NULL DEFAULT false, ADD COLUMN created_by text`,
  `CREATE TABLE dataset_inputs (
        input_sha256 text PRIMARY KEY,
        dataset_id text NOT NULL REFERENCES datasets(id),
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL
      )`,
  `CREATE TABLE signing_keys (
        id text PRIMARY KEY,
        public_key text NOT NULL,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text NOT NULL,
        revoked_at timestamptz,
        revoked_by text
      )`,
  `ALTER TABLE releases ADD COLUMN signing_key text REFERENCES signing_keys(id), ADD COLUMN signature jsonb`,
  // Inputs already released stay bound to the dataset that released them first.
  `INSERT INTO dataset_inputs (input_sha256, dataset_id, created_at, created_by)
        SELECT DISTINCT ON (input_sha256) input_sha256, dataset_id, created_at, 'migration:003'
        FROM releases ORDER BY input_sha256, created_at, id`,
];

const m003: Migration = statementMigration(M003, 'migration 003 cannot be reverted');

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '001_initial': m001,
  '002_ckm_regime': m002,
  '003_registered_datasets_signing_keys': m003,
  '004_hash_chains': m004,
  '005_chain_batches': m005,
  '006_table_contracts': m006,
  '007_audit_settle_one_pass': m007,
  '008_audit_head_lock_first': m008,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return { ...MIGRATIONS };
  },
};
