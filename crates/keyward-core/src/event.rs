//! Domain events: what a lifecycle step changed, recorded in the outbox in
//! the step's transaction and consumed after commit (cache invalidation;
//! later webhooks). They carry ids and names of changed fields, never a
//! secret, a digest or a password.

use crate::audit::AuditTarget;
use crate::group::GroupField;
use crate::key::KeyId;
use crate::lifecycle::KeyField;
use crate::tenant::TenantField;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Something that happened to a tenant's data. Serialised with a `kind`
/// tag in `snake_case`: `{"kind": "key_revoked", "tenant_id": 1, "key_id": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DomainEvent {
    KeyCreated {
        tenant_id: i64,
        key_id: KeyId,
    },
    KeyUpdated {
        tenant_id: i64,
        key_id: KeyId,
        changed: Vec<KeyField>,
    },
    KeyRotated {
        tenant_id: i64,
        key_id: KeyId,
        /// Until when the previous secret still works (none: it stopped at once).
        previous_valid_until: Option<DateTime<Utc>>,
    },
    KeyRevoked {
        tenant_id: i64,
        key_id: KeyId,
    },
    KeyDeleted {
        tenant_id: i64,
        key_id: KeyId,
    },
    GroupCreated {
        tenant_id: i64,
        group_id: i64,
    },
    GroupUpdated {
        tenant_id: i64,
        group_id: i64,
        changed: Vec<GroupField>,
    },
    GroupDeleted {
        tenant_id: i64,
        group_id: i64,
        /// Kept (hidden, renamed) because revoked keys still refer to it.
        retired: bool,
    },
    TenantCreated {
        tenant_id: i64,
    },
    TenantUpdated {
        tenant_id: i64,
        changed: Vec<TenantField>,
    },
    UserCreated {
        tenant_id: i64,
        user_id: i64,
    },
    /// Role or status changed (`changed`: `role`, `disabled`).
    UserUpdated {
        tenant_id: i64,
        user_id: i64,
        changed: Vec<String>,
    },
    PasswordReset {
        tenant_id: i64,
        user_id: i64,
    },
    SessionStarted {
        tenant_id: i64,
        user_id: i64,
        session_id: i64,
    },
    SessionEnded {
        tenant_id: i64,
        user_id: i64,
        session_id: i64,
    },
    WebhookCreated {
        tenant_id: i64,
        endpoint_id: i64,
    },
    /// `changed`: `url`, `description`, `events`, `enabled`.
    WebhookUpdated {
        tenant_id: i64,
        endpoint_id: i64,
        changed: Vec<String>,
    },
    WebhookSecretRotated {
        tenant_id: i64,
        endpoint_id: i64,
    },
    /// Turned off by the server after a run of failed deliveries.
    WebhookDisabled {
        tenant_id: i64,
        endpoint_id: i64,
    },
    WebhookDeleted {
        tenant_id: i64,
        endpoint_id: i64,
    },
}

