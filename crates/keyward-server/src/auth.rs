//! The [`Caller`] extractor that every management route uses: a signed-in
//! user (bearer token, or session cookie + CSRF token) or an API key
//! holding `api_keys:manage`, and the tenant the request acts in.
//! Passwords, session and CSRF tokens are in [`crate::credentials`].
use crate::app::Origin;
use crate::credentials::token_hash;
use crate::db::SessionRecord;
use crate::error::ApiError;
use crate::state::AppState;
use crate::verification::{ApiKeyAuth, KeyAuthConfig, client_ip, is_https};
use actix_web::HttpMessage;
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use keyward_core::api::Role;
use keyward_core::key::KeyId;
use keyward_core::permission::Permission;
use keyward_core::verify::ClientAddr;
use std::fmt;

/// The session cookie over plain HTTP.
pub const SESSION_COOKIE: &str = "keyward_session";
/// The session cookie over HTTPS: `Secure`, `Path=/`, no `Domain` (the
/// `__Host-` prefix makes browsers hold the server to that).
pub const SECURE_SESSION_COOKIE: &str = "__Host-keyward_session";
pub const CSRF_HEADER: &str = keyward_core::api::headers::CSRF_TOKEN;
pub const TENANT_HEADER: &str = keyward_core::api::headers::TENANT;

/// Who is calling a management route, and in which tenant.
#[derive(Clone)]
pub enum Actor {
    User {
        id: i64,
        username: String,
        role: Role,
        session_id: i64,
        csrf_token: String,
        expires_at: DateTime<Utc>,
    },
    ApiKey {
        key_id: KeyId,
        name: String,
    },
}

impl fmt::Debug for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User {
                id,
                username,
                role,
                session_id,
                expires_at,
                ..
            } => f
                .debug_struct("User")
                .field("id", id)
                .field("username", username)
                .field("role", role)
                .field("session_id", session_id)
                .field("csrf_token", &"[redacted]")
                .field("expires_at", expires_at)
                .finish(),
            Self::ApiKey { key_id, name } => f
                .debug_struct("ApiKey")
                .field("key_id", key_id)
                .field("name", name)
                .finish(),
        }
    }
}

/// An authenticated management caller: a signed-in user (bearer token or
/// cookie + CSRF token) or an API key holding `api_keys:manage`. `tenant_id`
/// is the tenant the request acts in: the caller's own, or for a super user
/// the one named by `X-Keyward-Tenant`.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    pub tenant_id: i64,
    pub tenant_name: String,
    pub client_ip: ClientAddr,
    /// The request's id ([`crate::telemetry::RequestId`]).
    pub request_id: Option<String>,
}

impl Caller {
    /// Who starts a change requested by this caller, for the use cases.
    pub fn origin(&self) -> Origin {
        Origin {
            actor: self.label(),
            display_name: self.display_name(),
            client_ip: Some(self.client_ip.to_string()),
            request_id: self.request_id.clone(),
            api_key: match &self.actor {
                Actor::ApiKey { key_id, .. } => Some(*key_id),
                Actor::User { .. } => None,
            },
        }
    }

    pub fn label(&self) -> String {
        match &self.actor {
            Actor::User { username, .. } => format!("user:{username}"),
            Actor::ApiKey { key_id, .. } => format!("api_key:{key_id}"),
        }
    }

    /// Display name for "created by".
    pub fn display_name(&self) -> String {
        match &self.actor {
            Actor::User { username, .. } => username.clone(),
            Actor::ApiKey { name, .. } => format!("API key \"{name}\""),
        }
    }

    pub fn is_super_user(&self) -> bool {
        matches!(
            self.actor,
            Actor::User {
                role: Role::SuperUser,
                ..
            }
        )
    }

