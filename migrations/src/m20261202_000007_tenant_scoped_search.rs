//! Search that counts its matches without reading them.
//!
//! - SQLite: the FTS5 trigram index keeps its own copy of names,
//!   descriptions and key ids and numbers each key `tenant_id << 40 | id`.
//!   A tenant's entries are then one rowid range, which FTS5 reads by
//!   itself: a search's matches are counted in the index alone, without a
//!   row of `api_keys` per match (key ids below 2^40, tenant ids below
//!   2^23; larger tenant ids still search correctly, scoped by the key
//!   rows instead).
//! - PostgreSQL: the searched text, lower-case, is a stored generated
//!   column (`search_text`) with the trigram index on it, so rechecking a
//!   match compares stored text instead of recomputing it.

use crate::m20261202_000006_key_counts_and_search::{SQLITE_SEARCH_UP, run};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) const SQLITE_DROP_SEARCH: &[&str] = &[
    "DROP TRIGGER api_keys_search_update",
    "DROP TRIGGER api_keys_search_delete",
    "DROP TRIGGER api_keys_search_insert",
    "DROP TABLE api_keys_search",
];

pub(crate) const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE api_keys_search USING fts5(
        name, description, key_id, tokenize = 'trigram'
    )",
    "INSERT INTO api_keys_search (rowid, name, description, key_id)
        SELECT (tenant_id << 40) | id, name, description, key_id FROM api_keys",
    "CREATE TRIGGER api_keys_search_insert AFTER INSERT ON api_keys BEGIN
        INSERT INTO api_keys_search (rowid, name, description, key_id)
            VALUES ((new.tenant_id << 40) | new.id, new.name, new.description, new.key_id);
    END",
    "CREATE TRIGGER api_keys_search_delete AFTER DELETE ON api_keys BEGIN
        DELETE FROM api_keys_search WHERE rowid = (old.tenant_id << 40) | old.id;
    END",
    "CREATE TRIGGER api_keys_search_update AFTER UPDATE OF name, description, key_id, tenant_id ON api_keys BEGIN
        DELETE FROM api_keys_search WHERE rowid = (old.tenant_id << 40) | old.id;
        INSERT INTO api_keys_search (rowid, name, description, key_id)
            VALUES ((new.tenant_id << 40) | new.id, new.name, new.description, new.key_id);
    END",
];

const POSTGRES_UP: &[&str] = &[
    "DROP INDEX IF EXISTS idx_keys_search_trgm",
    "ALTER TABLE api_keys ADD COLUMN search_text TEXT
        GENERATED ALWAYS AS (lower(name || E'\\n' || coalesce(description, ''))) STORED",
    "DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            CREATE INDEX idx_keys_search_text_trgm ON api_keys USING gin (search_text gin_trgm_ops);
        END IF;
    END $$",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_keys_search_text_trgm",
    "ALTER TABLE api_keys DROP COLUMN search_text",
    "DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            CREATE INDEX idx_keys_search_trgm ON api_keys
                USING gin ((lower(name || E'\\n' || coalesce(description, ''))) gin_trgm_ops);
        END IF;
    END $$",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend: SQLite's default runs each
    /// statement on any connection of the pool, and the index's triggers
    /// are dropped and made again under the same names.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DbBackend::Sqlite => {
                run(m, SQLITE_DROP_SEARCH).await?;
                run(m, SQLITE_UP).await
            }
            DbBackend::Postgres => run(m, POSTGRES_UP).await,
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DbBackend::Sqlite => {
                run(m, SQLITE_DROP_SEARCH).await?;
                run(m, SQLITE_SEARCH_UP).await
            }
            DbBackend::Postgres => run(m, POSTGRES_DOWN).await,
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }
}
