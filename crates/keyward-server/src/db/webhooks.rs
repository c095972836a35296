//! Webhook endpoints, their deliveries (the webhook outbox), and the expiry
//! notices already given.
//!
//! Deliveries are written in the transaction of the change that caused
//! them. A worker claims due ones with a lease (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, so several instances never send one attempt twice), and
//! never a key's delivery while an earlier one of the same key to the same
//! endpoint is pending: each endpoint sees a key's events in order.

use super::entities::{api_key, key_network, key_notice, webhook_delivery, webhook_endpoint};
use super::{Db, DbError, KeyRow, Tx, keys::to_row, stmt};
use chrono::{DateTime, Utc};
use keyward_core::api::DeliveryStatus;
use keyward_core::webhook::{EventFilter, NoticeKind, WebhookEvent};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

const NOT_FOUND: DbError = DbError::NotFound("Webhook endpoint");

/// A stored endpoint. `sealed` is its encrypted signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: i64,
    pub tenant_id: i64,
    pub url: String,
    pub description: Option<String>,
    pub events: EventFilter,
    /// The filter as stored: written back unchanged unless `events`
    /// changed, so that names a newer version wrote survive an edit here.
    pub events_stored: String,
    pub enabled: bool,
    pub sealed: String,
    pub failure_run: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for EndpointRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointRecord")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

fn endpoint(m: webhook_endpoint::Model) -> EndpointRecord {
    let events = stored_filter(&m.events);
    EndpointRecord {
        id: m.id,
        tenant_id: m.tenant_id,
        url: m.url,
        description: m.description,
        events,
        events_stored: m.events,
        enabled: m.enabled,
        sealed: m.secret_sealed,
        failure_run: u32::try_from(m.failure_run).unwrap_or(0),
        failing_since: m.failing_since,
        disabled_reason: m.disabled_reason,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// A stored filter as this version reads it: names it does not know (a
/// newer version wrote them) are left out. (Matching reads the stored
/// names themselves: `subscribed_endpoints`.)
fn stored_filter(stored: &str) -> EventFilter {
    let known: Vec<&str> = stored
        .lines()
        .filter(|n| WebhookEvent::parse(n).is_some_and(|e| e != WebhookEvent::Test))
        .collect();
    EventFilter::parse(&known).unwrap_or_default()
}

fn fill(am: &mut webhook_endpoint::ActiveModel, e: &EndpointRecord) {
    am.url = Set(e.url.clone());
    am.description = Set(e.description.clone());
    am.events = Set(if stored_filter(&e.events_stored) == e.events {
        e.events_stored.clone()
    } else {
        e.events.to_strings().join("\n")
    });
    am.enabled = Set(e.enabled);
    am.secret_sealed = Set(e.sealed.clone());
    am.failure_run = Set(i32::try_from(e.failure_run).unwrap_or(i32::MAX));
    am.failing_since = Set(e.failing_since);
    am.disabled_reason = Set(e.disabled_reason.clone());
    am.updated_at = Set(e.updated_at);
}

/// A stored delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub endpoint_id: i64,
    pub message_id: String,
    pub event_type: String,
    pub key_id: Option<String>,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_latency_ms: Option<u32>,
    pub last_response: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

fn delivery(m: webhook_delivery::Model) -> Result<DeliveryRecord, DbError> {
    Ok(DeliveryRecord {
        status: DeliveryStatus::parse(&m.status)
            .ok_or_else(|| DbError::corrupt(format!("status of delivery {}", m.id)))?,
        id: m.id,
        endpoint_id: m.endpoint_id,
        message_id: m.message_id,
        event_type: m.event_type,
        key_id: m.key_id,
        payload: m.payload,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: m.next_attempt_at,
        last_attempt_at: m.last_attempt_at,
        last_status: m.last_status.and_then(|s| u16::try_from(s).ok()),
        last_latency_ms: m.last_latency_ms.and_then(|s| u32::try_from(s).ok()),
        last_response: m.last_response,
        last_error: m.last_error,
        created_at: m.created_at,
        delivered_at: m.delivered_at,
    })
}

/// One message owed to the endpoints subscribed to its event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub message_id: String,
    pub event: WebhookEvent,
    pub key_id: Option<String>,
    /// The JSON body.
    pub payload: String,
}

/// A delivery claimed by this worker, with what sending it needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub tenant_id: i64,
    pub endpoint_id: i64,
    pub message_id: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub url: String,
    pub sealed: String,
    /// The lease this worker holds: its attempt is recorded only while it
    /// still does (another worker may have taken a lapsed lease over).
    pub lease_until: DateTime<Utc>,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub latency_ms: u32,
    pub response: Option<String>,
    pub error: Option<String>,
    /// `None`: delivered; `Some(Some(t))`: retry at `t`; `Some(None)`: failed for good.
    pub retry: Option<Option<DateTime<Utc>>>,
}

