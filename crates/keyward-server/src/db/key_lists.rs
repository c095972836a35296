//! The key lists' in-process index: large tenants' list columns held in
//! memory, so that a text search answers from them instead of reading,
//! ordering and counting each of its matches in the database (a search
//! found in a fifth of 100,000 keys costed 20 to 60 ms there).
//!
//! The index decides which keys match, how many, and which of them make up
//! the requested page; the page's rows are then read from the database by
//! id, as the database's own list does. It holds the columns a search,
//! filter or sort reads (about 250 bytes a key), for tenants with at least
//! `list_index_min_keys` keys, at most `list_index_keys` keys in all (the
//! least recently searched tenants leave first).
//!
//! It stays current by asking the database, on every search, for the
//! tenant's rows written since it last asked (migration 14): on SQLite the
//! rows whose per-tenant counter `list_seq` is above the highest it has
//! read; on PostgreSQL the rows written by transactions from its last
//! snapshot's `xmin` on (all below had finished; later ones are read again
//! next time, whatever order they committed in). Every writer, SQL loads
//! included, sets these through triggers. A deleted key cannot be read as a
//! change: deletions count `tenant_key_counts.list_resets` up, and the
//! index of a tenant whose count moved is read again from scratch.
//!
//! Matching is the database's (`SearchTerms`): text of 3 or more
//! characters anywhere in the lower-case name or description (or a key id
//! fragment anywhere in the key id, either case), shorter text at the
//! start of the lower-case name, a whole key id, the last four characters.
//! Ordering is by the sort column then the id, keys without an expiry or a
//! use last both ways; names and creators compare by code point, as SQLite
//! does and PostgreSQL does under a `C` collation. Under another collation
//! PostgreSQL's order of text cannot be reproduced here, so searches sorted
//! by name or creator stay in the database there.

use super::keys::{KeyFilter, SearchTerms};
use super::{Db, DbError};
use chrono::{DateTime, Utc};
use keyward_core::api::{SortField, SortOrder};
use keyward_core::status::{ExpiryRange, StatusFilter};
use memchr::memmem::Finder;
use sea_orm::{ConnectionTrait, QueryResult};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{OnceCell, RwLock};

/// One key's list columns.
struct Row {
    id: i64,
    key_id: Box<str>,
    last4: Box<str>,
    name: Box<str>,
    name_lower: Box<str>,
    description_lower: Option<Box<str>>,
    created_by: Box<str>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked: bool,
}

/// One tenant's keys as last read.
#[derive(Default)]
struct TenantIndex {
    /// Whether `rows` holds the tenant's keys (false until the first read).
    loaded: bool,
    /// `tenant_key_counts.list_resets` when the rows were read from scratch.
    resets: i64,
    /// Where the next read of changes starts: SQLite, the highest
    /// `list_seq` read; PostgreSQL, the `xmin` of the last read's snapshot.
    cursor: i64,
    rows: Vec<Row>,
    positions: HashMap<i64, usize>,
}

/// What one read of changes returned.
struct Changes {
    resets: i64,
    /// Where the next read starts.
    cursor: i64,
    /// SQLite: the tenant's highest `list_seq`; PostgreSQL: the snapshot's
    /// `xmin` (the same as `cursor`). Below the index's cursor, the
    /// database went back (a restore).
    highest: i64,
    rows: Vec<Row>,
}

struct Slot {
    index: Arc<RwLock<TenantIndex>>,
    keys: u64,
    used: u64,
}

#[derive(Default)]
struct Slots {
    tenants: HashMap<i64, Slot>,
    clock: u64,
}

/// The index of every tenant searched lately (see the module's text).
pub struct KeyListIndex {
    capacity: u64,
    min_keys: u64,
    slots: Mutex<Slots>,
    /// Whether the database orders text by code point (read once).
    bytewise: OnceCell<bool>,
}

impl std::fmt::Debug for KeyListIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyListIndex")
            .field("capacity", &self.capacity)
            .field("min_keys", &self.min_keys)
            .field("keys_held", &self.keys_held())
            .finish()
    }
}

impl KeyListIndex {
    /// At most `capacity` keys in all (0: never used), of tenants with at
    /// least `min_keys` keys.
    pub fn new(capacity: u64, min_keys: u64) -> Self {
        Self {
            capacity,
            min_keys,
            slots: Mutex::new(Slots::default()),
            bytewise: OnceCell::new(),
        }
    }

