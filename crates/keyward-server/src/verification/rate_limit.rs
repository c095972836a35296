//! Per-key rate limits at verification time: the budgets of the keys in
//! use (GCRA states, see `keyward_core::ratelimit`), kept in this process
//! and leased by the worker threads in batches ([`Lease`]) or, with
//! several instances, leased from Redis (see [`super::redis_limit`]), and
//! the `RateLimit` / `RateLimit-Policy` / `Retry-After` header fields.
//!
//! A budget is charged only by a request that passed every other check (a
//! valid key, from an allowed address, with the permissions required):
//! nobody can spend a key's budget without its secret, and a refusal for
//! another reason costs nothing.

use crate::metrics::RouteLabel;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use keyward_core::key::KeyId;
use keyward_core::ratelimit::{Charge, Decision, GcraState, RatePolicy, RateVerdict};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Puts the header fields of a verdict on a response: `RateLimit`
/// always; on a refusal also `RateLimit-Policy` and, when waiting helps,
/// `Retry-After`. (Admitted answers leave the policy out: it is the same on
/// every answer, and the bytes count at this rate.)
pub fn insert_headers(v: &RateVerdict, headers: &mut HeaderMap) {
    if let Some(h) = ratelimit_value(&v.decision) {
        headers.insert(RATELIMIT, h);
    }
    if v.decision.admitted {
        return;
    }
    if let Ok(h) = HeaderValue::from_str(v.policy.policy_header()) {
        headers.insert(RATELIMIT_POLICY, h);
    }
    if let Some(h) = v.decision.retry_after_seconds().map(HeaderValue::from) {
        headers.insert(RETRY_AFTER, h);
    }
}

/// The `RateLimit` value, [`Decision::header`] written without the
/// formatting machinery (it is on every answer to a key with a limit):
/// on the stack, then copied once into the value's own allocation.
fn ratelimit_value(d: &Decision) -> Option<HeaderValue> {
    let (mut p, mut r, mut t) = (
        itoa::Buffer::new(),
        itoa::Buffer::new(),
        itoa::Buffer::new(),
    );
    let mut v = [0u8; 48];
    let mut len = 0;
    for part in [
        b"\"".as_slice(),
        p.format(d.window.period_seconds).as_bytes(),
        b"s\";r=",
        r.format(d.remaining).as_bytes(),
        b";t=",
        t.format(d.reset_seconds()).as_bytes(),
    ] {
        let end = len + part.len();
        v.get_mut(len..end)?.copy_from_slice(part);
        len = end;
    }
    HeaderValue::from_bytes(&v[..len]).ok()
}

/// An admitted request's `RateLimit` value, made when its key was
/// verified and put on its response by [`put_admitted_budget`].
#[derive(Clone, Debug)]
pub struct AdmittedBudget(HeaderValue);

impl AdmittedBudget {
    pub fn of(v: &RateVerdict) -> Option<Self> {
        ratelimit_value(&v.decision).map(Self)
    }

    /// Keeps the value with the request: in the slot of the route label
    /// Keyward's root span put in every request's extensions, else (an
    /// application without that span) as an extension of its own.
    pub fn remember(self, req: &HttpRequest) {
        if let Some(label) = req.extensions().get::<RouteLabel>() {
            label.budget.replace(Some(self.0));
            return;
        }
        req.extensions_mut().insert(self);
    }

    fn take(req: &HttpRequest) -> Option<HeaderValue> {
        if let Some(value) = req
            .extensions()
            .get::<RouteLabel>()
            .and_then(|label| label.budget.take())
        {
            return Some(value);
        }
        req.extensions_mut()
            .remove::<AdmittedBudget>()
            .map(|AdmittedBudget(value)| value)
    }
}

/// [`insert_headers`] as name-value pairs (for a response being built).
pub fn header_pairs(v: &RateVerdict) -> Vec<(HeaderName, HeaderValue)> {
    let mut map = HeaderMap::new();
    insert_headers(v, &mut map);
    map.into_iter().collect()
}

