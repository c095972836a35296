//! Authorization groups.

use super::entities::{api_key, auth_group};
use super::error::OnUnique;
use super::{Db, DbError, Tx, lines};
use chrono::{DateTime, Utc};
use keyward_core::Field;
use keyward_core::group::{Group, NewGroup};
use keyward_core::lifecycle::ApiKey;
use keyward_core::permission::{GroupKind, PermissionSet};
use keyward_core::ratelimit::RatePolicy;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;

const NAME_TAKEN: (&str, Field) = ("An authorization group", Field::Name);

/// What a key shows of its group: the name, and what it takes from it
/// (the group's permissions, and its rate limit unless the key has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGroup {
    pub name: String,
    pub permissions: PermissionSet,
    pub rate_limit: Option<RatePolicy>,
}

impl From<&Group> for KeyGroup {
    fn from(g: &Group) -> Self {
        Self {
            name: g.name.clone(),
            permissions: g.permissions.clone(),
            rate_limit: g.rate_limit.clone(),
        }
    }
}

impl KeyGroup {
    /// What a key in this group (if any) holds: its own permissions and the group's.
    pub fn effective_permissions(group: Option<&Self>, key: &ApiKey) -> PermissionSet {
        key.permissions.union(group.map(|g| &g.permissions))
    }

    /// The rate limit a key in this group (if any) is held to: its own, else the group's.
    pub fn effective_rate_limit<'a>(
        group: Option<&'a Self>,
        key: &'a ApiKey,
    ) -> Option<&'a RatePolicy> {
        key.rate_limit
            .as_ref()
            .or_else(|| group.and_then(|g| g.rate_limit.as_ref()))
    }
}

pub(super) fn permissions(m: &auth_group::Model) -> PermissionSet {
    PermissionSet::from_stored(lines(&m.permissions))
}

fn record(m: auth_group::Model) -> Result<Group, DbError> {
    let kind = GroupKind::parse(&m.kind)
        .ok_or_else(|| DbError::corrupt(format!("kind of group {}", m.id)))?;
    Ok(Group {
        permissions: permissions(&m),
        rate_limit: super::rate_limit(m.rate_limit.as_deref(), format_args!("group {}", m.id))?,
        id: m.id,
        tenant_id: m.tenant_id,
        name: m.name,
        description: m.description,
        kind,
        created_at: m.created_at,
        updated_at: m.updated_at,
        deleted_at: m.deleted_at,
    })
}

/// A group of the tenant that is not retired.
async fn live(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    group_id: i64,
) -> Result<Option<Group>, DbError> {
    auth_group::Entity::find_by_id(group_id)
        .filter(auth_group::Column::TenantId.eq(tenant_id))
        .filter(auth_group::Column::DeletedAt.is_null())
        .one(conn)
        .await?
        .map(record)
        .transpose()
}

/// Non-revoked keys per group of the tenant (all groups, or one).
async fn key_counts(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    group_id: Option<i64>,
) -> Result<HashMap<i64, u64>, DbError> {
    let mut sel = api_key::Entity::find()
        .select_only()
        .column(api_key::Column::GroupId)
        .column_as(Expr::col(api_key::Column::Id).count(), "n")
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .filter(api_key::Column::GroupId.is_not_null())
        .filter(api_key::Column::RevokedAt.is_null());
    if let Some(g) = group_id {
        sel = sel.filter(api_key::Column::GroupId.eq(g));
    }
    let rows: Vec<(i64, i64)> = sel
        .group_by(api_key::Column::GroupId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(g, n)| (g, u64::try_from(n).unwrap_or(0)))
        .collect())
}

