//! Tenants and their key limits.

use super::entities::tenant;
use super::error::OnUnique;
use super::{Db, DbError, Tx};
use chrono::{DateTime, Utc};
use keyward_core::Field;
use keyward_core::lifecycle::KeyQuota;
use keyward_core::tenant::{Tenant, TenantName};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

fn record(m: tenant::Model) -> Result<Tenant, DbError> {
    Ok(Tenant {
        quota: KeyQuota::new(m.key_limit)
            .map_err(|_| DbError::corrupt(format!("key limit of tenant {}", m.id)))?,
        id: m.id,
        name: m.name,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

async fn find(conn: &impl ConnectionTrait, tenant_id: i64) -> Result<Option<Tenant>, DbError> {
    tenant::Entity::find_by_id(tenant_id)
        .one(conn)
        .await?
        .map(record)
        .transpose()
}

/// Keys that count toward the tenant's limit (not revoked), from the
/// counts the database keeps (migration 6).
async fn count_live_keys(conn: &impl ConnectionTrait, tenant_id: i64) -> Result<u64, DbError> {
    let sql = "SELECT COALESCE((SELECT total - revoked FROM tenant_key_counts \
               WHERE tenant_id = $1), 0) AS live";
    let row = conn
        .query_one_raw(super::stmt(
            conn.get_database_backend(),
            sql,
            vec![tenant_id.into()],
        ))
        .await?
        .ok_or_else(|| DbError::corrupt("no count row"))?;
    let live: i64 = row.try_get("", "live")?;
    Ok(u64::try_from(live).unwrap_or(0))
}

impl Db {
    pub async fn find_tenant(&self, tenant_id: i64) -> Result<Option<Tenant>, DbError> {
        find(&self.conn, tenant_id).await
    }

    /// The tenant's non-revoked keys (what its limit counts).
    pub async fn keys_used(&self, tenant_id: i64) -> Result<u64, DbError> {
        count_live_keys(&self.conn, tenant_id).await
    }

    /// Every tenant by name, with its keys used.
    pub async fn list_tenants(&self) -> Result<Vec<(Tenant, u64)>, DbError> {
        let rows = tenant::Entity::find()
            .order_by_asc(tenant::Column::Name)
            .all(&self.conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for t in rows {
            let used = count_live_keys(&self.conn, t.id).await?;
            out.push((record(t)?, used));
        }
        Ok(out)
    }

    /// The tenant with this name, if any.
    pub async fn find_tenant_by_name(&self, name: &TenantName) -> Result<Option<Tenant>, DbError> {
        tenant::Entity::find()
            .filter(tenant::Column::Name.eq(name.as_str()))
            .one(&self.conn)
            .await?
            .map(record)
            .transpose()
    }

    pub async fn count_tenants(&self) -> Result<u64, DbError> {
        Ok(tenant::Entity::find().count(&self.conn).await?)
    }
}

impl Tx {
    pub async fn tenant(&self, tenant_id: i64) -> Result<Tenant, DbError> {
        find(&self.txn, tenant_id)
            .await?
            .ok_or(DbError::NotFound("Tenant"))
    }

    pub async fn count_live_keys(&self, tenant_id: i64) -> Result<u64, DbError> {
        count_live_keys(&self.txn, tenant_id).await
    }

    pub async fn insert_tenant(
        &self,
        name: &TenantName,
        quota: KeyQuota,
        now: DateTime<Utc>,
    ) -> Result<Tenant, DbError> {
        let m = tenant::ActiveModel {
            name: Set(name.as_str().to_owned()),
            key_limit: Set(i64::from(quota.limit())),
            lock_version: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .on_unique("A tenant", Field::Name)?;
        record(m)
    }

    /// Writes the tenant's name, key limit and update time.
    pub async fn update_tenant(&self, t: &Tenant) -> Result<(), DbError> {
        tenant::ActiveModel {
            id: ActiveValue::Unchanged(t.id),
            name: Set(t.name.clone()),
            key_limit: Set(i64::from(t.quota.limit())),
            updated_at: Set(t.updated_at),
            ..Default::default()
        }
        .update(&self.txn)
        .await?;
        Ok(())
    }
}
