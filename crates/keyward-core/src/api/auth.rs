//! Sign-in and the signed-in principal: roles, login, `GET /v1/me`.

use super::tenants::{Role, TenantSummary};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Whether the principal is a signed-in user or an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MeKind {
    User,
    ApiKey,
}

/// The signed-in principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Me {
    /// `user` or `api_key`.
    pub kind: MeKind,
    pub user_id: Option<i64>,
    pub username: String,
    pub role: Option<Role>,
    /// The tenant the request acts in.
    pub tenant: TenantSummary,
    /// Send as `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: Option<String>,
    pub session_expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    /// Opaque session token for `Authorization: Bearer`. Also set as an HttpOnly cookie.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub me: Me,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("me", &self.me)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn me_kinds_keep_their_wire_names() {
        assert_eq!(serde_json::to_string(&MeKind::User).unwrap(), r#""user""#);
        assert_eq!(
            serde_json::to_string(&MeKind::ApiKey).unwrap(),
            r#""api_key""#
        );
        assert_eq!(
            serde_json::from_str::<MeKind>(r#""api_key""#).unwrap(),
            MeKind::ApiKey
        );
    }

    #[test]
    fn roles_roundtrip() {
        for role in [Role::SuperUser, Role::TenantAdmin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
    }

    #[test]
    fn passwords_and_tokens_are_redacted_in_debug() {
        let r = LoginRequest {
            username: "admin".into(),
            password: "hunter22".into(),
        };
        assert!(!format!("{r:?}").contains("hunter22"));
        let me = Me {
            kind: MeKind::User,
            user_id: Some(1),
            username: "admin".into(),
            role: Some(Role::SuperUser),
            tenant: TenantSummary {
                id: 1,
                name: "Default".into(),
            },
            csrf_token: None,
            session_expires_at: None,
        };
        let r = LoginResponse {
            token: "session-secret".into(),
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
            me,
        };
        assert!(!format!("{r:?}").contains("session-secret"));
    }
}
