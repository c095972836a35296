//! API keys: generate, edit, rotate, revoke; the list and the details.

use super::{Origin, commit, grantor, holdings};
pub use crate::db::{AccessFilter, KeyFilter};
use crate::db::{AccessRecord, AuditRecord, KeyGroup, KeyRow, Tx};
use crate::error::ApiError;
use crate::os_rng;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use keyward_core::api::{AuditAction, Pagination};
use keyward_core::audit::AuditTarget;
use keyward_core::delegation::Grantor;
use keyward_core::event::DomainEvent;
use keyward_core::fields::{Description, Expiry, GracePeriod, IpAllowlist, KeyName};
use keyward_core::group::Group;
use keyward_core::key::{KeyId, PlainKey};
use keyward_core::lifecycle::{ApiKey, GroupChoice, KeyPatch, NewKey, generate};
use keyward_core::permission::PermissionSet;
use keyward_core::ratelimit::RatePolicy;
use keyward_core::status::DashboardCounts;
use keyward_core::{Field, Invalid, ValidationError};
use std::collections::HashMap;

/// The validated input of "generate a key"; the group is checked in the
/// transaction.
#[derive(Clone, Debug)]
pub struct KeyDraft {
    pub name: KeyName,
    pub description: Option<Description>,
    pub group_id: Option<i64>,
    /// The key's own permissions (checked against the catalog).
    pub permissions: PermissionSet,
    pub ip_allowlist: IpAllowlist,
    pub expires_at: Option<Expiry>,
    pub rate_limit: Option<RatePolicy>,
}

/// The validated input of "edit a key" (see [`KeyPatch`]); a new group is
/// checked in the transaction.
#[derive(Clone, Debug, Default)]
pub struct KeyEdit {
    pub name: Option<KeyName>,
    pub description: Option<Option<Description>>,
    /// `Some(None)` takes the key out of its group.
    pub group_id: Option<Option<i64>>,
    pub permissions: Option<PermissionSet>,
    pub ip_allowlist: Option<IpAllowlist>,
    pub expires_at: Option<Option<Expiry>>,
    /// `Some(None)` removes the key's own rate limit.
    pub rate_limit: Option<Option<RatePolicy>>,
}

/// A key as written, with its group (if it has one) and the events of the change.
#[derive(Debug)]
pub struct Written {
    pub row: KeyRow,
    pub group: Option<KeyGroup>,
    pub events: Vec<DomainEvent>,
}

/// A key with a new secret, shown once.
#[derive(Debug)]
pub struct Issued {
    pub key: Written,
    pub secret: PlainKey,
}

/// A page of keys with the dashboard counts and the tenant's key limit.
#[derive(Debug)]
pub struct KeyPage {
    pub rows: Vec<KeyRow>,
    pub total: u64,
    pub counts: DashboardCounts,
    pub key_limit: u32,
    /// The groups of the page's keys.
    pub groups: HashMap<i64, KeyGroup>,
}

impl KeyPage {
    /// The group of one of the page's keys, if it has one.
    pub fn group_of(&self, key: &ApiKey) -> Option<&KeyGroup> {
        key.group_id.and_then(|id| self.groups.get(&id))
    }
}

/// A key with its group (retired ones included), 30 days of usage and its history.
#[derive(Debug)]
pub struct KeyDetails {
    pub row: KeyRow,
    pub group: Option<Group>,
    pub usage: Vec<crate::db::DailyUsage>,
    pub history: Vec<AuditRecord>,
}

/// A live group of the tenant that keys may use and that `by` may grant,
/// with its name and rate limit.
async fn choose_group(
    tx: &Tx,
    by: &Grantor,
    tenant_id: i64,
    group_id: i64,
) -> Result<(GroupChoice, String, Option<RatePolicy>), ApiError> {
    let g = tx
        .live_group(tenant_id, group_id)
        .await?
        .ok_or(ValidationError::new(Field::GroupId, Invalid::NoSuchGroup))?;
    let choice = GroupChoice::new(g.id, g.kind)?;
    by.check(&g.permissions)?;
    Ok((choice, g.name, g.rate_limit))
}

/// Refuses when `by` may not act on the key: an API key may edit or rotate
/// only a key whose permissions (its group's and its own) are within its
/// own, and whose rate limit is at least as strict as its own.
async fn check_may_manage(tx: &Tx, by: &Grantor, key: &ApiKey) -> Result<(), ApiError> {
    if let Grantor::Holds(..) = by {
        let (permissions, rate_limit) = holdings(tx, key).await?;
        by.check(&permissions)?;
        by.check_rate_limit(rate_limit.as_ref())?;
    }
    Ok(())
}

