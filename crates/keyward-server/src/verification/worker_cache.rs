//! Each worker thread's own front cache of key records, with the usage of
//! each key counted in its entry.
//!
//! A verification by a cached key touches only memory of its own thread: one
//! hash lookup, whose slot holds the record itself (a private copy), the
//! key's secret memo and its usage counters, and one read of a shared epoch
//! that changes only when a key changes. Keeping it all in one slot matters
//! with many keys in use: a verification then misses the CPU caches once or
//! twice, not once per pointer followed. No lock word,
//! reference count or counter is written that another thread also writes,
//! so worker threads never bounce cache lines between cores on the hot path.
//!
//! Invalidation (see `coherence.rs`) bumps the epoch; a thread that sees
//! a new epoch drops the entries of the keys changed since it last looked
//! (or everything, after a group change) before it verifies anything.
//! Key ids are server-generated random strings and only ids of existing keys
//! are ever inserted, so the map uses a fast hasher (foldhash) rather than
//! SipHash: presented ids only look up, they cannot build collisions.
//! The flusher drains every thread's counters under each thread's lock,
//! which the thread itself takes uncontended on every verification.

use super::rate_limit::Lease;
use crate::db::UsageBatch;
use chrono::{DateTime, NaiveDate, Utc};
use keyward_core::key::KeyId;
use keyward_core::permission::PermissionSet;
use keyward_core::ratelimit::RatePolicy;
use keyward_core::verify::{AccessOutcome, ClientAddr};
use keyward_core::verify::{KeyRecord, MatchedSecret};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The most distinct permission sets (and rate-limit policies) a thread
/// interns (one per group in use).
const MAX_PERMISSION_SETS: usize = 4096;

/// The most access-log runs a thread holds between two flushes (and the
/// most put back after failed writes): beyond it runs are dropped and
/// counted, so memory stays bounded whatever arrives.
pub const MAX_ACCESS_RUNS: usize = 16_384;

/// The most bytes of a route an access log keeps.
pub const MAX_ROUTE_BYTES: usize = 200;

/// Where a key was presented: the route called with it and, when a
/// service verified it on a client's behalf, that service's key. The
/// route's text is `prefix path` (`GET /v1/whoami`) or just `path` when
/// the prefix is empty; kept in two parts so that a request can be
/// compared with the open run without building a string.
#[derive(Clone, Copy, Debug)]
pub struct Site<'a> {
    prefix: &'a str,
    path: &'a str,
    pub via: Option<KeyId>,
    /// A keyed hash of the route's text: what a verification compares with
    /// the open run (the run's text lives on the heap, a cache miss away).
    hash: u64,
}

/// The key of route hashes (random per process).
static ROUTE_HASH: std::sync::LazyLock<foldhash::quality::RandomState> =
    std::sync::LazyLock::new(foldhash::quality::RandomState::default);

fn route_hash(prefix: &str, path: &str) -> u64 {
    use std::hash::BuildHasher;
    ROUTE_HASH.hash_one((prefix, path))
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl<'a> Site<'a> {
    /// A request to `method path` (the path without its query).
    pub fn request(method: &'a str, path: &'a str) -> Self {
        let path = truncated(path, MAX_ROUTE_BYTES.saturating_sub(method.len() + 1));
        Self {
            prefix: method,
            path,
            via: None,
            hash: route_hash(method, path),
        }
    }

    /// A verification on a client's behalf by the service holding `via`,
    /// for the route it named (if any).
    pub fn on_behalf(route: &'a str, via: KeyId) -> Self {
        let path = truncated(route, MAX_ROUTE_BYTES);
        Self {
            prefix: "",
            path,
            via: Some(via),
            hash: route_hash("", path),
        }
    }

    #[cfg(test)]
    fn is_route(&self, route: &str) -> bool {
        if self.prefix.is_empty() {
            return route == self.path;
        }
        route.len() == self.prefix.len() + 1 + self.path.len()
            && route.starts_with(self.prefix)
            && route.as_bytes()[self.prefix.len()] == b' '
            && route.ends_with(self.path)
    }

    fn route(&self) -> Box<str> {
        if self.prefix.is_empty() {
            return self.path.into();
        }
        format!("{} {}", self.prefix, self.path).into_boxed_str()
    }
}

/// A verification of an existing key, as the access log and usage count it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    pub tenant_id: i64,
    pub outcome: AccessOutcome,
    /// The missing permission, for `insufficient_permissions`.
    pub detail: Option<Box<str>>,
}