impl Tx {
    pub async fn insert_endpoint(&self, e: &EndpointRecord) -> Result<EndpointRecord, DbError> {
        let mut am = <webhook_endpoint::ActiveModel as Default>::default();
        fill(&mut am, e);
        am.tenant_id = Set(e.tenant_id);
        am.created_at = Set(e.created_at);
        let m = am.insert(&self.txn).await?;
        Ok(endpoint(m))
    }

    pub async fn endpoint(&self, tenant_id: i64, id: i64) -> Result<EndpointRecord, DbError> {
        webhook_endpoint::Entity::find_by_id(id)
            .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
            .one(&self.txn)
            .await?
            .map(endpoint)
            .ok_or(NOT_FOUND)
    }

    pub async fn update_endpoint(&self, e: &EndpointRecord) -> Result<(), DbError> {
        let mut am = <webhook_endpoint::ActiveModel as Default>::default();
        fill(&mut am, e);
        webhook_endpoint::Entity::update_many()
            .set(am)
            .filter(webhook_endpoint::Column::Id.eq(e.id))
            .filter(webhook_endpoint::Column::TenantId.eq(e.tenant_id))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    /// Deletes the endpoint and its deliveries.
    pub async fn delete_endpoint(&self, tenant_id: i64, id: i64) -> Result<(), DbError> {
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::TenantId.eq(tenant_id))
            .filter(webhook_delivery::Column::EndpointId.eq(id))
            .exec(&self.txn)
            .await?;
        let res = webhook_endpoint::Entity::delete_many()
            .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
            .filter(webhook_endpoint::Column::Id.eq(id))
            .exec(&self.txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(NOT_FOUND);
        }
        Ok(())
    }

    /// How many endpoints the tenant has.
    pub async fn endpoint_count(&self, tenant_id: i64) -> Result<u64, DbError> {
        Ok(webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
            .count(&self.txn)
            .await?)
    }

