//! Seed 000's REST API, as written there (`/crm/api-keys`), for scripts
//! written against it: thin adapters over the same use cases as `/v1`.
//! Permissions are named as seed 000 names them (`view_customer`): the
//! catalog's aliases, or its names. Key ids are the `/v1` key ids (strings).

use crate::status::KeyStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// `POST /crm/api-keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CrmCreateApiKeyRequest {
    /// 2–200 characters.
    pub name: String,
    /// At most 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// `YYYY-MM-DD` (the end of that day, UTC) or an RFC 3339 date-time; in the future.
    #[serde(default)]
    pub expiry_date: Option<String>,
    /// Seed 000's permission names (`view_customer`) or catalog names; at
    /// least one (a key made here has no group: these are all it holds).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub permissions: Vec<String>,
}

/// `PATCH /crm/api-keys/{api_key_id}`: only present fields change; `null`
/// clears `description` or `expiry_date`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CrmUpdateApiKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub description: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "super::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub expiry_date: Option<Option<String>>,
    /// The key's own permissions (replaces them; at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
    pub permissions: Option<Vec<String>>,
}

/// A key as seed 000's REST API shows it (never the secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CrmApiKey {
    pub api_key_id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    pub expiry_date: Option<DateTime<Utc>>,
    /// The key's own permissions, by seed 000's names: what `PATCH`
    /// `permissions` replaces.
    pub permissions: Vec<String>,
    /// What the key holds: its own and, for a key given a group through
    /// `/v1`, its group's.
    pub effective_permissions: Vec<String>,
    /// prefix + `…` + last 4 characters.
    pub masked_key: String,
    pub last_used: Option<DateTime<Utc>>,
}

/// `POST /crm/api-keys`' answer: the key and, this once, its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CrmCreatedApiKey {
    pub api_key_id: String,
    pub name: String,
    /// The full key. Store it now: it cannot be shown again.
    pub api_key: String,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    pub expiry_date: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

impl std::fmt::Debug for CrmCreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmCreatedApiKey")
            .field("api_key_id", &self.api_key_id)
            .field("name", &self.name)
            .field("api_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// `GET /crm/api-keys`' answer, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CrmApiKeyList {
    pub api_keys: Vec<CrmApiKey>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

/// Query of `GET /crm/api-keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CrmListQuery {
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
    fn the_seeds_request_body_reads_and_the_secret_stays_out_of_debug() {
        let body = r#"{"name":"New Integration","description":"Third-party billing sync","expiry_date":"2026-01-10","permissions":["view_customer","view_service"]}"#;
        let r: CrmCreateApiKeyRequest = serde_json::from_str(body).unwrap();
        assert_eq!(r.permissions, ["view_customer", "view_service"]);
        let created = CrmCreatedApiKey {
            api_key_id: "abc".into(),
            name: "n".into(),
            api_key: "sk_live_secret".into(),
            status: KeyStatus::Active,
            created: DateTime::<Utc>::UNIX_EPOCH,
            expiry_date: None,
            description: None,
            permissions: vec![],
        };
        assert!(!format!("{created:?}").contains("sk_live_secret"));
    }
}
