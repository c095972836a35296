//! Tenants and their key limits.

use super::entities::{api_key, tenant};
use super::{AuditEntry, Db};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use keyward_core::api::TenantView;
use keyward_core::lifecycle::KeyQuota;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

impl Db {
    pub async fn find_tenant(&self, tenant_id: i64) -> Result<Option<tenant::Model>, ApiError> {
        Ok(tenant::Entity::find_by_id(tenant_id)
            .one(&self.conn)
            .await?)
    }

    /// Keys that count toward the tenant's limit (not revoked).
    pub(super) async fn count_live_keys(
        conn: &impl ConnectionTrait,
        tenant_id: i64,
    ) -> Result<u64, ApiError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .count(conn)
            .await?)
    }

    pub async fn tenant_view(&self, t: tenant::Model) -> Result<TenantView, ApiError> {
        let used = Self::count_live_keys(&self.conn, t.id).await?;
        Ok(TenantView {
            id: t.id,
            name: t.name,
            key_limit: u32::try_from(t.key_limit).unwrap_or(u32::MAX),
            keys_used: used,
            created_at: t.created_at,
        })
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantView>, ApiError> {
        let rows = tenant::Entity::find()
            .order_by_asc(tenant::Column::Name)
            .all(&self.conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for t in rows {
            out.push(self.tenant_view(t).await?);
        }
        Ok(out)
    }

    pub async fn count_tenants(&self) -> Result<u64, ApiError> {
        Ok(tenant::Entity::find().count(&self.conn).await?)
    }

    /// Creates a tenant and its first authorization group, "Default" (kind
    /// tenant API key, with the given permissions), in one transaction.
    pub async fn create_tenant(
        &self,
        name: &str,
        quota: KeyQuota,
        default_group_permissions: &[String],
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<tenant::Model, ApiError> {
        let txn = self.conn.begin().await?;
        let t = tenant::ActiveModel {
            name: Set(name.to_owned()),
            key_limit: Set(i64::from(quota.limit())),
            lock_version: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        Self::insert_group(
            &txn,
            t.id,
            "Default",
            Some("Created with the tenant."),
            keyward_core::permission::GroupKind::TenantApiKey,
            default_group_permissions,
            now,
        )
        .await?;
        let mut audit = audit.clone();
        audit.tenant_id = Some(t.id);
        audit.target_id = Some(t.id.to_string());
        audit.insert(&txn, now).await?;
        txn.commit().await?;
        Ok(t)
    }

    pub async fn update_tenant(
        &self,
        tenant_id: i64,
        name: Option<&str>,
        quota: Option<KeyQuota>,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<tenant::Model, ApiError> {
        let txn = self.begin_tenant_write(tenant_id).await?;
        let t = tenant::Entity::find_by_id(tenant_id)
            .one(&txn)
            .await?
            .ok_or(ApiError::NotFound("Tenant"))?;
        let mut changed = Vec::new();
        let mut am: tenant::ActiveModel = t.clone().into();
        if let Some(n) = name
            && n != t.name
        {
            am.name = Set(n.to_owned());
            changed.push("name".to_owned());
        }
        if let Some(q) = quota
            && i64::from(q.limit()) != t.key_limit
        {
            am.key_limit = Set(i64::from(q.limit()));
            changed.push("key_limit".to_owned());
        }
        if changed.is_empty() {
            txn.commit().await?;
            return Ok(t);
        }
        am.updated_at = Set(now);
        let t = am.update(&txn).await?;
        let mut audit = audit.clone();
        audit.changed_fields = changed;
        audit.insert(&txn, now).await?;
        txn.commit().await?;
        Ok(t)
    }
}
