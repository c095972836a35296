//! Liveness and readiness.

use crate::error::ApiError;
use crate::state::AppState;
use crate::views::json_response;
use actix_web::web::Data;
use actix_web::{HttpResponse, get};

/// The process is up.
#[utoipa::path(tag = "health", operation_id = "healthz", responses((status = 200, description = "Up")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    json_response(HttpResponse::Ok(), &serde_json::json!({"status": "ok"}))
}

/// The database answers.
#[utoipa::path(
    tag = "health",
    operation_id = "readyz",
    responses((status = 200, description = "Ready"), (status = 503, description = "Database unreachable"))
)]
#[get("/readyz")]
pub async fn readyz(state: Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => json_response(HttpResponse::Ok(), &serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            json_response(
                HttpResponse::ServiceUnavailable(),
                &serde_json::json!({"status": "database unreachable"}),
            )
        }
    }
}

/// `GET /metrics`: the Prometheus metrics (OpenMetrics text). On the main
/// listener only when `metrics_token` is set and `metrics_listen` is not
/// (else 404, as for any unknown route); on a metrics listener of its own
/// (`separate`) always. Wherever it is served, a set `metrics_token` must be
/// presented as `Authorization: Bearer <token>` (else 401).
pub fn metrics(
    state: &AppState,
    req: &actix_web::HttpRequest,
    separate: bool,
) -> Result<HttpResponse, ApiError> {
    let token = state.settings.metrics_token.as_deref();
    let served_here = if separate {
        true
    } else {
        token.is_some() && state.settings.metrics_listen.is_none()
    };
    if !served_here {
        return Err(ApiError::NotFound("Route"));
    }
    if let Some(token) = token {
        // Compared as hashes, in constant time (as session tokens are).
        use crate::credentials::token_hash;
        let presented = crate::auth::bearer(req).unwrap_or_default();
        let ok: bool =
            subtle::ConstantTimeEq::ct_eq(&token_hash(&presented)[..], &token_hash(token)[..])
                .into();
        if !ok {
            return Err(ApiError::Unauthenticated(
                "Present the metrics token as a bearer token.",
            ));
        }
    }
    let body = crate::metrics::encode(&state.registry).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body))
}
