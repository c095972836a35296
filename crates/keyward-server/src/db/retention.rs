//! Deleting rows past their retention, in batches, and the claim that lets
//! one instance of several run a periodic job once per period.

use super::entities::{
    audit_event, domain_event, key_access_log, key_network, key_notice, key_usage, maintenance_run,
    session, webhook_delivery,
};
use super::{Db, DbError};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, Set};

/// Rows per delete statement: no statement holds its locks (SQLite's
/// database lock, PostgreSQL's row locks) for long.
pub const PRUNE_BATCH: u64 = 5_000;

/// What one retention run deleted, per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub audit_events: u64,
    pub usage_days: u64,
    pub access_log: u64,
    pub domain_events: u64,
    pub webhook_deliveries: u64,
    pub key_notices: u64,
    pub key_networks: u64,
}

/// The cutoffs of a retention run: rows older than these go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cutoffs {
    /// Sessions that expired or were ended before this.
    pub sessions: DateTime<Utc>,
    pub audit_events: DateTime<Utc>,
    /// Usage days before this day.
    pub usage_day: NaiveDate,
    pub access_log: DateTime<Utc>,
    pub domain_events: DateTime<Utc>,
    /// Finished (delivered or failed) deliveries made before this.
    pub webhook_deliveries: DateTime<Utc>,
    /// Expiry notices due before this (past every scan's look-back).
    pub key_notices: DateTime<Utc>,
    /// Networks keys were last used from before this (new again anyway).
    pub key_networks: DateTime<Utc>,
}

impl Db {
    /// Claims this period's run of `job`: true for exactly one caller over
    /// all instances per `period` (the one whose update moved the job's
    /// start time), false when the job started less than `period` ago.
    pub async fn claim_run(
        &self,
        job: &str,
        period: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        use maintenance_run::Column as C;
        // The first claim ever finds the row made here, due at once.
        maintenance_run::Entity::insert(maintenance_run::ActiveModel {
            job: Set(job.to_owned()),
            started_at: Set(DateTime::<Utc>::UNIX_EPOCH),
        })
        .on_conflict_do_nothing()
        .exec(&self.conn)
        .await?;
        let res = maintenance_run::Entity::update_many()
            .col_expr(C::StartedAt, Expr::value(now))
            .filter(C::Job.eq(job))
            .filter(C::StartedAt.lte(now - period))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Deletes every row past its cutoff, table by table, in batches.
    pub async fn prune(&self, c: &Cutoffs) -> Result<Pruned, DbError> {
        use session::Column as S;
        let ended = Condition::any()
            .add(S::ExpiresAt.lt(c.sessions))
            .add(S::RevokedAt.lt(c.sessions));
        Ok(Pruned {
            sessions: self.prune_by_id::<session::Entity>(S::Id, ended).await?,
            audit_events: self
                .prune_by_id::<audit_event::Entity>(
                    audit_event::Column::Id,
                    Condition::all().add(audit_event::Column::At.lt(c.audit_events)),
                )
                .await?,
            usage_days: self.prune_usage(c.usage_day).await?,
            access_log: self
                .prune_by_id::<key_access_log::Entity>(
                    key_access_log::Column::Id,
                    Condition::all().add(key_access_log::Column::LastAt.lt(c.access_log)),
                )
                .await?,
            domain_events: self
                .prune_by_id::<domain_event::Entity>(
                    domain_event::Column::Id,
                    Condition::all().add(domain_event::Column::OccurredAt.lt(c.domain_events)),
                )
                .await?,
            webhook_deliveries: self
                .prune_by_id::<webhook_delivery::Entity>(
                    webhook_delivery::Column::Id,
                    Condition::all()
                        .add(webhook_delivery::Column::Status.ne("pending"))
                        .add(webhook_delivery::Column::CreatedAt.lt(c.webhook_deliveries)),
                )
                .await?,
            key_notices: self
                .prune_by_id::<key_notice::Entity>(
                    key_notice::Column::Id,
                    Condition::all().add(key_notice::Column::DueAt.lt(c.key_notices)),
                )
                .await?,
            key_networks: self
                .prune_by_id::<key_network::Entity>(
                    key_network::Column::Id,
                    Condition::all().add(key_network::Column::LastSeen.lt(c.key_networks)),
                )
                .await?,
        })
    }

    /// Deletes the rows of `E` matching `cond`, [`PRUNE_BATCH`] ids a statement.
    async fn prune_by_id<E: EntityTrait>(
        &self,
        id: E::Column,
        cond: Condition,
    ) -> Result<u64, DbError> {
        let batch = Query::select()
            .column(id)
            .from(E::default())
            .cond_where(cond)
            .limit(PRUNE_BATCH)
            .to_owned();
        in_batches(|| async {
            let res = E::delete_many()
                .filter(id.in_subquery(batch.clone()))
                .exec(&self.conn)
                .await?;
            Ok(res.rows_affected)
        })
        .await
    }

    /// Deletes usage days before `before` ([`PRUNE_BATCH`] rows a
    /// statement, by their `(key_id, day)` key).
    async fn prune_usage(&self, before: NaiveDate) -> Result<u64, DbError> {
        use key_usage::Column as U;
        let batch = Query::select()
            .columns([U::KeyId, U::Day])
            .from(key_usage::Entity)
            .and_where(Expr::col(U::Day).lt(before))
            .limit(PRUNE_BATCH)
            .to_owned();
        in_batches(|| async {
            let res = key_usage::Entity::delete_many()
                .filter(
                    Expr::tuple([Expr::col(U::KeyId), Expr::col(U::Day)])
                        .in_subquery(batch.clone()),
                )
                .exec(&self.conn)
                .await?;
            Ok(res.rows_affected)
        })
        .await
    }
}

/// Runs `delete` (one batch) until a batch deletes fewer than
/// [`PRUNE_BATCH`] rows; returns the rows deleted.
async fn in_batches<F, Fut>(mut delete: F) -> Result<u64, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, DbError>>,
{
    let mut deleted = 0;
    loop {
        let n = delete().await?;
        deleted += n;
        if n < PRUNE_BATCH {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_go_on_until_one_is_short() {
        let mut left = [PRUNE_BATCH, PRUNE_BATCH, 3, 99].into_iter();
        let mut calls = 0;
        let deleted = in_batches(|| {
            calls += 1;
            let n = left.next().unwrap_or(0);
            async move { Ok(n) }
        })
        .await
        .unwrap();
        assert_eq!((deleted, calls), (2 * PRUNE_BATCH + 3, 3));
    }
}
