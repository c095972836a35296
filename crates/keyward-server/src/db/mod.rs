//! The persistence adapter (the port to the database): sea-orm over SQLite
//! or PostgreSQL.
//!
//! All SQL lives here, behind methods of [`Db`] (reads) and [`Tx`] (one
//! write transaction, opened by a use case in `app`), grouped by resource.
//! It hands back domain records (`keyward-core` types, or the plain records
//! defined here) and its own [`DbError`]; sea-orm models never leave it, and
//! it knows nothing of HTTP or of the API's views.
//!
//! Every method on tenant data takes the tenant id; the one exception is
//! [`Db::load_key_record`], the verification lookup by globally unique key
//! id, which is what establishes the tenant of an integrator request.

mod access_log;
mod audit;
mod entities;
mod error;
mod events;
mod groups;
mod hashing;
mod key_lists;
mod keys;
mod listener;
mod retention;
mod sign_in;
mod tenants;
mod usage;
mod users;
mod webhooks;

pub use access_log::{AccessFilter, AccessRecord};
pub use audit::{AuditEntry, AuditFilter, AuditRecord};
pub use error::DbError;
pub use events::OutboxEvent;
pub use groups::KeyGroup;
pub use hashing::{Redigest, SecretVersion};
pub use key_lists::KeyListIndex;
pub use keys::{KeyFilter, KeyRow};
pub use listener::{ChangeNotice, NOTIFY_CHANNEL};
pub use retention::{Cutoffs, Pruned};
pub use sign_in::CountedAttempt;
pub use usage::{DailyUsage, UsageBatch};
pub use users::{Credentials, SessionRecord, UserRecord};
pub use webhooks::{Attempt, Claimed, DeliveryRecord, EndpointRecord, Message, Sighting};

use crate::settings::Settings;
use keyward_core::key::KeyId;
use keyward_core::ratelimit::RatePolicy;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// The database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    /// Large tenants' key list columns, for text searches.
    lists: std::sync::Arc<KeyListIndex>,
}

/// One write transaction. Dropped without [`Tx::commit`], it rolls back.
#[derive(Debug)]
pub struct Tx {
    txn: DatabaseTransaction,
    backend: DbBackend,
}

/// A connection pool's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub in_use: u64,
    pub idle: u64,
    pub max: u64,
    /// Operations that gave up waiting for a connection (process-wide).
    pub timeouts: u64,
}

/// The part of a SQLite database file mapped into memory for reading.
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

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
                    // Reads through the operating system's page cache
                    // (shared by every connection) instead of a copy of
                    // each page per connection: a search that reads
                    // thousands of rows reads them from memory.
                    .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
            })
            // Prepared statements are planned for their values every time:
            // after five runs PostgreSQL would otherwise settle on a plan
            // for unknown values, and a search pattern's selectivity is
            // what decides between the trigram index and walking the sort
            // order (a generic plan made a 3 ms search take 40 ms).
            .map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
        let conn = sea_orm::Database::connect(opts).await?;
        Migrator::up(&conn, None).await?;
        let lists = KeyListIndex::new(settings.list_index_keys, settings.list_index_min_keys);
        Ok(Self {
            conn,
            lists: std::sync::Arc::new(lists),
        })
    }

    /// The connection pool's state, for the metrics.
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = if self.is_postgres() {
            let p = self.conn.get_postgres_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        } else {
            let p = self.conn.get_sqlite_connection_pool();
            (p.size(), p.num_idle(), p.options().get_max_connections())
        };
        let idle = u64::try_from(idle).unwrap_or(0);
        PoolStats {
            in_use: u64::from(size).saturating_sub(idle),
            idle,
            max: u64::from(max),
            timeouts: error::POOL_TIMEOUTS.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Postgres
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> Result<(), DbError> {
        Ok(self.conn.ping().await?)
    }

    /// Starts a write transaction that touches no tenant's keys or groups
    /// (creating a tenant, users and sessions).
    pub async fn begin(&self) -> Result<Tx, DbError> {
        Ok(Tx {
            txn: self.begin_write().await?,
            backend: self.conn.get_database_backend(),
        })
    }

    /// Opens a transaction that will write. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`, waiting up to the busy timeout):
    /// a deferred transaction that reads first and writes later fails at
    /// its first write, without waiting, when another connection committed
    /// in between (`SQLITE_BUSY_SNAPSHOT`, "database is locked"), which
    /// made a password reset answer 500 while a background task wrote.
    /// PostgreSQL ignores the mode.
    async fn begin_write(&self) -> Result<DatabaseTransaction, DbError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.conn.begin_with_options(options).await?)
    }

    /// Starts a write transaction whose first statement takes the tenant's
    /// write lock (a row lock on PostgreSQL, the database write lock on
    /// SQLite), so that concurrent writers of one tenant run one after the
    /// other and never fail on a stale snapshot.
    pub async fn begin_tenant_write(&self, tenant_id: i64) -> Result<Tx, DbError> {
        let tx = self.begin().await?;
        let sql = "UPDATE tenants SET lock_version = lock_version + 1 WHERE id = $1";
        let res = tx
            .txn
            .execute_raw(stmt(tx.backend, sql, vec![tenant_id.into()]))
            .await?;
        if res.rows_affected() == 0 {
            return Err(DbError::NotFound("Tenant"));
        }
        Ok(tx)
    }

    fn stmt(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        stmt(self.conn.get_database_backend(), sql, values)
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), DbError> {
        Ok(self.txn.commit().await?)
    }

    /// Tells other instances (PostgreSQL only) that a key changed; delivered at commit.
    pub async fn announce_key(&self, key_id: &KeyId) -> Result<(), DbError> {
        self.notify(&ChangeNotice::key_payload(key_id)).await
    }

    /// Tells other instances (PostgreSQL only) that a group's keys changed
    /// (its permissions); delivered at commit.
    pub async fn announce_group(&self, group_id: i64) -> Result<(), DbError> {
        self.notify(&ChangeNotice::group_payload(group_id)).await
    }

    async fn notify(&self, payload: &str) -> Result<(), DbError> {
        if self.backend == DbBackend::Postgres {
            let stmt = stmt(
                self.backend,
                "SELECT pg_notify($1, $2)",
                vec![NOTIFY_CHANNEL.into(), payload.into()],
            );
            self.txn.execute_raw(stmt).await?;
        }
        Ok(())
    }
}

fn stmt(backend: DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        sql.to_owned()
    } else {
        dollar_to_question(sql)
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// `$N` placeholders become SQLite's numbered `?N`.
fn dollar_to_question(sql: &str) -> String {
    sql.replace('$', "?")
}

/// A stored rate-limit policy: the JSON windows the API takes.
fn rate_limit(
    stored: Option<&str>,
    owner: impl std::fmt::Display,
) -> Result<Option<RatePolicy>, DbError> {
    stored
        .map(|json| {
            serde_json::from_str(json)
                .map_err(|_| DbError::corrupt(format!("rate limit of {owner}")))
        })
        .transpose()
}

/// A policy as stored.
fn stored_rate_limit(policy: Option<&RatePolicy>) -> Option<String> {
    policy.map(|p| serde_json::to_string(p).unwrap_or_default())
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
