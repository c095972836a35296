//! Authorization groups: create, edit, delete; the list.

use super::{Origin, commit, grantor};
use crate::error::ApiError;
use crate::state::AppState;
use keyward_core::api::AuditAction;
use keyward_core::audit::AuditTarget;
use keyward_core::delegation::Grantor;
use keyward_core::event::DomainEvent;
use keyward_core::group::{Deletion, Group, GroupPatch, NewGroup};
use keyward_core::permission::GroupKind;

/// A group as written, with its live keys and the events of the change.
#[derive(Debug)]
pub struct GroupChange {
    pub group: Group,
    pub key_count: u64,
    pub events: Vec<DomainEvent>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("Authorization group")
}

/// The tenant's live groups by name, each with its live keys.
pub async fn list(
    state: &AppState,
    tenant_id: i64,
    kind: Option<GroupKind>,
) -> Result<Vec<(Group, u64)>, ApiError> {
    Ok(state.db.list_groups(tenant_id, kind).await?)
}

/// A live group of the tenant with its live keys.
pub async fn get(
    state: &AppState,
    tenant_id: i64,
    group_id: i64,
) -> Result<(Group, u64), ApiError> {
    let g = state
        .db
        .find_group(tenant_id, group_id)
        .await?
        .ok_or_else(not_found)?;
    let n = state.db.group_key_count(tenant_id, g.id).await?;
    Ok((g, n))
}

/// Creates a group; an API key may give it only permissions it holds.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    new: NewGroup,
) -> Result<GroupChange, ApiError> {
    let now = crate::now();
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    grantor(&tx, origin, tenant_id)
        .await?
        .check(&new.permissions)?;
    let group = tx.insert_group(tenant_id, &new, now).await?;
    let audit = origin.audit(
        Some(tenant_id),
        AuditAction::GroupCreated,
        AuditTarget::Group,
        Some(group.id.to_string()),
        vec![],
    );
    let events = vec![DomainEvent::GroupCreated {
        tenant_id,
        group_id: group.id,
    }];
    let events = commit(state, tx, Some(audit), events, now).await?;
    Ok(GroupChange {
        group,
        key_count: 0,
        events,
    })
}

/// Applies an edit. Permission changes reach every key of the group at
/// once (the event makes every cached record stale, here and on other
/// instances). An API key may edit only a group within its own
/// permissions whose keys' own permissions are within them too, and give
/// it only permissions it holds (its own group included).
pub async fn update(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    group_id: i64,
    patch: GroupPatch,
) -> Result<GroupChange, ApiError> {
    let now = crate::now();
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let mut group = tx
        .live_group(tenant_id, group_id)
        .await?
        .ok_or_else(not_found)?;
    let by = grantor(&tx, origin, tenant_id).await?;
    by.check(&group.permissions)?;
    // A group limited more loosely than the key may not be touched, nor
    // its limit loosened past the key's (its keys without a limit of
    // their own follow it).
    by.check_rate_limit(group.rate_limit.as_ref())?;
    if let Some(permissions) = &patch.permissions {
        by.check(permissions)?;
    }
    if let Some(limit) = &patch.rate_limit {
        by.check_rate_limit(limit.as_ref())?;
    }
    if let Grantor::Holds(..) = &by {
        // Editing a group changes what its keys hold: an API key may do
        // that only to keys within its own permissions (their own included).
        by.check(&tx.own_permissions_in_group(tenant_id, group_id).await?)?;
    }
    let changed = group.edit(patch, now);
    let (mut audit, mut events) = (None, Vec::new());
    if !changed.is_empty() {
        tx.update_group(&group).await?;
        audit = Some(origin.audit(
            Some(tenant_id),
            AuditAction::GroupUpdated,
            AuditTarget::Group,
            Some(group_id.to_string()),
            changed.iter().map(|f| f.as_str().to_owned()).collect(),
        ));
        events.push(DomainEvent::GroupUpdated {
            tenant_id,
            group_id,
            changed,
        });
    }
    let key_count = tx.group_key_count(tenant_id, group_id).await?;
    let events = commit(state, tx, audit, events, now).await?;
    Ok(GroupChange {
        group,
        key_count,
        events,
    })
}

/// Deletes a group that no live key uses; retires it when revoked keys
/// still refer to it (see [`Group::delete`]).
pub async fn delete(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    group_id: i64,
) -> Result<Vec<DomainEvent>, ApiError> {
    let now = crate::now();
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let mut group = tx
        .live_group(tenant_id, group_id)
        .await?
        .ok_or_else(not_found)?;
    let (live, all) = tx.group_key_refs(tenant_id, group_id).await?;
    let deletion = group.delete(live, all, now)?;
    match deletion {
        Deletion::Delete => tx.delete_group(&group).await?,
        Deletion::Retire => tx.update_group(&group).await?,
    }
    let audit = origin.audit(
        Some(tenant_id),
        AuditAction::GroupDeleted,
        AuditTarget::Group,
        Some(group_id.to_string()),
        vec![],
    );
    let events = vec![DomainEvent::GroupDeleted {
        tenant_id,
        group_id,
        retired: deletion == Deletion::Retire,
    }];
    commit(state, tx, Some(audit), events, now).await
}