    /// The keys held, over all tenants.
    pub fn keys_held(&self) -> u64 {
        self.lock().tenants.values().map(|s| s.keys).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The page's key row ids, in order, and the number of matches; `None`
    /// when the index does not answer this search (a small tenant, one
    /// larger than the index, or an order of text it cannot reproduce).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn search(
        &self,
        db: &Db,
        tenant_id: i64,
        f: &KeyFilter,
        terms: &SearchTerms,
        offset: u64,
        limit: u64,
        now: DateTime<Utc>,
        tenant_keys: u64,
    ) -> Result<Option<(Vec<i64>, u64)>, DbError> {
        if self.capacity == 0 || tenant_keys < self.min_keys || tenant_keys > self.capacity {
            return Ok(None);
        }
        if matches!(f.sort, SortField::Name | SortField::CreatedBy) && !self.bytewise(db).await? {
            return Ok(None);
        }
        let index = self.slot(tenant_id);
        // Room is made before the tenant is read, not after.
        self.account(tenant_id, &index, tenant_keys);
        // Searches of a tenant that has not changed run side by side; a
        // change is read under the write lock, by one of them.
        {
            let ix = index.read().await;
            if ix.loaded && ix.unchanged(&db.key_list_changes(tenant_id, Some(ix.cursor)).await?) {
                return Ok(Some(ix.page(f, terms, offset, limit, now)));
            }
        }
        let mut ix = index.write().await;
        ix.refresh(db, tenant_id).await?;
        let keys = ix.rows.len() as u64;
        let ix = ix.downgrade();
        self.account(tenant_id, &index, keys);
        Ok(Some(ix.page(f, terms, offset, limit, now)))
    }

    async fn bytewise(&self, db: &Db) -> Result<bool, DbError> {
        self.bytewise
            .get_or_try_init(|| db.orders_text_by_code_point())
            .await
            .copied()
    }

    /// The tenant's slot (made empty when missing), marked as just used.
    fn slot(&self, tenant_id: i64) -> Arc<RwLock<TenantIndex>> {
        let mut slots = self.lock();
        slots.clock += 1;
        let used = slots.clock;
        let slot = slots.tenants.entry(tenant_id).or_insert_with(|| Slot {
            index: Arc::default(),
            keys: 0,
            used,
        });
        slot.used = used;
        Arc::clone(&slot.index)
    }

    /// Records the tenant's size and lets the least recently searched
    /// tenants go until the keys held fit the capacity (the tenant itself
    /// too when it alone no longer fits).
    fn account(&self, tenant_id: i64, index: &Arc<RwLock<TenantIndex>>, keys: u64) {
        let mut slots = self.lock();
        match slots.tenants.get_mut(&tenant_id) {
            // Evicted meanwhile, or replaced by a newer slot: not ours to size.
            Some(s) if Arc::ptr_eq(&s.index, index) => s.keys = keys,
            _ => return,
        }
        if keys > self.capacity {
            slots.tenants.remove(&tenant_id);
            return;
        }
        let mut held: u64 = slots.tenants.values().map(|s| s.keys).sum();
        while held > self.capacity {
            let oldest = slots
                .tenants
                .iter()
                .filter(|(id, _)| **id != tenant_id)
                .min_by_key(|(_, s)| s.used)
                .map(|(id, _)| *id)
                .unwrap_or(tenant_id);
            if let Some(s) = slots.tenants.remove(&oldest) {
                held -= s.keys;
            }
        }
    }
}

impl TenantIndex {
    /// Whether a read of changes from this index's cursor found nothing
    /// to apply.
    fn unchanged(&self, changes: &Changes) -> bool {
        changes.rows.is_empty() && !self.must_restart(changes)
    }

    /// Whether the index must be read again from scratch: keys were
    /// deleted (or moved to another tenant), or the database's numbering
    /// is behind the cursor (it was restored, or replaced).
    fn must_restart(&self, changes: &Changes) -> bool {
        changes.resets != self.resets || changes.highest < self.cursor
    }

    /// Reads what changed since the last read (from scratch the first time
    /// and after deletions).
    async fn refresh(&mut self, db: &Db, tenant_id: i64) -> Result<(), DbError> {
        let since = self.loaded.then_some(self.cursor);
        let mut changes = db.key_list_changes(tenant_id, since).await?;
        if self.loaded && self.must_restart(&changes) {
            *self = Self::default();
            changes = db.key_list_changes(tenant_id, None).await?;
        }
        if !self.loaded {
            self.resets = changes.resets;
            self.loaded = true;
            self.rows.reserve(changes.rows.len());
        }
        self.cursor = changes.cursor;
        for row in changes.rows {
            match self.positions.get(&row.id) {
                Some(&i) => self.rows[i] = row,
                None => {
                    self.positions.insert(row.id, self.rows.len());
                    self.rows.push(row);
                }
            }
        }
        Ok(())
    }

