//! Per-key usage: daily counts and last use, written in batches.

use super::entities::{api_key, key_usage};
use super::{Db, DbError};
use crate::verification::worker_cache::AccessRun;
use chrono::{DateTime, NaiveDate, Utc};
use keyward_core::key::KeyId;
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, IntoIden, OnConflict, Query, TableRef, ValueTuple,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashMap;

/// Rows per statement of a usage flush (well under the bound-parameter
/// limits of SQLite and PostgreSQL).
const USAGE_ROWS_PER_STATEMENT: usize = 500;

/// One day of a key's verifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyUsage {
    pub day: NaiveDate,
    pub succeeded: u64,
    pub denied: u64,
}

/// Usage accumulated in memory since the last flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageBatch {
    /// (key id, day) → (tenant, succeeded, denied)
    pub counts: HashMap<(KeyId, NaiveDate), (i64, i64, i64)>,
    /// key id → (last successful use, from address)
    pub last_used: HashMap<KeyId, (DateTime<Utc>, String)>,
    /// Access-log rows, in the order of their first verification.
    pub access: Vec<(KeyId, AccessRun)>,
    /// Access-log runs dropped since the last batch (the in-memory bound
    /// was reached).
    pub dropped_runs: u64,
}

impl UsageBatch {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty() && self.access.is_empty()
    }

    /// The rows the batch writes (daily counts, last uses, access-log runs).
    pub fn rows(&self) -> usize {
        self.counts.len() + self.last_used.len() + self.access.len()
    }
}

impl Db {
    /// Writes a batch in one transaction, a few hundred rows per statement:
    /// counters are added, last-used only moves forward. Rows go in key
    /// order, so that instances flushing at once take row locks in the same
    /// order; a failed write (a deadlock included) is retried by the caller.
    pub async fn write_usage(&self, batch: &UsageBatch) -> Result<(), DbError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut counts: Vec<_> = batch.counts.iter().collect();
        counts.sort_by(|a, b| a.0.cmp(b.0));
        let mut last_used: Vec<_> = batch.last_used.iter().collect();
        last_used.sort_by(|a, b| a.0.cmp(b.0));
        let txn = self.begin_write().await?;
        for chunk in counts.chunks(USAGE_ROWS_PER_STATEMENT) {
            let rows = chunk
                .iter()
                .map(
                    |((key_id, day), (tenant_id, ok, denied))| key_usage::ActiveModel {
                        tenant_id: Set(*tenant_id),
                        key_id: Set(key_id.as_str().to_owned()),
                        day: Set(*day),
                        succeeded: Set(*ok),
                        denied: Set(*denied),
                    },
                );
            key_usage::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([key_usage::Column::KeyId, key_usage::Column::Day])
                        .value(
                            key_usage::Column::Succeeded,
                            Expr::col((key_usage::Entity, key_usage::Column::Succeeded))
                                .add(Expr::cust("excluded.succeeded")),
                        )
                        .value(
                            key_usage::Column::Denied,
                            Expr::col((key_usage::Entity, key_usage::Column::Denied))
                                .add(Expr::cust("excluded.denied")),
                        )
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        // UPDATE api_keys SET … FROM (VALUES (id, at, from), …) AS v: the
        // columns of a VALUES list are column1, column2, … on both databases.
        let v = Alias::new("v");
        let col = |n: &str| Expr::col((v.clone(), Alias::new(n)));
        for chunk in last_used.chunks(USAGE_ROWS_PER_STATEMENT) {
            let values = chunk
                .iter()
                .map(|(key_id, (at, from))| {
                    ValueTuple::Three(key_id.as_str().into(), (*at).into(), from.as_str().into())
                })
                .collect();
            let at = col("column2");
            let update = Query::update()
                .table(api_key::Entity)
                .value(api_key::Column::LastUsedAt, at.clone())
                .value(api_key::Column::LastUsedFrom, col("column3"))
                .from(TableRef::ValuesList(values, v.clone().into_iden()))
                .cond_where(
                    Condition::all()
                        .add(
                            Expr::col((api_key::Entity, api_key::Column::KeyId)).eq(col("column1")),
                        )
                        .add(
                            Condition::any()
                                .add(
                                    Expr::col((api_key::Entity, api_key::Column::LastUsedAt))
                                        .is_null(),
                                )
                                .add(
                                    Expr::col((api_key::Entity, api_key::Column::LastUsedAt))
                                        .lt(at),
                                ),
                        ),
                )
                .to_owned();
            txn.execute(&update).await?;
        }
        super::access_log::insert_runs(&txn, &batch.access).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Daily counts of one key of the tenant from `since` (inclusive), oldest first,
    /// with zero days filled in up to `today`.
    pub async fn key_usage(
        &self,
        tenant_id: i64,
        key_id: &KeyId,
        since: NaiveDate,
        today: NaiveDate,
    ) -> Result<Vec<DailyUsage>, DbError> {
        let rows = key_usage::Entity::find()
            .filter(key_usage::Column::TenantId.eq(tenant_id))
            .filter(key_usage::Column::KeyId.eq(key_id.as_str()))
            .filter(key_usage::Column::Day.gte(since))
            .order_by_asc(key_usage::Column::Day)
            .all(&self.conn)
            .await?;
        let by_day: HashMap<NaiveDate, (i64, i64)> = rows
            .into_iter()
            .map(|r| (r.day, (r.succeeded, r.denied)))
            .collect();
        let mut out = Vec::new();
        let mut d = since;
        while d <= today {
            let (ok, denied) = by_day.get(&d).copied().unwrap_or((0, 0));
            out.push(DailyUsage {
                day: d,
                succeeded: u64::try_from(ok).unwrap_or(0),
                denied: u64::try_from(denied).unwrap_or(0),
            });
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        Ok(out)
    }
}
