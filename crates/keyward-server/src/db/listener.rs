//! Change notices between instances sharing a PostgreSQL database:
//! mutations `pg_notify` on [`NOTIFY_CHANNEL`] in their transaction
//! (delivered at commit), and every instance listens.
//!
//! [`Db::change_notices`] runs the listening connection in the background
//! and hands out what it hears as [`ChangeNotice`]s. After every (re)connect
//! it first sends [`ChangeNotice::Connected`]: notices sent while it was
//! not listening are lost, so the consumer must treat everything as
//! changed.

use super::Db;
use keyward_core::key::KeyId;
use std::time::Duration;
use tokio::sync::mpsc;

/// Channel on which instances sharing a PostgreSQL database announce key changes.
pub const NOTIFY_CHANNEL: &str = "keyward_keys";

/// How long the listener waits before reconnecting.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// What another instance (or this one) announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeNotice {
    /// (Re)connected: anything may have changed meanwhile.
    Connected,
    /// The listening connection was lost or could not be made (notices
    /// are missed until the next [`Self::Connected`]).
    Disconnected,
    /// One key changed (or was created).
    Key(KeyId),
    /// A group's permissions changed: every key of the group.
    Group(i64),
    /// Possibly every key changed (a group's permissions, say).
    All,
}

impl ChangeNotice {
    /// The notification payload announcing a change of one key.
    pub fn key_payload(id: &KeyId) -> String {
        format!("key:{id}")
    }

    /// The payload announcing a change of a group's permissions.
    pub fn group_payload(group_id: i64) -> String {
        format!("group:{group_id}")
    }

    /// The payload announcing that every key may have changed.
    pub const ALL_PAYLOAD: &str = "all";

    /// Reads a payload; anything not naming a valid key id means "all"
    /// (the safe reading).
    pub fn from_payload(payload: &str) -> Self {
        if let Some(id) = payload.strip_prefix("key:").and_then(KeyId::parse) {
            return Self::Key(id);
        }
        match payload.strip_prefix("group:").map(str::parse) {
            Some(Ok(group_id)) => Self::Group(group_id),
            _ => Self::All,
        }
    }
}

impl Db {
    /// On PostgreSQL: starts listening in the background and returns the
    /// notices heard; `None` on SQLite (one instance per database file).
    pub fn change_notices(&self) -> Option<mpsc::Receiver<ChangeNotice>> {
        if !self.is_postgres() {
            return None;
        }
        let pool = self.conn().get_postgres_connection_pool().clone();
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            use sea_orm::sqlx::postgres::PgListener;
            while !tx.is_closed() {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                        Err(e) => {
                            tracing::warn!(error = %e, "LISTEN failed");
                            let _ = tx.send(ChangeNotice::Disconnected).await;
                        }
                        Ok(()) => {
                            if tx.send(ChangeNotice::Connected).await.is_err() {
                                return;
                            }
                            loop {
                                match listener.recv().await {
                                    Ok(n) => {
                                        let notice = ChangeNotice::from_payload(n.payload());
                                        if tx.send(notice).await.is_err() {
                                            return;
                                        }
                                    }
                                    Err(e) => {
                                        tracing::warn!(error = %e, "notification listener lost its connection");
                                        let _ = tx.send(ChangeNotice::Disconnected).await;
                                        break;
                                    }
                                }
                            }
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot connect the notification listener");
                        let _ = tx.send(ChangeNotice::Disconnected).await;
                    }
                }
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_anything_else_means_all() {
        let id = KeyId::parse("abcdefABCDEF").unwrap();
        let payload = ChangeNotice::key_payload(&id);
        assert_eq!(ChangeNotice::from_payload(&payload), ChangeNotice::Key(id));
        assert_eq!(
            ChangeNotice::from_payload(ChangeNotice::ALL_PAYLOAD),
            ChangeNotice::All
        );
        assert_eq!(
            ChangeNotice::from_payload(&ChangeNotice::group_payload(42)),
            ChangeNotice::Group(42)
        );
        assert_eq!(ChangeNotice::from_payload("key:short"), ChangeNotice::All);
        assert_eq!(ChangeNotice::from_payload("group:x"), ChangeNotice::All);
        assert_eq!(ChangeNotice::from_payload(""), ChangeNotice::All);
    }
}