    /// The ids of the page's keys in order, and the number of matches.
    fn page(
        &self,
        f: &KeyFilter,
        terms: &SearchTerms,
        offset: u64,
        limit: u64,
        now: DateTime<Utc>,
    ) -> (Vec<i64>, u64) {
        let matcher = Matcher::new(f, terms, now);
        let mut hits: Vec<u32> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| matcher.admits(r))
            .filter_map(|(i, _)| u32::try_from(i).ok())
            .collect();
        let total = hits.len() as u64;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= hits.len() || limit == 0 {
            return (Vec::new(), total);
        }
        let end = start.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX));
        let cmp = |a: &u32, b: &u32| order(f, &self.rows[*a as usize], &self.rows[*b as usize]);
        // The page's keys without ordering the rest: the first `end`, then
        // the last `end - start` of them, then those in order.
        if end < hits.len() {
            hits.select_nth_unstable_by(end - 1, cmp);
            hits.truncate(end);
        }
        if start > 0 {
            hits.select_nth_unstable_by(start, cmp);
        }
        let page = &mut hits[start..];
        page.sort_unstable_by(cmp);
        let ids = page.iter().map(|i| self.rows[*i as usize].id).collect();
        (ids, total)
    }
}

/// The order of the list: the sort column then the id, in the requested
/// direction, keys without an expiry or a use last either way.
fn order(f: &KeyFilter, a: &Row, b: &Row) -> Ordering {
    let directed = |o: Ordering| match f.order {
        SortOrder::Asc => o,
        SortOrder::Desc => o.reverse(),
    };
    let nulls_last = |x: Option<DateTime<Utc>>, y: Option<DateTime<Utc>>| match (x, y) {
        (Some(x), Some(y)) => directed(x.cmp(&y).then(a.id.cmp(&b.id))),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => directed(a.id.cmp(&b.id)),
    };
    match f.sort {
        SortField::Name => directed(a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
        SortField::CreatedAt => directed(a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))),
        SortField::CreatedBy => directed(a.created_by.cmp(&b.created_by).then(a.id.cmp(&b.id))),
        SortField::ExpiresAt => nulls_last(a.expires_at, b.expires_at),
        SortField::LastUsedAt => nulls_last(a.last_used_at, b.last_used_at),
    }
}

/// A search and the list's filters, prepared once for every row.
struct Matcher<'a> {
    status: StatusFilter,
    expiry: Option<ExpiryRange>,
    /// Lower-case text; matched at the start of names when `prefix_only`.
    text: String,
    prefix_only: bool,
    text_finder: Finder<'static>,
    fragment_finder: Option<Finder<'static>>,
    id_exact: Option<&'a str>,
    last4: Option<&'a str>,
}

impl<'a> Matcher<'a> {
    fn new(f: &KeyFilter, terms: &'a SearchTerms, now: DateTime<Utc>) -> Self {
        let text = terms.text.to_lowercase();
        Self {
            status: f.status,
            expiry: f.expiration.map(|s| s.range(now)),
            prefix_only: terms.text.chars().count() < 3,
            text_finder: Finder::new(text.as_bytes()).into_owned(),
            text,
            fragment_finder: terms
                .id_fragment
                .as_ref()
                .map(|f| Finder::new(f.to_ascii_lowercase().as_bytes()).into_owned()),
            id_exact: terms.id_exact.as_deref(),
            last4: terms.last4.as_deref(),
        }
    }

    fn admits(&self, r: &Row) -> bool {
        let status = match self.status {
            StatusFilter::All => true,
            StatusFilter::Active => !r.revoked,
            StatusFilter::Revoked => r.revoked,
        };
        status && self.expiry.is_none_or(|e| e.contains(r.expires_at)) && self.matches(r)
    }

    fn matches(&self, r: &Row) -> bool {
        let found = |s: &str| self.text_finder.find(s.as_bytes()).is_some();
        let text = if self.prefix_only {
            r.name_lower.starts_with(&self.text)
        } else {
            found(&r.name_lower) || r.description_lower.as_deref().is_some_and(found)
        };
        text || self.fragment_finder.as_ref().is_some_and(|finder| {
            let mut id = [0u8; 32];
            let n = r.key_id.len().min(id.len());
            id[..n].copy_from_slice(&r.key_id.as_bytes()[..n]);
            id[..n].make_ascii_lowercase();
            finder.find(&id[..n]).is_some()
        }) || self.id_exact.is_some_and(|id| *r.key_id == *id)
            || self.last4.is_some_and(|l4| *r.last4 == *l4)
    }
}

