//! Key verification at wire speed, in four parts:
//!
//! - this module, [`KeyVerification`]: throttle and parse (no I/O) → the
//!   worker thread's own cache ([`worker_cache`]) → the known-id set →
//!   the shared cache of key records (positive and negative) → one
//!   database read; then the core's constant-time digest step (remembered
//!   per thread) and the checks after it, at request time. No database
//!   write and no slow hash on the request path: usage is counted in the
//!   thread's cache entries and written in batches.
//! - [`coherence`]: the protocol that keeps the caches coherent with the
//!   database (epochs, invalidation, known ids), with unit tests of its
//!   interleavings.
//! - [`tasks`]: the background work (usage flushes, reloads of keys in
//!   use, the known-id safety net, other instances' change notices).
//! - [`extractor`]: [`ApiKeyAuth`], the actix-web extractor any service
//!   can use to require a key in `X-API-Key` (and, with [`KeyAuthConfig`]
//!   in the route's `app_data`, permissions).
//! - [`rate_limit`] and [`redis_limit`]: per-key rate limits, charged
//!   after every other check passed — budgets in process, leased by each
//!   worker thread in batches kept in its cache entry of the key, or
//!   leased from Redis in batches (a request waits for Redis only when its instance's
//!   lease is spent: [`VerifyFailure::Pending`] sends it down the
//!   asynchronous path). See `docs/RATE-LIMITS.md`.
//!
//! Invalidation: mutations drop the entry on this instance before they
//! respond, and announce it on PostgreSQL (`LISTEN/NOTIFY`, see
//! `db/listener.rs`) to the others; a short TTL is the safety net. Unknown
//! ids: the set of existing key ids is held in memory (12 bytes a key,
//! bounded by the keys in the database, not by what callers send), so a
//! flood of well-formed random keys is answered without a database read.
//! See `docs/VERIFICATION.md`.

pub mod coherence;
pub mod extractor;
pub mod rate_limit;
pub mod record_cache;
pub mod redis_limit;
pub mod secrets;
pub mod tasks;
pub mod worker_cache;

pub use extractor::{API_KEY_HEADER, ApiKeyAuth, KeyAuthConfig, client_ip, is_https};

use crate::db::Db;
use crate::error::ApiError;
use crate::metrics::{Metrics, Via};
use crate::throttle::Throttle;
use chrono::{DateTime, Utc};
use coherence::{Coherence, Lookup};
use keyward_core::key::{KeyId, ParsedKey};
use keyward_core::ratelimit::{Charge, Decision, RatePolicy, RateVerdict};
use keyward_core::verify::ClientAddr;
use keyward_core::verify::{
    AccessOutcome, DenialKind, DenialReason, KeyRecord, MatchedSecret, Principal, TrustedProxies,
    Verifier,
};
use rate_limit::Lease;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use worker_cache::{SecretMemo, Use, WorkerCaches};

pub use worker_cache::Site;

/// How much of each key's access log is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessLogPolicy {
    /// The newest rows kept per key.
    pub rows_per_key: u32,
    /// How often access-log runs are written (with a usage flush).
    pub flush_every: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The verification caches' lookups since start (see [`KeyVerification::cache_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub thread_hits: u64,
    pub shared_hits: u64,
    pub unknown_ids: u64,
    /// Database reads on a request's path.
    pub misses: u64,
    /// Records read by the background reloads.
    pub background_loads: u64,
    pub shared_entries: u64,
}

/// Who is asking: the client itself, or a service verifying on its behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VerifyScope {
    Direct,
    OnBehalf { caller: KeyId, tenant_id: i64 },
}

impl VerifyScope {
    fn caller(self) -> Option<KeyId> {
        match self {
            Self::Direct => None,
            Self::OnBehalf { caller, .. } => Some(caller),
        }
    }
}

/// A presented key that passed the throttle and the format check.
struct Begun<'p> {
    presented: &'p str,
    parsed: ParsedKey<'p>,
    id: KeyId,
    /// The calling service (if any) and the client's network.
    source: SourceFailures,
}

/// What failures are counted against: the calling service (if any), the
/// client's network (an IPv4 address or an IPv6 /64) and, for a key that
/// exists, that key. Failures of keys that do not exist (malformed,
/// unknown) count per network; failures of an existing key count per key
/// and network: a valid key is never refused because of other keys'
/// failures from its address (a NAT, a proxy), while guesses at one key's
/// secret are still throttled.
/// Two throttles, so that refusing a key that is no key hashes no more
/// than it must (it is the flood case).
type SourceFailures = (Option<KeyId>, ClientAddr);
type KeyFailures = (Option<KeyId>, ClientAddr, KeyId);

