//! Use cases: one function per lifecycle action, shared by the HTTP
//! handlers (`routes`) and the command line (`main`, `bootstrap`).
//!
//! A use case opens the transaction, calls the domain (`keyward-core`),
//! writes the change, its audit record and the [`DomainEvent`]s it produced
//! (the outbox) through the persistence port (`db`), and commits. After the
//! commit the events are handed to [`events::dispatch`] (cache
//! invalidation) and returned to the caller. Nothing else writes those
//! tables.

pub mod audit;
pub mod events;
pub mod groups;
pub mod hashing;
pub mod keys;
pub mod retention;
pub mod sessions;
pub mod tenants;
pub mod users;
pub mod webhooks;

use crate::db::{AuditEntry, DbError, Tx};
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use keyward_core::api::AuditAction;
use keyward_core::audit::AuditTarget;
use keyward_core::delegation::Grantor;
use keyward_core::event::DomainEvent;
use keyward_core::key::KeyId;
use keyward_core::permission::PermissionSet;
use keyward_core::ratelimit::RatePolicy;

/// Who started a change, as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `user:<name>`, `api_key:<id>`, `system` or `system:cli`.
    pub actor: String,
    /// The name shown as a key's "created by".
    pub display_name: String,
    pub client_ip: Option<String>,
    /// The request asking (`X-Request-Id`), if a request is.
    pub request_id: Option<String>,
    /// The API key that asked for the change, if one did: it may grant only
    /// what it holds ([`keyward_core::delegation`]). Users, the server and
    /// the CLI are unlimited within the tenant.
    pub api_key: Option<KeyId>,
}

impl Origin {
    /// A change made by the server itself (`system`) or the CLI (`system:cli`).
    pub fn system(actor: &str) -> Self {
        Self {
            actor: actor.to_owned(),
            display_name: actor.to_owned(),
            client_ip: None,
            request_id: None,
            api_key: None,
        }
    }

    fn audit(
        &self,
        tenant_id: Option<i64>,
        action: AuditAction,
        target: AuditTarget,
        target_id: Option<String>,
        changed_fields: Vec<String>,
    ) -> AuditEntry {
        AuditEntry {
            tenant_id,
            actor: self.actor.clone(),
            action,
            target,
            target_id,
            changed_fields,
            client_ip: self.client_ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// What the origin may grant in the tenant, read in the change's
/// transaction (under the tenant's write lock, so a concurrent change to
/// the key's group is seen): an API key holds its group's permissions and
/// its rate limit, and nothing once revoked or when its group is gone;
/// anyone else is unlimited.
async fn grantor(tx: &Tx, origin: &Origin, tenant_id: i64) -> Result<Grantor, ApiError> {
    let Some(key_id) = &origin.api_key else {
        return Ok(Grantor::Unlimited);
    };
    let row = match tx.key(tenant_id, key_id).await {
        Ok(row) => row,
        Err(DbError::NotFound(_)) => return Ok(Grantor::Holds(PermissionSet::default(), None)),
        Err(e) => return Err(e.into()),
    };
    if row.key.is_revoked() {
        return Ok(Grantor::Holds(PermissionSet::default(), None));
    }
    let (permissions, rate_limit) = holdings(tx, &row.key).await?;
    Ok(Grantor::Holds(permissions, rate_limit))
}

/// What a key holds: its own permissions and those of its group (if the
/// group is live), and its rate limit (its own, else its live group's).
async fn holdings(
    tx: &Tx,
    key: &keyward_core::lifecycle::ApiKey,
) -> Result<(PermissionSet, Option<RatePolicy>), ApiError> {
    let group = match key.group_id {
        Some(id) => tx.live_group(key.tenant_id, id).await?,
        None => None,
    };
    let (group_permissions, group_limit) = match group {
        Some(g) => (Some(g.permissions), g.rate_limit),
        None => (None, None),
    };
    Ok((
        key.permissions.union(group_permissions.as_ref()),
        key.rate_limit.clone().or(group_limit),
    ))
}

/// Writes the change's audit record, events and webhook deliveries,
/// announces key changes to other instances (delivered at commit),
/// commits, then lets this instance's caches consume the events (and
/// wakes its webhook worker). Returns the events.
async fn commit(
    state: &AppState,
    tx: Tx,
    audit: Option<AuditEntry>,
    events: Vec<DomainEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<DomainEvent>, ApiError> {
    if let Some(a) = &audit {
        tx.audit(a, now).await?;
    }
    tx.record_events(&events, now).await?;
    events::announce(&tx, &events).await?;
    let deliveries = webhooks::enqueue_events(&tx, &events, now).await?;
    tx.commit().await?;
    events::dispatch(&state.keys, &events);
    if deliveries {
        state.webhooks.wake();
    }
    Ok(events)
}