impl Db {
    /// The tenant's key rows written since `since` (all of them for
    /// `None`), the tenant's deletion count, where the next read starts and
    /// how far the database's numbering has gone.
    async fn key_list_changes(
        &self,
        tenant_id: i64,
        since: Option<i64>,
    ) -> Result<Changes, DbError> {
        let postgres = self.is_postgres();
        let (cursor_sql, changed) = match (postgres, since.is_some()) {
            (true, true) => (
                "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                " AND k.list_xid >= $2",
            ),
            (true, false) => ("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", ""),
            (false, true) => (
                "COALESCE((SELECT MAX(list_seq) FROM api_keys WHERE tenant_id = $1), 0)",
                " AND k.list_seq > $2",
            ),
            (false, false) => (
                "COALESCE((SELECT MAX(list_seq) FROM api_keys WHERE tenant_id = $1), 0)",
                "",
            ),
        };
        let seq = if postgres { "k.list_xid" } else { "k.list_seq" };
        // One row even when nothing changed (the left join's nulls): it
        // carries the deletion count and the snapshot.
        let sql = format!(
            "SELECT COALESCE((SELECT list_resets FROM tenant_key_counts WHERE tenant_id = $1), 0), \
             {cursor_sql}, {seq}, k.id, k.key_id, k.last4, k.name, k.description, k.created_by, \
             k.created_at, k.expires_at, k.last_used_at, k.revoked_at \
             FROM (SELECT 1 AS one) AS one LEFT JOIN api_keys k ON k.tenant_id = $1{changed}"
        );
        let mut values = vec![tenant_id.into()];
        if let Some(since) = since {
            values.push(since.into());
        }
        let result = self.conn.query_all_raw(self.stmt(&sql, values)).await?;
        let mut changes = Changes {
            resets: 0,
            cursor: since.unwrap_or(0),
            highest: i64::MAX,
            rows: Vec::with_capacity(result.len()),
        };
        for (i, r) in result.iter().enumerate() {
            if i == 0 {
                changes.resets = r.try_get_by_index(0)?;
                changes.highest = r.try_get_by_index(1)?;
                if postgres {
                    changes.cursor = changes.highest;
                }
            }
            let Some(row) = list_row(r)? else { continue };
            if !postgres {
                let seq: i64 = r.try_get_by_index(2)?;
                changes.cursor = changes.cursor.max(seq);
            }
            changes.rows.push(row);
        }
        Ok(changes)
    }

    /// Whether the database orders text by code point (SQLite's `BINARY`;
    /// PostgreSQL under a `C` collation), which the index reproduces.
    async fn orders_text_by_code_point(&self) -> Result<bool, DbError> {
        let sql = "SELECT CASE WHEN 'B' < 'a' AND 'Z' < '_' AND 'z' < 'é' THEN 1 ELSE 0 END";
        let row = self.conn.query_one_raw(self.stmt(sql, vec![])).await?;
        let yes: i32 = match row {
            Some(r) => r.try_get_by_index(0)?,
            None => 0,
        };
        Ok(yes == 1)
    }
}

/// A key's list columns from a read of changes; `None` for the row a read
/// without changes returns.
fn list_row(r: &QueryResult) -> Result<Option<Row>, DbError> {
    let Some(id) = r.try_get_by_index::<Option<i64>>(3)? else {
        return Ok(None);
    };
    let name: String = r.try_get_by_index(6)?;
    let description: Option<String> = r.try_get_by_index(7)?;
    let revoked_at: Option<DateTime<Utc>> = r.try_get_by_index(12)?;
    Ok(Some(Row {
        id,
        key_id: r.try_get_by_index::<String>(4)?.into(),
        last4: r.try_get_by_index::<String>(5)?.into(),
        name_lower: name.to_lowercase().into(),
        name: name.into(),
        description_lower: description.map(|d| d.to_lowercase().into()),
        created_by: r.try_get_by_index::<String>(8)?.into(),
        created_at: r.try_get_by_index(9)?,
        expires_at: r.try_get_by_index(10)?,
        last_used_at: r.try_get_by_index(11)?,
        revoked: revoked_at.is_some(),
    }))
}
