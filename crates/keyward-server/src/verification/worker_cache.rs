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

use crate::db::UsageBatch;
use chrono::{DateTime, NaiveDate, Utc};
use keyward_core::key::KeyId;
use keyward_core::permission::PermissionSet;
use keyward_core::verify::ClientAddr;
use keyward_core::verify::{KeyRecord, MatchedSecret};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The most distinct permission sets a thread interns (one per group in use).
const MAX_PERMISSION_SETS: usize = 4096;

/// Per key and day: (tenant, succeeded, denied).
type Counts = HashMap<(KeyId, NaiveDate), (i64, i64, i64)>;

/// Usage gathered outside the entries: counts of entries that left a
/// cache, of past days, and of batches whose write failed.
#[derive(Debug, Default)]
pub struct UsageShard {
    counts: Counts,
    last_used: HashMap<KeyId, (DateTime<Utc>, ClientAddr)>,
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

    fn merge(&mut self, other: Self) {
        for ((id, day), (t, ok, denied)) in other.counts {
            self.add(id, day, t, ok, denied);
        }
        for (id, (at, ip)) in other.last_used {
            self.used(id, at, ip);
        }
    }

    pub fn into_batch(self) -> UsageBatch {
        UsageBatch {
            counts: self.counts.into_iter().collect(),
            last_used: self
                .last_used
                .into_iter()
                .map(|(id, (at, ip))| (id, (at, ip.to_string())))
                .collect(),
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
    fn count(
        &mut self,
        id: KeyId,
        tenant_id: i64,
        ok: bool,
        ip: ClientAddr,
        now: DateTime<Utc>,
        spill: &mut UsageShard,
    ) {
        // The stored UTC date: `date_naive` would apply the (zero) offset.
        let day = now.naive_utc().date();
        if self.day != Some(day) {
            self.drain_into(id, spill);
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

    fn drain_into(&mut self, id: KeyId, out: &mut UsageShard) {
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
/// verification by a remembered key touches is the slot's first 209 bytes;
/// the digests after them are read only when a key is new to the memo.
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
    usage: KeyUsage,
    /// The record, or its known absence.
    record: Option<KeyRecord>,
}

const _: () = assert!(std::mem::size_of::<Entry>() <= 280);

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
    /// returns, if any ((tenant, succeeded), from `ip`) in the entry.
    pub fn with_record<R>(
        &mut self,
        id: &KeyId,
        now: DateTime<Utc>,
        ip: ClientAddr,
        decide: impl FnOnce(Option<&KeyRecord>, &mut Option<SecretMemo>) -> (R, Option<(i64, bool)>),
    ) -> Option<R> {
        let Self { entries, spill, .. } = self;
        let Entry {
            record,
            fresh_until,
            usage,
            memo,
            ..
        } = entries.get_mut(id)?;
        if now >= *fresh_until {
            return None;
        }
        let (result, count) = decide(record.as_ref(), memo);
        if let Some((tenant_id, ok)) = count {
            usage.count(*id, tenant_id, ok, ip, now, spill);
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
    /// documentation), with its permission set interned.
    pub fn own_copy(&mut self, record: &KeyRecord) -> KeyRecord {
        if let Some(set) = self.permission_sets.get(&record.permissions) {
            return record.unshared(set.clone());
        }
        if self.permission_sets.len() >= MAX_PERMISSION_SETS {
            // Sets still in use stay with their records; only sharing is lost.
            self.permission_sets.clear();
        }
        let set = record.permissions.unshared();
        self.permission_sets.insert(set.clone());
        record.unshared(set)
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
                    e.usage.drain_into(*id, spill);
                }
                keep
            });
            if self.entries.len() >= capacity {
                let mut keep = false;
                self.entries.retain(|id, e| {
                    keep = !keep;
                    if !keep {
                        e.usage.drain_into(*id, spill);
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
                    },
                );
            }
        }
    }

    /// Counts a verification of a key that exists (in its entry when cached).
    pub fn count(
        &mut self,
        tenant_id: i64,
        id: KeyId,
        ok: bool,
        ip: ClientAddr,
        now: DateTime<Utc>,
    ) {
        let Self { entries, spill, .. } = self;
        match entries.get_mut(&id) {
            Some(e) => e.usage.count(id, tenant_id, ok, ip, now, spill),
            None => {
                let mut usage = KeyUsage::default();
                usage.count(id, tenant_id, ok, ip, now, spill);
                usage.drain_into(id, spill);
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
                    e.usage.drain_into(id, spill);
                }
            }
            Some(Changed { keys, groups }) => {
                for id in keys {
                    if let Some(mut e) = self.entries.remove(&id) {
                        e.usage.drain_into(id, spill);
                    }
                }
                if !groups.is_empty() {
                    self.entries.retain(|id, e| {
                        let hit = e
                            .record
                            .as_ref()
                            .is_some_and(|r| groups.contains(&r.group_id));
                        if hit {
                            e.usage.drain_into(*id, spill);
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

    /// Moves this thread's usage since the last flush into `out`.
    fn drain_into(&mut self, out: &mut UsageShard) {
        for (id, e) in &mut self.entries {
            e.usage.drain_into(*id, out);
        }
        out.merge(std::mem::take(&mut self.spill));
    }
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

    /// All usage gathered since the last call.
    pub fn take_usage(&self) -> UsageBatch {
        let mut all = std::mem::take(&mut *lock(&self.restored));
        for cell in self.per_thread.iter() {
            lock(cell).drain_into(&mut all);
        }
        all.into_batch()
    }

    /// Puts back a batch whose write failed, so that nothing is lost.
    pub fn restore(&self, failed: UsageBatch) {
        let mut r = lock(&self.restored);
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
            c.count(1, id(7), true, ip(1), at(20, 5));
            c.count(1, id(7), true, ip(2), at(20, 9));
            c.count(1, id(7), false, ip(3), at(20, 10));
            // The next day: yesterday's counts move aside, not lost.
            c.count(1, id(7), true, ip(4), at(21, 1));
            // A key not cached on this thread is counted too.
            c.count(2, id(8), false, ip(5), at(21, 2));
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
            c.count(1, id(7), true, ip(6), at(21, 3));
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
            c.count(1, id(9), true, ip(7), at(21, 4));
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
            c.count(1, id(1), true, ip(1), at(20, 1));
        }
        let batch = caches.take_usage();
        caches.restore(batch.clone());
        caches.mine().count(1, id(1), true, ip(2), at(20, 2));
        let again = caches.take_usage();
        assert_eq!(totals(&again, 1, 20), Some((1, 2, 0)));
        assert_eq!(last_used(&again, 1), Some((at(20, 2), "10.0.0.2".into())));
    }
}
