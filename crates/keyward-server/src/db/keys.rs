//! API keys: the transactional lifecycle steps, the list query and the
//! verification lookup.

use super::entities::{api_key, auth_group, key_access_log, key_usage};
use super::error::OnUnique;
use super::groups::permissions as group_permissions;
use super::{Db, DbError, KeyListIndex, Tx, lines};
use chrono::{DateTime, Utc};
use keyward_core::Field;
use keyward_core::api::{SortField, SortOrder};
use keyward_core::digest::{DigestAlgorithm, KeyDigest};
use keyward_core::fields::{Description, IpAllowlist, KeyName};
use keyward_core::key::{KEY_ID_LEN, KeyId};
use keyward_core::lifecycle::{ApiKey, Credential, PreviousCredential};
use keyward_core::permission::PermissionSet;
use keyward_core::status::{ExpirationState, StatusFilter, StatusMatrix};
use keyward_core::verify::KeyRecord;
use sea_orm::sea_query::{Expr, ExprTrait, NullOrdering, Order};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
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

fn credential(
    digest: &[u8],
    version: i16,
    secret_version: i16,
    key_id: &str,
) -> Result<Credential, DbError> {
    Ok(Credential {
        digest: KeyDigest::from_slice(digest).ok_or_else(|| corrupt("digest", key_id))?,
        algorithm: DigestAlgorithm::from_version(version)
            .ok_or_else(|| corrupt("digest version", key_id))?,
        secret_version: u16::try_from(secret_version)
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| corrupt("hashing-secret version", key_id))?,
    })
}