/// What a verification may keep in the thread's cache entry of its key:
/// the secret memo and the lease of the key's rate-limit budget (none for
/// a key not cached on the thread).
struct EntrySlot<'a> {
    memo: &'a mut Option<SecretMemo>,
    lease: Option<&'a mut Lease>,
}

impl<'a> EntrySlot<'a> {
    fn none(memo: &'a mut Option<SecretMemo>) -> Self {
        Self { memo, lease: None }
    }
}

/// Why verification did not yield a principal.
#[derive(Debug)]
pub enum VerifyFailure {
    Denied(DenialReason),
    Throttled {
        retry_after: u64,
    },
    /// A valid key over its rate limit.
    RateLimited(Box<RateVerdict>),
    /// The key's budget is in Redis and must be asked for (only between
    /// the steps of a verification: never returned by the public methods).
    Pending(Arc<RatePolicy>),
    Internal(ApiError),
}

/// What a verification charges to the key's rate limit: `cost` units, or
/// nothing with [`Charge::Peek`] (the verdict is the same either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateCharge {
    cost: u32,
    charge: Charge,
    /// The shared limiter's decision, once asked (see [`VerifyFailure::Pending`]).
    decided: Option<Decision>,
}

impl RateCharge {
    /// One request.
    pub const ONE: Self = Self::new(1, Charge::Consume);

    pub const fn new(cost: u32, charge: Charge) -> Self {
        Self {
            cost,
            charge,
            decided: None,
        }
    }
}

/// Where the budgets are kept: in this process, or in Redis with local leases.
#[derive(Debug)]
pub enum Limits {
    Local(rate_limit::LocalLimiter),
    Shared(redis_limit::SharedLimiter),
}

impl From<VerifyFailure> for ApiError {
    fn from(f: VerifyFailure) -> Self {
        match f {
            VerifyFailure::Denied(r) => match r.kind() {
                DenialKind::Unauthenticated => {
                    ApiError::Unauthenticated("The API key is not valid.")
                }
                DenialKind::Forbidden => ApiError::Forbidden(match r {
                    DenialReason::IpNotAllowed => {
                        "The API key may not be used from this address.".into()
                    }
                    DenialReason::PermissionMissing(p) => {
                        format!("The API key lacks the permission {p}.")
                    }
                    _ => "The API key may not do this.".into(),
                }),
            },
            VerifyFailure::Throttled { retry_after } => ApiError::Throttled { retry_after },
            VerifyFailure::RateLimited(verdict) => ApiError::RateLimited(verdict),
            VerifyFailure::Pending(_) => ApiError::internal("a rate limit was left undecided"),
            VerifyFailure::Internal(e) => e,
        }
    }
}

/// The verification service: verifier, caches, usage and the failure throttle.
#[derive(Debug)]
pub struct KeyVerification {
    verifier: Verifier,
    /// Whose `X-Forwarded-For` is believed (client-address resolution is a
    /// verification rule: IP allowlists and the failure throttle use it).
    trusted_proxies: TrustedProxies,
    db: Db,
    /// The shared record cache, the known ids and invalidation.
    coherence: Coherence,
    /// Each worker thread's front cache, with usage counted in its entries.
    workers: WorkerCaches,
    worker_capacity: usize,
    /// Failures of presented keys that are no key, per source.
    source_failures: Throttle<SourceFailures>,
    /// Failures of existing keys, per source and key.
    key_failures: Throttle<KeyFailures>,
    /// The key of the secret memo tags (random per process).
    memo_key: [u64; 2],
    /// Database reads a request had to wait for (a key not cached anywhere).
    request_loads: AtomicU64,
    /// Records read by the background reloads.
    background_loads: AtomicU64,
    metrics: Arc<Metrics>,
    access_log: AccessLogPolicy,
    /// Keys with access-log rows written since the last trim (at most the
    /// cache capacity; a key left out is trimmed after its next write).
    access_written: Mutex<HashSet<KeyId>>,
    /// When access-log runs were last written.
    access_flushed: Mutex<std::time::Instant>,
    /// The hashing-secret version new digests use (see `secrets.rs`).
    current_secret: AtomicU16,
    rehash: AtomicBool,
    /// Keys to re-digest under `current_secret`, by key.
    redigests: Mutex<HashMap<KeyId, crate::db::Redigest>>,
    /// The budgets of keys with a rate limit.
    limits: Limits,
}

