//! API keys: create, edit, rotate, list, details.

use super::audit::AuditEventView;
use super::common::present;
use super::groups::GroupSummary;
use crate::ratelimit::RateWindow;
use crate::status::{DashboardCounts, ExpirationState, KeyStatus, StatusFilter};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 2–200 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 200))]
    pub name: String,
    /// At most 1000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: Option<String>,
    /// An authorization group of kind `tenant_api_key`. A key has a
    /// group, permissions of its own, or both, and holds their union.
    #[serde(default, deserialize_with = "super::common::optional_integer")]
    pub group_id: Option<i64>,
    /// The key's own permissions (names of the permission catalog).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub permissions: Vec<String>,
    /// `YYYY-MM-DD` (end of that day, UTC) or an RFC 3339 date-time; in the future.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// IPv4/IPv6 addresses or CIDR ranges; empty allows any address.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub ip_allowlist: Vec<String>,
    /// Its own rate limit: one to four windows of distinct periods
    /// (overrides its group's); absent, `null` or `[]`: none of its own.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 4, nullable))]
    pub rate_limit: Option<Vec<RateWindow>>,
}

/// Only present fields change; `null` clears `description` or `expires_at`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 200))]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub description: Option<Option<String>>,
    /// A group, or `null` to take the key out of its group.
    #[serde(
        default,
        deserialize_with = "super::common::present_integer",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, nullable))]
    pub group_id: Option<Option<i64>>,
    /// The key's own permissions (replaces them; `[]` removes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub ip_allowlist: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub expires_at: Option<Option<String>>,
    /// Replaces its rate limit; `null` or `[]` removes it.
    #[serde(
        default,
        deserialize_with = "super::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<RateWindow>>, max_items = 4, nullable))]
    pub rate_limit: Option<Option<Vec<RateWindow>>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateApiKeyRequest {
    /// 0 (default: the old secret stops at once) to 604800 (7 days).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 604800))]
    #[serde(deserialize_with = "super::common::integer")]
    pub grace_period_seconds: i64,
    /// Optionally a new expiry, as in create.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// An API key as listed (never the secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyView {
    /// The public key id (part of the key, safe to show).
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// prefix + `…` + last 4 characters.
    pub masked_key: String,
    pub status: KeyStatus,
    /// The key's authorization group, if it has one.
    pub group: Option<GroupSummary>,
    /// The key's own permissions (besides its group's).
    pub permissions: Vec<String>,
    /// What the key holds: its group's permissions and its own.
    pub effective_permissions: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    /// While set and in the future, the previous secret still works.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// The key's own rate limit (`null`: none of its own).
    pub rate_limit: Option<Vec<RateWindow>>,
    /// The rate limit it is held to: its own, else its group's.
    pub effective_rate_limit: Option<Vec<RateWindow>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

/// Returned by create and rotate: the only time the secret is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeySecret {
    pub api_key: ApiKeyView,
    /// The full key. Store it now: it cannot be shown again.
    pub secret: String,
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeySecret")
            .field("api_key", &self.api_key)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    Name,
    #[default]
    CreatedAt,
    ExpiresAt,
    CreatedBy,
    LastUsedAt,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// Query of `GET /v1/api-keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ListApiKeysQuery {
    /// Search in name, description and the key (id or last characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<ExpirationState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<SortField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000000))]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub per_page: Option<u32>,
}

/// Keys of the tenant that count toward its limit, and the limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QuotaUsage {
    pub used: u64,
    pub limit: u32,
}

impl QuotaUsage {
    pub fn is_full(&self) -> bool {
        self.used >= u64::from(self.limit)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyPage {
    pub items: Vec<ApiKeyView>,
    pub page: u32,
    pub per_page: u32,
    /// Keys matching the search and filters.
    pub total: u64,
    /// Dashboard counts over all the tenant's keys.
    pub counts: DashboardCounts,
    pub quota: QuotaUsage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageDay {
    pub date: NaiveDate,
    pub succeeded: u64,
    pub denied: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyDetails {
    pub api_key: ApiKeyView,
    /// The effective permissions: the group's and the key's own.
    pub permissions: Vec<String>,
    /// Verifications per day, oldest first, for the last 30 days.
    pub usage: Vec<UsageDay>,
    /// The key's audit history, newest first.
    pub history: Vec<AuditEventView>,
}

/// One row of a key's access log: consecutive verifications of the key
/// with the same address, outcome and route, gathered between two writes
/// (a few seconds), so that a busy key does not write a row per request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccessLogEntry {
    pub id: i64,
    /// The first verification of the row.
    pub first_at: DateTime<Utc>,
    /// The last verification of the row.
    pub last_at: DateTime<Utc>,
    /// How many verifications the row stands for (at least 1).
    pub count: u64,
    /// The client's address, or `unknown` (see trusted proxies).
    pub client_ip: String,
    pub outcome: crate::verify::AccessOutcome,
    /// The permission that was missing, for `insufficient_permissions`.
    pub detail: Option<String>,
    /// The route called with the key (`GET /v1/whoami`), or the route a
    /// calling service named in `POST /v1/keys/verify`.
    pub route: String,
    /// The key of the service that verified this key on a client's behalf
    /// (`POST /v1/keys/verify`); `null` when the client called directly.
    pub via_key_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccessLogPage {
    pub items: Vec<AccessLogEntry>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

/// Filters of a key's access log; rows come newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AccessLogQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::verify::AccessOutcome>,
    /// Only refusals (every outcome but `allowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<bool>,
    /// Addresses starting with this text (`10.1.` or a whole address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Rows whose last verification is at or after this instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Rows whose first verification is before this instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000000))]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub per_page: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let absent: UpdateApiKeyRequest = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(absent.description, None);
        let null: UpdateApiKeyRequest = serde_json::from_str(r#"{"description":null}"#).unwrap();
        assert_eq!(null.description, Some(None));
        let set: UpdateApiKeyRequest =
            serde_json::from_str(r#"{"expires_at":"2030-01-01"}"#).unwrap();
        assert_eq!(set.expires_at, Some(Some("2030-01-01".into())));
        assert_eq!(
            serde_json::to_string(&null).unwrap(),
            r#"{"description":null}"#
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(
            serde_json::from_str::<CreateApiKeyRequest>(
                r#"{"name":"a","group_id":1,"admin":true}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<CreateApiKeyRequest>(r#"{"name":"ab","group_id":1}"#).is_ok()
        );
    }
}
