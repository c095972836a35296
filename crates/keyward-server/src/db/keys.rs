//! API keys: the transactional lifecycle steps, the list query and the
//! verification lookup.

use super::entities::{api_key, auth_group, key_usage};
use super::error::OnUnique;
use super::groups::permissions as group_permissions;
use super::{Db, DbError, Tx, lines};
use chrono::{DateTime, Utc};
use keyward_core::Field;
use keyward_core::api::{SortField, SortOrder};
use keyward_core::digest::{DigestAlgorithm, KeyDigest};
use keyward_core::fields::{Description, IpAllowlist, KeyName};
use keyward_core::key::KeyId;
use keyward_core::lifecycle::{ApiKey, Credential, PreviousCredential};
use keyward_core::status::{DashboardCounts, ExpirationState, StatusFilter};
use keyward_core::verify::KeyRecord;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, NullOrdering, Order};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// A key with the columns the domain does not own (usage, written in batches).
#[derive(Clone, Debug)]
pub struct KeyRow {
    pub key: ApiKey,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

/// Search, filters and order of the key list.
#[derive(Clone, Debug, Default)]
pub struct KeyFilter {
    pub q: Option<String>,
    pub status: StatusFilter,
    pub expiration: Option<ExpirationState>,
    pub sort: SortField,
    pub order: SortOrder,
    /// The deployment prefix, stripped from searched keys.
    pub prefix: String,
}

fn corrupt(what: &str, key_id: &str) -> DbError {
    DbError::corrupt(format!("stored {what} of key {key_id} is not valid"))
}

fn credential(digest: &[u8], version: i16, key_id: &str) -> Result<Credential, DbError> {
    Ok(Credential {
        digest: KeyDigest::from_slice(digest).ok_or_else(|| corrupt("digest", key_id))?,
        algorithm: DigestAlgorithm::from_version(version)
            .ok_or_else(|| corrupt("digest version", key_id))?,
    })
}

fn to_row(m: api_key::Model) -> Result<KeyRow, DbError> {
    let id = &m.key_id;
    let previous = match (
        &m.previous_digest,
        m.previous_digest_version,
        m.previous_valid_until,
    ) {
        (Some(d), Some(v), Some(until)) => Some(PreviousCredential {
            credential: credential(d, v, id)?,
            valid_until: until,
        }),
        _ => None,
    };
    let key = ApiKey {
        key_id: KeyId::parse(id).ok_or_else(|| corrupt("id", id))?,
        tenant_id: m.tenant_id,
        name: KeyName::parse(&m.name).map_err(|_| corrupt("name", id))?,
        description: match &m.description {
            Some(d) => Description::parse(d).map_err(|_| corrupt("description", id))?,
            None => None,
        },
        group_id: m.group_id,
        ip_allowlist: IpAllowlist::parse_list(&lines(&m.ip_allowlist))
            .map_err(|_| corrupt("IP allowlist", id))?,
        expires_at: m.expires_at,
        prefix: m.prefix.clone(),
        last4: m.last4.clone(),
        credential: credential(&m.digest, m.digest_version, id)?,
        previous,
        created_by: m.created_by.clone(),
        created_at: m.created_at,
        updated_at: m.updated_at,
        rotated_at: m.rotated_at,
        revoked_at: m.revoked_at,
    };
    Ok(KeyRow {
        key,
        last_used_at: m.last_used_at,
        last_used_from: m.last_used_from,
    })
}

/// Copies every domain-owned field onto the row.
fn fill(am: &mut api_key::ActiveModel, k: &ApiKey) {
    am.key_id = Set(k.key_id.as_str().to_owned());
    am.tenant_id = Set(k.tenant_id);
    am.name = Set(k.name.as_str().to_owned());
    am.description = Set(k.description.as_ref().map(|d| d.as_str().to_owned()));
    am.group_id = Set(k.group_id);
    am.ip_allowlist = Set(k.ip_allowlist.to_string());
    am.expires_at = Set(k.expires_at);
    am.prefix = Set(k.prefix.clone());
    am.last4 = Set(k.last4.clone());
    am.digest = Set(k.credential.digest.as_bytes().to_vec());
    am.digest_version = Set(k.credential.algorithm.version());
    am.previous_digest = Set(k
        .previous
        .as_ref()
        .map(|p| p.credential.digest.as_bytes().to_vec()));
    am.previous_digest_version = Set(k
        .previous
        .as_ref()
        .map(|p| p.credential.algorithm.version()));
    am.previous_valid_until = Set(k.previous.as_ref().map(|p| p.valid_until));
    am.created_by = Set(k.created_by.clone());
    am.created_at = Set(k.created_at);
    am.updated_at = Set(k.updated_at);
    am.rotated_at = Set(k.rotated_at);
    am.revoked_at = Set(k.revoked_at);
}

/// Builds the search condition: name or description contain the text
/// (case-insensitive), or the key id / last four characters match a pasted
/// key, masked key or key id fragment.
fn search_condition(q: &str, prefix: &str) -> Option<Condition> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let escaped: String = q
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let pattern = format!("%{escaped}%");
    let mut cond = Condition::any()
        .add(
            Expr::expr(Func::lower(Expr::col(api_key::Column::Name)))
                .like(LikeExpr::new(pattern.clone()).escape('\\')),
        )
        .add(
            Expr::expr(Func::lower(Expr::col(api_key::Column::Description)))
                .like(LikeExpr::new(pattern).escape('\\')),
        );
    let body = q.strip_prefix(prefix).unwrap_or(q);
    if let Some((_, tail)) = body.split_once('…').or_else(|| body.split_once("...")) {
        if !tail.is_empty() {
            cond = cond.add(api_key::Column::Last4.eq(tail));
        }
    } else {
        let id_part = body.split('_').next().unwrap_or_default();
        if id_part.len() >= 3 && id_part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let frag = if id_part.len() > 12 {
                &id_part[..12]
            } else {
                id_part
            };
            cond = cond.add(api_key::Column::KeyId.like(format!("%{frag}%")));
        }
        if body.len() == 4 && body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            cond = cond.add(api_key::Column::Last4.eq(body));
        }
    }
    Some(cond)
}

