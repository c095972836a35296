//! Authorization groups.

use super::entities::{api_key, auth_group};
use super::{AuditEntry, Db, lines};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use keyward_core::ErrorCode;
use keyward_core::api::GroupView;
use keyward_core::fields::{Description, GroupName};
use keyward_core::permission::{GroupKind, PermissionSet};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

/// The validated changes of a group edit.
#[derive(Clone, Debug, Default)]
pub struct GroupPatch {
    pub name: Option<GroupName>,
    pub description: Option<Option<Description>>,
    pub permissions: Option<PermissionSet>,
}

pub fn group_kind(m: &auth_group::Model) -> GroupKind {
    GroupKind::parse(&m.kind).unwrap_or(GroupKind::User)
}

pub fn group_permissions(m: &auth_group::Model) -> PermissionSet {
    PermissionSet::from_stored(lines(&m.permissions))
}

fn view(m: auth_group::Model, key_count: u64) -> GroupView {
    GroupView {
        id: m.id,
        kind: group_kind(&m),
        permissions: group_permissions(&m).to_strings(),
        name: m.name,
        description: m.description,
        key_count,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn name_taken() -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::Conflict,
        message: "An authorization group with this name already exists.".into(),
        field: Some(keyward_core::Field::Name),
    }
}

impl Db {
    pub(super) async fn insert_group(
        conn: &impl ConnectionTrait,
        tenant_id: i64,
        name: &str,
        description: Option<&str>,
        kind: GroupKind,
        permissions: &[String],
        now: DateTime<Utc>,
    ) -> Result<auth_group::Model, ApiError> {
        auth_group::ActiveModel {
            tenant_id: Set(tenant_id),
            name: Set(name.to_owned()),
            description: Set(description.map(str::to_owned)),
            kind: Set(kind.as_str().to_owned()),
            permissions: Set(permissions.join("\n")),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e) {
                name_taken()
            } else {
                e.into()
            }
        })
    }

    pub async fn find_group(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<Option<auth_group::Model>, ApiError> {
        Self::live_group(&self.conn, tenant_id, group_id).await
    }

    /// A group of the tenant that is not retired.
    pub(super) async fn live_group(
        conn: &impl ConnectionTrait,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<Option<auth_group::Model>, ApiError> {
        Ok(auth_group::Entity::find_by_id(group_id)
            .filter(auth_group::Column::TenantId.eq(tenant_id))
            .filter(auth_group::Column::DeletedAt.is_null())
            .one(conn)
            .await?)
    }

    /// Non-revoked keys per group of the tenant.
    async fn key_counts(&self, tenant_id: i64) -> Result<HashMap<i64, u64>, ApiError> {
        let rows: Vec<(i64, i64)> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::GroupId)
            .column_as(Expr::col(api_key::Column::Id).count(), "n")
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .group_by(api_key::Column::GroupId)
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(g, n)| (g, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    pub async fn list_groups(
        &self,
        tenant_id: i64,
        kind: Option<GroupKind>,
    ) -> Result<Vec<GroupView>, ApiError> {
        let mut sel = auth_group::Entity::find()
            .filter(auth_group::Column::TenantId.eq(tenant_id))
            .filter(auth_group::Column::DeletedAt.is_null());
        if let Some(k) = kind {
            sel = sel.filter(auth_group::Column::Kind.eq(k.as_str()));
        }
        let rows = sel
            .order_by_asc(auth_group::Column::Name)
            .all(&self.conn)
            .await?;
        let counts = self.key_counts(tenant_id).await?;
        Ok(rows
            .into_iter()
            .map(|g| {
                let n = counts.get(&g.id).copied().unwrap_or(0);
                view(g, n)
            })
            .collect())
    }

    pub async fn group_view(&self, tenant_id: i64, group_id: i64) -> Result<GroupView, ApiError> {
        let g = self
            .find_group(tenant_id, group_id)
            .await?
            .ok_or(ApiError::NotFound("Authorization group"))?;
        let n = self
            .key_counts(tenant_id)
            .await?
            .get(&g.id)
            .copied()
            .unwrap_or(0);
        Ok(view(g, n))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn create_group(
        &self,
        tenant_id: i64,
        name: &GroupName,
        description: Option<&Description>,
        kind: GroupKind,
        permissions: &PermissionSet,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<GroupView, ApiError> {
        let txn = self.begin_tenant_write(tenant_id).await?;
        let g = Self::insert_group(
            &txn,
            tenant_id,
            name.as_str(),
            description.map(Description::as_str),
            kind,
            &permissions.to_strings(),
            now,
        )
        .await?;
        let mut a = audit.clone();
        a.target_id = Some(g.id.to_string());
        a.insert(&txn, now).await?;
        txn.commit().await?;
        Ok(view(g, 0))
    }

    /// Applies an edit; returns the view and the changed fields. Permission
    /// changes reach every key of the group at once (the verification caches
    /// are told through `notify`).
    pub async fn update_group(
        &self,
        tenant_id: i64,
        group_id: i64,
        patch: GroupPatch,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(GroupView, Vec<String>), ApiError> {
        let txn = self.begin_tenant_write(tenant_id).await?;
        let g = Self::live_group(&txn, tenant_id, group_id)
            .await?
            .ok_or(ApiError::NotFound("Authorization group"))?;
        let mut changed = Vec::new();
        let mut am: auth_group::ActiveModel = g.clone().into();
        if let Some(n) = patch.name
            && n.as_str() != g.name
        {
            am.name = Set(n.as_str().to_owned());
            changed.push("name".to_owned());
        }
        if let Some(d) = patch.description {
            let d = d.map(|d| d.as_str().to_owned());
            if d != g.description {
                am.description = Set(d);
                changed.push("description".to_owned());
            }
        }
        if let Some(p) = patch.permissions
            && p != group_permissions(&g)
        {
            am.permissions = Set(p.to_strings().join("\n"));
            changed.push("permissions".to_owned());
        }
        let g = if changed.is_empty() {
            g
        } else {
            am.updated_at = Set(now);
            let g = am.update(&txn).await.map_err(|e| {
                if crate::error::is_unique_violation(&e) {
                    name_taken()
                } else {
                    e.into()
                }
            })?;
            let mut a = audit.clone();
            a.changed_fields = changed.clone();
            a.insert(&txn, now).await?;
            if changed.iter().any(|c| c == "permissions") {
                self.notify(&txn, &super::ChangeNotice::group_payload(group_id))
                    .await?;
            }
            g
        };
        txn.commit().await?;
        let n = self
            .key_counts(tenant_id)
            .await?
            .get(&g.id)
            .copied()
            .unwrap_or(0);
        Ok((view(g, n), changed))
    }

    /// Deletes a group that no live key uses. When revoked keys still refer
    /// to it (they keep their group for the audit trail), the group is
    /// retired instead: hidden everywhere, its name freed.
    pub async fn delete_group(
        &self,
        tenant_id: i64,
        group_id: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let txn = self.begin_tenant_write(tenant_id).await?;
        let g = Self::live_group(&txn, tenant_id, group_id)
            .await?
            .ok_or(ApiError::NotFound("Authorization group"))?;
        let refs = api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::GroupId.eq(g.id));
        let live = refs
            .clone()
            .filter(api_key::Column::RevokedAt.is_null())
            .count(&txn)
            .await?;
        if live > 0 {
            return Err(ApiError::Conflict {
                code: ErrorCode::GroupInUse,
                message: format!(
                    "The authorization group \"{}\" is used by {live} API key{}; move {} to another group or revoke {} first.",
                    g.name,
                    if live == 1 { "" } else { "s" },
                    if live == 1 { "it" } else { "them" },
                    if live == 1 { "it" } else { "them" },
                ),
                field: None,
            });
        }
        if refs.count(&txn).await? > 0 {
            let mut am: auth_group::ActiveModel = g.clone().into();
            am.name = Set(format!("{} (deleted #{})", g.name, g.id));
            am.deleted_at = Set(Some(now));
            am.updated_at = Set(now);
            am.update(&txn).await?;
        } else {
            auth_group::Entity::delete_by_id(g.id).exec(&txn).await?;
        }
        audit.insert(&txn, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// A group of the tenant, retired ones included (for a key's details).
    pub async fn find_group_any(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<Option<auth_group::Model>, ApiError> {
        Ok(auth_group::Entity::find_by_id(group_id)
            .filter(auth_group::Column::TenantId.eq(tenant_id))
            .one(&self.conn)
            .await?)
    }

    /// Names of the given groups, retired ones included (for key views).
    pub async fn group_names(
        &self,
        tenant_id: i64,
        ids: &[i64],
    ) -> Result<HashMap<i64, String>, ApiError> {
        let rows = auth_group::Entity::find()
            .filter(auth_group::Column::TenantId.eq(tenant_id))
            .filter(auth_group::Column::Id.is_in(ids.to_vec()))
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(|g| (g.id, g.name)).collect())
    }
}
