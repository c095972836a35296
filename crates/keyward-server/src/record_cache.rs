//! The bounded cache of key records used on the verification path.
//!
//! 16 shards of `RwLock<HashMap>`: a hit is one read lock and one lookup, so
//! concurrent verifications never wait for each other. Entries expire after
//! `ttl` (the safety net behind explicit invalidation); a full shard drops
//! its expired entries, then an arbitrary half, so memory stays bounded.

use keyward_core::verify::KeyRecord;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

type Entry = (Option<Arc<KeyRecord>>, Instant);

#[derive(Debug)]
pub struct RecordCache {
    shards: Vec<RwLock<HashMap<[u8; 12], Entry>>>,
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
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            ttl,
            per_shard,
        }
    }

    fn shard(&self, id: &[u8; 12]) -> &RwLock<HashMap<[u8; 12], Entry>> {
        &self.shards[(self.hasher.hash_one(id) as usize) % SHARDS]
    }

    /// `Some((record or known absence, end of its lifetime))` when cached
    /// and not expired.
    pub fn get(&self, id: &[u8; 12]) -> Option<(Option<Arc<KeyRecord>>, Instant)> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (record, at) = shard.get(id)?;
        let expires = *at + self.ttl;
        (Instant::now() < expires).then(|| (record.clone(), expires))
    }

    pub fn insert(&self, id: [u8; 12], record: Option<Arc<KeyRecord>>) {
        let mut shard = self
            .shard(&id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&id) {
            let ttl = self.ttl;
            shard.retain(|_, (_, at)| at.elapsed() < ttl);
            if shard.len() >= self.per_shard {
                let mut keep = false;
                shard.retain(|_, _| {
                    keep = !keep;
                    keep
                });
            }
        }
        shard.insert(id, (record, Instant::now()));
    }

    pub fn invalidate(&self, id: &[u8; 12]) {
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    pub fn invalidate_all(&self) {
        for s in &self.shards {
            s.write().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> [u8; 12] {
        let mut b = [b'0'; 12];
        b[..4].copy_from_slice(&i.to_be_bytes());
        b
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
    fn stays_bounded() {
        let c = RecordCache::new(16 * 16, Duration::from_secs(60));
        for i in 0..100_000 {
            c.insert(id(i), None);
        }
        assert!(c.len() <= 16 * 16);
    }
}
