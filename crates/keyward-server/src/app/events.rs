//! Consumers of domain events: after a commit, this instance's
//! verification caches drop what changed (other instances hear of it
//! through the database's notifications). The outbox is pruned by the
//! retention job ([`super::retention`]).

use crate::db::{DbError, Tx};
use crate::verification::KeyVerification;
use keyward_core::event::DomainEvent;
use keyward_core::group::GroupField;
use keyward_core::key::KeyId;

/// What an event makes stale in the verification caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stale<'a> {
    /// One key's record (its configuration or secret changed, or it is new).
    Key(&'a KeyId),
    /// The records of a group's keys (its permissions or rate limit
    /// changed); other groups' keys, of this tenant or another, are untouched.
    Group(i64),
}

/// The cache effect of an event, if any.
pub fn stale(event: &DomainEvent) -> Option<Stale<'_>> {
    match event {
        DomainEvent::KeyCreated { key_id, .. }
        | DomainEvent::KeyUpdated { key_id, .. }
        | DomainEvent::KeyRotated { key_id, .. }
        | DomainEvent::KeyRevoked { key_id, .. }
        | DomainEvent::KeyDeleted { key_id, .. } => Some(Stale::Key(key_id)),
        DomainEvent::GroupUpdated {
            group_id, changed, ..
        } if changed
            .iter()
            .any(|f| matches!(f, GroupField::Permissions | GroupField::RateLimit)) =>
        {
            Some(Stale::Group(*group_id))
        }
        _ => None,
    }
}

/// Tells other instances, in the change's transaction, what the events make stale.
pub(super) async fn announce(tx: &Tx, events: &[DomainEvent]) -> Result<(), DbError> {
    for e in events {
        match stale(e) {
            Some(Stale::Key(id)) => tx.announce_key(id).await?,
            Some(Stale::Group(group_id)) => tx.announce_group(group_id).await?,
            None => {}
        }
    }
    Ok(())
}

/// Drops this instance's cached records that the committed events make stale.
pub fn dispatch(keys: &KeyVerification, events: &[DomainEvent]) {
    for e in events {
        match stale(e) {
            Some(Stale::Key(id)) => keys.invalidate(*id),
            Some(Stale::Group(group_id)) => keys.invalidate_group(group_id),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::lifecycle::KeyField;
    use keyward_core::tenant::TenantField;

    #[test]
    fn key_events_make_their_key_stale_and_permission_changes_their_group() {
        let id = KeyId::parse("AbCdEfGh1234").unwrap();
        for e in [
            DomainEvent::KeyCreated {
                tenant_id: 1,
                key_id: id,
            },
            DomainEvent::KeyUpdated {
                tenant_id: 1,
                key_id: id,
                changed: vec![KeyField::Name],
            },
            DomainEvent::KeyRotated {
                tenant_id: 1,
                key_id: id,
                previous_valid_until: None,
            },
            DomainEvent::KeyRevoked {
                tenant_id: 1,
                key_id: id,
            },
            DomainEvent::KeyDeleted {
                tenant_id: 1,
                key_id: id,
            },
        ] {
            assert_eq!(stale(&e), Some(Stale::Key(&id)), "{e:?}");
        }
        let group = |changed| DomainEvent::GroupUpdated {
            tenant_id: 1,
            group_id: 2,
            changed,
        };
        assert_eq!(
            stale(&group(vec![GroupField::Permissions])),
            Some(Stale::Group(2))
        );
        assert_eq!(
            stale(&group(vec![GroupField::Name, GroupField::Permissions])),
            Some(Stale::Group(2))
        );
        assert_eq!(
            stale(&group(vec![GroupField::RateLimit])),
            Some(Stale::Group(2))
        );
        assert_eq!(
            stale(&group(vec![GroupField::Name, GroupField::Description])),
            None
        );
        for e in [
            DomainEvent::GroupCreated {
                tenant_id: 1,
                group_id: 2,
            },
            DomainEvent::GroupDeleted {
                tenant_id: 1,
                group_id: 2,
                retired: false,
            },
            DomainEvent::TenantUpdated {
                tenant_id: 1,
                changed: vec![TenantField::KeyLimit],
            },
            DomainEvent::UserCreated {
                tenant_id: 1,
                user_id: 3,
            },
        ] {
            assert_eq!(stale(&e), None, "{e:?}");
        }
    }
}