impl KeyVerification {
    // Wired once, in `startup.rs`, from the settings named like its parameters.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        verifier: Verifier,
        trusted_proxies: TrustedProxies,
        db: Db,
        capacity: u64,
        ttl: Duration,
        failures_per_minute: u32,
        access_log: AccessLogPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(100_000).max(16);
        Self {
            verifier,
            trusted_proxies,
            db,
            coherence: Coherence::new(capacity as u64, ttl),
            workers: WorkerCaches::default(),
            worker_capacity: capacity,
            source_failures: Throttle::new(failures_per_minute, Duration::from_secs(60), capacity),
            key_failures: Throttle::new(failures_per_minute, Duration::from_secs(60), capacity),
            memo_key: {
                use rand_core::Rng;
                let mut rng = crate::os_rng();
                [rng.next_u64(), rng.next_u64()]
            },
            request_loads: AtomicU64::new(0),
            background_loads: AtomicU64::new(0),
            metrics,
            access_log,
            access_written: Mutex::default(),
            access_flushed: Mutex::new(std::time::Instant::now()),
            current_secret: AtomicU16::new(1),
            rehash: AtomicBool::new(true),
            redigests: Mutex::default(),
            limits: Limits::Local(rate_limit::LocalLimiter::new(capacity)),
        }
    }

    /// Sizes the in-process rate-limit leases for `threads` worker threads
    /// (see [`rate_limit::LocalLimiter::lease_size`]).
    pub fn with_worker_threads(mut self, threads: usize) -> Self {
        self.limits = match self.limits {
            Limits::Local(l) => Limits::Local(l.with_threads(threads)),
            shared => shared,
        };
        self
    }

    /// Keeps the rate-limit budgets in Redis (several instances) instead
    /// of in this process.
    pub fn with_shared_limits(mut self, shared: redis_limit::SharedLimiter) -> Self {
        self.limits = Limits::Shared(shared);
        self
    }

    /// The Redis calls of the shared limiter and how many failed, if it is used.
    pub fn redis_calls(&self) -> Option<(u64, u64)> {
        match &self.limits {
            Limits::Shared(s) => Some(s.calls()),
            Limits::Local(_) => None,
        }
    }

    /// How many verifications have waited for a database read since start.
    pub fn request_loads(&self) -> u64 {
        self.request_loads.load(Ordering::Relaxed)
    }

    /// The metrics this service records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The caches' lookups and loads since start, and the shared cache's size.
    pub fn cache_stats(&self) -> CacheStats {
        let l = self.workers.lookups();
        CacheStats {
            thread_hits: l.thread_hits,
            shared_hits: l.shared_hits,
            unknown_ids: l.unknown_ids,
            misses: self.request_loads(),
            background_loads: self.background_loads.load(Ordering::Relaxed),
            shared_entries: self.coherence.entry_count(),
        }
    }

    /// Attempts refused by the failure throttles since start: of presented
    /// keys that are no key (per source), and of existing keys.
    pub fn throttle_blocks(&self) -> (u64, u64) {
        (self.source_failures.blocks(), self.key_failures.blocks())
    }

    /// Records one verification in the metrics.
    pub fn record(
        &self,
        route: &str,
        via: Via,
        result: &Result<Principal, VerifyFailure>,
        started: std::time::Instant,
    ) {
        self.metrics.verification(
            route,
            via,
            crate::metrics::outcome_of(result),
            started.elapsed(),
        );
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    /// Reloads the set of existing key ids from the database.
    pub async fn reload_known_ids(&self) -> Result<(), ApiError> {
        let ticket = self.coherence.read_started();
        let ids = self.db.all_key_ids().await?.into_iter().collect();
        self.coherence.known_ids_read(ids, ticket);
        Ok(())
    }

    /// Drops a key's cached records (before the mutating request responds).
    /// Any change notice also proves the id exists (it may be a new key).
    pub fn invalidate(&self, key_id: KeyId) {
        self.coherence.invalidate(key_id);
    }

    /// Drops the cached records of a group's keys (its permissions changed).
    pub fn invalidate_group(&self, group_id: i64) {
        self.coherence.invalidate_group(group_id);
    }

    /// Drops every cached record (lost notifications).
    pub fn invalidate_all(&self) {
        self.coherence.invalidate_all();
    }

    /// Reads a record from the database into the shared cache (unless a
    /// change of the key raced the read: then only this request uses it).
    async fn load(&self, id: KeyId) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        let ticket = self.coherence.read_started();
        let record = self.db.load_key_record(&id).await?.map(Arc::new);
        let _cached = self.coherence.loaded(id, record.clone(), ticket);
        Ok(record)
    }

    /// Reads several records into the shared cache with one query (the
    /// background reloads).
    async fn reload(&self, ids: &[KeyId]) -> Result<(), ApiError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ticket = self.coherence.read_started();
        self.background_loads
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        let mut records = self.db.load_key_records(ids).await?;
        self.coherence.reloaded(
            ids.iter().map(|id| (*id, records.remove(id).map(Arc::new))),
            ticket,
        );
        Ok(())
    }

    /// Verifies a key presented directly by a client (`X-API-Key`):
    /// throttle, format, cached lookup, the core's checks. Usage is counted
    /// in memory; unauthenticated failures count toward the client address.
    pub async fn verify<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: ClientAddr,
        required: &[S],
        now: DateTime<Utc>,
        site: Site<'_>,
    ) -> Result<Principal, VerifyFailure> {
        self.verify_scoped(
            presented,
            client_ip,
            required,
            now,
            VerifyScope::Direct,
            &site,
            RateCharge::ONE,
        )
        .await
    }

    /// The synchronous part of [`Self::verify`]: the whole verification
    /// when the key is malformed, unknown or cached (the common case, with
    /// no future and no database), `None` when its record must be loaded.
    /// `now` is only asked for when the key is well-formed.
    pub fn try_verify<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: ClientAddr,
        required: &[S],
        now: impl FnOnce() -> DateTime<Utc>,
        site: Site<'_>,
    ) -> Option<Result<Principal, VerifyFailure>> {
        match self.begin(presented, client_ip, VerifyScope::Direct) {
            Err(failure) => Some(Err(failure)),
            Ok(begun) => match self.verify_cached(
                &begun,
                client_ip,
                required,
                now(),
                VerifyScope::Direct,
                &site,
                RateCharge::ONE,
            )? {
                // Redis must be asked: the asynchronous path does.
                Err(VerifyFailure::Pending(_)) => None,
                done => Some(done),
            },
        }
    }

    /// Verifies a key on behalf of a calling service (`POST /v1/keys/verify`):
    /// only keys of `tenant_id` can be found (another tenant's key is
    /// unknown, whatever its state), and failures are counted per calling key
    /// and reported address, so that one service cannot throttle an address
    /// for everybody else. `route` is the calling service's route, for the
    /// key's access log; `rate` what to charge to the key's rate limit.
    #[allow(clippy::too_many_arguments)]
    pub async fn verify_for<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: ClientAddr,
        required: &[S],
        now: DateTime<Utc>,
        caller: KeyId,
        tenant_id: i64,
        route: &str,
        rate: RateCharge,
    ) -> Result<Principal, VerifyFailure> {
        self.verify_scoped(
            presented,
            client_ip,
            required,
            now,
            VerifyScope::OnBehalf { caller, tenant_id },
            &Site::on_behalf(route, caller),
            rate,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn verify_scoped<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: ClientAddr,
        required: &[S],
        now: DateTime<Utc>,
        scope: VerifyScope,
        site: &Site<'_>,
        rate: RateCharge,
    ) -> Result<Principal, VerifyFailure> {
        let begun = self.begin(presented, client_ip, scope)?;
        let mut rate = rate;
        loop {
            let result =
                match self.verify_cached(&begun, client_ip, required, now, scope, site, rate) {
                    Some(done) => done,
                    None => {
                        self.verify_loaded(&begun, client_ip, required, now, scope, site, rate)
                            .await
                    }
                };
            match result {
                Err(VerifyFailure::Pending(policy)) if rate.decided.is_none() => {
                    rate.decided = Some(self.ask(begun.id, &policy, rate, now).await);
                }
                other => return other,
            }
        }
    }

    /// Asks the shared limiter (Redis) for the key's budget.
    async fn ask(
        &self,
        key: KeyId,
        policy: &RatePolicy,
        rate: RateCharge,
        now: DateTime<Utc>,
    ) -> Decision {
        let now = rate_limit::nanos_at(now);
        match &self.limits {
            Limits::Shared(s) => s.ask(key, policy, now, rate.cost, rate.charge).await,
            Limits::Local(l) => l.check(key, policy, now, rate.cost, rate.charge),
        }
    }

    /// [`Self::verify_scoped`] for a key whose record is not cached: one
    /// database read.
    #[allow(clippy::too_many_arguments)]
    async fn verify_loaded<S: AsRef<str>>(
        &self,
        begun: &Begun<'_>,
        client_ip: ClientAddr,
        required: &[S],
        now: DateTime<Utc>,
        scope: VerifyScope,
        site: &Site<'_>,
        rate: RateCharge,
    ) -> Result<Principal, VerifyFailure> {
        self.request_loads.fetch_add(1, Ordering::Relaxed);
        let record = self.load(begun.id).await.map_err(VerifyFailure::Internal)?;
        if let Some(done) = self.verify_cached(begun, client_ip, required, now, scope, site, rate) {
            return done;
        }
        // The entry was dropped again at once (a racing change or eviction):
        // decide on the record just read, which is at least as new.
        let (result, count) = self.decide(
            begun,
            record.as_deref(),
            EntrySlot::none(&mut None),
            client_ip,
            required,
            now,
            scope,
            rate,
        );
        if let Some(u) = count {
            self.workers.mine().count(begun.id, u, client_ip, now, site);
        }
        result
    }

    /// Steps without a record: the failure throttle, then format and checksum.
    fn begin<'p>(
        &self,
        presented: &'p str,
        client_ip: ClientAddr,
        scope: VerifyScope,
    ) -> Result<Begun<'p>, VerifyFailure> {
        let source = (scope.caller(), client_ip.network());
        let parsed = match self.verifier.parse(presented) {
            Ok(p) => p,
            Err(reason) => return Err(self.refuse(source, reason)),
        };
        Ok(Begun {
            presented,
            id: parsed.id(),
            parsed,
            source,
        })
    }

    /// The digest step, remembered per thread: a key presented again is
    /// recognised by its memo tag (compared in constant time) instead of a
    /// second HMAC. The grace period, revocation and everything after are
    /// still checked on every request.
    fn secret_of(
        &self,
        begun: &Begun<'_>,
        record: &KeyRecord,
        memo: &mut Option<SecretMemo>,
        now: DateTime<Utc>,
    ) -> Result<MatchedSecret, DenialReason> {
        use siphasher::sip128::{Hasher128, SipHasher24};
        use std::hash::Hasher;
        let mut h = SipHasher24::new_with_keys(self.memo_key[0], self.memo_key[1]);
        h.write(begun.presented.as_bytes());
        let tag = h.finish128();
        let tag = [tag.h1, tag.h2];
        if let Some(m) = memo
            && bool::from(m.tag[..].ct_eq(&tag[..]))
        {
            return Ok(m.secret);
        }
        let secret = self.verifier.match_secret(&begun.parsed, record, now)?;
        *memo = Some(SecretMemo { tag, secret });
        Ok(secret)
    }

    /// The steps with the record, from the thread's cache (copied from the
    /// shared cache on a miss); `None` when the record must be loaded.
    #[allow(clippy::too_many_arguments)]
    fn verify_cached<S: AsRef<str>>(
        &self,
        begun: &Begun<'_>,
        client_ip: ClientAddr,
        required: &[S],
        now: DateTime<Utc>,
        scope: VerifyScope,
        site: &Site<'_>,
        rate: RateCharge,
    ) -> Option<Result<Principal, VerifyFailure>> {
        let mut local = self.workers.mine();
        self.coherence.catch_up(&mut local);
        let decide =
            |record: Option<&KeyRecord>, memo: &mut Option<SecretMemo>, lease: &mut Lease| {
                let slot = EntrySlot {
                    memo,
                    lease: Some(lease),
                };
                self.decide(begun, record, slot, client_ip, required, now, scope, rate)
            };
        if let Some(result) = local.with_record(&begun.id, now, client_ip, site, decide) {
            local.lookups.thread_hits += 1;
            return Some(result);
        }
        match self.coherence.lookup(&begun.id, now) {
            Lookup::Cached(record, fresh) => {
                local.lookups.shared_hits += 1;
                // A private copy, so that this thread's reference counts are its own.
                let record = record.map(|r| local.own_copy(&r));
                local.insert(begun.id, record, fresh, now, self.worker_capacity);
                local.with_record(&begun.id, now, client_ip, site, decide)
            }
            // Not a key at all: nothing to cache or count.
            Lookup::Unknown => {
                local.lookups.unknown_ids += 1;
                Some(decide(None, &mut None, &mut Lease::default()).0)
            }
            Lookup::Load => None,
        }
    }

    /// The core's checks on the record, and failure counting. Returns the
    /// use to count for the key (usage and access log), if it exists.
    #[allow(clippy::too_many_arguments)]
    fn decide<S: AsRef<str>>(
        &self,
        begun: &Begun<'_>,
        record: Option<&KeyRecord>,
        slot: EntrySlot<'_>,
        client_ip: ClientAddr,
        required: &[S],
        now: DateTime<Utc>,
        scope: VerifyScope,
        rate: RateCharge,
    ) -> (Result<Principal, VerifyFailure>, Option<Use>) {
        let record = match scope {
            VerifyScope::OnBehalf { tenant_id, .. } => record.filter(|r| r.tenant_id == tenant_id),
            VerifyScope::Direct => record,
        };
        let Some(r) = record else {
            tracing::debug!(key_id = begun.parsed.key_id(), client_ip = %client_ip, "unknown key");
            return (
                Err(self.refuse(begun.source, DenialReason::UnknownKey)),
                None,
            );
        };
        let key_failures: KeyFailures = (begun.source.0, begun.source.1, begun.id);
        let used = |outcome, detail| {
            Some(Use {
                tenant_id: r.tenant_id,
                outcome,
                detail,
            })
        };
        if let Err(retry_after) = self.key_failures.check(&key_failures) {
            return (
                Err(VerifyFailure::Throttled { retry_after }),
                used(AccessOutcome::Throttled, None),
            );
        }
        let matched = self.secret_of(begun, r, slot.memo, now);
        let current = matches!(matched, Ok(MatchedSecret::Current));
        let result =
            matched.and_then(|secret| Verifier::check_matched(r, secret, client_ip, required, now));
        match result {
            Ok(mut principal) => {
                if current {
                    self.maybe_redigest(&begun.parsed, r);
                }
                if let Some(policy) = &r.rate_limit {
                    let now = rate_limit::nanos_at(now);
                    let decision = match (&self.limits, rate.decided) {
                        (_, Some(decided)) => decided,
                        (Limits::Local(l), None) => l.check_leased(
                            r.key_id,
                            policy,
                            now,
                            rate.cost,
                            rate.charge,
                            slot.lease,
                        ),
                        (Limits::Shared(s), None) => {
                            match s.check_local(r.key_id, policy, now, rate.cost, rate.charge) {
                                redis_limit::Local::Decided(d) => d,
                                // Nothing counted yet: the request is decided
                                // again once Redis has answered.
                                redis_limit::Local::Ask => {
                                    return (Err(VerifyFailure::Pending(Arc::clone(policy))), None);
                                }
                            }
                        }
                    };
                    let verdict = RateVerdict {
                        decision,
                        policy: Arc::clone(policy),
                    };
                    if !decision.admitted {
                        // The key's own use, refused: not a failure to
                        // authenticate (the failure throttle is not told).
                        return (
                            Err(VerifyFailure::RateLimited(Box::new(verdict))),
                            used(AccessOutcome::RateLimited, None),
                        );
                    }
                    principal.rate_limit = Some(verdict);
                }
                (Ok(principal), used(AccessOutcome::Allowed, None))
            }
            Err(reason) => {
                tracing::debug!(key_id = begun.parsed.key_id(), reason = reason.as_str(), client_ip = %client_ip, "key denied");
                // Only failures to authenticate count: a valid key calling a
                // route it lacks a permission for does not lock itself out.
                if reason.kind() == DenialKind::Unauthenticated {
                    self.key_failures.fail(&key_failures);
                }
                let count = reason.access_outcome().and_then(|outcome| {
                    let detail = match &reason {
                        DenialReason::PermissionMissing(p) => Some(p.as_str().into()),
                        _ => None,
                    };
                    used(outcome, detail)
                });
                (Err(VerifyFailure::Denied(reason)), count)
            }
        }
    }

    /// Refuses a presented key that is no key (malformed, or no such key):
    /// 429 while its source is throttled, else the denial, counted.
    fn refuse(&self, source: SourceFailures, reason: DenialReason) -> VerifyFailure {
        if let Err(retry_after) = self.source_failures.check(&source) {
            return VerifyFailure::Throttled { retry_after };
        }
        self.source_failures.fail(&source);
        VerifyFailure::Denied(reason)
    }
}