pub(super) fn to_row(m: api_key::Model) -> Result<KeyRow, DbError> {
    let id = &m.key_id;
    let previous = match (
        &m.previous_digest,
        m.previous_digest_version,
        m.previous_valid_until,
    ) {
        (Some(d), Some(v), Some(until)) => Some(PreviousCredential {
            // Rows from before migration 10 have no previous secret version: 1.
            credential: credential(d, v, m.previous_secret_version.unwrap_or(1), id)?,
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
        permissions: PermissionSet::from_stored(lines(&m.permissions)),
        ip_allowlist: IpAllowlist::parse_list(&lines(&m.ip_allowlist))
            .map_err(|_| corrupt("IP allowlist", id))?,
        expires_at: m.expires_at,
        rate_limit: super::rate_limit(m.rate_limit.as_deref(), format_args!("key {id}"))?,
        prefix: m.prefix.clone(),
        last4: m.last4.clone(),
        credential: credential(&m.digest, m.digest_version, m.secret_version, id)?,
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
    am.permissions = Set(k.permissions.to_strings().join("\n"));
    am.ip_allowlist = Set(k.ip_allowlist.to_string());
    am.expires_at = Set(k.expires_at);
    am.rate_limit = Set(super::stored_rate_limit(k.rate_limit.as_ref()));
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
    am.secret_version = Set(i16::try_from(k.credential.secret_version).unwrap_or(i16::MAX));
    am.previous_secret_version = Set(k
        .previous
        .as_ref()
        .map(|p| i16::try_from(p.credential.secret_version).unwrap_or(i16::MAX)));
    am.created_by = Set(k.created_by.clone());
    am.created_at = Set(k.created_at);
    am.updated_at = Set(k.updated_at);
    am.rotated_at = Set(k.rotated_at);
    am.revoked_at = Set(k.revoked_at);
}

/// What SQLite's sorting a matching row costs, in walked index entries
/// (measured: walking 50,000 entries of a covering index took 13 ms, sorting
/// 20,000 matching rows 20 ms).
const SORTED_MATCH_COST: u128 = 4;

/// SQLite's search index numbers a key `tenant_id << 40 | revoked << 39 |
/// id` (migrations 7 and 11).
const SEARCH_ROWID_TENANT_SHIFT: u32 = 40;
const SEARCH_ROWID_REVOKED: i64 = 1 << 39;
const SEARCH_ROWID_ID_MASK: i64 = SEARCH_ROWID_REVOKED - 1;

/// What a search box's text can mean: text inside names and descriptions,
/// a key id (whole, or a fragment of at least 3 characters, from a pasted
/// key or key id) and a key's last four characters (a masked key, or four
/// characters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct SearchTerms {
    /// Trimmed; matched case-insensitively anywhere in name or description.
    pub(super) text: String,
    pub(super) id_exact: Option<String>,
    /// Matched case-insensitively anywhere in key ids.
    pub(super) id_fragment: Option<String>,
    pub(super) last4: Option<String>,
}

impl SearchTerms {
    pub(super) fn of(q: &str, prefix: &str) -> Option<Self> {
        let q = q.trim();
        if q.is_empty() {
            return None;
        }
        let mut t = Self {
            text: q.to_owned(),
            ..Self::default()
        };
        let body = q.strip_prefix(prefix).unwrap_or(q);
        if let Some((_, tail)) = body.split_once('…').or_else(|| body.split_once("...")) {
            if !tail.is_empty() {
                t.last4 = Some(tail.to_owned());
            }
        } else {
            let id_part = body.split('_').next().unwrap_or_default();
            if id_part.len() >= KEY_ID_LEN && id_part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                t.id_exact = Some(id_part[..KEY_ID_LEN].to_owned());
            } else if id_part.len() >= 3 && id_part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                t.id_fragment = Some(id_part.to_owned());
            }
            if body.len() == 4 && body.bytes().all(|b| b.is_ascii_alphanumeric()) {
                t.last4 = Some(body.to_owned());
            }
        }
        Some(t)
    }

    /// The text as a LIKE pattern (`%text%`, lower-case, `\` escapes).
    fn like_pattern(&self) -> String {
        let escaped: String = self
            .text
            .to_lowercase()
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("%{escaped}%")
    }

    /// An FTS5 query of the SQLite trigram index (a phrase is a substring
    /// there; `"` is doubled inside one): the text in names and
    /// descriptions, or a key id fragment in key ids; `None` when the text
    /// is too short for trigrams.
    fn fts_query(&self) -> Option<String> {
        if self.text.chars().count() < 3 {
            return None;
        }
        let phrase = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut q = format!("({{name description}} : {})", phrase(&self.text));
        if let Some(f) = &self.id_fragment {
            q.push_str(&format!(" OR (key_id : {})", phrase(f)));
        }
        Some(q)
    }

    /// SQLite: the ids of keys the trigram index matches, as a subquery
    /// and its values, and whether they are the tenant's alone and of the
    /// `status` alone; `None` when the text is too short for trigrams. The
    /// index's rowids are `tenant_id << 40 | revoked << 39 | id`
    /// (migrations 7 and 11), so a tenant's active keys and its revoked
    /// keys are two rowid ranges that FTS5 reads without touching
    /// `api_keys`: counting a search's matches needs no key rows, whatever
    /// the status filter. (Tenant ids from 2^23 on do not fit; their
    /// subquery is not scoped and the caller's tenant and status conditions
    /// do the scoping.)
    fn fts_ids(
        &self,
        tenant_id: i64,
        status: StatusFilter,
    ) -> Option<(String, Vec<sea_orm::Value>, bool)> {
        let fts = self.fts_query()?;
        let mut sql = format!(
            "SELECT rowid & {SEARCH_ROWID_ID_MASK} FROM api_keys_search WHERE api_keys_search MATCH ?"
        );
        let mut values = vec![fts.into()];
        let scoped = rowid_scoped(tenant_id);
        if scoped {
            let tenant = tenant_id << SEARCH_ROWID_TENANT_SHIFT;
            let all = SEARCH_ROWID_REVOKED | SEARCH_ROWID_ID_MASK;
            let (low, high) = match status {
                StatusFilter::All => (tenant, tenant | all),
                StatusFilter::Active => (tenant, tenant | SEARCH_ROWID_ID_MASK),
                StatusFilter::Revoked => (tenant | SEARCH_ROWID_REVOKED, tenant | all),
            };
            sql.push_str(" AND rowid BETWEEN ? AND ?");
            values.extend([low.into(), high.into()]);
        }
        Some((sql, values, scoped))
    }

    /// SQLite: whether the trigram index alone decides which of the
    /// tenant's keys match the search and a status filter (the search is
    /// text of 3 or more characters, with no key id or last four besides).
    fn index_decides(&self, tenant_id: i64) -> bool {
        self.text_only() && self.fts_query().is_some() && rowid_scoped(tenant_id)
    }

    /// Whether the text is all the search means (no key id or last four
    /// characters besides).
    fn text_only(&self) -> bool {
        self.id_exact.is_none() && self.last4.is_none()
    }

    /// Lower and upper bound of lower-case names starting with the text
    /// (the upper bound is the text with its last character's successor).
    fn name_prefix_range(&self) -> (String, Option<String>) {
        let low = self.text.to_lowercase();
        let mut chars: Vec<char> = low.chars().collect();
        let high = chars.pop().and_then(|last| {
            let next = char::from_u32(u32::from(last) + 1)?;
            chars.push(next);
            Some(chars.into_iter().collect())
        });
        (low, high)
    }

    /// The condition: any of the meanings. Text of 3 or more characters is
    /// looked for anywhere in names and descriptions through the trigram
    /// index of the backend; shorter text finds names that start with it
    /// (an index range on the lower-case name): trigrams need 3 characters,
    /// and one or two characters inside names would match most keys.
    fn condition(
        &self,
        tenant_id: i64,
        status: StatusFilter,
        postgres: bool,
        plain: bool,
    ) -> Condition {
        let mut cond = Condition::any();
        // `+` keeps SQLite from serving the term from an index (see `Db::list_keys`).
        let plus = if plain { "+" } else { "" };
        let short = self.text.chars().count() < 3;
        if short {
            // The expressions of the lower-case name indexes (migration 6).
            let (low_sql, high_sql): (String, String) = if postgres {
                (
                    "lower(api_keys.name) COLLATE \"C\" >= $1".into(),
                    "lower(api_keys.name) COLLATE \"C\" < $1".into(),
                )
            } else {
                (
                    format!("{plus}lower(api_keys.name) >= ?"),
                    format!("{plus}lower(api_keys.name) < ?"),
                )
            };
            let (low, high) = self.name_prefix_range();
            let mut range = Condition::all().add(Expr::cust_with_values(low_sql, [low]));
            if let Some(high) = high {
                range = range.add(Expr::cust_with_values(high_sql, [high]));
            }
            cond = cond.add(range);
        } else if postgres {
            // The stored lower-case text and its pg_trgm index (migration
            // 7); `$1` is sea-query's placeholder for PostgreSQL (`?` for
            // SQLite).
            cond = cond.add(Expr::cust_with_values(
                "api_keys.search_text LIKE $1 ESCAPE '\\'",
                [self.like_pattern()],
            ));
            if let Some(f) = &self.id_fragment {
                // The trigram index serves ILIKE too; either case, as SQLite's
                // trigram index (and the in-process index) match.
                cond = cond.add(Expr::cust_with_values(
                    "api_keys.key_id ILIKE $1",
                    [format!("%{f}%")],
                ));
            }
        } else if let Some((sql, values, _)) = self.fts_ids(tenant_id, status) {
            cond = cond.add(Expr::cust_with_values(
                format!("{plus}api_keys.id IN ({sql})"),
                values,
            ));
        }
        if let Some(id) = &self.id_exact {
            cond = cond.add(ExprTrait::eq(
                key_col(api_key::Column::KeyId, plain),
                id.as_str(),
            ));
        }
        if let Some(l4) = &self.last4 {
            cond = cond.add(ExprTrait::eq(
                key_col(api_key::Column::Last4, plain),
                l4.as_str(),
            ));
        }
        cond
    }
}

