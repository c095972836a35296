//! A search with a status filter, counted in the search index alone.
//!
//! SQLite: the trigram index's rowids also say whether the key is revoked:
//! `tenant_id << 40 | revoked << 39 | id`. A tenant's active keys and its
//! revoked keys are then two rowid ranges that FTS5 reads by itself, so a
//! search with a status filter is counted without reading `api_keys`, as
//! migration 7 made a search without one (key ids stay below 2^39).
//! PostgreSQL: nothing changes (its trigram index has no rowids to use).

use crate::m20261202_000006_key_counts_and_search::run;
use crate::m20261202_000007_tenant_scoped_search::{
    SQLITE_DROP_SEARCH, SQLITE_UP as SQLITE_TENANT_SEARCH,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE api_keys_search USING fts5(
        name, description, key_id, tokenize = 'trigram'
    )",
    "INSERT INTO api_keys_search (rowid, name, description, key_id)
        SELECT (tenant_id << 40) | ((revoked_at IS NOT NULL) << 39) | id, name, description, key_id
        FROM api_keys",
    "CREATE TRIGGER api_keys_search_insert AFTER INSERT ON api_keys BEGIN
        INSERT INTO api_keys_search (rowid, name, description, key_id)
            VALUES ((new.tenant_id << 40) | ((new.revoked_at IS NOT NULL) << 39) | new.id,
                new.name, new.description, new.key_id);
    END",
    "CREATE TRIGGER api_keys_search_delete AFTER DELETE ON api_keys BEGIN
        DELETE FROM api_keys_search
            WHERE rowid = (old.tenant_id << 40) | ((old.revoked_at IS NOT NULL) << 39) | old.id;
    END",
    "CREATE TRIGGER api_keys_search_update
        AFTER UPDATE OF name, description, key_id, tenant_id, revoked_at ON api_keys BEGIN
        DELETE FROM api_keys_search
            WHERE rowid = (old.tenant_id << 40) | ((old.revoked_at IS NOT NULL) << 39) | old.id;
        INSERT INTO api_keys_search (rowid, name, description, key_id)
            VALUES ((new.tenant_id << 40) | ((new.revoked_at IS NOT NULL) << 39) | new.id,
                new.name, new.description, new.key_id);
    END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: the index's triggers are dropped and made again
    /// under the same names.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DbBackend::Sqlite => {
                run(m, SQLITE_DROP_SEARCH).await?;
                run(m, SQLITE_UP).await
            }
            DbBackend::Postgres => Ok(()),
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DbBackend::Sqlite => {
                run(m, SQLITE_DROP_SEARCH).await?;
                run(m, SQLITE_TENANT_SEARCH).await
            }
            DbBackend::Postgres => Ok(()),
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }
}
