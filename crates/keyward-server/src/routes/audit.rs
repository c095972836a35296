//! `/v1/audit-events`.

use crate::app::audit::{self, AuditFilter};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::audit_event_view;
use actix_web::get;
use actix_web::web::{Data, Json, Query};
use keyward_core::Field;
use keyward_core::api::{AuditPage, AuditQuery, ErrorEnvelope, Pagination};
use keyward_core::fields::QueryText;

/// A free-text filter, checked like the key search (no control characters).
fn text_filter(field: Field, raw: Option<String>) -> Result<Option<String>, ApiError> {
    Ok(raw
        .map(|s| QueryText::parse(field, s))
        .transpose()?
        .map(QueryText::into_string))
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
    let filter = AuditFilter {
        key_id: text_filter(Field::KeyId, q.key_id)?,
        actor: text_filter(Field::Actor, q.actor)?,
        action: q.action,
        from: q.from,
        to: q.to,
    };
    let (items, total) = audit::list(&state, caller.tenant_id, &filter, page).await?;
    Ok(Json(AuditPage {
        items: items.iter().map(audit_event_view).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}