/// Puts the budget a request's key left (the value [`super::ApiKeyAuth`]
/// kept when it admitted the key) on the request's response, unless the
/// response carries a `RateLimit` already (refusals carry theirs).
/// Keyward's own application calls it from its outermost middleware.
pub fn put_admitted_budget<B>(res: &mut ServiceResponse<B>) {
    if let Some(value) = AdmittedBudget::take(res.request())
        && !res.headers().contains_key(RATELIMIT)
    {
        res.headers_mut().insert(RATELIMIT, value);
    }
}

/// Middleware (`actix_web::middleware::from_fn(rate_limit_headers)`) for
/// an actix application using [`super::ApiKeyAuth`] without Keyward's own
/// middleware: a response to a request whose key has a rate limit carries
/// the budget it left ([`put_admitted_budget`]).
pub async fn rate_limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    put_admitted_budget(&mut res);
    Ok(res)
}

/// The request's time (milliseconds, as `crate::now` reads it) in
/// nanoseconds since the Unix epoch, the scale every instance shares (a
/// clock stepping back is clamped by the core, never trusted beyond a
/// window's tolerance); a verification reads the clock once.
pub fn nanos_at(t: chrono::DateTime<chrono::Utc>) -> u64 {
    u64::try_from(t.timestamp_millis())
        .unwrap_or(0)
        .saturating_mul(1_000_000)
}

const SHARDS: usize = 64;
/// How long a thread may keep a lease's unused units.
const LEASE_NANOS: u64 = 1_000_000_000;
/// The most units one lease holds.
const MAX_LEASE: u32 = 1_000;

/// A worker thread's batch of one key's budget, kept in the thread's
/// cache entry of the key (see `worker_cache.rs`): charged to the budget
/// in [`LocalLimiter`] at once, then admitted one request at a time
/// without touching memory another thread writes. Unused units are given
/// back with the next batch; a lease dies with its entry (a change of the
/// key, eviction), its units unused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    /// Units charged and not admitted yet.
    units: u32,
    /// What the budget held beyond the batch when it was charged.
    remaining: u32,
    /// When the batch was charged (nanoseconds, as `now`); its units may
    /// be admitted for [`LEASE_NANOS`].
    taken: u64,
    /// When the budget is whole again, as the batch's charge left it.
    reset_at: u64,
    /// The binding window of that charge (an index into the policy's).
    window: u8,
}

impl Lease {
    fn usable(&self, now: u64, cost: u32) -> bool {
        self.units >= cost && now < self.taken.saturating_add(LEASE_NANOS)
    }

    /// The decision for a request of `cost` units admitted from the lease,
    /// `left` units staying in it: the budget beyond the batch as it was
    /// charged, plus what its binding window earned since, plus `left`, at
    /// most the burst less the request (what the budget itself would say,
    /// had no other thread charged it since), and when it is whole again.
    fn decision(&self, policy: &RatePolicy, now: u64, cost: u32, left: u32) -> Decision {
        let windows = policy.windows();
        let w = windows
            .get(usize::from(self.window))
            .copied()
            .unwrap_or(windows[0]);
        let earned = u128::from(now.saturating_sub(self.taken)) * u128::from(w.limit)
            / (u128::from(w.period_seconds) * 1_000_000_000);
        let beyond = u128::from(self.remaining) + earned + u128::from(left);
        Decision {
            admitted: true,
            window: w,
            remaining: u32::try_from(beyond.min(u128::from(w.burst().saturating_sub(cost))))
                .unwrap_or(u32::MAX),
            // At least what the request's own units take to earn back, as
            // the budget would say (the batch may be earned back already).
            reset_nanos: self.reset_at.saturating_sub(now).max(
                u64::try_from(
                    u128::from(cost) * u128::from(w.period_seconds) * 1_000_000_000
                        / u128::from(w.limit.max(1)),
                )
                .unwrap_or(u64::MAX),
            ),
            retry_after_nanos: Some(0),
        }
    }
}