    /// The signed-in user's id (`None` for an API key).
    pub fn user_id(&self) -> Option<i64> {
        match &self.actor {
            Actor::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn require_super_user(&self) -> Result<(), ApiError> {
        if self.is_super_user() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Only a super user may do this.".into()))
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn tenant_header(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    match req.headers().get(TENANT_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(Some)
            .ok_or(ApiError::NotFound("Tenant")),
    }
}

/// Whether the request is served over HTTPS for the purposes of the session
/// cookie and HSTS: a TLS connection, a trusted proxy's
/// `X-Forwarded-Proto: https`, or the `cookie_secure` setting (force-on).
pub fn serves_https(state: &AppState, req: &HttpRequest) -> bool {
    state.settings.cookie_secure || is_https(req, state.keys.trusted_proxies())
}

/// Resolves the session behind a bearer token or the session cookie (the
/// `__Host-` cookie first, then the plain one).
pub async fn session_of(
    state: &AppState,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Result<Option<(SessionRecord, bool)>, ApiError> {
    let (token, via_cookie) = match bearer(req) {
        Some(t) => (t, false),
        None => match req
            .cookie(SECURE_SESSION_COOKIE)
            .or_else(|| req.cookie(SESSION_COOKIE))
        {
            Some(c) => (c.value().to_owned(), true),
            None => return Ok(None),
        },
    };
    if token.len() > 200 {
        return Ok(None);
    }
    Ok(state
        .db
        .find_session(&token_hash(&token), now)
        .await?
        .map(|s| (s, via_cookie)))
}

/// The request's id, as the first middleware stored it.
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<crate::telemetry::RequestId>()
        .map(|id| id.as_str().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("no state"))?
                .clone();
            let now = crate::now();
            let ip = client_ip(&req, state.keys.trusted_proxies());
            let wanted = tenant_header(&req)?;

            if let Some((s, via_cookie)) = session_of(&state, &req, now).await? {
                let csrf_token = state.csrf.token_for(&s.token_hash);
                let unsafe_method =
                    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
                if via_cookie && unsafe_method {
                    let presented = req
                        .headers()
                        .get(CSRF_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !state.csrf.matches(&s.token_hash, presented) {
                        return Err(ApiError::Csrf);
                    }
                }
                let role = s.user.role;
                let (tenant_id, tenant_name) = match (role, wanted) {
                    (_, None) => (s.tenant.id, s.tenant.name.clone()),
                    (_, Some(id)) if id == s.tenant.id => (s.tenant.id, s.tenant.name.clone()),
                    (Role::SuperUser, Some(id)) => {
                        let t = state
                            .db
                            .find_tenant(id)
                            .await?
                            .ok_or(ApiError::NotFound("Tenant"))?;
                        (t.id, t.name)
                    }
                    (Role::TenantAdmin, Some(_)) => return Err(ApiError::NotFound("Tenant")),
                };
                return Ok(Caller {
                    actor: Actor::User {
                        id: s.user.id,
                        username: s.user.username.clone(),
                        role,
                        session_id: s.id,
                        csrf_token,
                        expires_at: s.expires_at,
                    },
                    tenant_id,
                    tenant_name,
                    client_ip: ip,
                    request_id: request_id(&req),
                });
            }

            if ApiKeyAuth::presented(&req).is_some() {
                let config = KeyAuthConfig::require([Permission::API_KEYS_MANAGE]);
                let principal = ApiKeyAuth::authenticate(&req, &config).await?;
                if wanted.is_some_and(|id| id != principal.tenant_id) {
                    return Err(ApiError::NotFound("Tenant"));
                }
                let tenant = state
                    .db
                    .find_tenant(principal.tenant_id)
                    .await?
                    .ok_or(ApiError::NotFound("Tenant"))?;
                return Ok(Caller {
                    actor: Actor::ApiKey {
                        key_id: principal.key_id,
                        name: principal.name.to_string(),
                    },
                    tenant_id: tenant.id,
                    tenant_name: tenant.name,
                    client_ip: ip,
                    request_id: request_id(&req),
                });
            }
            Err(ApiError::Unauthenticated(
                "Sign in, or present an API key in the X-API-Key header.",
            ))
        })
    }
}
