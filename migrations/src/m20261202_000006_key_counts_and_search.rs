//! Lists that stay fast at 100,000 keys a tenant:
//!
//! - `tenant_key_counts`: each tenant's keys and revoked keys, kept by
//!   triggers on `api_keys` (so every writer, SQL loads included, keeps
//!   them exact); the time-dependent counts (expired, expiring soon) are
//!   small ranges of two partial indexes on `expires_at`.
//! - substring search on names, descriptions and key ids through a
//!   trigram index: an FTS5 `trigram` table kept by triggers on SQLite,
//!   `pg_trgm` GIN indexes on PostgreSQL (when the extension can be
//!   created; without it search still works, by scanning).
//! - an index for the "last four characters" search, and one on the
//!   lower-case name for text too short for trigrams (names starting with it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COMMON_UP: &[&str] = &[
    "CREATE TABLE tenant_key_counts (
        tenant_id BIGINT NOT NULL PRIMARY KEY,
        total BIGINT NOT NULL,
        revoked BIGINT NOT NULL
    )",
    "INSERT INTO tenant_key_counts (tenant_id, total, revoked)
        SELECT tenant_id, COUNT(*), COUNT(revoked_at) FROM api_keys GROUP BY tenant_id",
    "CREATE INDEX idx_keys_live_expires ON api_keys (tenant_id, expires_at) WHERE revoked_at IS NULL",
    "CREATE INDEX idx_keys_revoked_expires ON api_keys (tenant_id, expires_at) WHERE revoked_at IS NOT NULL",
    "CREATE INDEX idx_keys_tenant_last4 ON api_keys (tenant_id, last4)",
];

const COMMON_DOWN: &[&str] = &[
    "DROP INDEX idx_keys_tenant_name_lower",
    "DROP INDEX idx_keys_tenant_last4",
    "DROP INDEX idx_keys_revoked_expires",
    "DROP INDEX idx_keys_live_expires",
    "DROP TABLE tenant_key_counts",
];

const SQLITE_UP: &[&str] = &[
    "CREATE INDEX idx_keys_tenant_name_lower ON api_keys (tenant_id, lower(name))",
    "CREATE TRIGGER api_keys_count_insert AFTER INSERT ON api_keys BEGIN
        INSERT INTO tenant_key_counts (tenant_id, total, revoked)
            VALUES (new.tenant_id, 1, new.revoked_at IS NOT NULL)
            ON CONFLICT (tenant_id) DO UPDATE
            SET total = total + 1, revoked = revoked + excluded.revoked;
    END",
    "CREATE TRIGGER api_keys_count_delete AFTER DELETE ON api_keys BEGIN
        UPDATE tenant_key_counts
            SET total = total - 1, revoked = revoked - (old.revoked_at IS NOT NULL)
            WHERE tenant_id = old.tenant_id;
    END",
    "CREATE TRIGGER api_keys_count_revoke AFTER UPDATE OF revoked_at ON api_keys
        WHEN (old.revoked_at IS NULL) <> (new.revoked_at IS NULL) BEGIN
        UPDATE tenant_key_counts
            SET revoked = revoked + (CASE WHEN new.revoked_at IS NULL THEN -1 ELSE 1 END)
            WHERE tenant_id = new.tenant_id;
    END",
];

/// The search index as this migration made it (migration 7 puts it back
/// on the way down).
pub(crate) const SQLITE_SEARCH_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE api_keys_search USING fts5(
        name, description, key_id,
        content = 'api_keys', content_rowid = 'id', tokenize = 'trigram'
    )",
    "INSERT INTO api_keys_search (api_keys_search) VALUES ('rebuild')",
    "CREATE TRIGGER api_keys_search_insert AFTER INSERT ON api_keys BEGIN
        INSERT INTO api_keys_search (rowid, name, description, key_id)
            VALUES (new.id, new.name, new.description, new.key_id);
    END",
    "CREATE TRIGGER api_keys_search_delete AFTER DELETE ON api_keys BEGIN
        INSERT INTO api_keys_search (api_keys_search, rowid, name, description, key_id)
            VALUES ('delete', old.id, old.name, old.description, old.key_id);
    END",
    "CREATE TRIGGER api_keys_search_update AFTER UPDATE OF name, description, key_id ON api_keys BEGIN
        INSERT INTO api_keys_search (api_keys_search, rowid, name, description, key_id)
            VALUES ('delete', old.id, old.name, old.description, old.key_id);
        INSERT INTO api_keys_search (rowid, name, description, key_id)
            VALUES (new.id, new.name, new.description, new.key_id);
    END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER api_keys_search_update",
    "DROP TRIGGER api_keys_search_delete",
    "DROP TRIGGER api_keys_search_insert",
    "DROP TABLE api_keys_search",
    "DROP TRIGGER api_keys_count_revoke",
    "DROP TRIGGER api_keys_count_delete",
    "DROP TRIGGER api_keys_count_insert",
];

