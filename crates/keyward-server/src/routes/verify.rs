//! `/v1/whoami` and `/v1/keys/verify`: what integrators and other services call.

use crate::error::ApiError;
use crate::json::JsonObject;
use crate::json::json_body_response;
use crate::state::AppState;
use crate::verification::{ApiKeyAuth, RateCharge, client_ip};
use actix_web::web::{Data, Json};
use actix_web::{HttpRequest, HttpResponse, get, post};
use keyward_core::api::{ErrorEnvelope, VerifyRequest, VerifyResponse, WhoAmI};
use keyward_core::fields::QueryText;
use keyward_core::ratelimit::{Charge, RateWindow};
use keyward_core::verify::ClientAddr;
use keyward_core::{Field, Invalid, ValidationError};
use std::net::IpAddr;

/// The calling key: id, tenant, name, permissions, expiry.
#[utoipa::path(
    tag = "verification",
    operation_id = "whoami",
    responses(
        (status = 200, description = "The key is valid", body = WhoAmI),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired key", body = ErrorEnvelope),
        (status = 403, description = "The key may not be used from this address", body = ErrorEnvelope),
        (status = 429, description = "Too many failed verifications from this address, or the key is over its rate limit (`rate_limited`)", body = ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
#[get("/v1/whoami")]
pub async fn whoami(auth: ApiKeyAuth) -> HttpResponse {
    let p = auth.0;
    let mut body = Vec::with_capacity(256);
    let who = WhoAmI {
        key_id: p.key_id,
        tenant_id: p.tenant_id,
        name: p.name,
        permissions: p.permissions,
        expires_at: p.expires_at,
    };
    crate::json::write_whoami(&who, &mut body);
    json_body_response(HttpResponse::Ok(), body)
}

/// Verify a key for a service in another language. The caller's key needs
/// `api_keys:verify`; only keys of the caller's own tenant can be valid.
/// A key with a rate limit is charged `cost` units (1 by default; nothing
/// with `peek`), and `rate_limit` reports its budget; over its limit the
/// verdict is `rate_limited`.
#[utoipa::path(
    tag = "verification",
    operation_id = "verify_api_key",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verdict (`valid` and a `code`)", body = VerifyResponse),
        (status = 401, description = "The caller's own key is not valid", body = ErrorEnvelope),
        (status = 403, description = "The caller's key lacks api_keys:verify", body = ErrorEnvelope),
        (status = 422, description = "client_ip is not an IP address, route is too long or holds control characters, or cost is out of range", body = ErrorEnvelope),
    ),
    security(("api_key" = []))
)]
#[post("/verify")]
#[tracing::instrument(skip_all, fields(tenant_id = auth.0.tenant_id))]
pub async fn verify_api_key(
    state: Data<AppState>,
    req: HttpRequest,
    auth: ApiKeyAuth,
    body: JsonObject<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let ip: ClientAddr = match body.client_ip.as_deref() {
        Some(s) => s
            .trim()
            .parse::<IpAddr>()
            .map(ClientAddr::from)
            .map_err(|_| ValidationError::new(Field::ClientIp, Invalid::BadIp))?,
        None => client_ip(&req, state.keys.trusted_proxies()),
    };
    let route = match &body.route {
        Some(r) => QueryText::parse(Field::Route, r.clone())?.into_string(),
        None => String::new(),
    };
    let cost = match body.cost {
        None => 1,
        Some(c) => u32::try_from(c)
            .ok()
            .filter(|c| (1..=RateWindow::MAX_LIMIT).contains(c))
            .ok_or_else(|| {
                ValidationError::new(
                    Field::Cost,
                    Invalid::OutOfRange {
                        min: 1,
                        max: i64::from(RateWindow::MAX_LIMIT),
                    },
                )
            })?,
    };
    let rate = RateCharge::new(
        cost,
        if body.peek {
            Charge::Peek
        } else {
            Charge::Consume
        },
    );
    let caller = &auth.0;
    let started = std::time::Instant::now();
    let verdict = state
        .keys
        .verify_for(
            &body.key,
            ip,
            &body.required_permissions,
            crate::now(),
            caller.key_id,
            caller.tenant_id,
            &route,
            rate,
        )
        .await;
    crate::verification::extractor::with_route(&req, |route| {
        state
            .keys
            .record(route, crate::metrics::Via::Endpoint, &verdict, started);
    });
    Ok(Json(crate::views::verify_response(verdict)?))
}