/// Whether the tenant's id fits the search index's rowids (below 2^23).
fn rowid_scoped(tenant_id: i64) -> bool {
    (0..1 << (63 - SEARCH_ROWID_TENANT_SHIFT)).contains(&tenant_id)
}

/// A column of `api_keys` in a condition; `plain` writes it `+column`,
/// which SQLite cannot serve from an index (see `Db::list_keys`).
fn key_col(c: api_key::Column, plain: bool) -> Expr {
    if plain {
        Expr::cust(format!("+api_keys.{}", sea_orm::IdenStatic::as_str(&c)))
    } else {
        Expr::col((api_key::Entity, c))
    }
}

/// The list's filters (status, expiration, search) as one condition.
fn filters(
    tenant_id: i64,
    f: &KeyFilter,
    search: Option<&SearchTerms>,
    now: DateTime<Utc>,
    postgres: bool,
    plain: bool,
) -> Condition {
    use api_key::Column as C;
    let col = |c| key_col(c, plain);
    let mut cond = Condition::all();
    // On SQLite the search index's rowid ranges can hold the status too.
    let status_in_index = !postgres && search.is_some_and(|t| t.index_decides(tenant_id));
    match f.status {
        _ if status_in_index => {}
        StatusFilter::All => {}
        StatusFilter::Active => cond = cond.add(col(C::RevokedAt).is_null()),
        StatusFilter::Revoked => cond = cond.add(col(C::RevokedAt).is_not_null()),
    }
    if let Some(state) = f.expiration {
        let r = state.range(now);
        let mut bounded = Condition::all().add(col(C::ExpiresAt).is_not_null());
        if let Some(a) = r.after {
            bounded = bounded.add(col(C::ExpiresAt).gt(a));
        }
        if let Some(b) = r.at_or_before {
            bounded = bounded.add(col(C::ExpiresAt).lte(b));
        }
        let mut any = Condition::any().add(bounded);
        if r.none_matches {
            any = any.add(col(C::ExpiresAt).is_null());
        }
        cond = cond.add(any);
    }
    if let Some(terms) = search {
        cond = cond.add(terms.condition(tenant_id, f.status, postgres, plain));
    }
    cond
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

    /// Deletes the key, its usage and its access log (client addresses).
    /// Its audit records stay.
    pub async fn delete_key(&self, tenant_id: i64, key_id: &KeyId) -> Result<(), DbError> {
        key_usage::Entity::delete_many()
            .filter(key_usage::Column::TenantId.eq(tenant_id))
            .filter(key_usage::Column::KeyId.eq(key_id.as_str()))
            .exec(&self.txn)
            .await?;
        key_access_log::Entity::delete_many()
            .filter(key_access_log::Column::TenantId.eq(tenant_id))
            .filter(key_access_log::Column::KeyId.eq(key_id.as_str()))
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

    /// A page of the tenant's keys and the number matching the filters
    /// (from `counts` unless a search narrows them). Searches of large
    /// tenants are answered by the key lists' in-process index.
    pub async fn list_keys(
        &self,
        tenant_id: i64,
        f: &KeyFilter,
        offset: u64,
        limit: u64,
        now: DateTime<Utc>,
        counts: &StatusMatrix,
    ) -> Result<(Vec<KeyRow>, u64), DbError> {
        self.list_keys_with(Some(&*self.lists), tenant_id, f, offset, limit, now, counts)
            .await
    }

    /// [`Db::list_keys`] with the given in-process index, or with none (the
    /// database alone): the two answer alike, which the tests compare.
    #[allow(clippy::too_many_arguments)]
    pub async fn list_keys_with(
        &self,
        index: Option<&KeyListIndex>,
        tenant_id: i64,
        f: &KeyFilter,
        offset: u64,
        limit: u64,
        now: DateTime<Utc>,
        counts: &StatusMatrix,
    ) -> Result<(Vec<KeyRow>, u64), DbError> {
        use api_key::Column as C;
        let postgres = self.is_postgres();
        let search = f.q.as_deref().and_then(|q| SearchTerms::of(q, &f.prefix));
        if let (Some(index), Some(terms)) = (index, &search)
            && let Some((ids, total)) = index
                .search(self, tenant_id, f, terms, offset, limit, now, counts.total)
                .await?
        {
            return Ok((self.keys_in_order(tenant_id, &ids).await?, total));
        }
        let base = api_key::Entity::find().filter(C::TenantId.eq(tenant_id));
        // SQLite, a text search of the trigram index with no filter but the
        // status: nothing but the index decides which keys match.
        let index_only = !postgres
            && f.expiration.is_none()
            && search.as_ref().is_some_and(|t| t.index_decides(tenant_id));
        let total = match &search {
            // On SQLite, a text search without filters but the status is
            // counted in the search index alone (one rowid range, no key
            // rows).
            Some(terms)
                if index_only
                    && let Some((ids, values, true)) = terms.fts_ids(tenant_id, f.status) =>
            {
                let stmt = sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Sqlite,
                    format!("SELECT COUNT(*) FROM ({ids})"),
                    values,
                );
                let n: i64 = match self.conn.query_one_raw(stmt).await? {
                    Some(row) => row.try_get_by_index(0)?,
                    None => 0,
                };
                u64::try_from(n).unwrap_or_default()
            }
            Some(terms) => {
                base.clone()
                    .filter(filters(tenant_id, f, Some(terms), now, postgres, false))
                    .count(&self.conn)
                    .await?
            }
            None => counts.count(f.status, f.expiration),
        };
        // SQLite's planner drives a filtered page by the filter's index and
        // sorts every match, even when walking the sort column's index
        // would reach the page after a few rows. Expected rows walked:
        // (offset + limit) × keys / matches; sorting costs the matches.
        // When walking is cheaper, the filters are written so that no
        // index serves them (`+column`), which leaves the sort index.
        // A page past the middle is read from the other end, in the
        // opposite order, and turned around: the last page costs what the
        // first does.
        let (offset, limit, reversed) = if offset < total && offset.saturating_mul(2) > total {
            let end = std::cmp::min(offset + limit, total);
            (total - end, end - offset, true)
        } else {
            (offset, limit, false)
        };
        // Such a search walks index entries alone (the sort index holds the
        // id the search's ids are matched with), several times cheaper than
        // reading and sorting a match's row.
        let walk_cost = if index_only { 1 } else { SORTED_MATCH_COST };
        let walk = !postgres
            && total > 0
            && u128::from(offset + limit) * u128::from(counts.total) * walk_cost
                < u128::from(total) * u128::from(total) * SORTED_MATCH_COST;
        let sel = base.filter(filters(tenant_id, f, search.as_ref(), now, postgres, walk));
        let col = match f.sort {
            SortField::Name => C::Name,
            SortField::CreatedAt => C::CreatedAt,
            SortField::ExpiresAt => C::ExpiresAt,
            SortField::CreatedBy => C::CreatedBy,
            SortField::LastUsedAt => C::LastUsedAt,
        };
        let ord = match (f.order, reversed) {
            (SortOrder::Asc, false) | (SortOrder::Desc, true) => Order::Asc,
            (SortOrder::Desc, false) | (SortOrder::Asc, true) => Order::Desc,
        };
        // Keys without an expiry or a use sort last both ways (first when
        // read from the other end); the other columns are never null, and
        // a plain ORDER BY lets PostgreSQL walk their indexes backwards too.
        let nullable = matches!(f.sort, SortField::ExpiresAt | SortField::LastUsedAt);
        let nulls = if reversed {
            NullOrdering::First
        } else {
            NullOrdering::Last
        };
        let ordered = |q: sea_orm::Select<api_key::Entity>| {
            let q = if nullable {
                q.order_by_with_nulls(col, ord.clone(), nulls)
            } else {
                q.order_by(col, ord.clone())
            };
            q.order_by(C::Id, ord.clone())
        };
        // The page's ids first (an index range, skipping `offset` entries
        // without reading their rows), then those rows.
        let ids = ordered(sel.select_only().column(C::Id))
            .offset(offset)
            .limit(limit)
            .into_query();
        let mut rows = ordered(api_key::Entity::find().filter(C::Id.in_subquery(ids)))
            .all(&self.conn)
            .await?;
        if reversed {
            rows.reverse();
        }
        let rows = rows
            .into_iter()
            .map(to_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total))
    }

    /// The tenant's keys of these row ids, in their order (a key deleted
    /// meanwhile is left out).
    async fn keys_in_order(&self, tenant_id: i64, ids: &[i64]) -> Result<Vec<KeyRow>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: std::collections::HashMap<i64, api_key::Model> = api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::Id.is_in(ids.iter().copied()))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        ids.iter()
            .filter_map(|id| found.remove(id))
            .map(to_row)
            .collect()
    }

    /// The tenant's keys by revocation and expiry state at `now`: the kept
    /// totals and four index ranges, in one round trip.
    pub async fn status_matrix(
        &self,
        tenant_id: i64,
        now: DateTime<Utc>,
    ) -> Result<StatusMatrix, DbError> {
        let soon = ExpirationState::ExpiringSoon.range(now);
        let (Some(after), Some(until)) = (soon.after, soon.at_or_before) else {
            return Err(DbError::corrupt("expiring-soon range must be bounded"));
        };
        let range = |revoked: &str, cond: &str| {
            format!(
                "(SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS {revoked} \
                 AND expires_at IS NOT NULL AND {cond})"
            )
        };
        let sql = format!(
            "SELECT \
             COALESCE((SELECT total FROM tenant_key_counts WHERE tenant_id = $1), 0) AS total, \
             COALESCE((SELECT revoked FROM tenant_key_counts WHERE tenant_id = $1), 0) AS revoked, \
             {} AS live_expired, {} AS live_soon, {} AS revoked_expired, {} AS revoked_soon",
            range("NULL", "expires_at <= $2"),
            range("NULL", "expires_at > $3 AND expires_at <= $4"),
            range("NOT NULL", "expires_at <= $2"),
            range("NOT NULL", "expires_at > $3 AND expires_at <= $4"),
        );
        let stmt = self.stmt(
            &sql,
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
        Ok(StatusMatrix {
            total: get("total")?,
            revoked: get("revoked")?,
            live_expired: get("live_expired")?,
            live_expiring_soon: get("live_soon")?,
            revoked_expired: get("revoked_expired")?,
            revoked_expiring_soon: get("revoked_soon")?,
        })
    }

    /// The verification lookup: a key and its effective permissions, by the
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
        let mut group_ids: Vec<i64> = keys.iter().filter_map(|m| m.group_id).collect();
        group_ids.sort_unstable();
        group_ids.dedup();
        let mut groups = std::collections::HashMap::new();
        for g in auth_group::Entity::find()
            .filter(auth_group::Column::Id.is_in(group_ids))
            .all(&self.conn)
            .await?
        {
            let limit = super::rate_limit(g.rate_limit.as_deref(), format_args!("group {}", g.id))?;
            groups.insert(g.id, (g.tenant_id, group_permissions(&g), limit));
        }
        let mut out = std::collections::HashMap::with_capacity(keys.len());
        for m in keys {
            // A group of another tenant grants nothing.
            let group = m
                .group_id
                .and_then(|id| groups.get(&id))
                .filter(|g| g.0 == m.tenant_id)
                .map(|(_, permissions, limit)| (permissions, limit.as_ref()));
            let row = to_row(m)?;
            out.insert(row.key.key_id, KeyRecord::new(&row.key, group));
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
        let terms = |q: &str| SearchTerms::of(q, "sk_live_");
        assert_eq!(terms("  "), None);
        let masked = terms("sk_live_…AbCd").unwrap();
        assert_eq!(masked.last4.as_deref(), Some("AbCd"));
        let pasted = terms("sk_live_abcdefghijkl_rest").unwrap();
        assert_eq!(pasted.id_exact.as_deref(), Some("abcdefghijkl"));
        assert_eq!(pasted.id_fragment, None);
        assert_eq!(
            terms("L0000004").unwrap().id_fragment.as_deref(),
            Some("L0000004")
        );
        let short = terms("ab").unwrap();
        assert_eq!((short.id_fragment, short.last4), (None, None));
        assert_eq!(terms("x7ks").unwrap().last4.as_deref(), Some("x7ks"));
    }

    #[test]
    fn text_becomes_an_escaped_like_pattern_and_a_quoted_trigram_phrase() {
        let t = SearchTerms::of(" 50%_Off\\ ", "sk_").unwrap();
        assert_eq!(t.like_pattern(), "%50\\%\\_off\\\\%");
        let t = SearchTerms::of("say \"hi\"", "sk_").unwrap();
        assert_eq!(
            t.fts_query().as_deref(),
            Some("({name description} : \"say \"\"hi\"\"\")")
        );
        let t = SearchTerms::of("L00000", "sk_").unwrap();
        assert_eq!(
            t.fts_query().as_deref(),
            Some("({name description} : \"L00000\") OR (key_id : \"L00000\")")
        );
        let (sql, values, scoped) = t.fts_ids(3, StatusFilter::All).unwrap();
        assert!(
            scoped && sql.ends_with("MATCH ? AND rowid BETWEEN ? AND ?"),
            "{sql}"
        );
        assert_eq!(values[1], sea_orm::Value::from(3_i64 << 40));
        assert_eq!(values[2], sea_orm::Value::from((4_i64 << 40) - 1));
        let (_, active, _) = t.fts_ids(3, StatusFilter::Active).unwrap();
        assert_eq!(active[1], sea_orm::Value::from(3_i64 << 40));
        assert_eq!(
            active[2],
            sea_orm::Value::from((3_i64 << 40) + (1 << 39) - 1)
        );
        let (_, revoked, _) = t.fts_ids(3, StatusFilter::Revoked).unwrap();
        assert_eq!(revoked[1], sea_orm::Value::from((3_i64 << 40) + (1 << 39)));
        assert_eq!(revoked[2], sea_orm::Value::from((4_i64 << 40) - 1));
        let (_, values, scoped) = t.fts_ids(1 << 23, StatusFilter::Active).unwrap();
        assert_eq!(
            (values.len(), scoped),
            (1, false),
            "a tenant id beyond the rowids"
        );
        assert_eq!(
            SearchTerms::of("ab", "sk_").unwrap().fts_query(),
            None,
            "no trigram"
        );
    }
}