/// Consecutive verifications of one key on one thread with the same
/// address, outcome, detail and route: one access-log row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRun {
    /// What a verification compares and writes come first.
    route_hash: u64,
    pub count: u64,
    pub last: DateTime<Utc>,
    pub client: ClientAddr,
    pub via: Option<KeyId>,
    pub outcome: AccessOutcome,
    pub detail: Option<Box<str>>,
    pub tenant_id: i64,
    pub first: DateTime<Utc>,
    pub route: Box<str>,
}

impl AccessRun {
    fn start(u: Use, ip: ClientAddr, now: DateTime<Utc>, site: &Site<'_>) -> Self {
        Self {
            route_hash: site.hash,
            count: 1,
            last: now,
            client: ip,
            via: site.via,
            outcome: u.outcome,
            detail: u.detail,
            tenant_id: u.tenant_id,
            first: now,
            route: site.route(),
        }
    }

    /// Whether a verification continues this run.
    fn continues(&self, u: &Use, ip: ClientAddr, site: &Site<'_>) -> bool {
        self.outcome == u.outcome
            && self.client == ip
            && self.via == site.via
            && self.route_hash == site.hash
            && self.detail == u.detail
    }

    /// Whether two runs can be one row (everything but times and count equal).
    fn same_row(&self, other: &Self) -> bool {
        self.outcome == other.outcome
            && self.client == other.client
            && self.via == other.via
            && self.detail == other.detail
            && self.route == other.route
    }

    fn absorb(&mut self, other: &Self) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.count += other.count;
    }
}

/// Per key and day: (tenant, succeeded, denied).
type Counts = HashMap<(KeyId, NaiveDate), (i64, i64, i64)>;

/// Usage gathered outside the entries: counts of entries that left a
/// cache, of past days, and of batches whose write failed.
#[derive(Debug, Default)]
pub struct UsageShard {
    counts: Counts,
    last_used: HashMap<KeyId, (DateTime<Utc>, ClientAddr)>,
    /// Closed access-log runs, at most [`MAX_ACCESS_RUNS`].
    access: Vec<(KeyId, AccessRun)>,
    /// Runs dropped because `access` was full.
    dropped_runs: u64,
}

impl UsageShard {
    pub fn add(&mut self, id: KeyId, day: NaiveDate, tenant_id: i64, ok: i64, denied: i64) {
        let e = self.counts.entry((id, day)).or_insert((tenant_id, 0, 0));
        e.1 += ok;
        e.2 += denied;
    }

    pub fn used(&mut self, id: KeyId, at: DateTime<Utc>, ip: ClientAddr) {
        let cur = self.last_used.entry(id).or_insert((at, ip));
        if cur.0 < at {
            *cur = (at, ip);
        }
    }

    /// Takes `other`'s access-log runs (and their dropped count) back.
    fn keep_runs_of(&mut self, other: &mut Self) {
        self.access = std::mem::take(&mut other.access);
        self.dropped_runs = std::mem::take(&mut other.dropped_runs);
    }

    /// Keeps a closed run, unless the shard holds its most already.
    pub fn push_run(&mut self, id: KeyId, run: AccessRun) {
        if self.access.len() < MAX_ACCESS_RUNS {
            self.access.push((id, run));
        } else {
            self.dropped_runs += 1;
        }
    }

    fn merge(&mut self, other: Self) {
        for ((id, day), (t, ok, denied)) in other.counts {
            self.add(id, day, t, ok, denied);
        }
        for (id, (at, ip)) in other.last_used {
            self.used(id, at, ip);
        }
        for (id, run) in other.access {
            self.push_run(id, run);
        }
        self.dropped_runs += other.dropped_runs;
    }

