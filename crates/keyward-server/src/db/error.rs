//! The persistence port's error: no HTTP in it. Unique-constraint and
//! foreign-key violations are classified here, in [`classify`], and
//! nowhere else; the server turns a [`DbError`] into its API error once
//! (`impl From<DbError> for ApiError`).

use keyward_core::Field;
use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The object (named: "Tenant", "API key", …) does not exist in the tenant.
    #[error("{0} not found.")]
    NotFound(&'static str),
    /// A unique constraint refused the write: `what` names the object with
    /// its article ("A user"), `field` the value that is taken.
    #[error("{what} with this {} already exists.", field.as_str())]
    Conflict { what: &'static str, field: Field },
    /// A foreign key refused the write or delete.
    #[error("The object is still referenced by other objects.")]
    Referenced,
    /// A stored row holds a value the domain does not accept.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Internal(#[source] DbErr),
}

impl DbError {
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

/// Operations that gave up waiting for a pooled connection (process-wide;
/// read by the metrics).
pub static POOL_TIMEOUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The one place where constraint violations are told apart: a unique
/// violation is a conflict on `unique` (what, field), a foreign-key
/// violation means the row is referenced; anything else is internal.
pub(super) fn classify(e: DbErr, unique: (&'static str, Field)) -> DbError {
    if matches!(
        e,
        DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout)
    ) {
        POOL_TIMEOUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => DbError::Conflict {
            what: unique.0,
            field: unique.1,
        },
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => DbError::Referenced,
        _ => DbError::Internal(e),
    }
}

/// Without more context a unique violation is about an object's name.
impl From<DbErr> for DbError {
    fn from(e: DbErr) -> Self {
        classify(e, ("An object", Field::Name))
    }
}

/// Names the object of a unique violation on a write.
pub(super) trait OnUnique<T> {
    fn on_unique(self, what: &'static str, field: Field) -> Result<T, DbError>;
}

impl<T> OnUnique<T> for Result<T, DbErr> {
    fn on_unique(self, what: &'static str, field: Field) -> Result<T, DbError> {
        self.map_err(|e| classify(e, (what, field)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_errors_are_internal_and_messages_name_the_object() {
        let e = classify(DbErr::Custom("boom".into()), ("A user", Field::Username));
        assert!(matches!(e, DbError::Internal(_)), "{e:?}");
        let e = DbError::Conflict {
            what: "A user",
            field: Field::Username,
        };
        assert_eq!(e.to_string(), "A user with this username already exists.");
        assert!(e.is_conflict());
    }
}