impl Db {
    /// A live group of the tenant.
    pub async fn find_group(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<Option<Group>, DbError> {
        live(&self.conn, tenant_id, group_id).await
    }

    /// A group of the tenant, retired ones included (for a key's details).
    pub async fn find_group_any(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<Option<Group>, DbError> {
        auth_group::Entity::find_by_id(group_id)
            .filter(auth_group::Column::TenantId.eq(tenant_id))
            .one(&self.conn)
            .await?
            .map(record)
            .transpose()
    }

    /// The tenant's live groups by name, each with its live keys.
    pub async fn list_groups(
        &self,
        tenant_id: i64,
        kind: Option<GroupKind>,
    ) -> Result<Vec<(Group, u64)>, DbError> {
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
        let counts = key_counts(&self.conn, tenant_id, None).await?;
        rows.into_iter()
            .map(|g| {
                let n = counts.get(&g.id).copied().unwrap_or(0);
                Ok((record(g)?, n))
            })
            .collect()
    }

    /// Non-revoked keys of one group of the tenant.
    pub async fn group_key_count(&self, tenant_id: i64, group_id: i64) -> Result<u64, DbError> {
        Ok(key_counts(&self.conn, tenant_id, Some(group_id))
            .await?
            .get(&group_id)
            .copied()
            .unwrap_or(0))
    }

    /// What the given groups give their keys, retired ones included (for key views).
    pub async fn key_groups(
        &self,
        tenant_id: i64,
        ids: &[i64],
    ) -> Result<HashMap<i64, KeyGroup>, DbError> {
        auth_group::Entity::find()
            .filter(auth_group::Column::TenantId.eq(tenant_id))
            .filter(auth_group::Column::Id.is_in(ids.to_vec()))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|g| Ok((g.id, KeyGroup::from(&record(g)?))))
            .collect()
    }
}

impl Tx {
    /// A live group of the tenant.
    pub async fn live_group(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<Option<Group>, DbError> {
        live(&self.txn, tenant_id, group_id).await
    }

    /// What a group of the tenant gives its keys, retired ones included.
    pub async fn key_group(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<Option<KeyGroup>, DbError> {
        auth_group::Entity::find_by_id(group_id)
            .filter(auth_group::Column::TenantId.eq(tenant_id))
            .one(&self.txn)
            .await?
            .map(|g| Ok(KeyGroup::from(&record(g)?)))
            .transpose()
    }

    pub async fn insert_group(
        &self,
        tenant_id: i64,
        g: &NewGroup,
        now: DateTime<Utc>,
    ) -> Result<Group, DbError> {
        let m = auth_group::ActiveModel {
            tenant_id: Set(tenant_id),
            name: Set(g.name.as_str().to_owned()),
            description: Set(g.description.as_ref().map(|d| d.as_str().to_owned())),
            kind: Set(g.kind.as_str().to_owned()),
            permissions: Set(g.permissions.to_strings().join("\n")),
            rate_limit: Set(super::stored_rate_limit(g.rate_limit.as_ref())),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        }
        .insert(&self.txn)
        .await
        .on_unique(NAME_TAKEN.0, NAME_TAKEN.1)?;
        record(m)
    }

    /// Writes the group's name, description, permissions and times.
    pub async fn update_group(&self, g: &Group) -> Result<(), DbError> {
        auth_group::ActiveModel {
            id: ActiveValue::Unchanged(g.id),
            name: Set(g.name.clone()),
            description: Set(g.description.clone()),
            permissions: Set(g.permissions.to_strings().join("\n")),
            rate_limit: Set(super::stored_rate_limit(g.rate_limit.as_ref())),
            updated_at: Set(g.updated_at),
            deleted_at: Set(g.deleted_at),
            ..Default::default()
        }
        .update(&self.txn)
        .await
        .on_unique(NAME_TAKEN.0, NAME_TAKEN.1)?;
        Ok(())
    }

    pub async fn delete_group(&self, g: &Group) -> Result<(), DbError> {
        auth_group::Entity::delete_many()
            .filter(auth_group::Column::Id.eq(g.id))
            .filter(auth_group::Column::TenantId.eq(g.tenant_id))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    /// Keys of the tenant that use the group: (non-revoked, all).
    pub async fn group_key_refs(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<(u64, u64), DbError> {
        let refs = api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::GroupId.eq(group_id));
        let live = refs
            .clone()
            .filter(api_key::Column::RevokedAt.is_null())
            .count(&self.txn)
            .await?;
        let all = if live > 0 {
            live
        } else {
            refs.count(&self.txn).await?
        };
        Ok((live, all))
    }

    /// The permissions the non-revoked keys of a group hold of their own
    /// (besides the group's), all together.
    pub async fn own_permissions_in_group(
        &self,
        tenant_id: i64,
        group_id: i64,
    ) -> Result<PermissionSet, DbError> {
        let rows: Vec<String> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::Permissions)
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::GroupId.eq(group_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(api_key::Column::Permissions.ne(""))
            .into_tuple()
            .all(&self.txn)
            .await?;
        Ok(PermissionSet::from_stored(
            rows.iter().flat_map(|r| lines(r)),
        ))
    }

    /// Non-revoked keys of one group of the tenant.
    pub async fn group_key_count(&self, tenant_id: i64, group_id: i64) -> Result<u64, DbError> {
        Ok(key_counts(&self.txn, tenant_id, Some(group_id))
            .await?
            .get(&group_id)
            .copied()
            .unwrap_or(0))
    }
}