/// Generates a key: under the tenant's write lock, checks the group and the
/// quota, draws the secret and stores its digest with the audit record and
/// the event. A key id collision (≈2^-71 per pair) is retried with a new key.
pub async fn create(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    draft: KeyDraft,
    now: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    let verifier = state.keys.verifier();
    for _ in 0..3 {
        let tx = state.db.begin_tenant_write(tenant_id).await?;
        let by = grantor(&tx, origin, tenant_id).await?;
        let (group, group_limit) = match draft.group_id {
            Some(id) => {
                let (choice, _, limit) = choose_group(&tx, &by, tenant_id, id).await?;
                (Some(choice), limit)
            }
            None => (None, None),
        };
        by.check(&draft.permissions)?;
        by.check_rate_limit(draft.rate_limit.as_ref().or(group_limit.as_ref()))?;
        let quota = tx.tenant(tenant_id).await?.quota;
        let used = tx.count_live_keys(tenant_id).await?;
        let input = NewKey {
            name: draft.name.clone(),
            description: draft.description.clone(),
            group,
            permissions: draft.permissions.clone(),
            ip_allowlist: draft.ip_allowlist.clone(),
            expires_at: draft.expires_at,
            rate_limit: draft.rate_limit.clone(),
        };
        let (key, secret) = generate(
            tenant_id,
            quota,
            used,
            input,
            &origin.display_name,
            verifier.format(),
            state.keys.current_hasher(),
            now,
            &mut os_rng(),
        )?;
        let row = match tx.insert_key(&key).await {
            Ok(row) => row,
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        };
        let key_id = key.key_id;
        let audit = key_audit(
            origin,
            tenant_id,
            AuditAction::ApiKeyCreated,
            &key_id,
            vec![],
        );
        let events = vec![DomainEvent::KeyCreated { tenant_id, key_id }];
        let key = finish(state, tx, row, Some(audit), events, now).await?;
        return Ok(Issued { key, secret });
    }
    Err(ApiError::internal("could not draw a unique key id"))
}

fn key_audit(
    origin: &Origin,
    tenant_id: i64,
    action: AuditAction,
    key_id: &KeyId,
    changed: Vec<String>,
) -> crate::db::AuditEntry {
    origin.audit(
        Some(tenant_id),
        action,
        AuditTarget::ApiKey,
        Some(key_id.to_string()),
        changed,
    )
}