const POSTGRES_UP: &[&str] = &[
    // Newest expiry or last use first, keys without one last: the order of
    // the list (SQLite reads its ascending indexes backwards for this).
    "CREATE INDEX idx_keys_tenant_expires_desc ON api_keys (tenant_id, expires_at DESC NULLS LAST, id DESC)",
    "CREATE INDEX idx_keys_tenant_last_used_desc ON api_keys (tenant_id, last_used_at DESC NULLS LAST, id DESC)",
    "CREATE INDEX idx_keys_tenant_name_lower ON api_keys (tenant_id, (lower(name) COLLATE \"C\"))",
    // Statement-level with transition tables: a bulk insert or delete
    // updates each tenant's row once.
    "CREATE FUNCTION keyward_keys_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO tenant_key_counts (tenant_id, total, revoked)
            SELECT tenant_id, COUNT(*), COUNT(revoked_at) FROM new_keys GROUP BY tenant_id
            ORDER BY tenant_id
            ON CONFLICT (tenant_id) DO UPDATE
            SET total = tenant_key_counts.total + EXCLUDED.total,
                revoked = tenant_key_counts.revoked + EXCLUDED.revoked;
        RETURN NULL;
    END $$",
    "CREATE TRIGGER api_keys_count_insert AFTER INSERT ON api_keys
        REFERENCING NEW TABLE AS new_keys
        FOR EACH STATEMENT EXECUTE FUNCTION keyward_keys_inserted()",
    "CREATE FUNCTION keyward_keys_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE tenant_key_counts c
            SET total = c.total - d.n, revoked = c.revoked - d.r
            FROM (SELECT tenant_id, COUNT(*) AS n, COUNT(revoked_at) AS r
                  FROM old_keys GROUP BY tenant_id) d
            WHERE c.tenant_id = d.tenant_id;
        RETURN NULL;
    END $$",
    "CREATE TRIGGER api_keys_count_delete AFTER DELETE ON api_keys
        REFERENCING OLD TABLE AS old_keys
        FOR EACH STATEMENT EXECUTE FUNCTION keyward_keys_deleted()",
    "CREATE FUNCTION keyward_key_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE tenant_key_counts
            SET revoked = revoked + (CASE WHEN NEW.revoked_at IS NULL THEN -1 ELSE 1 END)
            WHERE tenant_id = NEW.tenant_id;
        RETURN NULL;
    END $$",
    "CREATE TRIGGER api_keys_count_revoke AFTER UPDATE OF revoked_at ON api_keys
        FOR EACH ROW WHEN ((OLD.revoked_at IS NULL) IS DISTINCT FROM (NEW.revoked_at IS NULL))
        EXECUTE FUNCTION keyward_key_revoked()",
    // pg_trgm is a trusted extension (PostgreSQL 13+): the database owner
    // may create it. Without it, search scans.
    "DO $$ BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pg_trgm is not available (%): key search will scan', SQLERRM;
    END $$",
    "DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            CREATE INDEX idx_keys_search_trgm ON api_keys
                USING gin ((lower(name || E'\\n' || coalesce(description, ''))) gin_trgm_ops);
            CREATE INDEX idx_keys_key_id_trgm ON api_keys USING gin (key_id gin_trgm_ops);
        END IF;
    END $$",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX idx_keys_tenant_last_used_desc",
    "DROP INDEX idx_keys_tenant_expires_desc",
    "DROP INDEX IF EXISTS idx_keys_key_id_trgm",
    "DROP INDEX IF EXISTS idx_keys_search_trgm",
    "DROP TRIGGER api_keys_count_revoke ON api_keys",
    "DROP FUNCTION keyward_key_revoked()",
    "DROP TRIGGER api_keys_count_delete ON api_keys",
    "DROP FUNCTION keyward_keys_deleted()",
    "DROP TRIGGER api_keys_count_insert ON api_keys",
    "DROP FUNCTION keyward_keys_inserted()",
];

pub(crate) async fn run(m: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = m.get_connection();
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

fn backend_specific(m: &SchemaManager<'_>, up: bool) -> Result<&'static [&'static str], DbErr> {
    match (m.get_database_backend(), up) {
        (DbBackend::Sqlite, true) => Ok(SQLITE_UP),
        (DbBackend::Sqlite, false) => Ok(SQLITE_DOWN),
        (DbBackend::Postgres, true) => Ok(POSTGRES_UP),
        (DbBackend::Postgres, false) => Ok(POSTGRES_DOWN),
        (other, _) => Err(DbErr::Migration(format!(
            "unsupported database backend {other:?}"
        ))),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        run(m, COMMON_UP).await?;
        run(m, backend_specific(m, true)?).await?;
        if m.get_database_backend() == DbBackend::Sqlite {
            run(m, SQLITE_SEARCH_UP).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        run(m, backend_specific(m, false)?).await?;
        run(m, COMMON_DOWN).await
    }
}
