//! Liveness and readiness.

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