    /// The tenant's enabled endpoints that take `event`.
    pub async fn subscribed_endpoints(
        &self,
        tenant_id: i64,
        event: WebhookEvent,
    ) -> Result<Vec<i64>, DbError> {
        use webhook_endpoint::Column as C;
        let rows: Vec<(i64, String)> = webhook_endpoint::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::Events)
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::Enabled.eq(true))
            .into_tuple()
            .all(&self.txn)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, events)| events.is_empty() || events.lines().any(|l| l == event.as_str()))
            .map(|(id, _)| id)
            .collect())
    }

    /// Writes one delivery of `message` per endpoint, due now.
    pub async fn insert_deliveries(
        &self,
        tenant_id: i64,
        endpoints: &[i64],
        message: &Message,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        if endpoints.is_empty() {
            return Ok(());
        }
        let rows = endpoints.iter().map(|e| webhook_delivery::ActiveModel {
            tenant_id: Set(tenant_id),
            endpoint_id: Set(*e),
            message_id: Set(message.message_id.clone()),
            event_type: Set(message.event.as_str().to_owned()),
            key_id: Set(message.key_id.clone()),
            payload: Set(message.payload.clone()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            lease_until: Set(None),
            last_attempt_at: Set(None),
            last_status: Set(None),
            last_latency_ms: Set(None),
            last_response: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            delivered_at: Set(None),
            ..Default::default()
        });
        webhook_delivery::Entity::insert_many(rows)
            .exec_without_returning(&self.txn)
            .await?;
        Ok(())
    }

    /// Records that a notice was given; `false` when it already had been
    /// (by this instance or another: the unique index decides).
    pub async fn record_notice(
        &self,
        tenant_id: i64,
        key_id: &str,
        kind: NoticeKind,
        threshold: i64,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        use key_notice::Column as C;
        let am = key_notice::ActiveModel {
            tenant_id: Set(tenant_id),
            key_id: Set(key_id.to_owned()),
            kind: Set(kind.as_str().to_owned()),
            threshold: Set(threshold),
            due_at: Set(due_at),
            created_at: Set(now),
            ..Default::default()
        };
        let res = key_notice::Entity::insert(am)
            .on_conflict(
                OnConflict::columns([C::KeyId, C::Kind, C::Threshold, C::DueAt])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await?;
        Ok(res == 1)
    }

    /// Puts a delivery back in the queue, due now (its attempts go on counting).
    pub async fn redeliver(
        &self,
        tenant_id: i64,
        endpoint_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<DeliveryRecord, DbError> {
        use webhook_delivery::Column as C;
        let m = webhook_delivery::Entity::find_by_id(id)
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::EndpointId.eq(endpoint_id))
            .one(&self.txn)
            .await?
            .ok_or(DbError::NotFound("Delivery"))?;
        let mut am: webhook_delivery::ActiveModel = m.into();
        am.status = Set(DeliveryStatus::Pending.as_str().to_owned());
        am.next_attempt_at = Set(now);
        am.delivered_at = Set(None);
        // An attempt in flight no longer holds it: it goes out again now,
        // and that attempt's outcome is kept without settling the delivery
        // (see `record_attempt`).
        am.lease_until = Set(None);
        delivery(am.update(&self.txn).await?)
    }

    /// Writes how an attempt of a claimed delivery ended, and keeps the
    /// endpoint's run of failures. Returns the endpoint's failure run and
    /// since when it has failed (after a failure).
    pub async fn record_attempt(
        &self,
        claimed: &Claimed,
        attempt: &Attempt,
    ) -> Result<Option<(u32, DateTime<Utc>)>, DbError> {
        let (status, next, delivered_at) = match attempt.retry {
            None => (DeliveryStatus::Delivered, attempt.at, Some(attempt.at)),
            Some(Some(at)) => (DeliveryStatus::Pending, at, None),
            Some(None) => (DeliveryStatus::Failed, attempt.at, None),
        };
        let sql = "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
                   next_attempt_at = $2, lease_until = NULL, last_attempt_at = $3, \
                   last_status = $4, last_latency_ms = $5, last_response = $6, \
                   last_error = $7, delivered_at = $8 \
                   WHERE id = $9 AND status = 'pending' AND lease_until = $10";
        let values = vec![
            status.as_str().into(),
            next.into(),
            attempt.at.into(),
            attempt.status.map(i32::from).into(),
            i32::try_from(attempt.latency_ms).unwrap_or(i32::MAX).into(),
            attempt.response.clone().into(),
            attempt.error.clone().into(),
            delivered_at.into(),
            claimed.id.into(),
            claimed.lease_until.into(),
        ];
        let res = self
            .txn
            .execute_raw(stmt(self.backend, sql, values))
            .await?;
        if res.rows_affected() == 0 {
            // Redelivery was asked for while this attempt was in flight (the
            // lease was cleared, perhaps already taken again), or the lease
            // lapsed and another worker holds the delivery: its state is no
            // longer this attempt's to settle, but the attempt happened. It
            // is counted, and shown as the last one unless a later one is.
            let sql = "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                       last_status = CASE WHEN {later} THEN $1 ELSE last_status END, \
                       last_latency_ms = CASE WHEN {later} THEN $2 ELSE last_latency_ms END, \
                       last_response = CASE WHEN {later} THEN $3 ELSE last_response END, \
                       last_error = CASE WHEN {later} THEN $4 ELSE last_error END, \
                       last_attempt_at = CASE WHEN {later} THEN $5 ELSE last_attempt_at END \
                       WHERE id = $6"
                .replace(
                    "{later}",
                    "(last_attempt_at IS NULL OR last_attempt_at <= $5)",
                );
            let values = vec![
                attempt.status.map(i32::from).into(),
                i32::try_from(attempt.latency_ms).unwrap_or(i32::MAX).into(),
                attempt.response.clone().into(),
                attempt.error.clone().into(),
                attempt.at.into(),
                claimed.id.into(),
            ];
            self.txn
                .execute_raw(stmt(self.backend, &sql, values))
                .await?;
            return Ok(None);
        }
        if attempt.retry.is_none() {
            let sql = "UPDATE webhook_endpoints SET failure_run = 0, failing_since = NULL \
                       WHERE id = $1 AND failure_run <> 0";
            self.txn
                .execute_raw(stmt(self.backend, sql, vec![claimed.endpoint_id.into()]))
                .await?;
            return Ok(None);
        }
        let sql = "UPDATE webhook_endpoints SET failure_run = failure_run + 1, \
                   failing_since = COALESCE(failing_since, $1) WHERE id = $2 \
                   RETURNING failure_run, failing_since";
        let row = self
            .txn
            .query_one_raw(stmt(
                self.backend,
                sql,
                vec![attempt.at.into(), claimed.endpoint_id.into()],
            ))
            .await?;
        Ok(match row {
            Some(r) => {
                let run: i32 = r.try_get_by_index(0)?;
                let since: DateTime<Utc> = r.try_get_by_index(1)?;
                Some((u32::try_from(run).unwrap_or(0), since))
            }
            None => None,
        })
    }
}

/// What recording a key's use from a network found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sighting {
    /// The key's first recorded network (its first use, the first since
    /// networks were recorded, or since its networks were pruned after a
    /// year unused): not news.
    First,
    /// A network the key was not used from lately.
    New,
    /// A network it was used from lately.
    Known,
}

