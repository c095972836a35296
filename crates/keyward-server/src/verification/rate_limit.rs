//! Per-key rate limits at verification time: the budgets of the keys in
//! use (GCRA states, see `keyward_core::ratelimit`), kept in this process
//! or, with several instances, leased from Redis (see [`super::redis_limit`]),
//! and the `RateLimit` / `RateLimit-Policy` / `Retry-After` header fields.
//!
//! A budget is charged only by a request that passed every other check (a
//! valid key, from an allowed address, with the permissions required):
//! nobody can spend a key's budget without its secret, and a refusal for
//! another reason costs nothing.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
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
/// verified and put on its response by [`rate_limit_headers`].
#[derive(Clone, Debug)]
pub struct AdmittedBudget(HeaderValue);

impl AdmittedBudget {
    pub fn of(v: &RateVerdict) -> Option<Self> {
        ratelimit_value(&v.decision).map(Self)
    }
}

/// [`insert_headers`] as name-value pairs (for a response being built).
pub fn header_pairs(v: &RateVerdict) -> Vec<(HeaderName, HeaderValue)> {
    let mut map = HeaderMap::new();
    insert_headers(v, &mut map);
    map.into_iter().collect()
}

/// Middleware (`actix_web::middleware::from_fn(rate_limit_headers)`): a
/// response to a request whose key has a rate limit carries the budget it
/// left (the value [`super::ApiKeyAuth`] put in the request's extensions
/// when it admitted the key). Refusals carry theirs already.
pub async fn rate_limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut res = next.call(req).await?;
    let budget = res.request().extensions_mut().remove::<AdmittedBudget>();
    if let Some(AdmittedBudget(value)) = budget
        && !res.headers().contains_key(RATELIMIT)
    {
        res.headers_mut().insert(RATELIMIT, value);
    }
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
        }
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
            if shard.budgets.len() >= self.per_shard {
                shard.make_room(now);
            }
            shard.clock += 1;
            let at = shard.clock;
            shard.budgets.insert(key, (state, at));
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
