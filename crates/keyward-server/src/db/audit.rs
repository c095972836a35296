//! Audit events: written in the transaction of the change they record.

use super::Db;
use super::entities::audit_event;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use keyward_core::api::{AuditAction, AuditEventView, AuditQuery, Pagination};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

/// One audit record. It never holds a secret or a digest: only names of
/// changed fields, the actor, the target and the client address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub tenant_id: Option<i64>,
    pub actor: String,
    pub action: AuditAction,
    pub target_type: &'static str,
    pub target_id: Option<String>,
    pub changed_fields: Vec<String>,
    pub client_ip: Option<String>,
}

impl AuditEntry {
    pub(super) async fn insert(
        &self,
        conn: &impl ConnectionTrait,
        at: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        audit_event::ActiveModel {
            tenant_id: Set(self.tenant_id),
            at: Set(at),
            actor: Set(self.actor.clone()),
            action: Set(self.action.as_str().to_owned()),
            target_type: Set(self.target_type.to_owned()),
            target_id: Set(self.target_id.clone()),
            changed_fields: Set(self.changed_fields.join(",")),
            client_ip: Set(self.client_ip.clone()),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        Ok(())
    }
}

pub(super) fn view(m: audit_event::Model) -> AuditEventView {
    AuditEventView {
        id: m.id,
        at: m.at,
        tenant_id: m.tenant_id,
        actor: m.actor,
        // Unknown actions cannot be written (the column is filled from the enum).
        action: AuditAction::parse(&m.action).unwrap_or(AuditAction::ApiKeyUpdated),
        target_type: m.target_type,
        target_id: m.target_id,
        changed_fields: m
            .changed_fields
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        client_ip: m.client_ip,
    }
}

impl Db {
    /// Records an event outside any other change (logins, failed logins).
    pub async fn record_audit(
        &self,
        entry: &AuditEntry,
        at: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        entry.insert(&self.conn, at).await
    }

    /// A tenant's audit events, newest first.
    pub async fn list_audit(
        &self,
        tenant_id: i64,
        q: &AuditQuery,
        page: Pagination,
    ) -> Result<(Vec<AuditEventView>, u64), ApiError> {
        use audit_event::Column as C;
        let mut sel = audit_event::Entity::find().filter(C::TenantId.eq(tenant_id));
        if let Some(key_id) = &q.key_id {
            sel = sel
                .filter(C::TargetType.eq("api_key"))
                .filter(C::TargetId.eq(key_id.as_str()));
        }
        if let Some(actor) = &q.actor {
            sel = sel.filter(C::Actor.eq(actor.as_str()));
        }
        if let Some(action) = q.action {
            sel = sel.filter(C::Action.eq(action.as_str()));
        }
        if let Some(from) = q.from {
            sel = sel.filter(C::At.gte(from));
        }
        if let Some(to) = q.to {
            sel = sel.filter(C::At.lt(to));
        }
        let total = sel.clone().count(&self.conn).await?;
        let rows = sel
            .order_by_desc(C::At)
            .order_by_desc(C::Id)
            .offset(page.offset())
            .limit(u64::from(page.per_page))
            .all(&self.conn)
            .await?;
        Ok((rows.into_iter().map(view).collect(), total))
    }

    /// The newest events about one key.
    pub async fn key_history(
        &self,
        tenant_id: i64,
        key_id: &str,
        limit: u64,
    ) -> Result<Vec<AuditEventView>, ApiError> {
        use audit_event::Column as C;
        let rows = audit_event::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::TargetType.eq("api_key"))
            .filter(C::TargetId.eq(key_id))
            .order_by_desc(C::At)
            .order_by_desc(C::Id)
            .limit(limit)
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(view).collect())
    }
}
