//! The audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    ApiKeyCreated,
    ApiKeyUpdated,
    ApiKeyRotated,
    ApiKeyRevoked,
    ApiKeyDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    TenantCreated,
    TenantUpdated,
    UserCreated,
    UserUpdated,
    PasswordReset,
    LoginSucceeded,
    LoginFailed,
    Logout,
    WebhookCreated,
    WebhookUpdated,
    WebhookSecretRotated,
    WebhookDisabled,
    WebhookDeleted,
}

impl AuditAction {
    pub const ALL: [Self; 21] = [
        Self::ApiKeyCreated,
        Self::ApiKeyUpdated,
        Self::ApiKeyRotated,
        Self::ApiKeyRevoked,
        Self::ApiKeyDeleted,
        Self::GroupCreated,
        Self::GroupUpdated,
        Self::GroupDeleted,
        Self::TenantCreated,
        Self::TenantUpdated,
        Self::UserCreated,
        Self::UserUpdated,
        Self::PasswordReset,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::WebhookCreated,
        Self::WebhookUpdated,
        Self::WebhookSecretRotated,
        Self::WebhookDisabled,
        Self::WebhookDeleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyUpdated => "api_key_updated",
            Self::ApiKeyRotated => "api_key_rotated",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ApiKeyDeleted => "api_key_deleted",
            Self::GroupCreated => "group_created",
            Self::GroupUpdated => "group_updated",
            Self::GroupDeleted => "group_deleted",
            Self::TenantCreated => "tenant_created",
            Self::TenantUpdated => "tenant_updated",
            Self::UserCreated => "user_created",
            Self::UserUpdated => "user_updated",
            Self::PasswordReset => "password_reset",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::WebhookCreated => "webhook_created",
            Self::WebhookUpdated => "webhook_updated",
            Self::WebhookSecretRotated => "webhook_secret_rotated",
            Self::WebhookDisabled => "webhook_disabled",
            Self::WebhookDeleted => "webhook_deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<i64>,
    /// `user:<name>`, `api_key:<id>` or `system`.
    pub actor: String,
    pub action: AuditAction,
    /// `api_key`, `group`, `tenant`, `user`, `session` or `webhook`.
    pub target_type: String,
    pub target_id: Option<String>,
    pub changed_fields: Vec<String>,
    pub client_ip: Option<String>,
    /// The `X-Request-Id` of the request that made the change, to find its
    /// log lines; absent for changes made by the CLI or the server itself
    /// and for records older than request ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events about this key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub key_id: Option<String>,
    /// Exact actor, e.g. `user:admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<AuditAction>,
    /// Inclusive lower bound (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000000))]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub per_page: Option<u32>,
}

/// The filters of a CSV export: those of [`AuditQuery`], without paging.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditExportQuery {
    /// Events about this key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub key_id: Option<String>,
    /// Exact actor, e.g. `user:admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<AuditAction>,
    /// Inclusive lower bound (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

impl AuditQuery {
    /// The same filters, for an export.
    pub fn export(&self) -> AuditExportQuery {
        AuditExportQuery {
            key_id: self.key_id.clone(),
            actor: self.actor.clone(),
            action: self.action,
            from: self.from,
            to: self.to,
        }
    }
}

/// The most rows one CSV export holds (newest first); the response says
/// when there were more (`X-Keyward-Truncated: true`).
pub const AUDIT_EXPORT_MAX_ROWS: u64 = 50_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_actions_roundtrip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                format!("\"{}\"", a.as_str())
            );
        }
    }
}
