//! Bounded, in-memory failure throttles (failed logins, failed verifications).
//!
//! The check runs on every verification, so it is a read lock and one hash
//! lookup in one of 16 shards; only failures take a write lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// Counts failures per key in a fixed window; once `limit` failures are seen,
/// further attempts are refused until the window ends. Each shard holds at
/// most `capacity / 16` keys: when full, expired windows are dropped first,
/// then the windows that are not blocking, then the oldest ones, so memory
/// never grows and a flood of new keys cannot unblock a blocked one cheaply.
#[derive(Debug)]
pub struct Throttle<K> {
    shards: Vec<RwLock<HashMap<K, (Instant, u32)>>>,
    hasher: RandomState,
    limit: u32,
    window: Duration,
    per_shard: usize,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            limit,
            window,
            per_shard: (capacity / SHARDS).max(16),
        }
    }

    fn shard(&self, key: &K) -> &RwLock<HashMap<K, (Instant, u32)>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        &self.shards[i]
    }

    /// `Err(seconds)` when `key` is throttled.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        let shard = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match shard.get(key) {
            Some((start, n)) if *n >= self.limit => {
                let left = self.window.saturating_sub(start.elapsed());
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(left.as_secs().max(1))
                }
            }
            _ => Ok(()),
        }
    }

    /// Records a failure.
    pub fn fail(&self, key: &K) {
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            let (window, limit) = (self.window, self.limit);
            shard.retain(|_, (start, _)| start.elapsed() < window);
            if shard.len() >= self.per_shard {
                shard.retain(|_, (_, n)| *n >= limit);
            }
            if shard.len() >= self.per_shard
                && let Some(oldest) = shard
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| k.clone())
            {
                shard.remove(&oldest);
            }
        }
        let now = Instant::now();
        let e = shard.entry(key.clone()).or_insert((now, 0));
        if e.0.elapsed() >= self.window {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
    }

    pub fn reset(&self, key: &K) {
        self.shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_after_limit_and_only_that_key() {
        let t = Throttle::new(3, Duration::from_secs(60), 100);
        for _ in 0..3 {
            assert!(t.check(&"a").is_ok());
            t.fail(&"a");
        }
        let wait = t.check(&"a").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.check(&"b").is_ok());
        t.reset(&"a");
        assert!(t.check(&"a").is_ok());
    }

    #[test]
    fn window_expires() {
        let t = Throttle::new(1, Duration::from_millis(50), 100);
        t.fail(&"a");
        assert!(t.check(&"a").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check(&"a").is_ok());
        t.fail(&"a");
        assert!(
            t.check(&"a").is_err(),
            "a new window starts after the old one ended"
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let t = Throttle::new(1, Duration::from_secs(60), 16 * 16);
        for i in 0..100_000u32 {
            t.fail(&i);
        }
        let total: usize = t.shards.iter().map(|s| s.read().unwrap().len()).sum();
        assert!(total <= 16 * 16, "{total}");
    }
}