impl Tx {
    /// Records that `key_id` was used from `network` at `at`; a network
    /// last seen before `stale_before` counts as new again.
    pub async fn see_network(
        &self,
        tenant_id: i64,
        key_id: &str,
        network: &str,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<Sighting, DbError> {
        use key_network::Column as C;
        let found = key_network::Entity::find()
            .filter(C::KeyId.eq(key_id))
            .filter(C::Network.eq(network))
            .one(&self.txn)
            .await?;
        if let Some(m) = found {
            let was = m.last_seen;
            if was < at {
                let mut am: key_network::ActiveModel = m.into();
                am.last_seen = Set(at);
                am.update(&self.txn).await?;
            }
            return Ok(if was < stale_before {
                Sighting::New
            } else {
                Sighting::Known
            });
        }
        let any = key_network::Entity::find()
            .filter(C::KeyId.eq(key_id))
            .one(&self.txn)
            .await?
            .is_some();
        let am = key_network::ActiveModel {
            tenant_id: Set(tenant_id),
            key_id: Set(key_id.to_owned()),
            network: Set(network.to_owned()),
            first_seen: Set(at),
            last_seen: Set(at),
            ..Default::default()
        };
        // Another instance may have written it since: then it is known.
        let inserted = key_network::Entity::insert(am)
            .on_conflict(
                OnConflict::columns([C::KeyId, C::Network])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await?;
        Ok(match (inserted, any) {
            (0, _) => Sighting::Known,
            (_, false) => Sighting::First,
            (_, true) => Sighting::New,
        })
    }
}

impl Db {
    pub async fn list_endpoints(&self, tenant_id: i64) -> Result<Vec<EndpointRecord>, DbError> {
        Ok(webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
            .order_by_asc(webhook_endpoint::Column::Id)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(endpoint)
            .collect())
    }

    pub async fn find_endpoint(&self, tenant_id: i64, id: i64) -> Result<EndpointRecord, DbError> {
        webhook_endpoint::Entity::find_by_id(id)
            .filter(webhook_endpoint::Column::TenantId.eq(tenant_id))
            .one(&self.conn)
            .await?
            .map(endpoint)
            .ok_or(NOT_FOUND)
    }

    /// The delivery of a message to an endpoint.
    pub async fn delivery_of(
        &self,
        tenant_id: i64,
        endpoint_id: i64,
        message_id: &str,
    ) -> Result<DeliveryRecord, DbError> {
        use webhook_delivery::Column as C;
        webhook_delivery::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::EndpointId.eq(endpoint_id))
            .filter(C::MessageId.eq(message_id))
            .one(&self.conn)
            .await?
            .map(delivery)
            .transpose()?
            .ok_or(DbError::NotFound("Delivery"))
    }

    /// A page of an endpoint's deliveries, newest first, and how many match.
    pub async fn list_deliveries(
        &self,
        tenant_id: i64,
        endpoint_id: i64,
        status: Option<DeliveryStatus>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<DeliveryRecord>, u64), DbError> {
        use webhook_delivery::Column as C;
        let mut q = webhook_delivery::Entity::find()
            .filter(C::TenantId.eq(tenant_id))
            .filter(C::EndpointId.eq(endpoint_id));
        if let Some(s) = status {
            q = q.filter(C::Status.eq(s.as_str()));
        }
        let total = q.clone().count(&self.conn).await?;
        let rows = q
            .order_by_desc(C::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(delivery)
            .collect::<Result<_, _>>()?;
        Ok((rows, total))
    }

    /// Claims up to `limit` due deliveries until `lease_until`: pending, due,
    /// not leased by a worker (or its lease lapsed: it died), to an enabled
    /// endpoint (test events go to disabled ones too), and not behind an
    /// earlier pending delivery of the same key to the same endpoint.
    /// Ordered by the due index alone (no tie-break on `id`), so that the
    /// scan stops after `limit` rows however long the queue: with a sort,
    /// a backlog of 5,000 cost 37 ms a claim on PostgreSQL, 0.6 ms without.
    /// Per-key order does not depend on it (the `NOT EXISTS` keeps it).
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Claimed>, DbError> {
        let lock = if self.is_postgres() {
            "FOR UPDATE OF d SKIP LOCKED"
        } else {
            ""
        };
        // The limit is written into the statement: with a parameter there,
        // PostgreSQL's generic plan (from the sixth run on) sorts the whole
        // queue instead of stopping after `limit` rows of the due index.
        let limit = limit.clamp(1, 1_000);
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until = $2 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d \
               JOIN webhook_endpoints e ON e.id = d.endpoint_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
                 AND (d.lease_until IS NULL OR d.lease_until < $1) \
                 AND (e.enabled = TRUE OR d.event_type = 'webhook.test') \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
                   WHERE p.endpoint_id = d.endpoint_id AND p.key_id = d.key_id \
                     AND p.status = 'pending' AND p.id < d.id) \
               ORDER BY d.next_attempt_at LIMIT {limit} {lock}) \
             RETURNING id"
        );
        // PostgreSQL's statistics of a queue table are usually stale (most
        // rows delivered when it last looked): believing few are pending, it
        // reads every pending row and sorts them, which a backlog makes
        // quadratic (15,000 deliveries drained at 148/s). Walking the due
        // index in order and stopping at `limit` is right at any size.
        let txn = self.begin_write().await?;
        if self.is_postgres() {
            txn.execute_unprepared(
                "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off",
            )
            .await?;
        }
        let ids: Vec<i64> = txn
            .query_all_raw(self.stmt(&sql, vec![now.into(), lease_until.into()]))
            .await?
            .into_iter()
            .map(|r| r.try_get_by_index::<i64>(0))
            .collect::<Result<_, _>>()?;
        txn.commit().await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let deliveries = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.is_in(ids))
            .order_by_asc(webhook_delivery::Column::Id)
            .all(&self.conn)
            .await?;
        let endpoint_ids: Vec<i64> = deliveries.iter().map(|d| d.endpoint_id).collect();
        let endpoints: std::collections::HashMap<i64, webhook_endpoint::Model> =
            webhook_endpoint::Entity::find()
                .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids))
                .all(&self.conn)
                .await?
                .into_iter()
                .map(|e| (e.id, e))
                .collect();
        Ok(deliveries
            .into_iter()
            .filter_map(|d| {
                let e = endpoints.get(&d.endpoint_id)?;
                Some(Claimed {
                    id: d.id,
                    tenant_id: d.tenant_id,
                    endpoint_id: d.endpoint_id,
                    message_id: d.message_id,
                    payload: d.payload,
                    attempts: u32::try_from(d.attempts).unwrap_or(0),
                    url: e.url.clone(),
                    sealed: e.secret_sealed.clone(),
                    lease_until,
                })
            })
            .collect())
    }

    /// Keys that may owe an expiry notice: live keys expiring before
    /// `until` that expired after `since`, and keys whose previous secret's
    /// grace ends between `now` and `grace_until`.
    /// A page of them: row ids above `after`, at most `limit`, with the
    /// last row id when there may be more.
    #[allow(clippy::too_many_arguments)]
    pub async fn expiry_candidates(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        grace_until: DateTime<Utc>,
        after: i64,
        limit: u64,
    ) -> Result<(Vec<KeyRow>, Option<i64>), DbError> {
        use api_key::Column as C;
        use sea_orm::Condition;
        let models = api_key::Entity::find()
            .filter(C::Id.gt(after))
            .filter(C::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(C::ExpiresAt.gt(since))
                            .add(C::ExpiresAt.lte(until)),
                    )
                    .add(
                        Condition::all()
                            .add(C::PreviousValidUntil.gt(now))
                            .add(C::PreviousValidUntil.lte(grace_until)),
                    ),
            )
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let last = (models.len() as u64 == limit)
            .then(|| models.last().map(|m| m.id))
            .flatten();
        let rows = models.into_iter().map(to_row).collect::<Result<_, _>>()?;
        Ok((rows, last))
    }

    /// Which of these notices were given already: (key id, kind, threshold, due).
    pub async fn given_notices(
        &self,
        key_ids: &[String],
    ) -> Result<std::collections::HashSet<(String, String, i64, DateTime<Utc>)>, DbError> {
        let mut out = std::collections::HashSet::new();
        for chunk in key_ids.chunks(500) {
            let rows = key_notice::Entity::find()
                .filter(key_notice::Column::KeyId.is_in(chunk.iter().cloned()))
                .all(&self.conn)
                .await?;
            out.extend(
                rows.into_iter()
                    .map(|n| (n.key_id, n.kind, n.threshold, n.due_at)),
            );
        }
        Ok(out)
    }

    /// Keys refused at least `threshold` times (outcomes `refusals`) in
    /// access-log rows last written in [`since`, `until`): (tenant, key id,
    /// refusals), most refused first.
    pub async fn refusal_counts(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        refusals: &[&str],
        threshold: u64,
        limit: u64,
    ) -> Result<Vec<(i64, String, u64)>, DbError> {
        let list = refusals
            .iter()
            .map(|o| format!("'{o}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT tenant_id, key_id, CAST(SUM(count) AS BIGINT) FROM key_access_log \
             WHERE last_at >= $1 AND last_at < $4 AND outcome IN ({list}) \
             GROUP BY tenant_id, key_id HAVING SUM(count) >= $2 \
             ORDER BY SUM(count) DESC LIMIT $3"
        );
        let rows = self
            .conn
            .query_all_raw(self.stmt(
                &sql,
                vec![
                    since.into(),
                    i64::try_from(threshold).unwrap_or(i64::MAX).into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                    until.into(),
                ],
            ))
            .await?;
        rows.into_iter()
            .map(|r| {
                let n: i64 = r.try_get_by_index(2)?;
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    u64::try_from(n).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Successful uses in access-log rows last written from `since` on:
    /// (tenant, key id, client address, when last), at most `limit`.
    pub async fn recent_uses(
        &self,
        since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(i64, String, String, DateTime<Utc>)>, DbError> {
        let sql = "SELECT tenant_id, key_id, client_ip, MAX(last_at) FROM key_access_log \
                   WHERE last_at >= $1 AND outcome = 'allowed' \
                   GROUP BY tenant_id, key_id, client_ip LIMIT $2";
        let rows = self
            .conn
            .query_all_raw(self.stmt(
                sql,
                vec![
                    since.into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            ))
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                    r.try_get_by_index(3)?,
                ))
            })
            .collect()
    }
}
