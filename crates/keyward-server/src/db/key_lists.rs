//! The key lists' in-process index: large tenants' list columns held in
//! memory, so that a text search answers from them instead of reading,
//! ordering and counting each of its matches in the database (a search
//! found in a fifth of 100,000 keys costed 20 to 60 ms there).
//!
//! The index decides which keys match, how many, and which of them make up
//! the requested page; the page's rows are then read from the database by
//! id, as the database's own list does. It holds the columns a search,
//! filter or sort reads, and each key's searched text in one string per
//! tenant (about 420 bytes a key, allocations included), for tenants with
//! at least `list_index_min_keys` keys, at most `list_index_keys` keys in
//! all (the least recently searched tenants leave first).
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
    /// Where the row's searched text (its "hay") is in the tenant's
    /// [`TenantIndex::arena`], and its length: the lower-case name, NUL,
    /// the lower-case description (empty when none), NUL, the key id in
    /// ASCII lower case. A needle without NUL never matches across parts.
    hay_at: usize,
    hay_len: u32,
    /// The end of the name in the hay, and of the description.
    name_end: u32,
    text_end: u32,
    created_by: Box<str>,
    /// The sort values of `name` and `created_by` ([`TextKey`]): ordering
    /// by them reads the row alone, not its text.
    name_key: TextKey,
    created_by_key: TextKey,
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
    /// Every row's hay, in the order of `rows`, each followed by NUL: a
    /// search for text runs one substring search over all of it (per row,
    /// the searcher's start-up cost was most of a search's time).
    arena: String,
    /// Where each row's NUL is in `arena` (in the order of `rows`).
    ends: Vec<usize>,
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
    /// Each row with its hay.
    rows: Vec<(Row, String)>,
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
        if changes.rows.is_empty() {
            return Ok(());
        }
        let mut hays = HashMap::with_capacity(changes.rows.len());
        for (row, hay) in changes.rows {
            let i = match self.positions.get(&row.id) {
                Some(&i) => {
                    self.rows[i] = row;
                    i
                }
                None => {
                    self.positions.insert(row.id, self.rows.len());
                    self.rows.push(row);
                    self.rows.len() - 1
                }
            };
            hays.insert(i, hay);
        }
        self.rebuild_arena(&hays);
        Ok(())
    }

    /// Writes the arena again: each row's hay from `changed` (by row
    /// position) or from the arena as it was.
    fn rebuild_arena(&mut self, changed: &HashMap<usize, String>) {
        let old = std::mem::take(&mut self.arena);
        let extra: usize = changed.values().map(|h| h.len() + 1).sum();
        let mut arena = String::with_capacity(old.len() + extra);
        self.ends.clear();
        self.ends.reserve(self.rows.len());
        for (i, row) in self.rows.iter_mut().enumerate() {
            let hay = match changed.get(&i) {
                Some(h) => h.as_str(),
                None => old
                    .get(row.hay_at..row.hay_at + row.hay_len as usize)
                    .unwrap_or_default(),
            };
            row.hay_at = arena.len();
            // A hay is at most a name, a description and a key id (a few KiB).
            row.hay_len = u32::try_from(hay.len()).unwrap_or(u32::MAX);
            arena.push_str(hay);
            self.ends.push(arena.len());
            arena.push('\0');
        }
        self.arena = arena;
    }

    fn hay(&self, r: &Row) -> &str {
        self.arena
            .get(r.hay_at..r.hay_at + r.hay_len as usize)
            .unwrap_or_default()
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
        let mut hits = if matcher.whole_arena() {
            self.text_hits(&matcher, f.sort)
        } else {
            self.rows
                .iter()
                .enumerate()
                .filter(|(_, r)| matcher.filters(r) && matcher.matches(r, self.hay(r)))
                .filter_map(|(i, r)| Some(SortKey::of(f.sort, r, u32::try_from(i).ok()?)))
                .collect()
        };
        let total = hits.len() as u64;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= hits.len() || limit == 0 {
            return (Vec::new(), total);
        }
        let end = start.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX));
        let cmp = |a: &SortKey, b: &SortKey| a.order(b, f, &self.rows);
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
        let ids = page.iter().map(|k| k.id).collect();
        (ids, total)
    }

    /// The matches of a search for text alone (see
    /// [`Matcher::whole_arena`]): one substring search over the arena,
    /// each match's row found by walking `ends` forward, then the next
    /// search starting at the following row.
    fn text_hits(&self, matcher: &Matcher<'_>, sort: SortField) -> Vec<SortKey> {
        let arena = self.arena.as_bytes();
        let needle = matcher.text.len();
        let mut hits = Vec::new();
        let (mut pos, mut i) = (0, 0);
        while let Some(found) = arena.get(pos..).and_then(|a| matcher.text_finder.find(a)) {
            let at = pos + found;
            // The row whose hay holds `at` (a match holds no NUL, so it
            // ends within that hay).
            while self.ends.get(i).is_some_and(|&end| end < at) {
                i += 1;
            }
            let Some((r, &end)) = self.rows.get(i).zip(self.ends.get(i)) else {
                break;
            };
            // Text is matched in the name and description; the key id
            // too when the text is also the search's key id fragment.
            let in_text = at + needle <= r.hay_at + r.text_end as usize;
            if (in_text || matcher.fragment_is_text)
                && matcher.filters(r)
                && let Ok(row) = u32::try_from(i)
            {
                hits.push(SortKey::of(sort, r, row));
            }
            pos = end + 1;
            i += 1;
        }
        hits
    }
}

