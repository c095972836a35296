//! Which keys changed since a list index last looked, so an in-process
//! index of a tenant's list columns can be kept current by reading only
//! the changed rows (every writer, SQL loads included, through triggers).
//!
//! - SQLite (one writer at a time): `api_keys.list_seq`, a per-tenant
//!   counter set by triggers on insert and update to one more than the
//!   tenant's highest; a reader asks for rows above the highest it has seen.
//! - PostgreSQL (concurrent writers, whose counters would not commit in
//!   order): `api_keys.list_xid`, the id of the transaction that wrote the
//!   row (`pg_current_xact_id()`). A reader asks for rows written by
//!   transactions from its last snapshot's `xmin` on: every transaction
//!   below it had finished, later ones are read again next time.
//! - both: `tenant_key_counts.list_resets`, counted up when keys are
//!   deleted or moved to another tenant (a row gone from a tenant cannot be
//!   read as its change: the reader starts over).

use crate::m20261202_000006_key_counts_and_search::run;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE api_keys ADD COLUMN list_seq BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE tenant_key_counts ADD COLUMN list_resets BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX idx_keys_tenant_list_seq ON api_keys (tenant_id, list_seq)",
    "CREATE TRIGGER api_keys_list_insert AFTER INSERT ON api_keys BEGIN
        UPDATE api_keys SET list_seq = 1 + (SELECT MAX(list_seq) FROM api_keys
            WHERE tenant_id = new.tenant_id) WHERE id = new.id;
    END",
    // The trigger's own write changes `list_seq`, so it does not fire again.
    "CREATE TRIGGER api_keys_list_update AFTER UPDATE ON api_keys
        WHEN new.list_seq = old.list_seq BEGIN
        UPDATE api_keys SET list_seq = 1 + (SELECT MAX(list_seq) FROM api_keys
            WHERE tenant_id = new.tenant_id) WHERE id = new.id;
        UPDATE tenant_key_counts SET list_resets = list_resets + 1
            WHERE tenant_id = old.tenant_id AND old.tenant_id <> new.tenant_id;
    END",
    "CREATE TRIGGER api_keys_list_delete AFTER DELETE ON api_keys BEGIN
        UPDATE tenant_key_counts SET list_resets = list_resets + 1
            WHERE tenant_id = old.tenant_id;
    END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER api_keys_list_delete",
    "DROP TRIGGER api_keys_list_update",
    "DROP TRIGGER api_keys_list_insert",
    "DROP INDEX idx_keys_tenant_list_seq",
    "ALTER TABLE tenant_key_counts DROP COLUMN list_resets",
    "ALTER TABLE api_keys DROP COLUMN list_seq",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE api_keys ADD COLUMN list_xid BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE tenant_key_counts ADD COLUMN list_resets BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX idx_keys_tenant_list_xid ON api_keys (tenant_id, list_xid)",
    "CREATE FUNCTION keyward_key_written() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.list_xid := pg_current_xact_id()::text::bigint;
        IF TG_OP = 'UPDATE' AND OLD.tenant_id <> NEW.tenant_id THEN
            UPDATE tenant_key_counts SET list_resets = list_resets + 1
                WHERE tenant_id = OLD.tenant_id;
        END IF;
        RETURN NEW;
    END $$",
    "CREATE TRIGGER api_keys_list_xid BEFORE INSERT OR UPDATE ON api_keys
        FOR EACH ROW EXECUTE FUNCTION keyward_key_written()",
    // Statement-level: a bulk delete counts each tenant's resets once.
    "CREATE FUNCTION keyward_keys_unlisted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE tenant_key_counts c SET list_resets = c.list_resets + 1
            FROM (SELECT DISTINCT tenant_id FROM old_keys) d
            WHERE c.tenant_id = d.tenant_id;
        RETURN NULL;
    END $$",
    "CREATE TRIGGER api_keys_list_delete AFTER DELETE ON api_keys
        REFERENCING OLD TABLE AS old_keys
        FOR EACH STATEMENT EXECUTE FUNCTION keyward_keys_unlisted()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER api_keys_list_delete ON api_keys",
    "DROP FUNCTION keyward_keys_unlisted()",
    "DROP TRIGGER api_keys_list_xid ON api_keys",
    "DROP FUNCTION keyward_key_written()",
    "DROP INDEX idx_keys_tenant_list_xid",
    "ALTER TABLE tenant_key_counts DROP COLUMN list_resets",
    "ALTER TABLE api_keys DROP COLUMN list_xid",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DbBackend::Sqlite => run(m, SQLITE_UP).await,
            DbBackend::Postgres => run(m, POSTGRES_UP).await,
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DbBackend::Sqlite => run(m, SQLITE_DOWN).await,
            DbBackend::Postgres => run(m, POSTGRES_DOWN).await,
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }
}