/// The budgets of the keys in use on this instance: sharded by key id
/// (one uncontended lock per check), at most `capacity` keys.
///
/// Only keys that passed verification get a budget, so the keys that
/// exist bound it; past `capacity`, budgets that are whole again (they
/// carry nothing) go first, then the oldest in the shard: such a key
/// starts again with a full budget (one burst more, never more).
#[derive(Debug)]
pub struct LocalLimiter {
    shards: Box<[Padded<Mutex<Shard>>]>,
    per_shard: usize,
    hasher: foldhash::fast::RandomState,
    /// The threads that may hold leases (the server's workers): a lease is
    /// a hundredth of the smallest burst shared among them.
    threads: u32,
}

/// A shard on cache lines of its own: the worker threads lock shards
/// side by side, and neighbours sharing a line would make each lock move
/// the other's line between cores (128 bytes: a pair of lines is what
/// adjacent-line prefetching moves together).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

#[derive(Debug, Default)]
struct Shard {
    /// Only keys that passed verification are here: no caller picks them,
    /// so a fast hasher is safe.
    budgets: HashMap<KeyId, (GcraState, u64), foldhash::fast::RandomState>,
    /// Insertions, to find the oldest budget when full.
    clock: u64,
}

impl LocalLimiter {
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: foldhash::fast::RandomState::default(),
            threads: 1,
        }
    }

    /// Leases sized for `threads` threads holding one each.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = u32::try_from(threads).unwrap_or(u32::MAX).max(1);
        self
    }

    /// The units a thread leases at a time: a hundredth of the policy's
    /// smallest burst shared among the threads, at most [`MAX_LEASE`]. All
    /// the leases out at once hold at most a hundredth of any window's
    /// burst; a lease of one unit is no lease (every request is checked).
    pub fn lease_size(&self, policy: &RatePolicy) -> u32 {
        (policy.min_burst() / self.threads.saturating_mul(100)).clamp(1, MAX_LEASE)
    }

    /// [`Self::check`] for a worker thread holding `lease` (its cache
    /// entry's) for the key: admitted from the lease while it holds the
    /// units and is less than [`LEASE_NANOS`] old; else a new batch is
    /// charged (giving back the old one's units) or, when a whole batch
    /// does not fit, just the request's. Without a lease (`None`, a key not
    /// in the thread's cache) or when the lease size is one unit, exactly
    /// [`Self::check`].
    pub fn check_leased(
        &self,
        key: KeyId,
        policy: &RatePolicy,
        now: u64,
        cost: u32,
        charge: Charge,
        lease: Option<&mut Lease>,
    ) -> Decision {
        let size = self.lease_size(policy);
        let Some(lease) = lease.filter(|_| size > 1) else {
            return self.check(key, policy, now, cost, charge);
        };
        let usable = lease.usable(now, cost);
        match charge {
            Charge::Peek if usable => return lease.decision(policy, now, cost, lease.units - cost),
            Charge::Peek => return self.check(key, policy, now, cost, charge),
            Charge::Consume if usable => {
                lease.units -= cost;
                return lease.decision(policy, now, cost, lease.units);
            }
            Charge::Consume => {}
        }
        let refund = std::mem::take(&mut lease.units);
        let (granted, d) = {
            let mut shard = self.shard(&key);
            match shard.budgets.get_mut(&key) {
                Some((state, _)) => policy.lease(state, now, size.max(cost), cost, refund),
                None => {
                    let mut state = policy.idle_state();
                    let taken = policy.lease(&mut state, now, size.max(cost), cost, 0);
                    if taken.0 > 0 {
                        shard.keep(key, state, now, self.per_shard);
                    }
                    taken
                }
            }
        };
        if granted == 0 {
            return d;
        }
        *lease = Lease {
            units: granted - cost,
            remaining: d.remaining,
            taken: now,
            reset_at: now.saturating_add(d.reset_nanos),
            window: policy
                .windows()
                .iter()
                .position(|w| *w == d.window)
                .and_then(|i| u8::try_from(i).ok())
                .unwrap_or(0),
        };
        lease.decision(policy, now, cost, lease.units)
    }

    fn shard(&self, key: &KeyId) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i]
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Charges `cost` to the key's budget (or only looks).
    pub fn check(
        &self,
        key: KeyId,
        policy: &RatePolicy,
        now: u64,
        cost: u32,
        charge: Charge,
    ) -> Decision {
        let mut shard = self.shard(&key);
        if let Some((state, _)) = shard.budgets.get_mut(&key) {
            return policy.check(state, now, cost, charge);
        }
        let mut state = policy.idle_state();
        let decision = policy.check(&mut state, now, cost, charge);
        if charge == Charge::Consume && decision.admitted {
            shard.keep(key, state, now, self.per_shard);
        }
        decision
    }

    /// Keys with a budget kept (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().map_or(0, |s| s.budgets.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets a key's budget (its policy changed or it was revoked).
    pub fn forget(&self, key: &KeyId) {
        self.shard(key).budgets.remove(key);
    }
}

