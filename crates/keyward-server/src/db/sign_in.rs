//! Sign-in attempt counts (`sign_in_attempts`): one statement counts an
//! attempt against all its scopes and returns the new counts, so that
//! concurrent attempts — on any instance — each see a distinct count.

use super::{Db, DbError};
use keyward_core::signin::{SignInCounts, SignInScopes};
use sea_orm::ConnectionTrait;

/// The counts after an attempt was counted, and when the most recent of its
/// windows began (Unix ms): a refused attempt may retry once that window ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountedAttempt {
    pub counts: SignInCounts,
    pub window_start_ms: i64,
}

/// The rows of an attempt's scopes, in one fixed order (username, address,
/// pair), so that concurrent statements lock shared rows in the same order.
fn rows(s: &SignInScopes) -> Vec<(&str, &str)> {
    match &s.username {
        Some(u) => vec![
            (u.as_str(), ""),
            ("", s.address.as_str()),
            (u.as_str(), s.address.as_str()),
        ],
        None => vec![("", s.address.as_str())],
    }
}

impl Db {
    /// Counts one attempt against each scope: a row whose window ended
    /// starts a new one at `now_ms`.
    pub async fn count_sign_in_attempt(
        &self,
        scopes: &SignInScopes,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<CountedAttempt, DbError> {
        let rows = rows(scopes);
        let mut values: Vec<sea_orm::Value> = vec![now_ms.into(), window_ms.into()];
        let mut tuples = Vec::with_capacity(rows.len());
        for (u, a) in &rows {
            let n = values.len();
            tuples.push(format!("(${}, ${}, $1, 1)", n + 1, n + 2));
            values.push((*u).into());
            values.push((*a).into());
        }
        let sql = format!(
            "INSERT INTO sign_in_attempts (username, address, window_start, count) VALUES {} \
             ON CONFLICT (username, address) DO UPDATE SET \
             count = CASE WHEN sign_in_attempts.window_start <= $1 - $2 THEN 1 \
                     ELSE sign_in_attempts.count + 1 END, \
             window_start = CASE WHEN sign_in_attempts.window_start <= $1 - $2 THEN $1 \
                     ELSE sign_in_attempts.window_start END \
             RETURNING username, address, window_start, count",
            tuples.join(", ")
        );
        let result = self.conn.query_all_raw(self.stmt(&sql, values)).await?;
        let mut counted = CountedAttempt {
            counts: SignInCounts::default(),
            window_start_ms: 0,
        };
        for row in result {
            let u: String = row.try_get("", "username")?;
            let a: String = row.try_get("", "address")?;
            let start: i64 = row.try_get("", "window_start")?;
            let count: i64 = row.try_get("", "count")?;
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            match (u.is_empty(), a.is_empty()) {
                (false, true) => counted.counts.user = count,
                (true, false) => counted.counts.address = count,
                _ => counted.counts.user_address = count,
            }
            counted.window_start_ms = counted.window_start_ms.max(start);
        }
        if counted.counts.address == 0 {
            return Err(DbError::corrupt("sign-in attempt was not counted"));
        }
        Ok(counted)
    }

    /// Gives back a successful attempt's reservation: the pair starts over,
    /// the username's and the address's counts lose the one attempt.
    pub async fn release_sign_in_attempt(&self, scopes: &SignInScopes) -> Result<(), DbError> {
        let Some(user) = &scopes.username else {
            return Ok(());
        };
        let delete = self.stmt(
            "DELETE FROM sign_in_attempts WHERE username = $1 AND address = $2",
            vec![user.as_str().into(), scopes.address.as_str().into()],
        );
        self.conn.execute_raw(delete).await?;
        let decrement = self.stmt(
            "UPDATE sign_in_attempts SET count = count - 1 \
             WHERE count > 0 AND ((username = $1 AND address = '') OR (username = '' AND address = $2))",
            vec![user.as_str().into(), scopes.address.as_str().into()],
        );
        self.conn.execute_raw(decrement).await?;
        Ok(())
    }

    /// Forgets every count of a username (after a password reset).
    pub async fn clear_sign_in_attempts(&self, username: &str) -> Result<(), DbError> {
        let stmt = self.stmt(
            "DELETE FROM sign_in_attempts WHERE username = $1",
            vec![username.to_lowercase().into()],
        );
        self.conn.execute_raw(stmt).await?;
        Ok(())
    }

    /// Deletes rows whose window began at or before `before_ms`.
    pub async fn prune_sign_in_attempts(&self, before_ms: i64) -> Result<u64, DbError> {
        let stmt = self.stmt(
            "DELETE FROM sign_in_attempts WHERE window_start <= $1",
            vec![before_ms.into()],
        );
        Ok(self.conn.execute_raw(stmt).await?.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_in_one_order_and_a_name_without_scope_counts_its_address_only() {
        let s = SignInScopes {
            username: Some("alice".into()),
            address: "1.2.3.4".into(),
        };
        assert_eq!(
            rows(&s),
            vec![("alice", ""), ("", "1.2.3.4"), ("alice", "1.2.3.4")]
        );
        let s = SignInScopes {
            username: None,
            address: "1.2.3.4".into(),
        };
        assert_eq!(rows(&s), vec![("", "1.2.3.4")]);
    }
}
