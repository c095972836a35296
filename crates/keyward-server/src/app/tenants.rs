//! Tenants: create (with the "Default" group), edit; the list.

use super::{Origin, commit};
use crate::error::ApiError;
use crate::state::AppState;
use keyward_core::api::AuditAction;
use keyward_core::audit::AuditTarget;
use keyward_core::event::DomainEvent;
use keyward_core::group::NewGroup;
use keyward_core::lifecycle::KeyQuota;
use keyward_core::tenant::{Tenant, TenantName, TenantPatch};

/// A tenant as written, with its keys used and the events of the change.
#[derive(Debug)]
pub struct TenantChange {
    pub tenant: Tenant,
    pub keys_used: u64,
    pub events: Vec<DomainEvent>,
}

/// Every tenant by name, with its keys used.
pub async fn list(state: &AppState) -> Result<Vec<(Tenant, u64)>, ApiError> {
    Ok(state.db.list_tenants().await?)
}

/// A tenant with its keys used.
pub async fn get(state: &AppState, tenant_id: i64) -> Result<(Tenant, u64), ApiError> {
    let t = state
        .db
        .find_tenant(tenant_id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    let used = state.db.keys_used(t.id).await?;
    Ok((t, used))
}

/// Creates a tenant and its first authorization group, "Default" (kind
/// tenant API key, with the default permissions), in one transaction.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    name: &TenantName,
    quota: KeyQuota,
) -> Result<TenantChange, ApiError> {
    let now = crate::now();
    let tx = state.db.begin().await?;
    let tenant = tx.insert_tenant(name, quota, now).await?;
    let group = tx
        .insert_group(tenant.id, &NewGroup::tenant_default(), now)
        .await?;
    let audit = origin.audit(
        Some(tenant.id),
        AuditAction::TenantCreated,
        AuditTarget::Tenant,
        Some(tenant.id.to_string()),
        vec!["name".into(), "key_limit".into()],
    );
    let events = vec![
        DomainEvent::TenantCreated {
            tenant_id: tenant.id,
        },
        DomainEvent::GroupCreated {
            tenant_id: tenant.id,
            group_id: group.id,
        },
    ];
    let events = commit(state, tx, Some(audit), events, now).await?;
    Ok(TenantChange {
        tenant,
        keys_used: 0,
        events,
    })
}

/// Renames a tenant or changes its key limit.
pub async fn update(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    patch: TenantPatch,
) -> Result<TenantChange, ApiError> {
    let now = crate::now();
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let mut tenant = tx.tenant(tenant_id).await?;
    let changed = tenant.edit(patch, now);
    let (mut audit, mut events) = (None, Vec::new());
    if !changed.is_empty() {
        tx.update_tenant(&tenant).await?;
        audit = Some(origin.audit(
            Some(tenant_id),
            AuditAction::TenantUpdated,
            AuditTarget::Tenant,
            Some(tenant_id.to_string()),
            changed.iter().map(|f| f.as_str().to_owned()).collect(),
        ));
        events.push(DomainEvent::TenantUpdated { tenant_id, changed });
    }
    let events = commit(state, tx, audit, events, now).await?;
    let keys_used = state.db.keys_used(tenant_id).await?;
    Ok(TenantChange {
        tenant,
        keys_used,
        events,
    })
}
