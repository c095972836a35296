//! Per-key permissions (seed 000's checkboxes): a key may carry
//! permissions of its own, besides or instead of an authorization group.
//!
//! `api_keys.permissions` holds them, newline-separated as a group's;
//! `api_keys.group_id` may be NULL (a key with permissions of its own only).
//! SQLite cannot drop a NOT NULL constraint with ALTER TABLE; it is removed
//! from the table's definition in `sqlite_schema` by the procedure SQLite
//! documents for that change ("ALTER TABLE", section 7: removing NOT NULL
//! constraints needs no change to stored rows), in this migration's
//! transaction, with the schema version bumped so every connection rereads it.

use crate::m20261202_000006_key_counts_and_search::run;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const NOT_NULL: &str = r#""group_id" integer NOT NULL,"#;
const NULLABLE: &str = r#""group_id" integer NULL,"#;

/// Rewrites the definition of `api_keys` in `sqlite_schema`, replacing `from` by `to`.
async fn rewrite_sqlite_definition(
    m: &SchemaManager<'_>,
    from: &str,
    to: &str,
) -> Result<(), DbErr> {
    let db = m.get_connection();
    let version: i64 = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA schema_version",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("no schema version".into()))?
        .try_get_by_index(0)?;
    let definition: String = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'api_keys'",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("no table api_keys".into()))?
        .try_get_by_index(0)?;
    if definition.matches(from).count() != 1 {
        return Err(DbErr::Migration(format!(
            "api_keys: expected its definition to hold `{from}` once"
        )));
    }
    db.execute_unprepared("PRAGMA writable_schema = ON").await?;
    let changed = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'api_keys'",
            [definition.replacen(from, to, 1).into()],
        ))
        .await;
    let bumped = db
        .execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1))
        .await;
    db.execute_unprepared("PRAGMA writable_schema = OFF")
        .await?;
    changed?;
    bumped?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = "ALTER TABLE api_keys ADD COLUMN permissions text NOT NULL DEFAULT ''";
        match m.get_database_backend() {
            DbBackend::Sqlite => {
                run(m, &[add]).await?;
                rewrite_sqlite_definition(m, NOT_NULL, NULLABLE).await
            }
            DbBackend::Postgres => {
                run(
                    m,
                    &[
                        add,
                        "ALTER TABLE api_keys ALTER COLUMN group_id DROP NOT NULL",
                    ],
                )
                .await
            }
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }

    /// Refused while a key has no group (it would lose every permission).
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        let without_group = m
            .get_connection()
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT COUNT(*) FROM api_keys WHERE group_id IS NULL",
            ))
            .await?
            .map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        if without_group > 0 {
            return Err(DbErr::Migration(format!(
                "{without_group} API keys have no authorization group; give them one before migrating down"
            )));
        }
        let drop = "ALTER TABLE api_keys DROP COLUMN permissions";
        match backend {
            DbBackend::Sqlite => {
                rewrite_sqlite_definition(m, NULLABLE, NOT_NULL).await?;
                run(m, &[drop]).await
            }
            DbBackend::Postgres => {
                run(
                    m,
                    &[
                        "ALTER TABLE api_keys ALTER COLUMN group_id SET NOT NULL",
                        drop,
                    ],
                )
                .await
            }
            other => Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            ))),
        }
    }
}
