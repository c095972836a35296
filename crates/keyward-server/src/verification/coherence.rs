//! The cache-coherence protocol of verification: what the shared record
//! cache may hold, and how a change of a key reaches every copy of it.
//!
//! State: the shared [`RecordCache`], the set of existing key ids, and an
//! invalidation *epoch* with the recent per-key invalidations (epoch, when).
//!
//! - **Invalidation** ([`Coherence::invalidate`], and
//!   [`Coherence::invalidate_group`] for every key of a group whose
//!   permissions changed): the shared entry goes
//!   first, then the epoch moves, then the id joins the known ids. A worker
//!   thread that copied the old shared entry did so before the epoch moved,
//!   so it drops its copy when it next catches up ([`Coherence::catch_up`]).
//!   A change notice proves the id exists (it may be a new key).
//! - **Loads** ([`Coherence::read_started`] then [`Coherence::loaded`]): a
//!   record read from the database is only cached when no invalidation of
//!   its id (or its group) happened since the read started; otherwise the
//!   row read may predate the change. The request that read it may still
//!   use it (it ran concurrently with the change), but nothing later does:
//!   no retry loop that a stream of changes could keep spinning.
//! - **Known ids** ([`Coherence::known_ids_read`]): a reload of every id
//!   keeps the ids announced while it read (a key created during the read
//!   may be missing from it).
//! - Invalidations older than a minute are pruned from the per-key map once
//!   it holds 10,000; a reader that started before a pruned invalidation
//!   treats every id as invalidated, which is always safe.
//!
//! Nothing here does I/O; the interleavings are unit-tested below.

use super::record_cache::RecordCache;
use super::worker_cache::{Changed, Freshness, WorkerCache};
use chrono::{DateTime, Utc};
use keyward_core::key::KeyId;
use keyward_core::verify::KeyRecord;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Every key id in the database. Only ids of existing keys go in, so a
/// fast hasher is safe (presented ids only look up).
pub type KnownIds = HashSet<KeyId, foldhash::fast::RandomState>;

/// Recent invalidations: per key and per group, (epoch, when).
#[derive(Debug, Default)]
struct Recent {
    keys: HashMap<KeyId, (u64, Instant)>,
    groups: HashMap<i64, (u64, Instant)>,
}

impl Recent {
    /// Drops invalidations older than [`PRUNE_AGE`] once there are more
    /// than [`PRUNE_ABOVE`]; returns the newest epoch dropped (0: none).
    fn prune(&mut self) -> u64 {
        if self.keys.len() + self.groups.len() <= PRUNE_ABOVE {
            return 0;
        }
        let mut pruned = 0;
        let mut keep = |(e, at): &mut (u64, Instant)| {
            let keep = at.elapsed() < PRUNE_AGE;
            if !keep {
                pruned = pruned.max(*e);
            }
            keep
        };
        self.keys.retain(|_, v| keep(v));
        self.groups.retain(|_, v| keep(v));
        pruned
    }
}

/// The invalidation map is pruned of entries older than this once
/// it holds [`PRUNE_ABOVE`] ids.
const PRUNE_AGE: Duration = Duration::from_secs(60);
const PRUNE_ABOVE: usize = 10_000;

/// What the shared cache knows of a key id.
#[derive(Debug)]
pub enum Lookup {
    /// The record (or its known absence), and how long it may be used.
    Cached(Option<Arc<KeyRecord>>, Freshness),
    /// The id is not in the database.
    Unknown,
    /// The id exists but its record must be read.
    Load,
}

/// The epoch at which a database read started (see [`Coherence::loaded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct ReadTicket(u64);

#[derive(Debug)]
pub struct Coherence {
    /// Records shared by all threads (filled from the database).
    cache: RecordCache,
    /// Recent invalidations of keys and groups (epoch, when).
    invalidated: Mutex<Recent>,
    /// Bumped (under `invalidated`'s lock) by every invalidation.
    epoch: AtomicU64,
    /// The epoch of the last [`Coherence::invalidate_all`].
    all_invalidated: AtomicU64,
    /// The newest epoch dropped from `invalidated` when it was pruned.
    pruned_epoch: AtomicU64,
    known_ids: RwLock<KnownIds>,
}

