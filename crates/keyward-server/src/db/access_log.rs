//! Each key's recent access log: runs of verifications written with the
//! usage, trimmed to the newest rows per key and pruned by age.

use super::entities::key_access_log;
use super::{Db, DbError};
use crate::verification::worker_cache::AccessRun;
use chrono::{DateTime, Utc};
use keyward_core::key::KeyId;
use keyward_core::verify::AccessOutcome;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// Rows per insert statement (11 values a row: well under both databases'
/// bound-parameter limits).
const ROWS_PER_STATEMENT: usize = 400;

/// One stored row of a key's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    pub id: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub count: u64,
    pub client_ip: String,
    pub outcome: AccessOutcome,
    pub detail: Option<String>,
    pub route: String,
    pub via_key_id: Option<String>,
}

/// Filters of [`Db::key_access_log`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessFilter {
    pub outcome: Option<AccessOutcome>,
    /// Every outcome but `allowed`.
    pub refused: bool,
    /// Addresses starting with this text (only address characters: it is
    /// used in a LIKE pattern unescaped).
    pub client_ip_prefix: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn record(m: key_access_log::Model) -> Result<AccessRecord, DbError> {
    let outcome = AccessOutcome::parse(&m.outcome)
        .ok_or_else(|| DbError::Corrupt(format!("unknown access outcome {:?}", m.outcome)))?;
    Ok(AccessRecord {
        id: m.id,
        first_at: m.first_at,
        last_at: m.last_at,
        count: u64::try_from(m.count).unwrap_or(0),
        client_ip: m.client_ip,
        outcome,
        detail: m.detail,
        route: m.route,
        via_key_id: m.via_key_id,
    })
}

/// Inserts the rows of a usage batch (inside its transaction).
pub(super) async fn insert_runs<C: ConnectionTrait>(
    conn: &C,
    runs: &[(KeyId, AccessRun)],
) -> Result<(), DbError> {
    for chunk in runs.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk.iter().map(|(id, r)| key_access_log::ActiveModel {
            tenant_id: Set(r.tenant_id),
            key_id: Set(id.as_str().to_owned()),
            first_at: Set(r.first),
            last_at: Set(r.last),
            count: Set(i64::try_from(r.count).unwrap_or(i64::MAX)),
            client_ip: Set(r.client.to_string()),
            outcome: Set(r.outcome.as_str().to_owned()),
            detail: Set(r.detail.as_deref().map(str::to_owned)),
            route: Set(r.route.to_string()),
            via_key_id: Set(r.via.map(|v| v.as_str().to_owned())),
            ..Default::default()
        });
        key_access_log::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

impl Db {
    /// A page of one key's access log, newest first, and how many rows match.
    pub async fn key_access_log(
        &self,
        tenant_id: i64,
        key_id: &KeyId,
        f: &AccessFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AccessRecord>, u64), DbError> {
        use key_access_log::Column as C;
        let mut sel = key_access_log::Entity::find()
            .filter(C::KeyId.eq(key_id.as_str()))
            .filter(C::TenantId.eq(tenant_id));
        if let Some(o) = f.outcome {
            sel = sel.filter(C::Outcome.eq(o.as_str()));
        }
        if f.refused {
            sel = sel.filter(C::Outcome.ne(AccessOutcome::Allowed.as_str()));
        }
        if let Some(p) = &f.client_ip_prefix {
            sel = sel.filter(C::ClientIp.like(format!("{p}%")));
        }
        if let Some(from) = f.from {
            sel = sel.filter(C::LastAt.gte(from));
        }
        if let Some(to) = f.to {
            sel = sel.filter(C::FirstAt.lt(to));
        }
        let total = sel.clone().count(&self.conn).await?;
        let rows = sel
            .order_by_desc(C::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let rows = rows.into_iter().map(record).collect::<Result<_, _>>()?;
        Ok((rows, total))
    }

    /// Keeps only the newest `keep` rows of each of `keys`. Returns the rows
    /// deleted.
    pub async fn trim_access_log(&self, keys: &[KeyId], keep: u32) -> Result<u64, DbError> {
        let mut deleted = 0;
        for key in keys {
            // The id of the newest row beyond `keep`, found through the
            // (key_id, id) index; NULL (nothing deleted) when there is none.
            let sql = "DELETE FROM key_access_log WHERE key_id = $1 AND id <= \
                       (SELECT id FROM key_access_log WHERE key_id = $1 \
                        ORDER BY id DESC LIMIT 1 OFFSET $2)";
            let res = self
                .conn
                .execute_raw(self.stmt(sql, vec![key.as_str().into(), i64::from(keep).into()]))
                .await?;
            deleted += res.rows_affected();
        }
        Ok(deleted)
    }
}
