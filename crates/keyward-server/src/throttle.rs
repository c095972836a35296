//! Bounded, in-memory failure throttles (failed logins, failed verifications).
//!
//! The check runs on every verification: while no key has been blocked for
//! a whole window it reads one atomic and nothing else. A failure updates
//! its key's window with atomics; each thread remembers the windows it
//! updated lately, so repeated failures from one client touch no lock (a
//! lock word written by every thread is a cache line bouncing between
//! cores). Only a key's first failure takes a shard's write lock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use thread_local::ThreadLocal;

const SHARDS: usize = 16;

/// Counts failures per key in a fixed window; once `limit` failures are seen,
/// further attempts are refused until the window ends. Each shard holds at
/// most `capacity / 16` keys: when full, expired windows are dropped first,
/// then the windows that are not blocking, then the oldest ones, so memory
/// never grows and a flood of new keys cannot unblock a blocked one cheaply.
#[derive(Debug)]
pub struct Throttle<K: Send> {
    shards: Vec<RwLock<HashMap<K, Arc<Window>>>>,
    /// Per thread: windows this thread updated lately (at most `RECENT`,
    /// so a fast hasher is safe: colliding keys cannot make a long chain).
    recent: ThreadLocal<RefCell<Recent<K>>>,
    hasher: RandomState,
    limit: u32,
    window: Duration,
    per_shard: usize,
    epoch: Instant,
    /// When a window last reached the limit (ms since `epoch`, plus one; 0:
    /// never). While that is a whole window ago no key can be blocked, and
    /// `check` answers without touching the shards: a read of one atomic
    /// that nothing writes in normal operation.
    blocked_at: AtomicU64,
    /// Attempts refused, counted per thread (summed by [`Self::blocks`]).
    refused: ThreadLocal<AtomicU64>,
}

/// One key's window: its start (ms since the throttle's epoch) and count.
/// Updated with atomics under the shard's read lock, so concurrent failures
/// of one key never wait for each other.
#[derive(Debug)]
struct Window {
    start_ms: AtomicU64,
    count: AtomicU32,
    /// False once removed from its shard (threads then forget it).
    live: AtomicBool,
}

/// Windows remembered per thread.
const RECENT: usize = 64;
type Recent<K> = HashMap<K, Arc<Window>, foldhash::fast::RandomState>;

impl<K: Hash + Eq + Clone + Send> Throttle<K> {
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            recent: ThreadLocal::new(),
            hasher: RandomState::new(),
            limit,
            window,
            per_shard: (capacity / SHARDS).max(16),
            epoch: Instant::now(),
            blocked_at: AtomicU64::new(0),
            refused: ThreadLocal::new(),
        }
    }

    fn shard(&self, key: &K) -> &RwLock<HashMap<K, Arc<Window>>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        &self.shards[i]
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX)
    }

    /// `Err(seconds)` when `key` is throttled.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        let blocked_at = self.blocked_at.load(Ordering::Relaxed);
        if blocked_at == 0 || self.now_ms().saturating_sub(blocked_at - 1) >= self.window_ms() {
            return Ok(());
        }
        let verdict = match self.with_recent(key, |w| self.verdict(w)) {
            Some(verdict) => verdict,
            None => {
                let shard = self
                    .shard(key)
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                match shard.get(key) {
                    Some(w) => self.verdict(w),
                    None => Ok(()),
                }
            }
        };
        if verdict.is_err() {
            self.refused
                .get_or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    /// How many attempts were refused since start.
    pub fn blocks(&self) -> u64 {
        self.refused.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    /// Runs `f` on this thread's remembered window of `key`, if it is live.
    fn with_recent<R>(&self, key: &K, f: impl FnOnce(&Window) -> R) -> Option<R> {
        let mut recent = self.recent.get_or_default().borrow_mut();
        let w = recent.get(key)?;
        if w.live.load(Ordering::Relaxed) {
            return Some(f(w));
        }
        recent.remove(key);
        None
    }

    fn remember(&self, key: &K, w: &Arc<Window>) {
        let mut recent = self.recent.get_or_default().borrow_mut();
        if recent.len() >= RECENT {
            recent.clear();
        }
        recent.insert(key.clone(), Arc::clone(w));
    }

    fn verdict(&self, w: &Window) -> Result<(), u64> {
        if w.count.load(Ordering::Relaxed) < self.limit {
            return Ok(());
        }
        let age = self
            .now_ms()
            .saturating_sub(w.start_ms.load(Ordering::Relaxed));
        let left = self.window_ms().saturating_sub(age);
        if left == 0 {
            Ok(())
        } else {
            Err(left.div_ceil(1000).max(1))
        }
    }

    /// Records a failure.
    pub fn fail(&self, key: &K) {
        let now = self.now_ms();
        if self.with_recent(key, |w| self.bump(w, now)).is_some() {
            return;
        }
        {
            let shard = self
                .shard(key)
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(w) = shard.get(key) {
                self.bump(w, now);
                self.remember(key, w);
                return;
            }
        }
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            self.evict(&mut shard, now);
        }
        let w = shard.entry(key.clone()).or_insert_with(|| {
            Arc::new(Window {
                start_ms: AtomicU64::new(now),
                count: AtomicU32::new(0),
                live: AtomicBool::new(true),
            })
        });
        self.bump(w, now);
        self.remember(key, w);
    }

    fn bump(&self, w: &Window, now: u64) {
        let start = w.start_ms.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= self.window_ms()
            && w.start_ms
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            w.count.store(0, Ordering::Relaxed);
        }
        if w.count.fetch_add(1, Ordering::Relaxed).saturating_add(1) >= self.limit {
            self.blocked_at
                .fetch_max(now.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Makes room: expired windows go first, then those not blocking, then the oldest.
    fn evict(&self, shard: &mut HashMap<K, Arc<Window>>, now: u64) {
        let (window, limit) = (self.window_ms(), self.limit);
        let keep_if = |keep: bool, w: &Window| {
            if !keep {
                w.live.store(false, Ordering::Relaxed);
            }
            keep
        };
        shard.retain(|_, w| {
            keep_if(
                now.saturating_sub(w.start_ms.load(Ordering::Relaxed)) < window,
                w,
            )
        });
        if shard.len() >= self.per_shard {
            shard.retain(|_, w| keep_if(w.count.load(Ordering::Relaxed) >= limit, w));
        }
        if shard.len() >= self.per_shard
            && let Some(oldest) = shard
                .iter()
                .min_by_key(|(_, w)| w.start_ms.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone())
            && let Some(w) = shard.remove(&oldest)
        {
            w.live.store(false, Ordering::Relaxed);
        }
    }

    pub fn reset(&self, key: &K) {
        if let Some(w) = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
        {
            w.live.store(false, Ordering::Relaxed);
        }
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
        assert_eq!(t.blocks(), 0);
        let wait = t.check(&"a").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.check(&"b").is_ok());
        assert!(t.check(&"a").is_err());
        assert_eq!(t.blocks(), 2, "each refused attempt is counted once");
        t.reset(&"a");
        assert!(t.check(&"a").is_ok());
        assert_eq!(t.blocks(), 2);
    }

    #[test]
    fn a_key_blocked_long_ago_does_not_block_others_and_a_new_block_is_seen() {
        let t = Throttle::new(1, Duration::from_millis(50), 100);
        t.fail(&"a");
        assert!(t.check(&"a").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check(&"a").is_ok() && t.check(&"b").is_ok());
        t.fail(&"b");
        assert!(t.check(&"b").is_err(), "the fast path must see a new block");
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