impl Coherence {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            cache: RecordCache::new(capacity, ttl),
            invalidated: Mutex::default(),
            epoch: AtomicU64::new(1),
            all_invalidated: AtomicU64::new(0),
            pruned_epoch: AtomicU64::new(0),
            known_ids: RwLock::default(),
        }
    }

    fn lock_invalidated(&self) -> MutexGuard<'_, Recent> {
        self.invalidated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Call before reading records or ids from the database.
    pub fn read_started(&self) -> ReadTicket {
        ReadTicket(self.epoch.load(Ordering::SeqCst))
    }

    /// Drops a key's cached records (before the mutating request responds).
    pub fn invalidate(&self, id: KeyId) {
        self.cache.invalidate(&id);
        let mut inv = self.lock_invalidated();
        self.pruned_epoch.fetch_max(inv.prune(), Ordering::SeqCst);
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        inv.keys.insert(id, (e, Instant::now()));
        drop(inv);
        self.known_ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    /// Drops the cached records of every key of a group (its permissions
    /// changed); other groups' keys, of this tenant or another, keep theirs.
    pub fn invalidate_group(&self, group_id: i64) {
        self.cache.invalidate_group(group_id);
        let mut inv = self.lock_invalidated();
        self.pruned_epoch.fetch_max(inv.prune(), Ordering::SeqCst);
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        inv.groups.insert(group_id, (e, Instant::now()));
    }

    /// Drops every cached record (lost notifications).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
        let _inv = self.lock_invalidated();
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.all_invalidated.store(e, Ordering::SeqCst);
    }

    /// Whether an invalidation of `id` (or of `group`) happened after
    /// `ticket` was taken.
    fn invalidated_since(&self, id: &KeyId, group: Option<i64>, ticket: ReadTicket) -> bool {
        let inv = self.lock_invalidated();
        let after = |(e, _): &(u64, Instant)| *e > ticket.0;
        self.all_invalidated.load(Ordering::SeqCst) > ticket.0
            || self.pruned_epoch.load(Ordering::SeqCst) > ticket.0
            || inv.keys.get(id).is_some_and(after)
            || group.and_then(|g| inv.groups.get(&g)).is_some_and(after)
    }

    /// Keeps a record read since `ticket` in the shared cache, unless the
    /// key or its group changed meanwhile: then the entry is dropped again
    /// and `false` says that the record may be stale (only the request that
    /// read it may use it).
    pub fn loaded(&self, id: KeyId, record: Option<Arc<KeyRecord>>, ticket: ReadTicket) -> bool {
        let group = record
            .as_ref()
            .and_then(|r| r.group_id.map(std::num::NonZeroI64::get));
        self.cache.insert(id, record);
        if self.invalidated_since(&id, group, ticket) {
            self.cache.invalidate(&id);
            return false;
        }
        true
    }

    /// [`Self::loaded`] for a batch read by a background reload: an id
    /// whose key changed while it was read is dropped (its next use reads
    /// it afresh).
    pub fn reloaded(
        &self,
        records: impl IntoIterator<Item = (KeyId, Option<Arc<KeyRecord>>)>,
        ticket: ReadTicket,
    ) {
        for (id, record) in records {
            let _kept = self.loaded(id, record, ticket);
        }
    }

    /// Replaces the known ids with the ones read since `ticket`, keeping
    /// those announced while they were read.
    pub fn known_ids_read(&self, mut ids: KnownIds, ticket: ReadTicket) {
        let mut known = self
            .known_ids
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let inv = self.lock_invalidated();
        if self.pruned_epoch.load(Ordering::SeqCst) > ticket.0 {
            ids.extend(known.iter());
        } else {
            ids.extend(
                inv.keys
                    .iter()
                    .filter(|(_, (e, _))| *e > ticket.0)
                    .map(|(id, _)| *id),
            );
        }
        *known = ids;
    }

    /// Brings a thread's cache up to the current epoch. The common case is
    /// one read of an atomic that only invalidations write.
    pub fn catch_up(&self, local: &mut WorkerCache) {
        if self.epoch.load(Ordering::SeqCst) == local.seen_epoch() {
            return;
        }
        let inv = self.lock_invalidated();
        let epoch = self.epoch.load(Ordering::SeqCst);
        let seen = local.seen_epoch();
        if self.all_invalidated.load(Ordering::SeqCst) > seen
            || self.pruned_epoch.load(Ordering::SeqCst) > seen
        {
            local.apply(epoch, None);
        } else {
            let changed = Changed {
                keys: inv
                    .keys
                    .iter()
                    .filter(|(_, (e, _))| *e > seen)
                    .map(|(id, _)| *id)
                    .collect(),
                groups: inv
                    .groups
                    .iter()
                    .filter(|(_, (e, _))| *e > seen)
                    .map(|(g, _)| *g)
                    .collect(),
            };
            local.apply(epoch, Some(changed));
        }
    }

    /// What the shared cache knows of an id. The known-id set comes first:
    /// a well-formed key that is no key at all (a guess, a flood) is
    /// answered by one lookup. Every cached id is a known id (records are
    /// only loaded for known ids, and the set only loses ids deleted from
    /// the database).
    pub fn lookup(&self, id: &KeyId, now: DateTime<Utc>) -> Lookup {
        let known = self
            .known_ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id);
        if !known {
            return Lookup::Unknown;
        }
        let Some((record, expires)) = self.cache.get(id) else {
            return Lookup::Load;
        };
        let at = Instant::now();
        let in_time = |t: Instant| {
            now + chrono::Duration::from_std(t.saturating_duration_since(at)).unwrap_or_default()
        };
        let fresh = Freshness {
            until: in_time(expires),
            refresh_from: in_time(self.cache.refresh_from(expires)),
        };
        Lookup::Cached(record, fresh)
    }

    /// Whether `id` needs no background reload yet.
    pub fn is_fresh(&self, id: &KeyId) -> bool {
        self.cache.is_fresh(id)
    }

    /// How many entries the shared cache holds.
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::digest::KeyDigest;
    use keyward_core::fields::IpAllowlist;
    use keyward_core::permission::PermissionSet;

    fn id(i: u32) -> KeyId {
        KeyId::parse(&format!("00000000{i:04}")).unwrap()
    }

    fn record(i: u32, name: &str) -> Arc<KeyRecord> {
        in_group(i, name, 1)
    }

    fn in_group(i: u32, name: &str, group_id: i64) -> Arc<KeyRecord> {
        Arc::new(KeyRecord {
            tenant_id: 1,
            name: name.into(),
            rate_limit: None,
            permissions: PermissionSet::default(),
            ip_allowlist: IpAllowlist::default(),
            expires_at: None,
            key_id: id(i),
            revoked: false,
            digest: KeyDigest::from_slice(&[7; 32]).unwrap(),
            previous: None,
            group_id: std::num::NonZeroI64::new(group_id),
            secret_version: 1,
            previous_secret_version: 1,
        })
    }

    fn coherence() -> Coherence {
        Coherence::new(1_000, Duration::from_secs(60))
    }

    fn cached_name(c: &Coherence, i: u32) -> Option<String> {
        match c.lookup(&id(i), Utc::now()) {
            Lookup::Cached(Some(r), _) => Some(r.name.to_string()),
            _ => None,
        }
    }

    fn known(c: &Coherence, i: u32) -> bool {
        !matches!(c.lookup(&id(i), Utc::now()), Lookup::Unknown)
    }

    #[test]
    fn a_load_that_no_change_raced_is_kept() {
        let c = coherence();
        c.invalidate(id(1)); // the key exists
        let t = c.read_started();
        assert!(c.loaded(id(1), Some(record(1, "v1")), t));
        assert_eq!(cached_name(&c, 1).as_deref(), Some("v1"));
    }

    #[test]
    fn an_invalidation_racing_a_load_drops_what_it_read() {
        let c = coherence();
        c.invalidate(id(1));
        let t = c.read_started();
        // The database row is read (old version), then the key changes and
        // its invalidation runs before the load stores what it read.
        c.invalidate(id(1));
        assert!(!c.loaded(id(1), Some(record(1, "stale")), t), "read again");
        assert!(matches!(c.lookup(&id(1), Utc::now()), Lookup::Load));
        // The second read starts after the change: it is kept.
        let t = c.read_started();
        assert!(c.loaded(id(1), Some(record(1, "fresh")), t));
        assert_eq!(cached_name(&c, 1).as_deref(), Some("fresh"));
    }

    #[test]
    fn an_invalidation_before_the_read_started_does_not_drop_it() {
        let c = coherence();
        c.invalidate(id(1));
        c.invalidate(id(2));
        let t = c.read_started();
        c.invalidate(id(2)); // another key changing does not matter
        assert!(c.loaded(id(1), Some(record(1, "v1")), t));
    }

    #[test]
    fn invalidate_all_racing_a_load_drops_it() {
        let c = coherence();
        c.invalidate(id(1));
        let t = c.read_started();
        c.invalidate_all();
        assert!(!c.loaded(id(1), Some(record(1, "stale")), t));
        assert_eq!(cached_name(&c, 1), None);
    }

    #[test]
    fn a_group_change_drops_only_that_groups_keys_everywhere() {
        let c = coherence();
        let now = Utc::now();
        let mut local = WorkerCache::default();
        for (i, g) in [(1, 10), (2, 10), (3, 20)] {
            c.invalidate(id(i));
            let t = c.read_started();
            assert!(c.loaded(id(i), Some(in_group(i, "v1", g)), t));
        }
        c.catch_up(&mut local);
        for i in 1..=3 {
            let Lookup::Cached(r, fresh) = c.lookup(&id(i), now) else {
                panic!("cached");
            };
            local.insert(id(i), r.map(|r| (*r).clone()), fresh, now, 100);
        }
        c.invalidate_group(10);
        assert_eq!(cached_name(&c, 1), None);
        assert_eq!(cached_name(&c, 2), None);
        assert_eq!(cached_name(&c, 3).as_deref(), Some("v1"), "group 20 keeps");
        c.catch_up(&mut local);
        assert!(!local.contains(&id(1), now) && !local.contains(&id(2), now));
        assert!(local.contains(&id(3), now), "another group's key is kept");
    }

    #[test]
    fn a_group_change_racing_a_load_of_one_of_its_keys_drops_what_it_read() {
        let c = coherence();
        c.invalidate(id(1));
        c.invalidate(id(2));
        let t = c.read_started();
        c.invalidate_group(10);
        assert!(!c.loaded(id(1), Some(in_group(1, "stale", 10)), t));
        assert_eq!(cached_name(&c, 1), None);
        assert!(
            c.loaded(id(2), Some(in_group(2, "v1", 20)), t),
            "a key of another group is kept"
        );
    }

    #[test]
    fn a_batch_reload_drops_only_the_keys_that_changed_while_it_read() {
        let c = coherence();
        for i in 1..=3 {
            c.invalidate(id(i));
        }
        let t = c.read_started();
        c.invalidate(id(2));
        c.reloaded((1..=3).map(|i| (id(i), Some(record(i, "old")))), t);
        assert_eq!(cached_name(&c, 1).as_deref(), Some("old"));
        assert_eq!(cached_name(&c, 2), None);
        assert_eq!(cached_name(&c, 3).as_deref(), Some("old"));
    }

    #[test]
    fn a_key_created_while_the_known_ids_are_read_stays_known() {
        let c = coherence();
        let t = c.read_started();
        // The read of every id misses key 9, created (and announced) while
        // it ran.
        c.invalidate(id(9));
        c.known_ids_read([id(1), id(2)].into_iter().collect(), t);
        assert!(known(&c, 9), "a new key must not be answered as unknown");
        assert!(known(&c, 1) && known(&c, 2));
        assert!(!known(&c, 3));
    }

    #[test]
    fn a_known_id_reload_forgets_keys_announced_before_it_started() {
        let c = coherence();
        c.invalidate(id(9));
        assert!(known(&c, 9));
        // Read after the announcement: it is authoritative (key 9 was
        // deleted from the database meanwhile).
        let t = c.read_started();
        c.known_ids_read([id(1)].into_iter().collect(), t);
        assert!(!known(&c, 9));
        assert!(known(&c, 1));
    }

    #[test]
    fn unknown_ids_are_answered_without_a_load() {
        let c = coherence();
        assert!(matches!(c.lookup(&id(5), Utc::now()), Lookup::Unknown));
        c.invalidate(id(5));
        assert!(matches!(c.lookup(&id(5), Utc::now()), Lookup::Load));
    }

    #[test]
    fn worker_copies_taken_before_an_invalidation_are_dropped_on_catch_up() {
        let c = coherence();
        c.invalidate(id(1));
        c.invalidate(id(2));
        let mut local = WorkerCache::default();
        c.catch_up(&mut local);
        let now = Utc::now();
        for i in [1, 2] {
            let t = c.read_started();
            assert!(c.loaded(id(i), Some(record(i, "v1")), t));
            let Lookup::Cached(r, fresh) = c.lookup(&id(i), now) else {
                panic!("cached");
            };
            local.insert(id(i), r.map(|r| (*r).clone()), fresh, now, 100);
        }
        assert!(local.contains(&id(1), now) && local.contains(&id(2), now));
        // Key 1 changes: the thread drops its copy before its next use.
        c.invalidate(id(1));
        c.catch_up(&mut local);
        assert!(!local.contains(&id(1), now));
        assert!(local.contains(&id(2), now));
        assert_eq!(local.seen_epoch(), c.read_started().0);
        // A group change drops everything.
        c.invalidate_all();
        c.catch_up(&mut local);
        assert!(!local.contains(&id(2), now));
    }
}