impl Tx {
    /// Stores a new key. A unique violation (a key id collision, ≈2^-71
    /// per pair) is a [`DbError::Conflict`]; the caller draws a new key.
    pub async fn insert_key(&self, key: &ApiKey) -> Result<KeyRow, DbError> {
        let mut am = api_key::ActiveModel {
            id: ActiveValue::NotSet,
            ..Default::default()
        };
        fill(&mut am, key);
        am.last_used_at = Set(None);
        am.last_used_from = Set(None);
        let m = am
            .insert(&self.txn)
            .await
            .on_unique("An API key", Field::Key)?;
        to_row(m)
    }

    /// A key of the tenant, read inside the transaction.
    pub async fn key(&self, tenant_id: i64, key_id: &KeyId) -> Result<KeyRow, DbError> {
        api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::KeyId.eq(key_id.as_str()))
            .one(&self.txn)
            .await?
            .map(to_row)
            .transpose()?
            .ok_or(DbError::NotFound("API key"))
    }

    /// Writes every domain-owned column of the key (usage columns are left alone).
    pub async fn update_key(&self, key: &ApiKey) -> Result<(), DbError> {
        let mut am = <api_key::ActiveModel as Default>::default();
        fill(&mut am, key);
        api_key::Entity::update_many()
            .set(am)
            .filter(api_key::Column::TenantId.eq(key.tenant_id))
            .filter(api_key::Column::KeyId.eq(key.key_id.as_str()))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    /// Deletes the key and its usage rows. Its audit records stay.
    pub async fn delete_key(&self, tenant_id: i64, key_id: &KeyId) -> Result<(), DbError> {
        key_usage::Entity::delete_many()
            .filter(key_usage::Column::TenantId.eq(tenant_id))
            .filter(key_usage::Column::KeyId.eq(key_id.as_str()))
            .exec(&self.txn)
            .await?;
        api_key::Entity::delete_many()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::KeyId.eq(key_id.as_str()))
            .exec(&self.txn)
            .await?;
        Ok(())
    }
}

