//! Bounded, in-memory failure throttles (failed logins, failed verifications).

use moka::sync::Cache;
use std::time::{Duration, Instant};

/// Counts failures per key in a fixed window; once `limit` failures are seen,
/// further attempts are refused until the window ends. Memory is bounded by
/// `capacity` entries (least recently used are evicted first).
#[derive(Clone, Debug)]
pub struct Throttle {
    windows: Cache<String, (Instant, u32)>,
    limit: u32,
    window: Duration,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration, capacity: u64) -> Self {
        Self {
            windows: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build(),
            limit,
            window,
        }
    }

    /// `Err(seconds)` when `key` is throttled.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        match self.windows.get(key) {
            Some((start, n)) if n >= self.limit => {
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
    pub fn fail(&self, key: &str) {
        let now = Instant::now();
        let window = self.window;
        self.windows
            .entry(key.to_owned())
            .and_upsert_with(|e| match e.map(|e| e.into_value()) {
                Some((start, n)) if start.elapsed() < window => (start, n.saturating_add(1)),
                _ => (now, 1),
            });
    }

    pub fn reset(&self, key: &str) {
        self.windows.invalidate(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_after_limit_and_only_that_key() {
        let t = Throttle::new(3, Duration::from_secs(60), 100);
        for _ in 0..3 {
            assert!(t.check("a").is_ok());
            t.fail("a");
        }
        let wait = t.check("a").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.check("b").is_ok());
        t.reset("a");
        assert!(t.check("a").is_ok());
    }

    #[test]
    fn window_expires() {
        let t = Throttle::new(1, Duration::from_millis(50), 100);
        t.fail("a");
        assert!(t.check("a").is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check("a").is_ok());
    }
}