    /// The batch to write: runs of the same key and row (from several
    /// threads, or interleaved on one) become one row, in the order of
    /// their first verification.
    pub fn into_batch(self) -> UsageBatch {
        let mut rows: HashMap<KeyId, Vec<AccessRun>> = HashMap::new();
        for (id, run) in self.access {
            let runs = rows.entry(id).or_default();
            match runs.iter_mut().find(|r| r.same_row(&run)) {
                Some(r) => r.absorb(&run),
                None => runs.push(run),
            }
        }
        let mut access: Vec<(KeyId, AccessRun)> = rows
            .into_iter()
            .flat_map(|(id, runs)| runs.into_iter().map(move |r| (id, r)))
            .collect();
        access.sort_by_key(|(id, run)| (run.first, *id));
        UsageBatch {
            counts: self.counts.into_iter().collect(),
            last_used: self
                .last_used
                .into_iter()
                .map(|(id, (at, ip))| (id, (at, ip.to_string())))
                .collect(),
            access,
            dropped_runs: self.dropped_runs,
        }
    }
}

/// One key's usage on one thread since the last flush, for one day.
#[derive(Debug, Default)]
struct KeyUsage {
    day: Option<NaiveDate>,
    tenant_id: i64,
    ok: i64,
    denied: i64,
    last: Option<(DateTime<Utc>, ClientAddr)>,
}

impl KeyUsage {
    /// Counts a use, and continues or starts the key's open access-log
    /// `run` (kept at the end of the slot: see [`Entry`]).
    #[allow(clippy::too_many_arguments)]
    fn count(
        &mut self,
        run: &mut Option<AccessRun>,
        id: KeyId,
        u: Use,
        ip: ClientAddr,
        now: DateTime<Utc>,
        site: &Site<'_>,
        spill: &mut UsageShard,
    ) {
        match run {
            Some(run) if run.continues(&u, ip, site) => {
                run.count += 1;
                run.last = run.last.max(now);
            }
            open => {
                if let Some(closed) = open.take() {
                    spill.push_run(id, closed);
                }
                *open = Some(AccessRun::start(u.clone(), ip, now, site));
            }
        }
        if !u.outcome.is_use() {
            return;
        }
        let (tenant_id, ok) = (u.tenant_id, u.outcome == AccessOutcome::Allowed);
        // The stored UTC date: `date_naive` would apply the (zero) offset.
        let day = now.naive_utc().date();
        if self.day != Some(day) {
            self.drain_counts_into(id, spill);
            self.day = Some(day);
            self.tenant_id = tenant_id;
        }
        if ok {
            self.ok += 1;
            if self.last.is_none_or(|(at, _)| at < now) {
                self.last = Some((now, ip));
            }
        } else {
            self.denied += 1;
        }
    }

    fn drain_into(&mut self, run: &mut Option<AccessRun>, id: KeyId, out: &mut UsageShard) {
        self.drain_counts_into(id, out);
        if let Some(run) = run.take() {
            out.push_run(id, run);
        }
    }

    fn drain_counts_into(&mut self, id: KeyId, out: &mut UsageShard) {
        if let Some(day) = self.day
            && (self.ok != 0 || self.denied != 0)
        {
            out.add(id, day, self.tenant_id, self.ok, self.denied);
        }
        self.ok = 0;
        self.denied = 0;
        if let Some((at, ip)) = self.last.take() {
            out.used(id, at, ip);
        }
    }
}

/// How long a copied record may be used, from the shared cache entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    pub until: DateTime<Utc>,
    /// From then on (before `until`) the shared entry is due for a
    /// background reload, if the key is in use.
    pub refresh_from: DateTime<Utc>,
}

/// A presented key known to carry one of its record's secrets, kept as a
/// keyed 128-bit SipHash-2-4 tag of the key (never the key): a repeated
/// presentation is recognised without recomputing the HMAC. The tag's key is
/// random per process; the memo dies with the entry, i.e. with any change
/// of the record.
#[derive(Clone, Copy, Debug)]
pub struct SecretMemo {
    /// Two `u64`s rather than a `u128`, whose 16-byte alignment would pad
    /// every entry.
    pub tag: [u64; 2],
    pub secret: MatchedSecret,
}