/// A match as the page's selection orders it: the sort column (or, for
/// text, its first 16 bytes) and the id inline, so that ordering 100,000
/// matches compares values next to each other instead of following each
/// match to its row and its text (which costed most of a search that every
/// key matches, ordered by name). Text that ties on its first 16 bytes is
/// compared whole, from the row.
#[derive(Clone, Copy)]
struct SortKey {
    /// The column's value, ordered as the column: text by its first 16
    /// bytes (big-endian, zero-padded), times by their nanoseconds.
    value: u128,
    /// Keys without an expiry or a use: last, whatever the direction.
    missing: bool,
    /// The text's length when it is within the 16 bytes of `value` (two
    /// such texts of one length and value are equal); `u8::MAX` otherwise.
    short_len: u8,
    id: i64,
    row: u32,
}

impl SortKey {
    fn of(sort: SortField, r: &Row, row: u32) -> Self {
        // Seconds (offset to be unsigned) then nanoseconds: ordered as
        // the times are, whatever the year.
        let time = |t: DateTime<Utc>| {
            let secs = t.timestamp().wrapping_sub(i64::MIN) as u64;
            (u128::from(secs) << 32) | u128::from(t.timestamp_subsec_nanos())
        };
        let text = |k: TextKey| (k.prefix, false, k.short_len);
        let (value, missing, short_len) = match sort {
            SortField::Name => text(r.name_key),
            SortField::CreatedBy => text(r.created_by_key),
            SortField::CreatedAt => (time(r.created_at), false, u8::MAX),
            SortField::ExpiresAt => r
                .expires_at
                .map_or((0, true, u8::MAX), |t| (time(t), false, u8::MAX)),
            SortField::LastUsedAt => r
                .last_used_at
                .map_or((0, true, u8::MAX), |t| (time(t), false, u8::MAX)),
        };
        Self {
            value,
            missing,
            short_len,
            id: r.id,
            row,
        }
    }

    /// The list's order — the sort column then the id, in the requested
    /// direction, keys without an expiry or a use last either way — mostly
    /// without reading the rows.
    fn order(&self, other: &Self, f: &KeyFilter, rows: &[Row]) -> Ordering {
        let directed = |o: Ordering| match f.order {
            SortOrder::Asc => o,
            SortOrder::Desc => o.reverse(),
        };
        match (self.missing, other.missing) {
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            _ => {}
        }
        let by_value = self.value.cmp(&other.value);
        let whole = by_value == Ordering::Equal
            && self.short_len == other.short_len
            && self.short_len != u8::MAX;
        let by_value = match (by_value, f.sort) {
            // Equal texts, both within the value.
            _ if whole => Ordering::Equal,
            (Ordering::Equal, SortField::Name) => rows[self.row as usize]
                .name
                .cmp(&rows[other.row as usize].name),
            (Ordering::Equal, SortField::CreatedBy) => rows[self.row as usize]
                .created_by
                .cmp(&rows[other.row as usize].created_by),
            (o, _) => o,
        };
        directed(by_value.then(self.id.cmp(&other.id)))
    }
}

/// A text's sort value: its first 16 bytes, big-endian, zero-padded
/// (ordered as the text is — by bytes, which is by code point in UTF-8 —
/// wherever they differ; equal prefixes say nothing and the text is then
/// compared whole), and its length when it is within them (`u8::MAX`
/// otherwise: two texts of one such length and one prefix are equal).
#[derive(Clone, Copy)]
struct TextKey {
    prefix: u128,
    short_len: u8,
}

