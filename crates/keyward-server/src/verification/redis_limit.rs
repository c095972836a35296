//! Rate limits shared by several instances through Redis, with local
//! leases: an instance takes a batch of a key's budget from Redis (one
//! script run charges the whole batch, atomically, by GCRA over every
//! window) and admits requests from it without a round trip; when the
//! batch is spent it takes the next. Every admitted unit was charged in
//! Redis first, so the instances together never admit more than the
//! policy allows (GCRA's bound); what a lease holds unused is given back
//! with the next batch, and at most one batch per instance and key is
//! out at any time (the under-admission bound).
//!
//! A key Redis refused is refused locally until its budget allows the
//! request again (`Retry-After`), without asking Redis again.
//!
//! Time is Redis's own (`TIME`), in microseconds since 2026-01-01 as
//! doubles: the instances' clocks play no part, and a microsecond stays
//! exact to a few nanoseconds.
//!
//! While Redis cannot be reached (an error or no answer within
//! [`TIMEOUT`]), and for a second after, the configured fallback decides:
//! the in-process limiter ([`LocalLimiter`]: each instance enforces every
//! limit on its own) or a refusal.

use super::rate_limit::LocalLimiter;
use crate::settings::RateLimitFallback;
use keyward_core::key::KeyId;
use keyward_core::ratelimit::{Charge, Decision, RatePolicy, RateWindow};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest a Redis call may take before the fallback decides.
pub const TIMEOUT: Duration = Duration::from_millis(250);
/// How long the fallback decides after Redis failed, before it is tried again.
const DOWN_FOR_NANOS: u64 = 1_000_000_000;
/// How long an instance may keep a lease's unused units.
const LEASE_NANOS: u64 = 1_000_000_000;
/// The most units one lease holds.
const MAX_LEASE: u32 = 1_000;
const SHARDS: usize = 64;

/// GCRA over every window, in Redis. KEYS[1]: the key's budgets (a hash,
/// one field per window: `limit/period/burst` → its arrival time).
/// ARGV: want (units to charge, 0 to look), need (units the request
/// needs), refund (units given back), then limit, period, burst of each
/// window. Returns {granted, wait µs until `need` fits, remaining of the
/// binding window after the grant, µs until it is whole, its index, 1 if
/// `need` fits now}.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1767225600) * 1000000 + tonumber(t[2])
local want, need, refund = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / 3
local tat, T, tol, field = {}, {}, {}, {}
local fits, ttl = nil, 1
for i = 1, n do
  local limit, period, burst = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2]), tonumber(ARGV[3 * i + 3])
  field[i] = limit .. '/' .. period .. '/' .. burst
  T[i] = period * 1000000 / limit
  tol[i] = T[i] * burst
  local v = tonumber(redis.call('HGET', KEYS[1], field[i]) or '0') - refund * T[i]
  if v < now then v = now end
  if v > now + tol[i] then v = now + tol[i] end
  tat[i] = v
  local f = math.floor((now + tol[i] - v) / T[i] + 1e-6)
  if fits == nil or f < fits then fits = f end
  if period * 2 > ttl then ttl = period * 2 end
end
local grant = 0
if fits >= need then grant = math.min(want, fits) end
local bi, rem, reset = 0, nil, 0
for i = 1, n do
  local after = tat[i] + grant * T[i]
  local r = math.floor((now + tol[i] - after) / T[i] + 1e-6)
  if rem == nil or r < rem then rem, bi, reset = r, i - 1, after - now end
end
local wait = 0
if fits < need then
  for i = 1, n do
    local w = tat[i] + need * T[i] - now - tol[i]
    if w > wait then wait = w end
  end
end
if grant > 0 or refund > 0 then
  for i = 1, n do
    redis.call('HSET', KEYS[1], field[i], string.format('%.4f', tat[i] + grant * T[i]))
  end
  redis.call('EXPIRE', KEYS[1], ttl)
end
local ok = 0
if fits >= need then ok = 1 end
return {grant, math.ceil(wait), rem, math.ceil(reset), bi, ok}
";

/// A batch of a key's budget held by this instance, or a refusal remembered.
#[derive(Debug)]
struct Lease {
    windows: Vec<RateWindow>,
    /// Units left to admit (charged in Redis already).
    units: u32,
    /// Until when the units may be used (then they are given back).
    until: u64,
    /// Refused until then without asking Redis.
    refused_until: u64,
    /// What Redis reported after the batch: the binding window, its
    /// remaining budget and when it is whole again.
    window: RateWindow,
    remaining: u32,
    reset_at: u64,
    /// For eviction: when it was taken.
    taken: u64,
}

