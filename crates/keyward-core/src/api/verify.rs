//! Key verification: `GET /v1/whoami` and `POST /v1/keys/verify`.

use crate::key::KeyId;
use crate::permission::PermissionSet;
use crate::ratelimit::{RateVerdict, RateWindow};
use crate::verify::VerifyCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    pub name: smol_str::SmolStr,
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
    /// Units of the key's rate limit this request costs: 1 (default) to
    /// 1,000,000,000.
    #[serde(default, deserialize_with = "super::common::optional_integer")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    pub cost: Option<i64>,
    /// Only report the key's rate-limit budget: nothing is charged (the
    /// verdict is the one charging would give).
    #[serde(default)]
    pub peek: bool,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("key", &"[redacted]")
            .field("required_permissions", &self.required_permissions)
            .field("client_ip", &self.client_ip)
            .field("route", &self.route)
            .field("cost", &self.cost)
            .field("peek", &self.peek)
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
    /// The verified key's rate limit after this request (`null` when the
    /// key has none, or was refused before its budget was looked at).
    pub rate_limit: Option<RateLimitStatus>,
}

/// A key's rate-limit budget, as its most restrictive window sees it (the
/// `RateLimit` header field's content, and the policy).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RateLimitStatus {
    /// The binding window's limit per period.
    pub limit: u32,
    pub period_seconds: u32,
    /// Units the window admits after this request (0 when refused).
    pub remaining: u32,
    /// Seconds until the window's budget is whole again.
    pub reset_seconds: u64,
    /// Seconds to wait before the same request is admitted: 0 when it was;
    /// `null` when it never can be (it costs more than the burst).
    pub retry_after_seconds: Option<u64>,
    /// Every window of the key's policy.
    pub policy: Vec<RateWindow>,
}

impl RateLimitStatus {
    pub fn of(v: &RateVerdict) -> Self {
        let d = &v.decision;
        Self {
            limit: d.window.limit,
            period_seconds: d.window.period_seconds,
            remaining: d.remaining,
            reset_seconds: d.reset_seconds(),
            retry_after_seconds: d.retry_after_seconds(),
            policy: v.policy.to_windows(),
        }
    }
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
            cost: None,
            peek: false,
        };
        assert!(!format!("{r:?}").contains("sk_live_secret"));
    }
}