impl TextKey {
    fn of(s: &str) -> Self {
        let mut b = [0u8; 16];
        let n = s.len().min(16);
        b[..n].copy_from_slice(&s.as_bytes()[..n]);
        Self {
            prefix: u128::from_be_bytes(b),
            short_len: u8::try_from(s.len())
                .ok()
                .filter(|n| *n <= 16)
                .unwrap_or(u8::MAX),
        }
    }
}

impl Row {
    fn name_lower<'h>(&self, hay: &'h str) -> &'h str {
        hay.get(..self.name_end as usize).unwrap_or_default()
    }

    /// The lower-case name and description, NUL between them.
    fn text_lower<'h>(&self, hay: &'h str) -> &'h str {
        hay.get(..self.text_end as usize).unwrap_or_default()
    }

    fn key_id_lower<'h>(&self, hay: &'h str) -> &'h str {
        hay.get(self.text_end as usize + 1..).unwrap_or_default()
    }
}

/// A search and the list's filters, prepared once for every row.
struct Matcher<'a> {
    status: StatusFilter,
    expiry: Option<ExpiryRange>,
    /// Lower-case text; matched at the start of names when `prefix_only`.
    text: String,
    prefix_only: bool,
    /// The text holds NUL, which separates the parts of a row's `hay`:
    /// the name and the description are then searched one by one.
    text_has_nul: bool,
    text_finder: Finder<'static>,
    fragment_finder: Option<Finder<'static>>,
    /// The key id fragment is the text itself: one pass over the whole
    /// `hay` finds either.
    fragment_is_text: bool,
    id_exact: Option<&'a str>,
    last4: Option<&'a str>,
}

impl<'a> Matcher<'a> {
    fn new(f: &KeyFilter, terms: &'a SearchTerms, now: DateTime<Utc>) -> Self {
        let text = terms.text.to_lowercase();
        let prefix_only = terms.text.chars().count() < 3;
        let fragment = terms.id_fragment.as_ref().map(|f| f.to_ascii_lowercase());
        Self {
            status: f.status,
            expiry: f.expiration.map(|s| s.range(now)),
            prefix_only,
            text_has_nul: text.contains('\0'),
            text_finder: Finder::new(text.as_bytes()).into_owned(),
            fragment_is_text: !prefix_only && fragment.as_deref() == Some(text.as_str()),
            fragment_finder: fragment.map(|f| Finder::new(f.as_bytes()).into_owned()),
            text,
            id_exact: terms.id_exact.as_deref(),
            last4: terms.last4.as_deref(),
        }
    }

    /// Whether the search is for text alone (3 characters or more, no
    /// NUL, no key id, last four or key id fragment other than the text
    /// itself), which one pass over the arena answers.
    fn whole_arena(&self) -> bool {
        !self.prefix_only
            && !self.text_has_nul
            && self.id_exact.is_none()
            && self.last4.is_none()
            && (self.fragment_finder.is_none() || self.fragment_is_text)
    }

    /// The status and expiry filters.
    fn filters(&self, r: &Row) -> bool {
        let status = match self.status {
            StatusFilter::All => true,
            StatusFilter::Active => !r.revoked,
            StatusFilter::Revoked => r.revoked,
        };
        status && self.expiry.is_none_or(|e| e.contains(r.expires_at))
    }