/// The shared limiter: Redis, the leases, and the fallback.
pub struct SharedLimiter {
    conn: redis::aio::ConnectionManager,
    script: redis::Script,
    prefix: String,
    leases: Box<[Mutex<HashMap<KeyId, Lease>>]>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    fallback: RateLimitFallback,
    local: LocalLimiter,
    /// Until then Redis is taken as unreachable (nanoseconds since the Unix epoch, [`super::rate_limit::nanos_at`]).
    down_until: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("prefix", &self.prefix)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

/// What the local state says about a request.
#[derive(Debug)]
pub enum Local {
    Decided(Decision),
    /// Redis must be asked.
    Ask,
}

impl SharedLimiter {
    /// Connects lazily: the server starts whether or not Redis is up.
    pub fn new(
        url: &str,
        prefix: &str,
        fallback: RateLimitFallback,
        capacity: usize,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            prefix: prefix.to_owned(),
            leases: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: std::collections::hash_map::RandomState::new(),
            fallback,
            local: LocalLimiter::new(capacity),
            down_until: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// Redis calls and failed ones since start.
    pub fn calls(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }

    fn shard(&self, key: &KeyId) -> std::sync::MutexGuard<'_, HashMap<KeyId, Lease>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.leases[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides from the lease (no I/O), or says Redis must be asked.
    pub fn check_local(
        &self,
        key: KeyId,
        policy: &RatePolicy,
        now: u64,
        cost: u32,
        charge: Charge,
    ) -> Local {
        if now < self.down_until.load(Ordering::Relaxed) {
            return Local::Decided(self.fallback_decision(key, policy, now, cost, charge));
        }
        let mut shard = self.shard(&key);
        let Some(lease) = shard.get_mut(&key) else {
            return Local::Ask;
        };
        if lease.windows != policy.windows() {
            // The policy changed: the budgets are the new policy's.
            shard.remove(&key);
            return Local::Ask;
        }
        if now < lease.refused_until {
            return Local::Decided(refused(lease.window, lease.refused_until - now));
        }
        if now >= lease.until || lease.units < cost {
            return Local::Ask;
        }
        if charge == Charge::Consume {
            lease.units -= cost;
        }
        let left = if charge == Charge::Consume {
            lease.units
        } else {
            lease.units - cost
        };
        Local::Decided(Decision {
            admitted: true,
            window: lease.window,
            remaining: lease.remaining.saturating_add(left),
            reset_nanos: lease.reset_at.saturating_sub(now),
            retry_after_nanos: Some(0),
        })
    }

    /// Asks Redis: takes a new lease (giving back what an expired one
    /// left), or looks (`Peek`); decides the request. While Redis cannot
    /// be reached, the fallback decides.
    pub async fn ask(
        &self,
        key: KeyId,
        policy: &RatePolicy,
        now: u64,
        cost: u32,
        charge: Charge,
    ) -> Decision {
        let refund = match charge {
            Charge::Peek => 0,
            Charge::Consume => {
                let mut shard = self.shard(&key);
                match shard.remove(&key) {
                    Some(l) if l.windows == policy.windows() => l.units,
                    _ => 0,
                }
            }
        };
        let want = match charge {
            Charge::Peek => 0,
            Charge::Consume => cost.max(lease_size(policy)),
        };
        let mut invocation = self.script.key(format!("{}:rl:{key}", self.prefix));
        invocation.arg(want).arg(cost).arg(refund);
        for w in policy.windows() {
            invocation.arg(w.limit).arg(w.period_seconds).arg(w.burst());
        }
        let mut conn = self.conn.clone();
        self.calls.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(
            TIMEOUT,
            invocation.invoke_async::<(u64, u64, u64, u64, usize, u8)>(&mut conn),
        )
        .await;
        let (granted, wait_us, remaining, reset_us, binding, fits) = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return self.unreachable(key, policy, now, cost, charge, &e),
            Err(_) => return self.unreachable(key, policy, now, cost, charge, &"timed out"),
        };
        let window = policy
            .windows()
            .get(binding)
            .copied()
            .unwrap_or(policy.windows()[0]);
        let never = policy.windows().iter().any(|w| cost > w.burst());
        let granted = u32::try_from(granted).unwrap_or(0);
        let reset_at = now.saturating_add(reset_us.saturating_mul(1_000));
        let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
        let admitted = fits == 1 && (charge == Charge::Peek || granted >= cost);
        if charge == Charge::Consume {
            let lease = Lease {
                windows: policy.windows().to_vec(),
                units: if admitted { granted - cost } else { 0 },
                until: now.saturating_add(LEASE_NANOS),
                refused_until: if admitted || never {
                    0
                } else {
                    now.saturating_add(wait_us.saturating_mul(1_000))
                },
                window,
                remaining,
                reset_at,
                taken: now,
            };
            let mut shard = self.shard(&key);
            if shard.len() >= self.per_shard && !shard.contains_key(&key) {
                make_room(&mut shard, now);
            }
            // Another request of this instance took a lease meanwhile:
            // its units stay usable.
            let mut lease = lease;
            let usable = shard
                .get(&key)
                .filter(|o| o.windows == lease.windows && now < o.until && o.units > 0)
                .map(|o| o.units);
            if let Some(units) = usable {
                lease.units = lease.units.saturating_add(units);
                lease.refused_until = 0;
            }
            let left = lease.units;
            shard.insert(key, lease);
            if admitted {
                return Decision {
                    admitted,
                    window,
                    remaining: remaining.saturating_add(left),
                    reset_nanos: reset_at - now,
                    retry_after_nanos: Some(0),
                };
            }
        }
        if admitted {
            return Decision {
                admitted,
                window,
                remaining: remaining.saturating_sub(cost),
                reset_nanos: reset_at - now,
                retry_after_nanos: Some(0),
            };
        }
        Decision {
            admitted: false,
            window,
            remaining: 0,
            reset_nanos: reset_at - now,
            retry_after_nanos: (!never).then(|| wait_us.saturating_mul(1_000).max(1)),
        }
    }