impl Db {
    pub async fn find_key(
        &self,
        tenant_id: i64,
        key_id: &KeyId,
    ) -> Result<Option<KeyRow>, DbError> {
        api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::KeyId.eq(key_id.as_str()))
            .one(&self.conn)
            .await?
            .map(to_row)
            .transpose()
    }

    /// A page of the tenant's keys and the number matching the filters.
    pub async fn list_keys(
        &self,
        tenant_id: i64,
        f: &KeyFilter,
        offset: u64,
        limit: u64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<KeyRow>, u64), DbError> {
        use api_key::Column as C;
        let mut sel = api_key::Entity::find().filter(C::TenantId.eq(tenant_id));
        match f.status {
            StatusFilter::All => {}
            StatusFilter::Active => sel = sel.filter(C::RevokedAt.is_null()),
            StatusFilter::Revoked => sel = sel.filter(C::RevokedAt.is_not_null()),
        }
        if let Some(state) = f.expiration {
            let r = state.range(now);
            let mut bounded = Condition::all().add(C::ExpiresAt.is_not_null());
            if let Some(a) = r.after {
                bounded = bounded.add(C::ExpiresAt.gt(a));
            }
            if let Some(b) = r.at_or_before {
                bounded = bounded.add(C::ExpiresAt.lte(b));
            }
            let mut cond = Condition::any().add(bounded);
            if r.none_matches {
                cond = cond.add(C::ExpiresAt.is_null());
            }
            sel = sel.filter(cond);
        }
        if let Some(cond) = f.q.as_deref().and_then(|q| search_condition(q, &f.prefix)) {
            sel = sel.filter(cond);
        }
        let total = sel.clone().count(&self.conn).await?;
        let col = match f.sort {
            SortField::Name => C::Name,
            SortField::CreatedAt => C::CreatedAt,
            SortField::ExpiresAt => C::ExpiresAt,
            SortField::CreatedBy => C::CreatedBy,
            SortField::LastUsedAt => C::LastUsedAt,
        };
        let ord = match f.order {
            SortOrder::Asc => Order::Asc,
            SortOrder::Desc => Order::Desc,
        };
        let rows = sel
            .order_by_with_nulls(col, ord.clone(), NullOrdering::Last)
            .order_by(C::Id, ord)
            .offset(offset)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let rows = rows
            .into_iter()
            .map(to_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total))
    }

    /// The dashboard counts of the tenant, with the status rule's own bounds.
    pub async fn dashboard_counts(
        &self,
        tenant_id: i64,
        now: DateTime<Utc>,
    ) -> Result<DashboardCounts, DbError> {
        let soon = ExpirationState::ExpiringSoon.range(now);
        let (Some(after), Some(until)) = (soon.after, soon.at_or_before) else {
            return Err(DbError::corrupt("expiring-soon range must be bounded"));
        };
        let sql = "SELECT COUNT(*) AS total, \
            COALESCE(SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS revoked, \
            COALESCE(SUM(CASE WHEN revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $2 THEN 1 ELSE 0 END), 0) AS expired, \
            COALESCE(SUM(CASE WHEN revoked_at IS NULL AND expires_at > $3 AND expires_at <= $4 THEN 1 ELSE 0 END), 0) AS soon \
            FROM api_keys WHERE tenant_id = $1";
        let stmt = self.stmt(
            sql,
            vec![tenant_id.into(), now.into(), after.into(), until.into()],
        );
        let row = self
            .conn
            .query_one_raw(stmt)
            .await?
            .ok_or_else(|| DbError::corrupt("no count row"))?;
        let get = |c: &str| -> Result<u64, DbError> {
            let v: i64 = row.try_get("", c)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        let (total, revoked, expired, expiring_soon) = (
            get("total")?,
            get("revoked")?,
            get("expired")?,
            get("soon")?,
        );
        Ok(DashboardCounts {
            total,
            active: total.saturating_sub(revoked + expired + expiring_soon),
            expiring_soon,
            expired,
            revoked,
        })
    }

    /// The verification lookup: a key and its group's permissions, by the
    /// globally unique key id (this is what tells the tenant).
    pub async fn load_key_record(&self, key_id: &KeyId) -> Result<Option<KeyRecord>, DbError> {
        Ok(self.load_key_records(&[*key_id]).await?.remove(key_id))
    }

    /// The verification records of several keys in two queries (the
    /// background reloads read up to a few hundred at once); ids without a
    /// key are simply absent.
    pub async fn load_key_records(
        &self,
        key_ids: &[KeyId],
    ) -> Result<std::collections::HashMap<KeyId, KeyRecord>, DbError> {
        let keys = api_key::Entity::find()
            .filter(api_key::Column::KeyId.is_in(key_ids.iter().map(KeyId::as_str)))
            .all(&self.conn)
            .await?;
        let mut group_ids: Vec<i64> = keys.iter().map(|m| m.group_id).collect();
        group_ids.sort_unstable();
        group_ids.dedup();
        let groups: std::collections::HashMap<i64, auth_group::Model> = auth_group::Entity::find()
            .filter(auth_group::Column::Id.is_in(group_ids))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|g| (g.id, g))
            .collect();
        let mut out = std::collections::HashMap::with_capacity(keys.len());
        for m in keys {
            // A group of another tenant grants nothing.
            let permissions = groups
                .get(&m.group_id)
                .filter(|g| g.tenant_id == m.tenant_id)
                .map(group_permissions)
                .unwrap_or_default();
            let row = to_row(m)?;
            out.insert(row.key.key_id, KeyRecord::new(&row.key, permissions));
        }
        Ok(out)
    }

    /// Every key id (for the verification service's set of known ids).
    pub async fn all_key_ids(&self) -> Result<Vec<KeyId>, DbError> {
        let ids: Vec<String> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::KeyId)
            .into_tuple()
            .all(&self.conn)
            .await?;
        ids.iter()
            .map(|id| KeyId::parse(id).ok_or_else(|| corrupt("id", id)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_understands_pasted_and_masked_keys() {
        assert!(search_condition("  ", "sk_live_").is_none());
        let s = |q: &str| format!("{:?}", search_condition(q, "sk_live_"));
        assert!(s("sk_live_…AbCd").contains("AbCd"));
        assert!(s("sk_live_abcdefghijkl_rest").contains("abcdefghijkl"));
        assert!(!s("ab").contains("KeyId"));
    }
}
