//! Key verification: `GET /v1/whoami` and `POST /v1/keys/verify`.

use crate::key::KeyId;
use crate::permission::PermissionSet;
use crate::verify::VerifyCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `GET /v1/whoami`: the calling key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WhoAmI {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key_id: KeyId,
    pub tenant_id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: Arc<str>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub permissions: PermissionSet,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key presented to the calling service.
    pub key: String,
    #[serde(default)]
    pub required_permissions: Vec<String>,
    /// The address the calling service saw; checked against the IP allowlist.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// The calling service's route the key was presented to
    /// (`GET /orders`), recorded in the key's access log; at most 200
    /// characters, no control characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub route: Option<String>,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("key", &"[redacted]")
            .field("required_permissions", &self.required_permissions)
            .field("client_ip", &self.client_ip)
            .field("route", &self.route)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VerifyResponse {
    pub valid: bool,
    pub code: VerifyCode,
    pub key_id: Option<String>,
    pub tenant_id: Option<i64>,
    pub permissions: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted_in_debug() {
        let r = VerifyRequest {
            key: "sk_live_secret".into(),
            required_permissions: vec![],
            client_ip: None,
            route: None,
        };
        assert!(!format!("{r:?}").contains("sk_live_secret"));
    }
}