    fn unreachable(
        &self,
        key: KeyId,
        policy: &RatePolicy,
        now: u64,
        cost: u32,
        charge: Charge,
        error: &dyn std::fmt::Display,
    ) -> Decision {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let until = now.saturating_add(DOWN_FOR_NANOS);
        if self.down_until.swap(until, Ordering::Relaxed) < now {
            tracing::warn!(%error, fallback = ?self.fallback, "Redis cannot be reached; rate limits use the fallback");
        }
        self.fallback_decision(key, policy, now, cost, charge)
    }

    fn fallback_decision(
        &self,
        key: KeyId,
        policy: &RatePolicy,
        now: u64,
        cost: u32,
        charge: Charge,
    ) -> Decision {
        match self.fallback {
            RateLimitFallback::Local => self.local.check(key, policy, now, cost, charge),
            RateLimitFallback::Refuse => refused(policy.windows()[0], 1_000_000_000),
        }
    }
}

/// A refusal that waiting `wait_nanos` resolves.
fn refused(window: RateWindow, wait_nanos: u64) -> Decision {
    Decision {
        admitted: false,
        window,
        remaining: 0,
        reset_nanos: wait_nanos,
        retry_after_nanos: Some(wait_nanos.max(1)),
    }
}

/// Units a lease takes: a tenth of the smallest burst, 1 to [`MAX_LEASE`].
/// Smaller leases are more exact across instances, larger ones ask Redis
/// less often; a tenth keeps what the instances may hold unused to a
/// tenth of the burst each.
fn lease_size(policy: &RatePolicy) -> u32 {
    let burst = policy
        .windows()
        .iter()
        .map(RateWindow::burst)
        .min()
        .unwrap_or(1);
    (burst / 10).clamp(1, MAX_LEASE)
}

fn make_room(shard: &mut HashMap<KeyId, Lease>, now: u64) {
    let before = shard.len();
    shard.retain(|_, l| now < l.until || now < l.refused_until);
    if shard.len() < before {
        return;
    }
    if let Some(oldest) = shard.iter().min_by_key(|(_, l)| l.taken).map(|(k, _)| *k) {
        shard.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    //! Against the Redis on 127.0.0.1:6379 (`KEYWARD_TEST_REDIS_URL`),
    //! each test under a prefix of its own.
    use super::*;
    use crate::verification::rate_limit::nanos_at;

    fn redis_url() -> String {
        std::env::var("KEYWARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
    }

    fn prefix() -> String {
        format!(
            "keyward-test-{:016x}",
            rand_core::Rng::next_u64(&mut crate::os_rng())
        )
    }

    fn key(n: u32) -> KeyId {
        KeyId::parse(&format!("key{n:09}")).unwrap()
    }

    fn policy(limit: u32, period_seconds: u32, burst: Option<u32>) -> RatePolicy {
        RatePolicy::new(vec![RateWindow {
            limit,
            period_seconds,
            burst,
        }])
        .unwrap()
    }

    async fn admit(
        l: &SharedLimiter,
        k: KeyId,
        p: &RatePolicy,
        cost: u32,
        charge: Charge,
    ) -> Decision {
        let now = nanos_at(crate::now());
        match l.check_local(k, p, now, cost, charge) {
            Local::Decided(d) => d,
            Local::Ask => l.ask(k, p, now, cost, charge).await,
        }
    }

    /// Two instances on one Redis admit the policy's budget together,
    /// exactly: every admitted unit was charged in Redis first, and a
    /// lease's units are used before the instance is refused.
    #[tokio::test]
    async fn instances_share_one_budget_exactly() {
        let prefix = prefix();
        let a = SharedLimiter::new(&redis_url(), &prefix, RateLimitFallback::Refuse, 100).unwrap();
        let b = SharedLimiter::new(&redis_url(), &prefix, RateLimitFallback::Refuse, 100).unwrap();
        // 100 an hour, all at once: leases of 10.
        let p = policy(100, 3600, None);
        let mut admitted = 0;
        for i in 0..300 {
            let l = if i % 3 == 0 { &a } else { &b };
            if admit(l, key(1), &p, 1, Charge::Consume).await.admitted {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 100);
        assert_eq!(a.calls().1 + b.calls().1, 0, "no failure");
        assert!(
            a.calls().0 + b.calls().0 < 60,
            "leases: {:?} {:?}",
            a.calls(),
            b.calls()
        );
        // A refused key is refused locally until its budget allows it.
        let calls = b.calls().0;
        let d = admit(&b, key(1), &p, 1, Charge::Consume).await;
        assert!(!d.admitted);
        let wait = d.retry_after_nanos.unwrap();
        assert!((1..=36_000_000_000).contains(&wait), "{wait}");
        assert_eq!(b.calls().0, calls, "no Redis call");
        // Another key has its own budget; peeking charges nothing.
        for _ in 0..3 {
            let d = admit(&a, key(2), &p, 5, Charge::Peek).await;
            assert!(d.admitted);
            assert_eq!(d.remaining, 95);
        }
        let d = admit(&a, key(2), &p, 101, Charge::Peek).await;
        assert_eq!(
            (d.admitted, d.retry_after_nanos),
            (false, None),
            "never fits"
        );
    }

    /// The policy changed: the budget is the new policy's, at once.
    #[tokio::test]
    async fn a_new_policy_starts_a_new_budget() {
        let l =
            SharedLimiter::new(&redis_url(), &prefix(), RateLimitFallback::Refuse, 100).unwrap();
        let tight = policy(2, 3600, None);
        let results: Vec<bool> = futures_util::future::join_all(
            (0..3).map(|_| async { admit(&l, key(3), &tight, 1, Charge::Consume).await.admitted }),
        )
        .await;
        assert_eq!(results.iter().filter(|a| **a).count(), 2, "{results:?}");
        let loose = policy(10, 3600, None);
        assert!(admit(&l, key(3), &loose, 1, Charge::Consume).await.admitted);
    }

    /// Redis unreachable: the fallback decides at once, and Redis is not
    /// asked again for a second.
    #[tokio::test]
    async fn without_redis_the_fallback_decides() {
        let p = policy(3, 3600, None);
        let local = SharedLimiter::new("redis://127.0.0.1:1/0", "x", RateLimitFallback::Local, 100)
            .unwrap();
        let started = std::time::Instant::now();
        let mut admitted = 0;
        for _ in 0..10 {
            if admit(&local, key(4), &p, 1, Charge::Consume).await.admitted {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 3, "each instance enforces the limit on its own");
        assert_eq!(
            local.calls(),
            (1, 1),
            "asked once, then the fallback for a second"
        );
        assert!(started.elapsed() < TIMEOUT * 4);
        let refuse =
            SharedLimiter::new("redis://127.0.0.1:1/0", "x", RateLimitFallback::Refuse, 100)
                .unwrap();
        let d = admit(&refuse, key(4), &p, 1, Charge::Consume).await;
        assert!(!d.admitted);
        assert_eq!(d.retry_after_seconds(), Some(1));
    }
}
