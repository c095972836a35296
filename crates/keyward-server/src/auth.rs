//! Admin sign-in: argon2id passwords, opaque sessions (stored hashed), CSRF
//! tokens bound to the session, and the [`Caller`] extractor that every
//! management route uses.

use crate::db::SessionRecord;
use crate::error::ApiError;
use crate::state::AppState;
use crate::verification::{ApiKeyAuth, KeyAuthConfig, client_ip};
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use keyward_core::api::Role;
use keyward_core::permission::Permission;
use keyward_core::{Field, Invalid, ValidationError};
use rand_core::Rng;
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "keyward_session";
pub const CSRF_HEADER: &str = keyward_core::api::headers::CSRF_TOKEN;
pub const TENANT_HEADER: &str = keyward_core::api::headers::TENANT;
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_BYTES: usize = 1024;

pub use crate::os_rng;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Password hashing with argon2id (crate defaults), off the async threads.
#[derive(Clone)]
pub struct Passwords {
    /// Verified against when the user does not exist, so that timing does not tell.
    dummy_hash: String,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passwords")
    }
}

impl Passwords {
    pub fn new() -> Result<Self, ApiError> {
        let mut seed = [0u8; 24];
        os_rng().fill_bytes(&mut seed);
        Ok(Self {
            dummy_hash: hash_blocking(&hex(&seed))?,
        })
    }

    /// Checks the policy: at least 12 characters, at most 1 KiB.
    pub fn check_policy(password: &str) -> Result<(), ValidationError> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(ValidationError::new(
                Field::Password,
                Invalid::TooShort {
                    min: MIN_PASSWORD_CHARS,
                },
            ));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(ValidationError::new(
                Field::Password,
                Invalid::TooLong {
                    max: MAX_PASSWORD_BYTES,
                },
            ));
        }
        Ok(())
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        web::block(move || hash_blocking(&password))
            .await
            .map_err(ApiError::internal)?
    }

    /// Verifies against the stored hash, or against a dummy hash when there is
    /// no user, so both cases cost one argon2 verification.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let exists = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = web::block(move || {
            if password.len() > MAX_PASSWORD_BYTES {
                return false;
            }
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(ok && exists)
    }
}

pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))
}

/// A new session token (shown once to the client) and its stored hash.
pub fn new_session_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    os_rng().fill_bytes(&mut bytes);
    let token = format!("kws_{}", hex(&bytes));
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Derives CSRF tokens bound to a session: HMAC of the session's token hash.
#[derive(Clone)]
pub struct CsrfKey(Hmac<Sha256>);

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

impl CsrfKey {
    pub fn new(secret: &[u8]) -> Result<Self, ApiError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        mac.update(b"keyward csrf v1");
        let derived = mac.finalize().into_bytes();
        <Hmac<Sha256> as KeyInit>::new_from_slice(&derived)
            .map(Self)
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    pub fn token_for(&self, session_token_hash: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(session_token_hash);
        hex(&mac.finalize().into_bytes()[..20])
    }

    fn matches(&self, session_token_hash: &[u8], presented: &str) -> bool {
        self.token_for(session_token_hash)
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }
}

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
        key_id: String,
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
    pub client_ip: IpAddr,
}

impl Caller {
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

    pub fn require_super_user(&self) -> Result<(), ApiError> {
        if self.is_super_user() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Only a super user may do this.".into()))
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
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

/// Resolves the session behind a bearer token or the session cookie.
pub async fn session_of(
    state: &AppState,
    req: &HttpRequest,
    now: DateTime<Utc>,
) -> Result<Option<(SessionRecord, bool)>, ApiError> {
    let (token, via_cookie) = match bearer(req) {
        Some(t) => (t, false),
        None => match req.cookie(SESSION_COOKIE) {
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
                        key_id: principal.key_id.to_string(),
                        name: principal.name.to_string(),
                    },
                    tenant_id: tenant.id,
                    tenant_name: tenant.name,
                    client_ip: ip,
                });
            }
            Err(ApiError::Unauthenticated(
                "Sign in, or present an API key in the X-API-Key header.",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let k = CsrfKey::new(&[1; 32]).unwrap();
        let a = token_hash("a");
        let t = k.token_for(&a);
        assert!(k.matches(&a, &t));
        assert!(!k.matches(&token_hash("b"), &t));
        assert!(!k.matches(&a, ""));
    }

    #[test]
    fn session_tokens_are_random_and_hashed() {
        let (t1, h1) = new_session_token();
        let (t2, _) = new_session_token();
        assert_ne!(t1, t2);
        assert_eq!(h1, token_hash(&t1));
        assert_eq!(t1.len(), 68);
    }

    #[test]
    fn password_policy() {
        assert!(Passwords::check_policy("short").is_err());
        assert!(Passwords::check_policy("long enough pw").is_ok());
        assert!(Passwords::check_policy(&"x".repeat(2000)).is_err());
    }
}