impl DomainEvent {
    /// The `kind` tag (what the outbox's `kind` column holds).
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::KeyCreated { .. } => "key_created",
            Self::KeyUpdated { .. } => "key_updated",
            Self::KeyRotated { .. } => "key_rotated",
            Self::KeyRevoked { .. } => "key_revoked",
            Self::KeyDeleted { .. } => "key_deleted",
            Self::GroupCreated { .. } => "group_created",
            Self::GroupUpdated { .. } => "group_updated",
            Self::GroupDeleted { .. } => "group_deleted",
            Self::TenantCreated { .. } => "tenant_created",
            Self::TenantUpdated { .. } => "tenant_updated",
            Self::UserCreated { .. } => "user_created",
            Self::UserUpdated { .. } => "user_updated",
            Self::PasswordReset { .. } => "password_reset",
            Self::SessionStarted { .. } => "session_started",
            Self::SessionEnded { .. } => "session_ended",
            Self::WebhookCreated { .. } => "webhook_created",
            Self::WebhookUpdated { .. } => "webhook_updated",
            Self::WebhookSecretRotated { .. } => "webhook_secret_rotated",
            Self::WebhookDisabled { .. } => "webhook_disabled",
            Self::WebhookDeleted { .. } => "webhook_deleted",
        }
    }

    pub const fn tenant_id(&self) -> i64 {
        match self {
            Self::KeyCreated { tenant_id, .. }
            | Self::KeyUpdated { tenant_id, .. }
            | Self::KeyRotated { tenant_id, .. }
            | Self::KeyRevoked { tenant_id, .. }
            | Self::KeyDeleted { tenant_id, .. }
            | Self::GroupCreated { tenant_id, .. }
            | Self::GroupUpdated { tenant_id, .. }
            | Self::GroupDeleted { tenant_id, .. }
            | Self::TenantCreated { tenant_id }
            | Self::TenantUpdated { tenant_id, .. }
            | Self::UserCreated { tenant_id, .. }
            | Self::UserUpdated { tenant_id, .. }
            | Self::PasswordReset { tenant_id, .. }
            | Self::SessionStarted { tenant_id, .. }
            | Self::SessionEnded { tenant_id, .. }
            | Self::WebhookCreated { tenant_id, .. }
            | Self::WebhookUpdated { tenant_id, .. }
            | Self::WebhookSecretRotated { tenant_id, .. }
            | Self::WebhookDisabled { tenant_id, .. }
            | Self::WebhookDeleted { tenant_id, .. } => *tenant_id,
        }
    }

    /// The kind of object the event is about.
    pub const fn target(&self) -> AuditTarget {
        match self {
            Self::KeyCreated { .. }
            | Self::KeyUpdated { .. }
            | Self::KeyRotated { .. }
            | Self::KeyRevoked { .. }
            | Self::KeyDeleted { .. } => AuditTarget::ApiKey,
            Self::GroupCreated { .. } | Self::GroupUpdated { .. } | Self::GroupDeleted { .. } => {
                AuditTarget::Group
            }
            Self::TenantCreated { .. } | Self::TenantUpdated { .. } => AuditTarget::Tenant,
            Self::UserCreated { .. } | Self::UserUpdated { .. } | Self::PasswordReset { .. } => {
                AuditTarget::User
            }
            Self::SessionStarted { .. } | Self::SessionEnded { .. } => AuditTarget::Session,
            Self::WebhookCreated { .. }
            | Self::WebhookUpdated { .. }
            | Self::WebhookSecretRotated { .. }
            | Self::WebhookDisabled { .. }
            | Self::WebhookDeleted { .. } => AuditTarget::Webhook,
        }
    }

    /// The id of the object the event is about.
    pub fn target_id(&self) -> String {
        match self {
            Self::KeyCreated { key_id, .. }
            | Self::KeyUpdated { key_id, .. }
            | Self::KeyRotated { key_id, .. }
            | Self::KeyRevoked { key_id, .. }
            | Self::KeyDeleted { key_id, .. } => key_id.to_string(),
            Self::GroupCreated { group_id, .. }
            | Self::GroupUpdated { group_id, .. }
            | Self::GroupDeleted { group_id, .. } => group_id.to_string(),
            Self::TenantCreated { tenant_id } | Self::TenantUpdated { tenant_id, .. } => {
                tenant_id.to_string()
            }
            Self::UserCreated { user_id, .. }
            | Self::UserUpdated { user_id, .. }
            | Self::PasswordReset { user_id, .. } => user_id.to_string(),
            Self::SessionStarted { session_id, .. } | Self::SessionEnded { session_id, .. } => {
                session_id.to_string()
            }
            Self::WebhookCreated { endpoint_id, .. }
            | Self::WebhookUpdated { endpoint_id, .. }
            | Self::WebhookSecretRotated { endpoint_id, .. }
            | Self::WebhookDisabled { endpoint_id, .. }
            | Self::WebhookDeleted { endpoint_id, .. } => endpoint_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_id() -> KeyId {
        KeyId::parse("AbCdEfGh1234").unwrap()
    }

    fn every_kind() -> Vec<DomainEvent> {
        let key_id = key_id();
        vec![
            DomainEvent::KeyCreated {
                tenant_id: 1,
                key_id,
            },
            DomainEvent::KeyUpdated {
                tenant_id: 1,
                key_id,
                changed: vec![KeyField::Name, KeyField::IpAllowlist],
            },
            DomainEvent::KeyRotated {
                tenant_id: 1,
                key_id,
                previous_valid_until: None,
            },
            DomainEvent::KeyRevoked {
                tenant_id: 1,
                key_id,
            },
            DomainEvent::KeyDeleted {
                tenant_id: 1,
                key_id,
            },
            DomainEvent::GroupCreated {
                tenant_id: 1,
                group_id: 2,
            },
            DomainEvent::GroupUpdated {
                tenant_id: 1,
                group_id: 2,
                changed: vec![GroupField::Permissions],
            },
            DomainEvent::GroupDeleted {
                tenant_id: 1,
                group_id: 2,
                retired: true,
            },
            DomainEvent::TenantCreated { tenant_id: 1 },
            DomainEvent::TenantUpdated {
                tenant_id: 1,
                changed: vec![TenantField::KeyLimit],
            },
            DomainEvent::UserCreated {
                tenant_id: 1,
                user_id: 3,
            },
            DomainEvent::UserUpdated {
                tenant_id: 1,
                user_id: 3,
                changed: vec!["disabled".into()],
            },
            DomainEvent::PasswordReset {
                tenant_id: 1,
                user_id: 3,
            },
            DomainEvent::SessionStarted {
                tenant_id: 1,
                user_id: 3,
                session_id: 9,
            },
            DomainEvent::SessionEnded {
                tenant_id: 1,
                user_id: 3,
                session_id: 9,
            },
            DomainEvent::WebhookCreated {
                tenant_id: 1,
                endpoint_id: 4,
            },
            DomainEvent::WebhookUpdated {
                tenant_id: 1,
                endpoint_id: 4,
                changed: vec!["url".into()],
            },
            DomainEvent::WebhookSecretRotated {
                tenant_id: 1,
                endpoint_id: 4,
            },
            DomainEvent::WebhookDisabled {
                tenant_id: 1,
                endpoint_id: 4,
            },
            DomainEvent::WebhookDeleted {
                tenant_id: 1,
                endpoint_id: 4,
            },
        ]
    }

    #[test]
    fn events_serialise_with_a_snake_case_kind_and_read_back() {
        for e in every_kind() {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["kind"], e.kind(), "{json}");
            assert_eq!(json["tenant_id"], 1);
            let back: DomainEvent = serde_json::from_value(json).unwrap();
            assert_eq!(back, e);
        }
        let json = serde_json::to_value(&every_kind()[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "key_updated",
                "tenant_id": 1,
                "key_id": "AbCdEfGh1234",
                "changed": ["name", "ip_allowlist"],
            })
        );
    }

    #[test]
    fn targets_name_the_object() {
        let events = every_kind();
        assert_eq!(events[0].target(), AuditTarget::ApiKey);
        assert_eq!(events[0].target_id(), "AbCdEfGh1234");
        assert_eq!(events[5].target(), AuditTarget::Group);
        assert_eq!(events[5].target_id(), "2");
        assert_eq!(events[8].target(), AuditTarget::Tenant);
        assert_eq!(events[8].target_id(), "1");
        assert_eq!(events[10].target_id(), "3");
        assert_eq!(events[11].target(), AuditTarget::User);
        assert_eq!(events[11].target_id(), "3");
        assert_eq!(events[13].target(), AuditTarget::Session);
        assert_eq!(events[13].target_id(), "9");
        for e in &events[15..] {
            assert_eq!(e.target(), AuditTarget::Webhook);
            assert_eq!(e.target_id(), "4");
        }
    }
}
