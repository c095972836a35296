//! The persistence adapter: sea-orm over SQLite or PostgreSQL.
//!
//! All SQL lives here, behind methods of [`Db`] grouped by resource. Every
//! method on tenant data takes the tenant id; the one exception is
//! [`Db::load_key_record`], the verification lookup by globally unique key id,
//! which is what establishes the tenant of an integrator request.

mod audit;
pub mod entities;
mod groups;
mod keys;
mod listener;
mod tenants;
mod usage;
mod users;

pub use audit::AuditEntry;
pub use groups::{GroupPatch, group_kind, group_permissions};
pub use keys::{KeyFilter, KeyRow};
pub use listener::{ChangeNotice, NOTIFY_CHANNEL};
pub use usage::UsageBatch;
pub use users::SessionRow;

use crate::error::ApiError;
use crate::settings::Settings;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
};
use std::time::Duration;

/// The database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects (creating the SQLite file and data directory when needed) and migrates.
    pub async fn connect(settings: &Settings) -> Result<Self, sea_orm::DbErr> {
        let url = settings.database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
                sea_orm::DbErr::Custom(format!(
                    "cannot create {}: {e}",
                    settings.data_dir.display()
                ))
            })?;
        }
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(settings.database_pool_size)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let conn = sea_orm::Database::connect(opts).await?;
        Migrator::up(&conn, None).await?;
        Ok(Self { conn })
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Postgres
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.conn.ping().await.map_err(ApiError::internal)
    }

    /// Starts a write transaction whose first statement takes the tenant's
    /// write lock (a row lock on PostgreSQL, the database write lock on
    /// SQLite), so that concurrent writers of one tenant run one after the
    /// other and never fail on a stale snapshot.
    async fn begin_tenant_write(&self, tenant_id: i64) -> Result<DatabaseTransaction, ApiError> {
        use sea_orm::TransactionTrait;
        let txn = self.conn.begin().await?;
        let sql = "UPDATE tenants SET lock_version = lock_version + 1 WHERE id = $1";
        let res = txn
            .execute_raw(self.stmt(sql, vec![tenant_id.into()]))
            .await?;
        if res.rows_affected() == 0 {
            return Err(ApiError::NotFound("Tenant"));
        }
        Ok(txn)
    }

    fn stmt(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        let backend = self.conn.get_database_backend();
        let sql = if backend == DbBackend::Postgres {
            sql.to_owned()
        } else {
            dollar_to_question(sql)
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Tells other instances (PostgreSQL only) that a key changed; delivered at commit.
    async fn notify(&self, txn: &DatabaseTransaction, payload: &str) -> Result<(), ApiError> {
        if self.is_postgres() {
            let stmt = self.stmt(
                "SELECT pg_notify($1, $2)",
                vec![NOTIFY_CHANNEL.into(), payload.into()],
            );
            txn.execute_raw(stmt).await?;
        }
        Ok(())
    }
}

/// `$N` placeholders become SQLite's numbered `?N`.
fn dollar_to_question(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Splits a newline-separated column.
fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_rewritten_for_sqlite() {
        assert_eq!(
            super::dollar_to_question("a = $2 AND b = $1"),
            "a = ?2 AND b = ?1"
        );
    }
}
