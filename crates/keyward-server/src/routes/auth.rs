//! `/v1/auth/login`, `/v1/auth/logout`, `/v1/me`.

use crate::app::sessions::{self, SignIn};
use crate::auth::{Actor, Caller, SECURE_SESSION_COOKIE, SESSION_COOKIE, serves_https};
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::json::PRAGMA_NO_CACHE;
use crate::state::AppState;
use crate::verification::client_ip;
use crate::views::{login_response, me_view};
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, get, post};
use keyward_core::api::{ErrorEnvelope, LoginRequest, LoginResponse, Me};

/// The session cookie: HttpOnly, SameSite=Strict, Path=/, no Domain; over
/// HTTPS (or with `cookie_secure`) also `Secure` and named with the
/// `__Host-` prefix, which browsers only accept on exactly those terms.
fn cookie(secure: bool, value: String, max_age_seconds: i64) -> Cookie<'static> {
    let name = if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    };
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
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
        (status = 422, description = "The username holds a control, bidi or invisible character", body = ErrorEnvelope),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorEnvelope),
    )
)]
#[post("/auth/login")]
#[tracing::instrument(skip_all)]
pub async fn login(
    state: Data<AppState>,
    req: HttpRequest,
    body: JsonObject<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let attempt = SignIn {
        username: body.username,
        password: body.password,
        client_ip: client_ip(&req, state.keys.trusted_proxies()),
        request_id: crate::auth::request_id(&req),
    };
    let signed_in = sessions::sign_in(&state, attempt).await?;
    let ttl = state.settings.session_ttl_seconds;
    let secure = serves_https(&state, &req);
    Ok(HttpResponse::Ok()
        .cookie(cookie(secure, signed_in.token.clone(), ttl))
        .insert_header(PRAGMA_NO_CACHE)
        .json(login_response(signed_in)))
}

/// End the session (bearer or cookie) and clear the cookie (under either name).
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
pub async fn logout(
    state: Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let Actor::User { id, session_id, .. } = &caller.actor else {
        return Err(ApiError::Forbidden(
            "API keys have no session to end.".into(),
        ));
    };
    let origin = caller.origin();
    sessions::sign_out(&state, &origin, caller.tenant_id, *id, *session_id).await?;
    let mut resp = HttpResponse::NoContent();
    if serves_https(&state, &req) {
        resp.cookie(cookie(true, String::new(), 0));
    }
    Ok(resp.cookie(cookie(false, String::new(), 0)).finish())
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
pub async fn me(caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .insert_header(PRAGMA_NO_CACHE)
        .json(me_view(&caller)))
}
