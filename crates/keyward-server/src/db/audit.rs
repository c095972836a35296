//! Audit events: written in the transaction of the change they record.

use super::entities::audit_event;
use super::{Db, DbError, Tx};
use chrono::{DateTime, Utc};
use keyward_core::api::AuditAction;
use keyward_core::audit::AuditTarget;
use keyward_core::key::KeyId;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

/// One audit record to write. It never holds a secret or a digest: only
/// names of changed fields, the actor, the target and the client address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub tenant_id: Option<i64>,
    pub actor: String,
    pub action: AuditAction,
    pub target: AuditTarget,
    pub target_id: Option<String>,
    pub changed_fields: Vec<String>,
    pub client_ip: Option<String>,
    /// The request that made the change (`X-Request-Id`), if a request did.
    pub request_id: Option<String>,
}

/// A stored audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<i64>,
    pub actor: String,
    pub action: AuditAction,
    pub target: AuditTarget,
    pub target_id: Option<String>,
    pub changed_fields: Vec<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

/// Filters of the audit list (all optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub key_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

async fn insert(
    entry: &AuditEntry,
    conn: &impl ConnectionTrait,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    audit_event::ActiveModel {
        tenant_id: Set(entry.tenant_id),
        at: Set(at),
        actor: Set(entry.actor.clone()),
        action: Set(entry.action.as_str().to_owned()),
        target_type: Set(entry.target.as_str().to_owned()),
        target_id: Set(entry.target_id.clone()),
        changed_fields: Set(entry.changed_fields.join(",")),
        client_ip: Set(entry.client_ip.clone()),
        request_id: Set(entry.request_id.clone()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// A stored row; an action or target this build does not know is a corrupt
/// row (reported), never silently read as another one.
fn record(m: audit_event::Model) -> Result<AuditRecord, DbError> {
    let action = AuditAction::parse(&m.action).ok_or_else(|| {
        DbError::corrupt(format!(
            "audit event {} has unknown action {:?}",
            m.id, m.action
        ))
    })?;
    let target = AuditTarget::parse(&m.target_type).ok_or_else(|| {
        DbError::corrupt(format!(
            "audit event {} has unknown target type {:?}",
            m.id, m.target_type
        ))
    })?;
    Ok(AuditRecord {
        id: m.id,
        at: m.at,
        tenant_id: m.tenant_id,
        actor: m.actor,
        action,
        target,
        target_id: m.target_id,
        changed_fields: m
            .changed_fields
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        client_ip: m.client_ip,
        request_id: m.request_id,
    })
}

impl Tx {
    pub async fn audit(&self, entry: &AuditEntry, at: DateTime<Utc>) -> Result<(), DbError> {
        insert(entry, &self.txn, at).await
    }
}

impl Db {
    /// Records an event outside any other change (failed logins).
    pub async fn record_audit(&self, entry: &AuditEntry, at: DateTime<Utc>) -> Result<(), DbError> {
        insert(entry, &self.conn, at).await
    }

    /// A tenant's audit events, newest first, and how many match.
    pub async fn list_audit(
        &self,
        tenant_id: i64,
        f: &AuditFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AuditRecord>, u64), DbError> {
        use audit_event::Column as C;
        let mut sel = audit_event::Entity::find().filter(C::TenantId.eq(tenant_id));
        if let Some(key_id) = &f.key_id {
            sel = sel
                .filter(C::TargetType.eq(AuditTarget::ApiKey.as_str()))
                .filter(C::TargetId.eq(key_id.as_str()));
        }
        if let Some(actor) = &f.actor {
            sel = sel.filter(C::Actor.eq(actor.as_str()));
        }
        if let Some(action) = f.action {
            sel = sel.filter(C::Action.eq(action.as_str()));
        }
        if let Some(from) = f.from {
            sel = sel.filter(C::At.gte(from));
        }
        if let Some(to) = f.to {
            sel = sel.filter(C::At.lt(to));
        }
        let total = sel.clone().count(&self.conn).await?;
        let rows = sel
            .order_by_desc(C::At)
            .order_by_desc(C::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let rows = rows.into_iter().map(record).collect::<Result<_, _>>()?;
        Ok((rows, total))
    }

    /// The newest events about one key.
    pub async fn key_history(
        &self,
        tenant_id: i64,
        key_id: &KeyId,
        limit: u64,
    ) -> Result<Vec<AuditRecord>, DbError> {
        use audit_event::Column as C;
        audit_event::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::TargetType.eq(AuditTarget::ApiKey.as_str()))
            .filter(C::TargetId.eq(key_id.as_str()))
            .order_by_desc(C::At)
            .order_by_desc(C::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(record)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(action: &str, target_type: &str) -> audit_event::Model {
        audit_event::Model {
            id: 7,
            tenant_id: Some(1),
            at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            actor: "user:admin".into(),
            action: action.into(),
            target_type: target_type.into(),
            target_id: Some("x".into()),
            changed_fields: "name,ip_allowlist".into(),
            client_ip: None,
            request_id: None,
        }
    }

    #[test]
    fn stored_rows_read_back_as_records() {
        let r = record(row("api_key_updated", "api_key")).unwrap();
        assert_eq!(r.action, AuditAction::ApiKeyUpdated);
        assert_eq!(r.target, AuditTarget::ApiKey);
        assert_eq!(r.changed_fields, ["name", "ip_allowlist"]);
    }

    #[test]
    fn an_unknown_action_or_target_is_a_corrupt_row() {
        let e = record(row("api_key_exploded", "api_key")).unwrap_err();
        assert!(
            matches!(e, DbError::Corrupt(ref m) if m.contains("api_key_exploded")),
            "{e:?}"
        );
        let e = record(row("group_created", "planet")).unwrap_err();
        assert!(matches!(e, DbError::Corrupt(_)), "{e:?}");
    }
}
