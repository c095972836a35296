//! The audit log.

pub use crate::db::AuditFilter;
use crate::db::AuditRecord;
use crate::error::ApiError;
use crate::state::AppState;
use keyward_core::api::{AUDIT_EXPORT_MAX_ROWS, Pagination};

/// A page of the tenant's audit events, newest first, and how many match.
pub async fn list(
    state: &AppState,
    tenant_id: i64,
    filter: &AuditFilter,
    page: Pagination,
) -> Result<(Vec<AuditRecord>, u64), ApiError> {
    Ok(state
        .db
        .list_audit(tenant_id, filter, page.offset(), u64::from(page.per_page))
        .await?)
}

/// The tenant's audit events for an export, newest first: at most
/// [`AUDIT_EXPORT_MAX_ROWS`], and how many match.
pub async fn export(
    state: &AppState,
    tenant_id: i64,
    filter: &AuditFilter,
) -> Result<(Vec<AuditRecord>, u64), ApiError> {
    Ok(state
        .db
        .list_audit(tenant_id, filter, 0, AUDIT_EXPORT_MAX_ROWS)
        .await?)
}