/// A key's slot: the record lives in it (not behind a pointer), so that a
/// verification reads one contiguous stretch of memory. The fields are in
/// the order a verification reads them, and the record's own hot fields
/// come first (see `KeyRecord`): with the 12-byte key in front, what a
/// verification by a remembered key touches is the slot's first 257 bytes
/// (225 without the rate-limit lease, 32 bytes, which a key with a limit
/// reads and writes instead of the budget other threads share); the
/// digests after them are read only when a key is new to the memo.
#[derive(Debug)]
#[repr(C)]
struct Entry {
    /// The end of the shared cache entry's lifetime it was copied from.
    fresh_until: DateTime<Utc>,
    /// From then on the background refresher reloads the shared entry
    /// (once per copy: see [`WorkerCaches::due_for_reload`]), so that a key
    /// in use never waits for the database when its entry expires.
    refresh_from: DateTime<Utc>,
    memo: Option<SecretMemo>,
    /// The thread's lease of the key's rate-limit budget, if it has a limit.
    lease: Lease,
    usage: KeyUsage,
    /// The record, or its known absence.
    record: Option<KeyRecord>,
    /// The key's open access-log run: last, so that the record's hot
    /// fields stay next to the memo; a verification that continues it
    /// reads and writes its first 64 bytes.
    run: Option<AccessRun>,
}

const _: () = assert!(std::mem::size_of::<Entry>() <= 448);

/// The keys and groups changed since a thread last caught up.
#[derive(Debug, Default)]
pub struct Changed {
    pub keys: Vec<KeyId>,
    pub groups: Vec<i64>,
}

/// One thread's cache: see the module documentation.
#[derive(Debug, Default)]
pub struct WorkerCache {
    /// The invalidation epoch this thread has applied.
    seen_epoch: u64,
    entries: HashMap<KeyId, Entry, foldhash::fast::RandomState>,
    /// Usage of entries that left `entries` since the last flush.
    spill: UsageShard,
    /// The permission sets of this thread's records, one allocation per
    /// distinct set: the keys of a group share one, so a verification reads
    /// a set that stays in the core's cache instead of one per key.
    permission_sets: HashSet<PermissionSet>,
    /// The rate-limit policies of this thread's records, interned in the
    /// same way (a group's keys share their group's policy).
    policies: HashSet<Arc<RatePolicy>>,
    /// How this thread's lookups went (for the metrics).
    pub lookups: Lookups,
}

/// Verification cache lookups of one thread, or of all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookups {
    /// Found in the thread's own cache.
    pub thread_hits: u64,
    /// Copied from the shared cache.
    pub shared_hits: u64,
    /// Answered by the known-id set: no such key.
    pub unknown_ids: u64,
}

impl WorkerCache {
    /// Whether a record of `id` is cached and fresh at `now`.
    #[cfg(test)]
    pub fn contains(&self, id: &KeyId, now: DateTime<Utc>) -> bool {
        self.get(id, now).is_some()
    }

    /// The cached record of `id` when fresh at `now`.
    #[cfg(test)]
    fn get(&self, id: &KeyId, now: DateTime<Utc>) -> Option<&Option<KeyRecord>> {
        self.entries
            .get(id)
            .filter(|e| now < e.fresh_until)
            .map(|e| &e.record)
    }

    /// With one lookup: runs `decide` on the record of `id` (and its secret
    /// memo) when it is cached and fresh at `now`, and counts the use it
    /// returns, if any (from `ip`, at `site`) in the entry.
    pub fn with_record<R>(
        &mut self,
        id: &KeyId,
        now: DateTime<Utc>,
        ip: ClientAddr,
        site: &Site<'_>,
        decide: impl FnOnce(Option<&KeyRecord>, &mut Option<SecretMemo>, &mut Lease) -> (R, Option<Use>),
    ) -> Option<R> {
        let Self { entries, spill, .. } = self;
        let Entry {
            record,
            fresh_until,
            usage,
            memo,
            lease,
            run,
            ..
        } = entries.get_mut(id)?;
        if now >= *fresh_until {
            return None;
        }
        let (result, count) = decide(record.as_ref(), memo, lease);
        if let Some(u) = count {
            usage.count(run, *id, u, ip, now, site, spill);
        }
        Some(result)
    }

    /// Adds to `out` the ids whose copy is in its reload window at `now`,
    /// once per copy (the next copy, taken from the reloaded shared entry,
    /// has a window of its own).
    fn due_for_reload(&mut self, now: DateTime<Utc>, out: &mut Vec<KeyId>) {
        for (id, e) in &mut self.entries {
            if e.refresh_from <= now && now < e.fresh_until {
                e.refresh_from = e.fresh_until;
                out.push(*id);
            }
        }
    }