    /// Whether the row's hay matches the search.
    fn matches(&self, r: &Row, hay: &str) -> bool {
        let found = |s: &str| self.text_finder.find(s.as_bytes()).is_some();
        let text_or_fragment = if self.fragment_is_text {
            // Name, description or key id, in one pass.
            found(hay)
        } else {
            let text = if self.prefix_only {
                r.name_lower(hay).starts_with(&self.text)
            } else if self.text_has_nul {
                let name = r.name_lower(hay);
                let description = &r.text_lower(hay)[name.len()..];
                found(name) || found(description.strip_prefix('\0').unwrap_or(description))
            } else {
                found(r.text_lower(hay))
            };
            text || self
                .fragment_finder
                .as_ref()
                .is_some_and(|finder| finder.find(r.key_id_lower(hay).as_bytes()).is_some())
        };
        text_or_fragment
            || self.id_exact.is_some_and(|id| *r.key_id == *id)
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
fn list_row(r: &QueryResult) -> Result<Option<(Row, String)>, DbError> {
    let Some(id) = r.try_get_by_index::<Option<i64>>(3)? else {
        return Ok(None);
    };
    let name: String = r.try_get_by_index(6)?;
    let description: Option<String> = r.try_get_by_index(7)?;
    let revoked_at: Option<DateTime<Utc>> = r.try_get_by_index(12)?;
    let key_id: String = r.try_get_by_index(4)?;
    let mut hay = name.to_lowercase();
    let name_end = hay.len();
    hay.push('\0');
    if let Some(d) = &description {
        hay.push_str(&d.to_lowercase());
    }
    let text_end = hay.len();
    hay.push('\0');
    hay.push_str(&key_id.to_ascii_lowercase());
    let offset = |n: usize| {
        u32::try_from(n)
            .map_err(|_| DbError::corrupt("a key's name or description is too long to list"))
    };
    let created_by: String = r.try_get_by_index(8)?;
    let row = Row {
        id,
        key_id: key_id.into(),
        last4: r.try_get_by_index::<String>(5)?.into(),
        name_key: TextKey::of(&name),
        created_by_key: TextKey::of(&created_by),
        name: name.into(),
        // Placed when the arena is written.
        hay_at: 0,
        hay_len: 0,
        name_end: offset(name_end)?,
        text_end: offset(text_end)?,
        created_by: created_by.into(),
        created_at: r.try_get_by_index(9)?,
        expires_at: r.try_get_by_index(10)?,
        last_used_at: r.try_get_by_index(11)?,
        revoked: revoked_at.is_some(),
    };
    Ok(Some((row, hay)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The order of [`SortKey`] by name, as the rows' own order is.
    fn by_keys(a: &str, b: &str) -> Ordering {
        let row = |name: &str| Row {
            name: name.into(),
            name_key: TextKey::of(name),
            ..blank_row(DateTime::<Utc>::UNIX_EPOCH)
        };
        let rows = [row(a), row(b)];
        let f = KeyFilter {
            q: None,
            status: StatusFilter::All,
            expiration: None,
            sort: SortField::Name,
            order: SortOrder::Asc,
            prefix: String::new(),
        };
        let (x, y) = (
            SortKey::of(f.sort, &rows[0], 0),
            SortKey::of(f.sort, &rows[1], 1),
        );
        x.order(&y, &f, &rows)
    }

    #[test]
    fn text_sort_values_order_as_the_text_does() {
        let long = "0123456789abcdef";
        for (a, b) in [
            ("", "a"),
            ("a", "a\0"),
            ("a", "ab"),
            ("ab", "a\u{7f}"),
            ("é", "z"),
            (long, &format!("{long}0")),
            (&format!("{long}a"), &format!("{long}b")),
            (&format!("{long}b"), &format!("{long}b")),
            ("Zeta", "_underscore"),
        ] {
            assert_eq!(by_keys(a, b), a.cmp(b), "{a:?} {b:?}");
            assert_eq!(by_keys(b, a), b.cmp(a), "{b:?} {a:?}");
        }
    }

    #[test]
    fn time_sort_values_order_as_the_times_do() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let times = [
            at("1500-01-01T00:00:00Z"),
            at("1969-12-31T23:59:59.999999999Z"),
            at("1970-01-01T00:00:00Z"),
            at("1970-01-01T00:00:00.000000001Z"),
            at("2026-12-04T10:00:00.5Z"),
            at("2026-12-04T10:00:01Z"),
            at("2300-01-01T00:00:00Z"),
        ];
        let value = |t: DateTime<Utc>| {
            let mut r = blank_row(t);
            r.created_at = t;
            SortKey::of(SortField::CreatedAt, &r, 0).value
        };
        for w in times.windows(2) {
            assert!(value(w[0]) < value(w[1]), "{} {}", w[0], w[1]);
        }
    }

    fn blank_row(t: DateTime<Utc>) -> Row {
        Row {
            id: 1,
            key_id: "".into(),
            last4: "".into(),
            name: "".into(),
            hay_at: 0,
            hay_len: 0,
            name_end: 0,
            text_end: 0,
            created_by: "".into(),
            name_key: TextKey::of(""),
            created_by_key: TextKey::of(""),
            created_at: t,
            expires_at: None,
            last_used_at: None,
            revoked: false,
        }
    }

    proptest! {
        #[test]
        fn any_texts_order_by_their_sort_values_as_they_do(
            a in "[a-c\\x00é]{0,20}", b in "[a-c\\x00é]{0,20}"
        ) {
            prop_assert_eq!(by_keys(&a, &b), a.cmp(&b));
        }
    }
}
