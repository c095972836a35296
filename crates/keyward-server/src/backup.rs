//! Backups of the SQLite database while it serves, and their restore.
//!
//! `keyward backup --to FILE` writes a consistent copy with `VACUUM INTO`
//! (one read transaction: writers go on, the copy is the database as of
//! its start, compacted) and checks the copy's integrity. `keyward restore
//! --from FILE` checks a backup (integrity, and that this build knows all
//! of its migrations) and puts it in place of the database of a stopped
//! server, keeping the replaced file. PostgreSQL is backed up with its own
//! tools (`pg_dump`; see docs/OPERATIONS.md). The key-hashing secret is
//! not in the database: back up `data_dir/hashing-secret` (or the
//! `hashing_secret` setting) too, or restored keys cannot be verified.

use crate::settings::Settings;
use migrations::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the database is not SQLite; back up PostgreSQL with pg_dump (see docs/OPERATIONS.md)")]
    NotSqlite,
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{0} exists; choose a new file")]
    Exists(PathBuf),
    #[error("{0} is in use ({1} exists): stop the server first")]
    InUse(PathBuf, PathBuf),
    #[error("{0} fails its integrity check: {1}")]
    Integrity(PathBuf, String),
    #[error("{0} was made by a newer Keyward (migration {1} is unknown here)")]
    Newer(PathBuf, String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The SQLite file of a `sqlite:` database URL, or `None` for another database.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// What a backup or restore did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The file written.
    pub path: PathBuf,
    pub bytes: u64,
    /// The file a restore replaced (kept beside it), if there was one.
    pub replaced: Option<PathBuf>,
}

/// Writes a consistent, checked copy of the serving database to `to`.
pub async fn backup(settings: &Settings, to: &Path) -> Result<Report, BackupError> {
    let db = sqlite_path(&settings.database_url()).ok_or(BackupError::NotSqlite)?;
    if !db.exists() {
        return Err(BackupError::Missing(db));
    }
    if to.exists() {
        return Err(BackupError::Exists(to.to_owned()));
    }
    let conn = open(&db).await?;
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "VACUUM INTO ?",
        [to.display().to_string().into()],
    ))
    .await?;
    conn.close().await?;
    check(to).await?;
    Ok(Report {
        path: to.to_owned(),
        bytes: std::fs::metadata(to)?.len(),
        replaced: None,
    })
}

/// Puts the checked backup `from` in place of the (stopped) server's
/// database; the replaced file is kept as `<name>.before-restore-<time>`.
pub async fn restore(settings: &Settings, from: &Path) -> Result<Report, BackupError> {
    let db = sqlite_path(&settings.database_url()).ok_or(BackupError::NotSqlite)?;
    if !from.exists() {
        return Err(BackupError::Missing(from.to_owned()));
    }
    // A server that stopped cleanly leaves no write-ahead log.
    let wal = with_suffix(&db, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(BackupError::InUse(db, wal));
    }
    check(from).await?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let incoming = with_suffix(&db, ".restoring");
    std::fs::copy(from, &incoming)?;
    std::fs::File::open(&incoming)?.sync_all()?;
    let replaced = if db.exists() {
        let kept = with_suffix(
            &db,
            &format!(".before-restore-{}", crate::now().format("%Y%m%d-%H%M%S")),
        );
        std::fs::rename(&db, &kept)?;
        Some(kept)
    } else {
        None
    };
    for stale in [wal, with_suffix(&db, "-shm")] {
        if stale.exists() {
            std::fs::remove_file(stale)?;
        }
    }
    std::fs::rename(&incoming, &db)?;
    Ok(Report {
        bytes: std::fs::metadata(&db)?.len(),
        path: db,
        replaced,
    })
}

/// Fails unless `file` passes SQLite's integrity check and holds only
/// migrations this build knows.
pub async fn check(file: &Path) -> Result<(), BackupError> {
    let conn = open(file).await?;
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA integrity_check",
        ))
        .await?;
    let verdict: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?;
    if verdict != ["ok"] {
        return Err(BackupError::Integrity(file.to_owned(), verdict.join("; ")));
    }
    let known: Vec<String> = migrations::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let applied = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT version FROM seaql_migrations",
        ))
        .await?;
    for row in applied {
        let version: String = row.try_get_by_index(0)?;
        if !known.contains(&version) {
            return Err(BackupError::Newer(file.to_owned(), version));
        }
    }
    conn.close().await?;
    Ok(())
}

/// One read-only connection to `file`.
async fn open(file: &Path) -> Result<DatabaseConnection, BackupError> {
    let mut opts = sea_orm::ConnectOptions::new(format!("sqlite://{}?mode=ro", file.display()));
    opts.max_connections(1).sqlx_logging(false);
    Ok(Database::connect(opts).await?)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/keyward.db?mode=rwc"),
            Some("data/keyward.db".into())
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/k.db"),
            Some("/var/lib/k.db".into())
        );
        assert_eq!(sqlite_path("sqlite:k.db"), Some("k.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://db/keyward"), None);
    }
}