/// Edits name, description, group, IP allowlist or expiry; the secret is
/// untouched. An edit that changes nothing writes nothing. An API key may
/// edit only a key within its own permissions, and move it only into a
/// group within them.
pub async fn edit(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    key_id: &KeyId,
    edit: KeyEdit,
    now: DateTime<Utc>,
) -> Result<Written, ApiError> {
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let by = grantor(&tx, origin, tenant_id).await?;
    let group = match edit.group_id {
        Some(Some(g)) => Some(Some(choose_group(&tx, &by, tenant_id, g).await?.0)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(p) = &edit.permissions {
        by.check(p)?;
    }
    let mut row = tx.key(tenant_id, key_id).await?;
    check_may_manage(&tx, &by, &row.key).await?;
    let patch = KeyPatch {
        name: edit.name,
        description: edit.description,
        group,
        permissions: edit.permissions,
        ip_allowlist: edit.ip_allowlist,
        expires_at: edit.expires_at,
        rate_limit: edit.rate_limit,
    };
    let changed = row.key.edit(patch, now)?;
    if let Grantor::Holds(..) = &by {
        // The limit the key ends with (its own, else its group's).
        by.check_rate_limit(holdings(&tx, &row.key).await?.1.as_ref())?;
    }
    let (mut audit, mut events) = (None, Vec::new());
    if !changed.is_empty() {
        tx.update_key(&row.key).await?;
        let fields = changed.iter().map(|f| f.as_str().to_owned()).collect();
        audit = Some(key_audit(
            origin,
            tenant_id,
            AuditAction::ApiKeyUpdated,
            key_id,
            fields,
        ));
        events.push(DomainEvent::KeyUpdated {
            tenant_id,
            key_id: *key_id,
            changed,
        });
    }
    finish(state, tx, row, audit, events, now).await
}

/// Reads the key's group in the transaction, then commits.
async fn finish(
    state: &AppState,
    tx: Tx,
    row: KeyRow,
    audit: Option<crate::db::AuditEntry>,
    events: Vec<DomainEvent>,
    now: DateTime<Utc>,
) -> Result<Written, ApiError> {
    let group = match row.key.group_id {
        Some(id) => tx.key_group(row.key.tenant_id, id).await?,
        None => None,
    };
    let events = commit(state, tx, audit, events, now).await?;
    Ok(Written { row, group, events })
}

/// Issues a new secret for the same key id and configuration; the previous
/// secret keeps working for `grace`. An API key may rotate only a key
/// within its own permissions (the new secret would hand it the rest).
pub async fn rotate(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    key_id: &KeyId,
    grace: GracePeriod,
    new_expiry: Option<Expiry>,
    now: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    let verifier = state.keys.verifier();
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let mut row = tx.key(tenant_id, key_id).await?;
    let by = grantor(&tx, origin, tenant_id).await?;
    check_may_manage(&tx, &by, &row.key).await?;
    let before = row.key.expires_at;
    let secret = row.key.rotate(
        grace,
        new_expiry,
        verifier.format(),
        state.keys.current_hasher(),
        now,
        &mut os_rng(),
    )?;
    tx.update_key(&row.key).await?;
    let mut changed = vec!["secret".to_owned()];
    if row.key.expires_at != before {
        changed.push("expires_at".to_owned());
    }
    let audit = key_audit(
        origin,
        tenant_id,
        AuditAction::ApiKeyRotated,
        key_id,
        changed,
    );
    let events = vec![DomainEvent::KeyRotated {
        tenant_id,
        key_id: *key_id,
        previous_valid_until: row.key.previous.as_ref().map(|p| p.valid_until),
    }];
    let key = finish(state, tx, row, Some(audit), events, now).await?;
    Ok(Issued { key, secret })
}

/// Revokes a key: immediate and permanent.
pub async fn revoke(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    key_id: &KeyId,
    now: DateTime<Utc>,
) -> Result<Written, ApiError> {
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let mut row = tx.key(tenant_id, key_id).await?;
    row.key.revoke(now)?;
    tx.update_key(&row.key).await?;
    let audit = key_audit(
        origin,
        tenant_id,
        AuditAction::ApiKeyRevoked,
        key_id,
        vec![],
    );
    let events = vec![DomainEvent::KeyRevoked {
        tenant_id,
        key_id: *key_id,
    }];
    finish(state, tx, row, Some(audit), events, now).await
}

/// Deletes a revoked or expired key (a live one is `409 key_active`): it
/// leaves the lists, the counts and the quota; its audit trail stays.
/// Deleting grants nothing, so any managing key of the tenant may.
pub async fn delete(
    state: &AppState,
    origin: &Origin,
    tenant_id: i64,
    key_id: &KeyId,
    now: DateTime<Utc>,
) -> Result<Vec<DomainEvent>, ApiError> {
    let tx = state.db.begin_tenant_write(tenant_id).await?;
    let row = tx.key(tenant_id, key_id).await?;
    row.key.check_deletable(now)?;
    // Told while the key can still be read (the generic path reads it after).
    let told = super::webhooks::enqueue_key(
        &tx,
        &row,
        keyward_core::webhook::WebhookEvent::KeyDeleted,
        keyward_core::api::WebhookData::default(),
        now,
    )
    .await?;
    tx.delete_key(tenant_id, key_id).await?;
    let audit = key_audit(
        origin,
        tenant_id,
        AuditAction::ApiKeyDeleted,
        key_id,
        vec![],
    );
    let events = vec![DomainEvent::KeyDeleted {
        tenant_id,
        key_id: *key_id,
    }];
    let events = commit(state, tx, Some(audit), events, now).await?;
    if told {
        state.webhooks.wake();
    }
    Ok(events)
}

/// A page of the tenant's keys, the dashboard counts and the quota.
pub async fn list(
    state: &AppState,
    tenant_id: i64,
    filter: &KeyFilter,
    offset: u64,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<KeyPage, ApiError> {
    let matrix = state.db.status_matrix(tenant_id, now).await?;
    let (rows, total) = state
        .db
        .list_keys(tenant_id, filter, offset, limit, now, &matrix)
        .await?;
    let counts = matrix.dashboard();
    let tenant = state
        .db
        .find_tenant(tenant_id)
        .await?
        .ok_or(ApiError::NotFound("Tenant"))?;
    let mut group_ids: Vec<i64> = rows.iter().filter_map(|r| r.key.group_id).collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let groups = state.db.key_groups(tenant_id, &group_ids).await?;
    Ok(KeyPage {
        rows,
        total,
        counts,
        key_limit: tenant.quota.limit(),
        groups,
    })
}

/// A key of the tenant with its group, daily usage (30 days) and newest 100 audit events.
pub async fn details(
    state: &AppState,
    tenant_id: i64,
    key_id: &KeyId,
    now: DateTime<Utc>,
) -> Result<KeyDetails, ApiError> {
    let row = state
        .db
        .find_key(tenant_id, key_id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    let group = match row.key.group_id {
        Some(id) => state.db.find_group_any(tenant_id, id).await?,
        None => None,
    };
    let today = now.date_naive();
    let since = today - Duration::days(29);
    let usage = state.db.key_usage(tenant_id, key_id, since, today).await?;
    let history = state.db.key_history(tenant_id, key_id, 100).await?;
    Ok(KeyDetails {
        row,
        group,
        usage,
        history,
    })
}

/// A page of a key's access log, newest first, and how many rows match.
pub async fn access_log(
    state: &AppState,
    tenant_id: i64,
    key_id: &KeyId,
    filter: &AccessFilter,
    page: Pagination,
) -> Result<(Vec<AccessRecord>, u64), ApiError> {
    state
        .db
        .find_key(tenant_id, key_id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    Ok(state
        .db
        .key_access_log(
            tenant_id,
            key_id,
            filter,
            page.offset(),
            u64::from(page.per_page),
        )
        .await?)
}
