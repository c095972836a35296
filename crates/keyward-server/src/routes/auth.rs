//! `/v1/auth/login`, `/v1/auth/logout`, `/v1/me`.

use crate::auth::{Actor, Caller, SESSION_COOKIE, new_session_token};
use crate::db::AuditEntry;
use crate::error::ApiError;
use crate::state::AppState;
use crate::verification::client_ip;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::web::{Data, Json};
use actix_web::{HttpRequest, HttpResponse, get, post};
use chrono::Duration;
use keyward_core::api::{
    AuditAction, ErrorEnvelope, LoginRequest, LoginResponse, Me, MeKind, Role, TenantSummary,
};

fn cookie(state: &AppState, value: String, max_age_seconds: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.cookie_secure)
        .max_age(time::Duration::seconds(max_age_seconds))
        .finish()
}

/// Sign in with username and password. Returns an opaque session token and
/// sets it as an HttpOnly, SameSite=Strict cookie. Failed attempts are
/// throttled per username and per address.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorEnvelope),
        (status = 401, description = "Wrong username or password", body = ErrorEnvelope),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorEnvelope),
    )
)]
#[post("/auth/login")]
#[tracing::instrument(skip_all)]
pub async fn login(
    state: Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let ip = client_ip(&req, state.keys.trusted_proxies());
    let username = body.username.trim().to_owned();
    let user_key = format!("user:{}", username.to_lowercase());
    // IPv6 clients are counted per /64: one host usually owns the whole range.
    let ip_key = match ip {
        std::net::IpAddr::V6(v6) => format!(
            "ip:{}/64",
            ipnet::Ipv6Net::new(v6, 64)
                .map(|n| n.trunc().addr())
                .unwrap_or(v6)
        ),
        v4 => format!("ip:{v4}"),
    };
    for k in [&user_key, &ip_key] {
        if let Err(retry_after) = state.login_throttle.check(k) {
            return Err(ApiError::Throttled { retry_after });
        }
    }
    let user = if username.len() <= 200 {
        state.db.find_user_by_name(&username).await?
    } else {
        None
    };
    let ok = state
        .passwords
        .verify(
            body.password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let now = crate::now();
    let mut audit = AuditEntry {
        tenant_id: user.as_ref().map(|u| u.tenant_id),
        actor: format!("user:{}", username.chars().take(100).collect::<String>()),
        action: AuditAction::LoginFailed,
        target_type: "session",
        target_id: None,
        changed_fields: Vec::new(),
        client_ip: Some(ip.to_string()),
    };
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            state.login_throttle.fail(&user_key);
            state.login_throttle.fail(&ip_key);
            state.db.record_audit(&audit, now).await?;
            return Err(ApiError::Unauthenticated("Invalid username or password."));
        }
    };
    state.login_throttle.reset(&user_key);
    let (token, hash) = new_session_token();
    let expires_at = now + Duration::seconds(state.settings.session_ttl_seconds);
    audit.action = AuditAction::LoginSucceeded;
    state
        .db
        .create_session(
            user.id,
            hash.clone(),
            expires_at,
            Some(ip.to_string()),
            &audit,
            now,
        )
        .await?;
    let tenant = state
        .db
        .find_tenant(user.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    let principal = Me {
        kind: MeKind::User,
        user_id: Some(user.id),
        username: user.username.clone(),
        role: Role::parse(&user.role),
        tenant: TenantSummary {
            id: tenant.id,
            name: tenant.name,
        },
        csrf_token: Some(state.csrf.token_for(&hash)),
        session_expires_at: Some(expires_at),
    };
    Ok(HttpResponse::Ok()
        .cookie(cookie(
            &state,
            token.clone(),
            state.settings.session_ttl_seconds,
        ))
        .json(LoginResponse {
            token,
            expires_at,
            me: principal,
        }))
}

/// End the session (bearer or cookie) and clear the cookie.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/auth/logout")]
#[tracing::instrument(skip_all)]
pub async fn logout(state: Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let Actor::User { session_id, .. } = &caller.actor else {
        return Err(ApiError::Forbidden(
            "API keys have no session to end.".into(),
        ));
    };
    let audit = caller.audit(AuditAction::Logout, "session", Some(session_id.to_string()));
    state
        .db
        .revoke_session(*session_id, &audit, crate::now())
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(cookie(&state, String::new(), 0))
        .finish())
}

/// The signed-in principal, the tenant the request acts in, and the CSRF token.
#[utoipa::path(
    tag = "auth",
    operation_id = "get_me",
    responses(
        (status = 200, description = "Who is signed in", body = Me),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/me")]
pub async fn me(caller: Caller) -> Result<Json<Me>, ApiError> {
    let tenant = TenantSummary {
        id: caller.tenant_id,
        name: caller.tenant_name.clone(),
    };
    Ok(Json(match &caller.actor {
        Actor::User {
            id,
            username,
            role,
            csrf_token,
            expires_at,
            ..
        } => Me {
            kind: MeKind::User,
            user_id: Some(*id),
            username: username.clone(),
            role: Some(*role),
            tenant,
            csrf_token: Some(csrf_token.clone()),
            session_expires_at: Some(*expires_at),
        },
        Actor::ApiKey { name, .. } => Me {
            kind: MeKind::ApiKey,
            user_id: None,
            username: name.clone(),
            role: None,
            tenant,
            csrf_token: None,
            session_expires_at: None,
        },
    }))
}