    /// A copy of a shared record that this thread owns (see the module
    /// documentation), with its permission set and rate limit interned.
    pub fn own_copy(&mut self, record: &KeyRecord) -> KeyRecord {
        let set = interned(&mut self.permission_sets, &record.permissions, || {
            record.permissions.unshared()
        });
        // Its own copy: a shared count is a shared cache line.
        let policy = record
            .rate_limit
            .as_deref()
            .map(|p| interned(&mut self.policies, p, || Arc::new(p.clone())));
        record.unshared(set, policy)
    }

    /// Caches a record copied from the shared cache; when full, expired
    /// entries go first, then an arbitrary half (their usage is kept).
    /// Replacing an equal record (a reload that found no change) keeps the
    /// secret memo: it depends only on the record's digests.
    pub fn insert(
        &mut self,
        id: KeyId,
        record: Option<KeyRecord>,
        fresh: Freshness,
        now: DateTime<Utc>,
        capacity: usize,
    ) {
        if self.entries.len() >= capacity && !self.entries.contains_key(&id) {
            let spill = &mut self.spill;
            self.entries.retain(|id, e| {
                let keep = now < e.fresh_until;
                if !keep {
                    e.usage.drain_into(&mut e.run, *id, spill);
                }
                keep
            });
            if self.entries.len() >= capacity {
                let mut keep = false;
                self.entries.retain(|id, e| {
                    keep = !keep;
                    if !keep {
                        e.usage.drain_into(&mut e.run, *id, spill);
                    }
                    keep
                });
            }
        }
        match self.entries.get_mut(&id) {
            Some(e) => {
                if e.record != record {
                    e.record = record;
                    e.memo = None;
                    // Its units are not given back (its policy may be gone).
                    e.lease = Lease::default();
                }
                e.fresh_until = fresh.until;
                e.refresh_from = fresh.refresh_from;
            }
            None => {
                self.entries.insert(
                    id,
                    Entry {
                        record,
                        fresh_until: fresh.until,
                        refresh_from: fresh.refresh_from,
                        usage: KeyUsage::default(),
                        memo: None,
                        lease: Lease::default(),
                        run: None,
                    },
                );
            }
        }
    }

    /// Counts a verification of a key that exists (in its entry when cached).
    pub fn count(
        &mut self,
        id: KeyId,
        u: Use,
        ip: ClientAddr,
        now: DateTime<Utc>,
        site: &Site<'_>,
    ) {
        let Self { entries, spill, .. } = self;
        match entries.get_mut(&id) {
            Some(e) => e.usage.count(&mut e.run, id, u, ip, now, site, spill),
            None => {
                let (mut usage, mut run) = (KeyUsage::default(), None);
                usage.count(&mut run, id, u, ip, now, site, spill);
                usage.drain_into(&mut run, id, spill);
            }
        }
    }

    /// Applies invalidations: `None` drops every entry, else the entries
    /// of the given keys and of the keys of the given groups.
    pub fn apply(&mut self, epoch: u64, changed: Option<Changed>) {
        let spill = &mut self.spill;
        match changed {
            None => {
                for (id, mut e) in self.entries.drain() {
                    e.usage.drain_into(&mut e.run, id, spill);
                }
            }
            Some(Changed { keys, groups }) => {
                for id in keys {
                    if let Some(mut e) = self.entries.remove(&id) {
                        e.usage.drain_into(&mut e.run, id, spill);
                    }
                }
                if !groups.is_empty() {
                    self.entries.retain(|id, e| {
                        let hit = e
                            .record
                            .as_ref()
                            .and_then(|r| r.group_id)
                            .is_some_and(|g| groups.contains(&g.get()));
                        if hit {
                            e.usage.drain_into(&mut e.run, *id, spill);
                        }
                        !hit
                    });
                }
            }
        }
        self.seen_epoch = epoch;
    }

    pub fn seen_epoch(&self) -> u64 {
        self.seen_epoch
    }

    /// Moves this thread's usage since the last flush into `out`, with
    /// the access-log runs (open ones closed) when `with_runs`.
    fn drain_into(&mut self, out: &mut UsageShard, with_runs: bool) {
        for (id, e) in &mut self.entries {
            if with_runs {
                e.usage.drain_into(&mut e.run, *id, out);
            } else {
                e.usage.drain_counts_into(*id, out);
            }
        }
        let mut spill = std::mem::take(&mut self.spill);
        if !with_runs {
            self.spill.keep_runs_of(&mut spill);
        }
        out.merge(spill);
    }
}

