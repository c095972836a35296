//! `/v1/audit-events`.

use crate::app::audit::{self, AuditFilter};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{audit_csv, audit_event_view};
use actix_web::web::{Data, Json, Query};
use actix_web::{HttpResponse, get};
use keyward_core::Field;
use keyward_core::api::{
    AUDIT_EXPORT_MAX_ROWS, AuditExportQuery, AuditPage, AuditQuery, ErrorEnvelope, Pagination,
};
use keyward_core::fields::QueryText;

/// A free-text filter, checked like the key search (no control characters).
fn text_filter(field: Field, raw: Option<String>) -> Result<Option<String>, ApiError> {
    Ok(raw
        .map(|s| QueryText::parse(field, s))
        .transpose()?
        .map(QueryText::into_string))
}

fn filter_of(q: AuditExportQuery) -> Result<AuditFilter, ApiError> {
    Ok(AuditFilter {
        key_id: text_filter(Field::KeyId, q.key_id)?,
        actor: text_filter(Field::Actor, q.actor)?,
        action: q.action,
        from: q.from,
        to: q.to,
    })
}

/// The tenant's audit events, newest first, filtered by key, actor, action and time.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_events",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "Malformed query", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 422, description = "Invalid page or filter", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/audit-events")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn list_audit_events(
    state: Data<AppState>,
    caller: Caller,
    q: Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let q = q.into_inner();
    let page = Pagination::new(q.page, q.per_page)?;
    let filter = filter_of(q.export())?;
    let (items, total) = audit::list(&state, caller.tenant_id, &filter, page).await?;
    Ok(Json(AuditPage {
        items: items.iter().map(audit_event_view).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

/// The tenant's audit events as CSV, newest first, with the filters of the
/// list: columns `at, actor, action, target_type, target_id,
/// changed_fields, client_ip, request_id`. At most 50,000 rows; when more match, the
/// newest 50,000 come with `X-Keyward-Truncated: true` (narrow the dates).
/// Cells a spreadsheet would run as a formula start with `'`.
#[utoipa::path(
    tag = "audit",
    operation_id = "export_audit_events",
    params(AuditExportQuery),
    responses(
        (status = 200, description = "The events as CSV", content_type = "text/csv", body = String,
         headers(("X-Keyward-Truncated" = String, description = "`true` when more events matched than the export holds"))),
        (status = 400, description = "Malformed query", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 422, description = "Invalid filter", body = ErrorEnvelope),
    ),
    security(("bearer" = []), ("cookie" = []), ("api_key" = []))
)]
#[get("/audit-events/export")]
#[tracing::instrument(skip_all, fields(tenant_id = caller.tenant_id))]
pub async fn export_audit_events(
    state: Data<AppState>,
    caller: Caller,
    q: Query<AuditExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter_of(q.into_inner())?;
    let (records, total) = audit::export(&state, caller.tenant_id, &filter).await?;
    let body = audit_csv(&records).map_err(ApiError::internal)?;
    let name = format!(
        "attachment; filename=\"keyward-audit-{}-{}.csv\"",
        caller.tenant_id,
        crate::now().format("%Y%m%d-%H%M%S")
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", name))
        .insert_header((
            "X-Keyward-Truncated",
            if total > AUDIT_EXPORT_MAX_ROWS {
                "true"
            } else {
                "false"
            },
        ))
        .body(body))
}
