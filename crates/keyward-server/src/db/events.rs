//! The outbox of domain events: written in the transaction of the change
//! that produced them; read by consumers (a later webhook worker); pruned
//! after the retention period.

use super::entities::domain_event;
use super::{Db, DbError, Tx};
use chrono::{DateTime, Utc};
use keyward_core::event::DomainEvent;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// A stored domain event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub event: DomainEvent,
}

impl Tx {
    /// Appends the events to the outbox (in this transaction).
    pub async fn record_events(
        &self,
        events: &[DomainEvent],
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let payload = serde_json::to_string(e).map_err(DbError::corrupt)?;
            rows.push(domain_event::ActiveModel {
                tenant_id: Set(e.tenant_id()),
                kind: Set(e.kind().to_owned()),
                target_id: Set(e.target_id()),
                payload: Set(payload),
                occurred_at: Set(at),
                ..Default::default()
            });
        }
        domain_event::Entity::insert_many(rows)
            .exec_without_returning(&self.txn)
            .await?;
        Ok(())
    }
}

impl Db {
    /// A tenant's events with an id above `after`, oldest first.
    pub async fn list_events(
        &self,
        tenant_id: i64,
        after: i64,
        limit: u64,
    ) -> Result<Vec<OutboxEvent>, DbError> {
        use domain_event::Column as C;
        domain_event::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Id.gt(after))
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|m| {
                let event = serde_json::from_str(&m.payload)
                    .map_err(|e| DbError::corrupt(format!("domain event {}: {e}", m.id)))?;
                Ok(OutboxEvent {
                    id: m.id,
                    occurred_at: m.occurred_at,
                    event,
                })
            })
            .collect()
    }
}