impl Shard {
    /// Keeps a new key's budget (making room first when the shard is full).
    fn keep(&mut self, key: KeyId, state: GcraState, now: u64, per_shard: usize) {
        if self.budgets.len() >= per_shard {
            self.make_room(now);
        }
        self.clock += 1;
        let at = self.clock;
        self.budgets.insert(key, (state, at));
    }

    fn make_room(&mut self, now: u64) {
        let before = self.budgets.len();
        self.budgets.retain(|_, (state, _)| !state.is_idle_at(now));
        if self.budgets.len() < before {
            return;
        }
        if let Some(oldest) = self
            .budgets
            .iter()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(k, _)| *k)
        {
            self.budgets.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::ratelimit::RateWindow;

    const S: u64 = 1_000_000_000;

    fn key(n: u32) -> KeyId {
        KeyId::parse(&format!("key{n:09}")).unwrap()
    }

    fn policy(limit: u32, period_seconds: u32) -> RatePolicy {
        RatePolicy::new(vec![RateWindow {
            limit,
            period_seconds,
            burst: None,
        }])
        .unwrap()
    }

    #[test]
    fn the_header_is_the_cores() {
        let p = policy(3, 60);
        let l = LocalLimiter::new(10);
        for _ in 0..4 {
            let d = l.check(key(7), &p, 1_000 * S + 17, 1, Charge::Consume);
            assert_eq!(ratelimit_value(&d).unwrap(), d.header().as_str());
        }
    }

    #[test]
    fn keys_have_budgets_of_their_own() {
        let l = LocalLimiter::new(100);
        let p = policy(3, 60);
        let now = 1_000 * S;
        for _ in 0..3 {
            assert!(l.check(key(1), &p, now, 1, Charge::Consume).admitted);
        }
        assert!(!l.check(key(1), &p, now, 1, Charge::Consume).admitted);
        assert!(
            l.check(key(2), &p, now, 1, Charge::Consume).admitted,
            "another key"
        );
        assert!(l.check(key(1), &p, now, 1, Charge::Peek).remaining == 0);
    }

    /// Two threads' leases at one instant: the budget admitted, no more
    /// (the last batches are used up by their own threads).
    #[test]
    fn leases_admit_the_budget_and_no_more() {
        let l = LocalLimiter::new(100).with_threads(1);
        let p = policy(1_000, 1);
        assert_eq!(l.lease_size(&p), 10);
        let now = 1_000 * S;
        let mut leases = [Lease::default(), Lease::default()];
        let mut admitted = 0;
        for i in 0..3_000 {
            let lease = Some(&mut leases[i % 2]);
            if l.check_leased(key(1), &p, now, 1, Charge::Consume, lease)
                .admitted
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 1_000);
        // The budget itself is spent: a request without a lease is refused.
        assert!(!l.check(key(1), &p, now, 1, Charge::Peek).admitted);
    }

    /// A lease is charged whole, admits from its units, reports the budget
    /// beyond them plus what it holds, and gives back what it left when it
    /// is renewed after its second.
    #[test]
    fn a_lease_admits_from_its_units_and_gives_back_the_rest() {
        let l = LocalLimiter::new(100).with_threads(1);
        let p = policy(10_000, 1);
        assert_eq!(l.lease_size(&p), 100);
        let now = 1_000 * S;
        let mut lease = Lease::default();
        let d = l.check_leased(key(1), &p, now, 1, Charge::Consume, Some(&mut lease));
        assert_eq!((d.admitted, d.remaining), (true, 9_999));
        assert_eq!(l.check(key(1), &p, now, 1, Charge::Peek).remaining, 9_899);
        for n in 2..=10 {
            let d = l.check_leased(key(1), &p, now, 1, Charge::Consume, Some(&mut lease));
            assert_eq!(d.remaining, 10_000 - n);
        }
        // Peeking at the lease charges nothing.
        let d = l.check_leased(key(1), &p, now, 5, Charge::Peek, Some(&mut lease));
        assert_eq!((d.admitted, d.remaining), (true, 9_985));
        assert_eq!(lease.units, 90);
        // What the budget earns meanwhile is reported (up to the burst).
        let d = l.check_leased(
            key(1),
            &p,
            now + S / 1_000,
            1,
            Charge::Consume,
            Some(&mut lease),
        );
        assert_eq!(d.remaining, 9_999);
        // After its second the 89 units go back with the next batch: the
        // budget (whole again by then) holds 10,000 less the new batch.
        let later = now + 2 * S;
        let d = l.check_leased(key(1), &p, later, 1, Charge::Consume, Some(&mut lease));
        assert_eq!(d.remaining, 9_999);
        assert_eq!(l.check(key(1), &p, later, 1, Charge::Peek).remaining, 9_899);
        // A request costing more than the lease holds takes a batch of its own size.
        let d = l.check_leased(key(1), &p, later, 120, Charge::Consume, Some(&mut lease));
        assert_eq!((d.admitted, lease.units), (true, 0));
    }

    /// Bursts too small to share among the threads get no lease: every
    /// request is checked against the budget, exactly.
    #[test]
    fn small_bursts_are_checked_exactly() {
        let l = LocalLimiter::new(100).with_threads(8);
        let p = policy(50, 1);
        assert_eq!(l.lease_size(&p), 1);
        let now = 1_000 * S;
        let mut lease = Lease::default();
        for _ in 0..50 {
            assert!(
                l.check_leased(key(1), &p, now, 1, Charge::Consume, Some(&mut lease))
                    .admitted
            );
        }
        assert!(
            !l.check_leased(key(1), &p, now, 1, Charge::Consume, Some(&mut lease))
                .admitted
        );
        assert_eq!(lease, Lease::default());
    }

    /// Whatever arrives, the budgets kept stay within the capacity; whole
    /// budgets go first, so a key being limited keeps its debt.
    #[test]
    fn budgets_are_bounded_and_idle_ones_go_first() {
        let l = LocalLimiter::new(SHARDS * 2);
        let tight = policy(1, 3600);
        let now = 1_000 * S;
        assert!(l.check(key(0), &tight, now, 1, Charge::Consume).admitted);
        let loose = policy(1_000, 1);
        for n in 1..5_000 {
            l.check(
                key(n),
                &loose,
                now + u64::from(n) * S / 1_000,
                1,
                Charge::Consume,
            );
        }
        assert!(l.len() <= SHARDS * 2, "{}", l.len());
        assert!(
            !l.check(key(0), &tight, now + 6 * S, 1, Charge::Consume)
                .admitted,
            "the hour's debt is kept"
        );
        // Peeking at unknown keys keeps nothing.
        let fresh = LocalLimiter::new(10);
        for n in 0..100 {
            fresh.check(key(n), &tight, now, 1, Charge::Peek);
        }
        assert!(fresh.is_empty());
    }
}