/// The thread's own value equal to `value`, from `set`, or made by `own`
/// and kept; a set holding [`MAX_PERMISSION_SETS`] is emptied first
/// (values still in use stay with their records: only sharing is lost).
fn interned<K, T>(set: &mut HashSet<T>, value: &K, own: impl FnOnce() -> T) -> T
where
    K: std::hash::Hash + Eq + ?Sized,
    T: std::borrow::Borrow<K> + std::hash::Hash + Eq + Clone,
{
    if let Some(mine) = set.get(value) {
        return mine.clone();
    }
    if set.len() >= MAX_PERMISSION_SETS {
        set.clear();
    }
    let mine = own();
    set.insert(mine.clone());
    mine
}

/// Every worker thread's cache, and the usage put back after failed writes.
#[derive(Debug, Default)]
pub struct WorkerCaches {
    per_thread: thread_local::ThreadLocal<Mutex<WorkerCache>>,
    restored: Mutex<UsageShard>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WorkerCaches {
    /// The calling thread's cache (its lock is uncontended but for flushes).
    pub fn mine(&self) -> MutexGuard<'_, WorkerCache> {
        lock(self.per_thread.get_or_default())
    }

    /// Every thread's lookups, summed.
    pub fn lookups(&self) -> Lookups {
        let mut all = Lookups::default();
        for cell in self.per_thread.iter() {
            let l = lock(cell).lookups;
            all.thread_hits += l.thread_hits;
            all.shared_hits += l.shared_hits;
            all.unknown_ids += l.unknown_ids;
        }
        all
    }

