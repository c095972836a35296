//! The bounded cache of key records used on the verification path.
//!
//! 16 shards of `RwLock<HashMap>`: a hit is one read lock and one lookup, so
//! concurrent verifications never wait for each other. Entries expire within
//! `ttl` (the safety net behind explicit invalidation): each at a point
//! drawn from its last quarter, so that records loaded together (after a
//! start, say) are not all reloaded from the database in the same instant.
//! A full shard drops its expired entries, then an arbitrary half, so
//! memory stays bounded.
//!
//! Only ids of existing keys are inserted (see `coherence.rs`), so the
//! maps use a fast hasher (foldhash) rather than SipHash, as the worker
//! caches do: presented ids only look up, they cannot build collisions.

use foldhash::fast::RandomState;
use keyward_core::key::KeyId;
use keyward_core::verify::KeyRecord;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// The record (or its known absence) and the end of its lifetime.
type Entry = (Option<Arc<KeyRecord>>, Instant);
type Shard = HashMap<KeyId, Entry, RandomState>;

#[derive(Debug)]
pub struct RecordCache {
    shards: Vec<RwLock<Shard>>,
    hasher: RandomState,
    ttl: Duration,
    per_shard: usize,
}

impl RecordCache {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        let per_shard = usize::try_from(capacity / SHARDS as u64)
            .unwrap_or(usize::MAX)
            .max(16);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::default(),
            ttl,
            per_shard,
        }
    }

    fn shard(&self, id: &KeyId) -> &RwLock<Shard> {
        &self.shards[(self.hasher.hash_one(id) as usize) % SHARDS]
    }

    /// `Some((record or known absence, end of its lifetime))` when cached
    /// and not expired.
    pub fn get(&self, id: &KeyId) -> Option<(Option<Arc<KeyRecord>>, Instant)> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (record, expires) = shard.get(id)?;
        (Instant::now() < *expires).then(|| (record.clone(), *expires))
    }

    /// When an entry ending at `expires` should be reloaded ahead of time
    /// if it is in use: during the TTL's last quarter. (A wider window
    /// catches keys used more rarely, but reloads every key in use more
    /// often: with the last half, `just bench-verify` lost 3–8 % on (b).)
    pub fn refresh_from(&self, expires: Instant) -> Instant {
        expires.checked_sub(self.ttl / 4).unwrap_or(expires)
    }

    /// Whether `id` needs no reload yet: cached and not in its last quarter.
    pub fn is_fresh(&self, id: &KeyId) -> bool {
        self.get(id)
            .is_some_and(|(_, expires)| Instant::now() < self.refresh_from(expires))
    }

    /// The end of the lifetime of an entry inserted `now`: `ttl` less up to
    /// a quarter of it, spread by a hash of the id and the instant.
    fn expiry(&self, id: &KeyId, now: Instant) -> Instant {
        let quarter = u64::try_from(self.ttl.as_micros() / 4).unwrap_or(u64::MAX);
        let spread = self.hasher.hash_one((id, now)) % quarter.saturating_add(1);
        now + self.ttl - Duration::from_micros(spread)
    }

    pub fn insert(&self, id: KeyId, record: Option<Arc<KeyRecord>>) {
        let mut shard = self
            .shard(&id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if shard.len() >= self.per_shard && !shard.contains_key(&id) {
            shard.retain(|_, (_, expires)| now < *expires);
            if shard.len() >= self.per_shard {
                let mut keep = false;
                shard.retain(|_, _| {
                    keep = !keep;
                    keep
                });
            }
        }
        let expires = self.expiry(&id, now);
        shard.insert(id, (record, expires));
    }

    pub fn invalidate(&self, id: &KeyId) {
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Drops the records of a group's keys (a scan of every shard: group
    /// changes are rare, verifications are not).
    pub fn invalidate_group(&self, group_id: i64) {
        for s in &self.shards {
            s.write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, (record, _)| {
                    record
                        .as_ref()
                        .is_none_or(|r| r.group_id.map(std::num::NonZeroI64::get) != Some(group_id))
                });
        }
    }

    pub fn invalidate_all(&self) {
        for s in &self.shards {
            s.write().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// How many records (and known absences) are cached.
    pub fn entry_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> KeyId {
        KeyId::parse(&format!("{i:012}")).unwrap()
    }

    #[test]
    fn hits_expire_and_invalidate() {
        let c = RecordCache::new(1000, Duration::from_millis(50));
        c.insert(id(1), None);
        assert_eq!(c.get(&id(1)).map(|(r, _)| r), Some(None));
        c.invalidate(&id(1));
        assert!(c.get(&id(1)).is_none());
        c.insert(id(2), None);
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get(&id(2)).is_none(), "expired");
        c.insert(id(3), None);
        c.invalidate_all();
        assert!(c.get(&id(3)).is_none());
    }

    #[test]
    fn records_loaded_together_expire_spread_over_the_last_quarter() {
        let ttl = Duration::from_secs(40);
        let c = RecordCache::new(10_000, ttl);
        let start = Instant::now();
        for i in 0..1000 {
            c.insert(id(i), None);
        }
        let after = Instant::now();
        let lifetimes: Vec<Duration> = (0..1000)
            .map(|i| c.get(&id(i)).expect("cached").1 - start)
            .collect();
        let min = lifetimes.iter().min().unwrap();
        let max = lifetimes.iter().max().unwrap();
        assert!(*min >= ttl * 3 / 4, "{min:?}");
        assert!(*max <= ttl + (after - start), "{max:?}");
        assert!(*max - *min >= ttl / 5, "spread: {min:?}..{max:?}");
    }

    #[test]
    fn stays_bounded() {
        let c = RecordCache::new(16 * 16, Duration::from_secs(60));
        for i in 0..100_000 {
            c.insert(id(i), None);
        }
        assert!(c.entry_count() <= 16 * 16);
    }
}