    /// The keys in use whose shared entry is due for a background reload:
    /// every thread's copies in their reload window. A thread copies a
    /// record when it uses the key, and copies it again from the reloaded
    /// entry only when it uses the key again, so a key nobody uses any more
    /// is reloaded at most once more and then left to expire.
    pub fn due_for_reload(&self, now: DateTime<Utc>) -> Vec<KeyId> {
        let mut ids = Vec::new();
        for cell in self.per_thread.iter() {
            lock(cell).due_for_reload(now, &mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// All usage gathered since the last call, with the access-log runs
    /// when `with_runs` (they are written less often: a key in steady use
    /// then makes one row per access-log flush, not one per usage flush).
    pub fn take_usage_and(&self, with_runs: bool) -> UsageBatch {
        let mut all = {
            let mut restored = lock(&self.restored);
            let mut all = std::mem::take(&mut *restored);
            if !with_runs {
                restored.keep_runs_of(&mut all);
            }
            all
        };
        for cell in self.per_thread.iter() {
            lock(cell).drain_into(&mut all, with_runs);
        }
        all.into_batch()
    }

    /// All usage and access-log runs gathered since the last call.
    pub fn take_usage(&self) -> UsageBatch {
        self.take_usage_and(true)
    }

    /// Puts back a batch whose write failed, so that nothing is lost
    /// (access-log runs up to the bound).
    pub fn restore(&self, failed: UsageBatch) {
        let mut r = lock(&self.restored);
        for (id, run) in failed.access {
            r.push_run(id, run);
        }
        for ((id, day), (t, ok, denied)) in failed.counts {
            r.add(id, day, t, ok, denied);
        }
        for (id, (at, ip)) in failed.last_used {
            if let Some(ip) = ClientAddr::parse(&ip) {
                r.used(id, at, ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn id(i: u32) -> KeyId {
        KeyId::parse(&format!("00000000{i:04}")).unwrap()
    }

    fn at(day: u32, secs: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 0, 0, secs).unwrap()
    }

    fn fresh(until: DateTime<Utc>) -> Freshness {
        Freshness {
            until,
            refresh_from: until,
        }
    }

    fn used(tenant_id: i64, ok: bool) -> Use {
        Use {
            tenant_id,
            outcome: if ok {
                AccessOutcome::Allowed
            } else {
                AccessOutcome::Revoked
            },
            detail: None,
        }
    }

    fn whoami() -> Site<'static> {
        Site::request("GET", "/v1/whoami")
    }

    fn ip(last: u8) -> ClientAddr {
        ClientAddr::from(std::net::IpAddr::from([10, 0, 0, last]))
    }

    fn totals(batch: &UsageBatch, key: u32, day: u32) -> Option<(i64, i64, i64)> {
        batch
            .counts
            .get(&(id(key), at(day, 0).date_naive()))
            .copied()
    }

    fn last_used(batch: &UsageBatch, key: u32) -> Option<(DateTime<Utc>, String)> {
        batch.last_used.get(&id(key)).cloned()
    }

    #[test]
    fn counts_add_up_per_day_and_survive_invalidation_and_eviction() {
        let caches = WorkerCaches::default();
        {
            let mut c = caches.mine();
            for k in 0..3 {
                c.insert(id(k), None, fresh(at(30, 59)), at(20, 0), 2);
            }
            assert!(c.entries.len() <= 2, "bounded: {}", c.entries.len());
            c.insert(id(7), None, fresh(at(30, 59)), at(20, 0), 100);
            c.count(id(7), used(1, true), ip(1), at(20, 5), &whoami());
            c.count(id(7), used(1, true), ip(2), at(20, 9), &whoami());
            c.count(id(7), used(1, false), ip(3), at(20, 10), &whoami());
            // The next day: yesterday's counts move aside, not lost.
            c.count(id(7), used(1, true), ip(4), at(21, 1), &whoami());
            // A key not cached on this thread is counted too.
            c.count(id(8), used(2, false), ip(5), at(21, 2), &whoami());
        }
        let batch = caches.take_usage();
        assert_eq!(totals(&batch, 7, 20), Some((1, 2, 1)));
        assert_eq!(totals(&batch, 7, 21), Some((1, 1, 0)));
        assert_eq!(totals(&batch, 8, 21), Some((2, 0, 1)));
        assert_eq!(last_used(&batch, 7), Some((at(21, 1), "10.0.0.4".into())));
        assert_eq!(last_used(&batch, 8), None, "denied uses are not last uses");
        assert!(caches.take_usage().is_empty(), "taken once");

        {
            let mut c = caches.mine();
            c.count(id(7), used(1, true), ip(6), at(21, 3), &whoami());
            c.apply(
                5,
                Some(Changed {
                    keys: vec![id(7)],
                    groups: vec![],
                }),
            );
            assert_eq!(c.seen_epoch(), 5);
            assert!(c.get(&id(7), at(21, 4)).is_none(), "dropped");
            c.insert(id(9), None, fresh(at(30, 59)), at(21, 0), 100);
            c.count(id(9), used(1, true), ip(7), at(21, 4), &whoami());
            c.apply(6, None);
            assert!(c.entries.is_empty());
        }
        let batch = caches.take_usage();
        assert_eq!(totals(&batch, 7, 21), Some((1, 1, 0)));
        assert_eq!(totals(&batch, 9, 21), Some((1, 1, 0)));
    }

    #[test]
    fn entries_expire_and_failed_batches_come_back() {
        let caches = WorkerCaches::default();
        {
            let mut c = caches.mine();
            c.insert(id(1), None, fresh(at(20, 30)), at(20, 0), 100);
            assert!(c.get(&id(1), at(20, 29)).is_some());
            assert!(c.get(&id(1), at(20, 30)).is_none(), "expired");
            c.count(id(1), used(1, true), ip(1), at(20, 1), &whoami());
        }
        let batch = caches.take_usage();
        caches.restore(batch.clone());
        caches
            .mine()
            .count(id(1), used(1, true), ip(2), at(20, 2), &whoami());
        let again = caches.take_usage();
        assert_eq!(totals(&again, 1, 20), Some((1, 2, 0)));
        assert_eq!(last_used(&again, 1), Some((at(20, 2), "10.0.0.2".into())));
    }

    fn runs(batch: &UsageBatch, key: u32) -> Vec<(u64, String, AccessOutcome, String)> {
        batch
            .access
            .iter()
            .filter(|(k, _)| *k == id(key))
            .map(|(_, r)| {
                (
                    r.count,
                    r.client.to_string(),
                    r.outcome,
                    r.route.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn repeated_verifications_are_one_access_row_and_changes_start_another() {
        let caches = WorkerCaches::default();
        let orders = Site::request("POST", "/orders");
        {
            let mut c = caches.mine();
            c.insert(id(1), None, fresh(at(30, 59)), at(20, 0), 100);
            for s in 1..=3 {
                c.count(id(1), used(1, true), ip(1), at(20, s), &whoami());
            }
            c.count(id(1), used(1, true), ip(1), at(20, 4), &orders);
            c.count(id(1), used(1, true), ip(2), at(20, 5), &orders);
            // Interleaved on one thread: the same row again.
            c.count(id(1), used(1, true), ip(1), at(20, 6), &whoami());
            let wrong = Use {
                tenant_id: 1,
                outcome: AccessOutcome::WrongSecret,
                detail: None,
            };
            c.count(id(1), wrong, ip(3), at(20, 7), &whoami());
        }
        // Another thread's runs of the same row merge with this one's.
        std::thread::scope(|s| {
            s.spawn(|| {
                caches
                    .mine()
                    .count(id(1), used(1, true), ip(1), at(20, 8), &whoami());
            });
        });
        let batch = caches.take_usage();
        let route = |r: &str| r.to_owned();
        assert_eq!(
            runs(&batch, 1),
            vec![
                (
                    5,
                    "10.0.0.1".into(),
                    AccessOutcome::Allowed,
                    route("GET /v1/whoami")
                ),
                (
                    1,
                    "10.0.0.1".into(),
                    AccessOutcome::Allowed,
                    route("POST /orders")
                ),
                (
                    1,
                    "10.0.0.2".into(),
                    AccessOutcome::Allowed,
                    route("POST /orders")
                ),
                (
                    1,
                    "10.0.0.3".into(),
                    AccessOutcome::WrongSecret,
                    route("GET /v1/whoami")
                ),
            ]
        );
        let (_, first) = &batch.access[0];
        assert_eq!((first.first, first.last), (at(20, 1), at(20, 8)));
        assert_eq!(
            totals(&batch, 1, 20),
            Some((1, 7, 0)),
            "a wrong secret is logged but is no use of the key"
        );
    }

    #[test]
    fn on_behalf_routes_and_long_paths() {
        let via = id(9);
        let site = Site::on_behalf("GET /orders", via);
        assert!(site.is_route("GET /orders"));
        assert_eq!(&*site.route(), "GET /orders");
        let long = "/é".repeat(200);
        let site = Site::request("GET", &long);
        let route = site.route();
        assert!(route.len() <= MAX_ROUTE_BYTES, "{}", route.len());
        assert!(site.is_route(&route));
        assert!(!site.is_route("GET /other"));
        assert!(!Site::request("GET", "/a").is_route("GETX/a"));
    }

    #[test]
    fn access_runs_are_bounded_per_thread() {
        let caches = WorkerCaches::default();
        {
            let mut c = caches.mine();
            for n in 0..(MAX_ACCESS_RUNS as u32 + 10) {
                let addr = ClientAddr::from(std::net::IpAddr::from(n.to_be_bytes()));
                c.count(id(1), used(1, true), addr, at(20, 1), &whoami());
            }
        }
        let batch = caches.take_usage();
        assert_eq!(batch.access.len(), MAX_ACCESS_RUNS);
        assert_eq!(
            batch.dropped_runs, 10,
            "the runs past the bound are dropped and counted"
        );
        assert_eq!(
            totals(&batch, 1, 20),
            Some((1, i64::from(MAX_ACCESS_RUNS as u32 + 10), 0))
        );
    }

    #[test]
    fn usage_can_be_taken_without_the_access_runs() {
        let caches = WorkerCaches::default();
        {
            let mut c = caches.mine();
            c.insert(id(1), None, fresh(at(30, 59)), at(20, 0), 100);
            c.count(id(1), used(1, true), ip(1), at(20, 1), &whoami());
            c.count(id(1), used(1, true), ip(2), at(20, 2), &whoami());
        }
        let counts_only = caches.take_usage_and(false);
        assert_eq!(totals(&counts_only, 1, 20), Some((1, 2, 0)));
        assert!(counts_only.access.is_empty());
        caches
            .mine()
            .count(id(1), used(1, true), ip(2), at(20, 3), &whoami());
        let all = caches.take_usage();
        assert_eq!(totals(&all, 1, 20), Some((1, 1, 0)), "counted once");
        assert_eq!(
            runs(&all, 1),
            vec![
                (
                    1,
                    "10.0.0.1".into(),
                    AccessOutcome::Allowed,
                    "GET /v1/whoami".into()
                ),
                (
                    2,
                    "10.0.0.2".into(),
                    AccessOutcome::Allowed,
                    "GET /v1/whoami".into()
                ),
            ],
            "the runs waited, the open one kept counting"
        );
    }
}
