//! Key verification at wire speed.
//!
//! - [`KeyVerification`]: throttle and parse (no I/O) → the worker thread's
//!   own cache (`worker_cache.rs`) → the known-id set → the shared cache
//!   of key records (positive and negative) → one database read; then
//!   the core's constant-time digest step (remembered per thread) and the
//!   checks after it, at request time. No database write and no slow hash on
//!   the request path: usage is counted in the thread's cache entries and
//!   written in batches.
//! - [`ApiKeyAuth`]: an actix-web extractor any service can use to require a
//!   key in `X-API-Key` (and, with [`KeyAuthConfig`] in the route's
//!   `app_data`, permissions).
//! - Invalidation: mutations drop the entry on this instance before they
//!   respond, and announce it on PostgreSQL (`LISTEN/NOTIFY`) to the others;
//!   a short TTL is the safety net. See `docs/VERIFICATION.md`.
//! - Unknown ids: the set of existing key ids is held in memory (12 bytes a
//!   key, bounded by the keys in the database, not by what callers send), so
//!   a flood of well-formed random keys is answered without a database read.

use crate::db::{Db, NOTIFY_CHANNEL};
use crate::error::ApiError;
use crate::record_cache::RecordCache;
use crate::state::AppState;
use crate::throttle::Throttle;
use crate::worker_cache::{Freshness, SecretMemo, WorkerCache, WorkerCaches, id_bytes};
use actix_web::dev::Payload;
use actix_web::http::header::HeaderName;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};
use keyward_core::key::ParsedKey;
use keyward_core::verify::{
    DenialKind, DenialReason, KeyRecord, MatchedSecret, Principal, TrustedProxies, Verifier,
};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use std::time::Instant;
use subtle::ConstantTimeEq;

pub const API_KEY_HEADER: &str = keyward_core::api::headers::API_KEY;
const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// The most records one background reload reads with one query.
const REFRESH_BATCH: usize = 256;

type KnownIds = HashSet<[u8; 12], foldhash::fast::RandomState>;

/// The real client address of a request (socket peer, or `X-Forwarded-For`
/// through trusted proxies only).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    // Lazy: the header is only looked up when the peer is a trusted proxy
    // (the core stops before iterating otherwise).
    let headers = std::iter::once(X_FORWARDED_FOR)
        .flat_map(|name| req.headers().get_all(name))
        .filter_map(|v| v.to_str().ok());
    trusted.client_ip(peer, headers)
}

/// Who is asking: the client itself, or a service verifying on its behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VerifyScope {
    Direct,
    OnBehalf { caller: [u8; 12], tenant_id: i64 },
}

impl VerifyScope {
    fn caller(self) -> Option<[u8; 12]> {
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
    id: [u8; 12],
    throttle_key: (Option<[u8; 12]>, IpAddr),
}

/// What the shared cache knows of a key id.
enum Shared {
    /// The record (or its known absence), and how long it may be used.
    Cached(Option<Arc<KeyRecord>>, Freshness),
    /// The id is not in the database.
    Unknown,
    /// The id exists but its record must be read.
    Load,
}

/// Why verification did not yield a principal.
#[derive(Debug)]
pub enum VerifyFailure {
    Denied(DenialReason),
    Throttled { retry_after: u64 },
    Internal(ApiError),
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
            VerifyFailure::Internal(e) => e,
        }
    }
}

/// The verification service: verifier, caches, usage and the failure throttle.
#[derive(Debug)]
pub struct KeyVerification {
    verifier: Verifier,
    db: Db,
    /// Records shared by all threads (filled from the database).
    cache: RecordCache,
    /// Each worker thread's front cache, with usage counted in its entries.
    workers: WorkerCaches,
    worker_capacity: usize,
    /// Recent per-key invalidations (epoch, when): read after a load, so
    /// that a load racing a mutation never leaves a stale entry, and by
    /// worker threads catching up with the epoch.
    invalidated: Mutex<HashMap<[u8; 12], (u64, Instant)>>,
    /// Bumped (under `invalidated`'s lock) by every invalidation.
    epoch: AtomicU64,
    all_invalidated: AtomicU64,
    /// The newest epoch dropped from `invalidated` when it was pruned.
    pruned_epoch: AtomicU64,
    /// Every key id in the database (see the module documentation); only
    /// ids of existing keys go in, so a fast hasher is safe (presented ids
    /// only look up).
    known_ids: RwLock<KnownIds>,
    failures: Throttle<(Option<[u8; 12]>, IpAddr)>,
    /// The key of the secret memo tags (random per process).
    memo_key: [u64; 2],
    /// Database reads a request had to wait for (a key not cached anywhere).
    request_loads: AtomicU64,
}

impl KeyVerification {
    pub fn new(
        verifier: Verifier,
        db: Db,
        capacity: u64,
        ttl: Duration,
        failures_per_minute: u32,
    ) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(100_000).max(16);
        Self {
            verifier,
            db,
            cache: RecordCache::new(capacity as u64, ttl),
            workers: WorkerCaches::default(),
            worker_capacity: capacity,
            invalidated: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(1),
            all_invalidated: AtomicU64::new(0),
            pruned_epoch: AtomicU64::new(0),
            known_ids: RwLock::default(),
            failures: Throttle::new(failures_per_minute, Duration::from_secs(60), capacity),
            memo_key: {
                use rand_core::Rng;
                let mut rng = crate::auth::os_rng();
                [rng.next_u64(), rng.next_u64()]
            },
            request_loads: AtomicU64::new(0),
        }
    }

    /// How many verifications have waited for a database read since start.
    pub fn request_loads(&self) -> u64 {
        self.request_loads.load(Ordering::Relaxed)
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Reloads the set of existing key ids from the database.
    /// Keys announced (created) while the ids were read are kept, since the
    /// read may have missed them.
    pub async fn reload_known_ids(&self) -> Result<(), ApiError> {
        let start = self.epoch.load(Ordering::SeqCst);
        let mut ids: KnownIds = self
            .db
            .all_key_ids()
            .await?
            .iter()
            .filter_map(|id| id_bytes(id))
            .collect();
        let mut known = self
            .known_ids
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let inv = self.lock_invalidated();
        if self.pruned_epoch.load(Ordering::SeqCst) > start {
            ids.extend(known.iter());
        } else {
            ids.extend(
                inv.iter()
                    .filter(|(_, (e, _))| *e > start)
                    .map(|(id, _)| *id),
            );
        }
        *known = ids;
        Ok(())
    }

    fn lock_invalidated(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 12], (u64, Instant)>> {
        self.invalidated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops a key's cached records (before the mutating request responds).
    /// Any change notice also proves the id exists (it may be a new key).
    ///
    /// The shared entry goes first, then the epoch moves: a thread that
    /// copied the old shared entry did so before the epoch moved, so it
    /// drops its copy on its next verification. The id joins the known ids
    /// last, so that a reload of the known ids racing this either sees the
    /// new epoch or is followed by the insertion.
    pub fn invalidate(&self, key_id: &str) {
        let Some(id) = id_bytes(key_id) else {
            return;
        };
        self.cache.invalidate(&id);
        let mut inv = self.lock_invalidated();
        if inv.len() > 10_000 {
            let mut pruned = 0;
            inv.retain(|_, (e, at)| {
                let keep = at.elapsed() < Duration::from_secs(60);
                if !keep {
                    pruned = pruned.max(*e);
                }
                keep
            });
            self.pruned_epoch.fetch_max(pruned, Ordering::SeqCst);
        }
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        inv.insert(id, (e, Instant::now()));
        drop(inv);
        self.known_ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    /// Drops every cached record (group permission changes, lost notifications).
    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
        let _inv = self.lock_invalidated();
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.all_invalidated.store(e, Ordering::SeqCst);
    }

    /// Whether an invalidation of `id` happened after `start`.
    fn invalidated_since(&self, id: &[u8; 12], start: u64) -> bool {
        let inv = self.lock_invalidated();
        self.all_invalidated.load(Ordering::SeqCst) > start
            || self.pruned_epoch.load(Ordering::SeqCst) > start
            || inv.get(id).is_some_and(|(e, _)| *e > start)
    }

    /// Brings a thread's cache up to the current epoch. The common case is
    /// one read of an atomic that only invalidations write.
    fn catch_up(&self, local: &mut WorkerCache) {
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
            let mut changed = inv
                .iter()
                .filter(|(_, (e, _))| *e > seen)
                .map(|(id, _)| *id);
            local.apply(epoch, Some(&mut changed));
        }
    }

    /// What the shared cache knows of an id. The known-id set comes first:
    /// a well-formed key that is no key at all (a guess, a flood) is
    /// answered by one lookup. Every cached id is a known id (records are
    /// only loaded for known ids, and the set only loses ids deleted from
    /// the database).
    fn shared(&self, id: &[u8; 12], now: DateTime<Utc>) -> Shared {
        let known = self
            .known_ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id);
        if !known {
            return Shared::Unknown;
        }
        let Some((record, expires)) = self.cache.get(id) else {
            return Shared::Load;
        };
        let at = Instant::now();
        let in_time = |t: Instant| {
            now + chrono::Duration::from_std(t.saturating_duration_since(at)).unwrap_or_default()
        };
        let fresh = Freshness {
            until: in_time(expires),
            refresh_from: in_time(self.cache.refresh_from(expires)),
        };
        Shared::Cached(record, fresh)
    }

    /// Reads a record from the database into the shared cache.
    async fn load(&self, id: [u8; 12]) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        let key_id = std::str::from_utf8(&id).map_err(ApiError::internal)?;
        loop {
            let start = self.epoch.load(Ordering::SeqCst);
            let record = self.db.load_key_record(key_id).await?.map(Arc::new);
            self.cache.insert(id, record.clone());
            if !self.invalidated_since(&id, start) {
                return Ok(record);
            }
            // A mutation raced this load: the row read may be stale.
            self.cache.invalidate(&id);
        }
    }

    /// Verifies a key presented directly by a client (`X-API-Key`):
    /// throttle, format, cached lookup, the core's checks. Usage is counted
    /// in memory; unauthenticated failures count toward the client address.
    pub async fn verify<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: IpAddr,
        required: &[S],
        now: DateTime<Utc>,
    ) -> Result<Principal, VerifyFailure> {
        self.verify_scoped(presented, client_ip, required, now, VerifyScope::Direct)
            .await
    }

    /// The synchronous part of [`Self::verify`]: the whole verification
    /// when the key is malformed, unknown or cached (the common case, with
    /// no future and no database), `None` when its record must be loaded.
    /// `now` is only asked for when the key is well-formed.
    pub fn try_verify<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: IpAddr,
        required: &[S],
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> Option<Result<Principal, VerifyFailure>> {
        match self.begin(presented, client_ip, VerifyScope::Direct) {
            Err(failure) => Some(Err(failure)),
            Ok(begun) => {
                self.verify_cached(&begun, client_ip, required, now(), VerifyScope::Direct)
            }
        }
    }

    /// Verifies a key on behalf of a calling service (`POST /v1/keys/verify`):
    /// only keys of `tenant_id` can be found (another tenant's key is
    /// unknown, whatever its state), and failures are counted per calling key
    /// and reported address, so that one service cannot throttle an address
    /// for everybody else.
    pub async fn verify_for<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: IpAddr,
        required: &[S],
        now: DateTime<Utc>,
        caller_key_id: &str,
        tenant_id: i64,
    ) -> Result<Principal, VerifyFailure> {
        let caller = id_bytes(caller_key_id).unwrap_or([0; 12]);
        self.verify_scoped(
            presented,
            client_ip,
            required,
            now,
            VerifyScope::OnBehalf { caller, tenant_id },
        )
        .await
    }

    async fn verify_scoped<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: IpAddr,
        required: &[S],
        now: DateTime<Utc>,
        scope: VerifyScope,
    ) -> Result<Principal, VerifyFailure> {
        let begun = self.begin(presented, client_ip, scope)?;
        if let Some(done) = self.verify_cached(&begun, client_ip, required, now, scope) {
            return done;
        }
        self.request_loads.fetch_add(1, Ordering::Relaxed);
        let record = self.load(begun.id).await.map_err(VerifyFailure::Internal)?;
        if let Some(done) = self.verify_cached(&begun, client_ip, required, now, scope) {
            return done;
        }
        // The entry was dropped again at once (a racing change or eviction):
        // decide on the record just read, which is at least as new.
        let (result, count) = self.decide(
            &begun,
            record.as_deref(),
            &mut None,
            client_ip,
            required,
            now,
            scope,
        );
        if let Some((tenant_id, ok)) = count {
            self.workers
                .mine()
                .count(tenant_id, begun.id, ok, client_ip, now);
        }
        result
    }

    /// Steps without a record: the failure throttle, then format and checksum.
    fn begin<'p>(
        &self,
        presented: &'p str,
        client_ip: IpAddr,
        scope: VerifyScope,
    ) -> Result<Begun<'p>, VerifyFailure> {
        let throttle_key = (scope.caller(), client_ip.to_canonical());
        if let Err(retry_after) = self.failures.check(&throttle_key) {
            return Err(VerifyFailure::Throttled { retry_after });
        }
        let parsed = match self.verifier.parse(presented) {
            Ok(p) => p,
            Err(reason) => {
                self.failures.fail(&throttle_key);
                return Err(VerifyFailure::Denied(reason));
            }
        };
        let Some(id) = id_bytes(parsed.key_id()) else {
            // The core's format guarantees 12 bytes; treat anything else as unknown.
            self.failures.fail(&throttle_key);
            return Err(VerifyFailure::Denied(DenialReason::UnknownKey));
        };
        Ok(Begun {
            presented,
            parsed,
            id,
            throttle_key,
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
    fn verify_cached<S: AsRef<str>>(
        &self,
        begun: &Begun<'_>,
        client_ip: IpAddr,
        required: &[S],
        now: DateTime<Utc>,
        scope: VerifyScope,
    ) -> Option<Result<Principal, VerifyFailure>> {
        let mut local = self.workers.mine();
        self.catch_up(&mut local);
        let decide = |record: Option<&KeyRecord>, memo: &mut Option<SecretMemo>| {
            self.decide(begun, record, memo, client_ip, required, now, scope)
        };
        if let Some(result) = local.with_record(&begun.id, now, client_ip, decide) {
            return Some(result);
        }
        match self.shared(&begun.id, now) {
            Shared::Cached(record, fresh) => {
                // A private copy, so that this thread's reference counts are its own.
                let record = record.map(|r| local.own_copy(&r));
                local.insert(begun.id, record, fresh, now, self.worker_capacity);
                local.with_record(&begun.id, now, client_ip, decide)
            }
            // Not a key at all: nothing to cache or count.
            Shared::Unknown => Some(decide(None, &mut None).0),
            Shared::Load => None,
        }
    }

    /// Every `every`, reloads in the background (in batches) the shared
    /// entries of keys in use that are in their reload window (the TTL's
    /// last quarter), so that a key in use is never read from the database
    /// on a request's path. A key is in use while a worker thread holds a
    /// copy it took for a verification: a key used in bursts is kept
    /// loaded between them, however they fall. Entries still expire: a
    /// reload that fails or never comes leaves the TTL bound as it was.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        self.spawn_every(every, |me| async move { me.reload_due().await });
    }

    /// Runs `round` every `every` (the first time after one period) until
    /// the process ends; a round that overruns delays the next one.
    fn spawn_every<F>(
        self: &Arc<Self>,
        every: Duration,
        round: impl Fn(Arc<Self>) -> F + Send + 'static,
    ) where
        F: Future<Output = ()> + Send,
    {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                round(Arc::clone(&me)).await;
            }
        });
    }

    /// One round of the refresher: see [`Self::spawn_refresher`].
    async fn reload_due(&self) {
        let mut ids = self.workers.due_for_reload(crate::now());
        // Another thread's copy may have asked for it already.
        ids.retain(|id| !self.cache.is_fresh(id));
        for batch in ids.chunks(REFRESH_BATCH) {
            if let Err(e) = self.reload(batch).await {
                tracing::warn!(error = %e, "cannot reload key records");
                return;
            }
        }
    }

    /// Reads several records into the shared cache with one query. Like
    /// [`Self::load`], an id whose key changed while it was read is dropped
    /// again (its next use reads it afresh).
    async fn reload(&self, ids: &[[u8; 12]]) -> Result<(), ApiError> {
        if ids.is_empty() {
            return Ok(());
        }
        let start = self.epoch.load(Ordering::SeqCst);
        let key_ids: Vec<String> = ids
            .iter()
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .collect();
        let mut records = self.db.load_key_records(&key_ids).await?;
        for (id, key_id) in ids.iter().zip(&key_ids) {
            let record = records.remove(key_id.as_str()).map(Arc::new);
            self.cache.insert(*id, record);
            if self.invalidated_since(id, start) {
                self.cache.invalidate(id);
            }
        }
        Ok(())
    }

    /// The core's checks on the record, and failure counting. Returns the
    /// use to count for the key, if any: (tenant, succeeded).
    #[allow(clippy::too_many_arguments)]
    fn decide<S: AsRef<str>>(
        &self,
        begun: &Begun<'_>,
        record: Option<&KeyRecord>,
        memo: &mut Option<SecretMemo>,
        client_ip: IpAddr,
        required: &[S],
        now: DateTime<Utc>,
        scope: VerifyScope,
    ) -> (Result<Principal, VerifyFailure>, Option<(i64, bool)>) {
        let record = match scope {
            VerifyScope::OnBehalf { tenant_id, .. } => record.filter(|r| r.tenant_id == tenant_id),
            VerifyScope::Direct => record,
        };
        let result = match record {
            None => Err(DenialReason::UnknownKey),
            Some(r) => self
                .secret_of(begun, r, memo, now)
                .and_then(|secret| Verifier::check_matched(r, secret, client_ip, required, now)),
        };
        let count = match (&result, record) {
            (Ok(_), Some(r)) => Some((r.tenant_id, true)),
            (Err(reason), r) => {
                tracing::debug!(key_id = begun.parsed.key_id(), reason = reason.as_str(), client_ip = %client_ip, "key denied");
                // Only failures to authenticate count: a valid key calling a
                // route it lacks a permission for does not lock out its address.
                if reason.kind() == DenialKind::Unauthenticated {
                    self.failures.fail(&begun.throttle_key);
                }
                // A wrong secret is not a use of the key.
                r.filter(|_| !matches!(reason, DenialReason::DigestMismatch))
                    .map(|r| (r.tenant_id, false))
            }
            (Ok(_), None) => None,
        };
        (result.map_err(VerifyFailure::Denied), count)
    }

    /// Writes the usage gathered since the last flush.
    pub async fn flush_usage(&self) {
        let batch = self.workers.take_usage();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.db.write_usage(&batch).await {
            tracing::warn!(error = %e, "usage flush failed; will retry");
            self.workers.restore(batch);
        }
    }

    /// Flushes usage every `interval` until the process ends.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration) {
        self.spawn_every(interval, |me| async move { me.flush_usage().await });
    }

    /// On PostgreSQL: listens for other instances' key changes. After a
    /// (re)connect everything is invalidated and the known ids are reloaded,
    /// since notifications may have been missed; the ids are also reloaded
    /// every `safety_net` as a last resort.
    pub fn spawn_listener(self: &Arc<Self>, safety_net: Duration) {
        if !self.db.is_postgres() {
            return;
        }
        self.spawn_every(safety_net, |me| async move {
            if let Err(e) = me.reload_known_ids().await {
                tracing::warn!(error = %e, "cannot reload key ids");
            }
        });
        let me = Arc::clone(self);
        let pool = self.db.conn().get_postgres_connection_pool().clone();
        tokio::spawn(async move {
            loop {
                match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                            tracing::warn!(error = %e, "LISTEN failed");
                        } else {
                            me.invalidate_all();
                            if let Err(e) = me.reload_known_ids().await {
                                tracing::warn!(error = %e, "cannot reload key ids");
                            }
                            loop {
                                match listener.recv().await {
                                    Ok(n) => match n.payload().strip_prefix("key:") {
                                        Some(id) => me.invalidate(id),
                                        None => me.invalidate_all(),
                                    },
                                    Err(e) => {
                                        tracing::warn!(error = %e, "notification listener lost its connection");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot connect the notification listener")
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
}

/// Permissions a route requires of the key (put it in the route's `app_data`).
#[derive(Clone, Debug, Default)]
pub struct KeyAuthConfig {
    pub required: Vec<String>,
}

impl KeyAuthConfig {
    pub fn require<S: Into<String>>(perms: impl IntoIterator<Item = S>) -> Self {
        Self {
            required: perms.into_iter().map(Into::into).collect(),
        }
    }
}

/// Extractor: a verified key from `X-API-Key`. Refuses with 401 (unknown,
/// malformed, revoked, expired), 403 (address or permission) or 429.
#[derive(Clone, Debug)]
pub struct ApiKeyAuth(pub Principal);

impl ApiKeyAuth {
    /// The presented key: the header's value without surrounding spaces.
    /// Any UTF-8 is passed on, since the key format itself only admits
    /// ASCII (other text is a malformed key, refused and counted as such).
    pub fn presented(req: &HttpRequest) -> Option<&str> {
        let value = req.headers().get(API_KEY)?;
        std::str::from_utf8(value.as_bytes().trim_ascii()).ok()
    }

    pub async fn authenticate(
        req: &HttpRequest,
        config: &KeyAuthConfig,
    ) -> Result<Principal, ApiError> {
        let (state, presented, ip) = Self::inputs(req)?;
        Ok(state
            .keys
            .verify(presented, ip, &config.required, crate::now())
            .await?)
    }

    /// What verification needs from the request: the state, the presented
    /// key and the client address.
    fn inputs(req: &HttpRequest) -> Result<(&web::Data<AppState>, &str, IpAddr), ApiError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::internal("no state"))?;
        let Some(presented) = Self::presented(req) else {
            return Err(ApiError::Unauthenticated(
                "Present an API key in the X-API-Key header.",
            ));
        };
        Ok((state, presented, client_ip(req, &state.trusted_proxies)))
    }

    /// The synchronous part of [`Self::authenticate`]; `None` when the key's
    /// record must be loaded from the database first.
    fn try_authenticate(req: &HttpRequest) -> Option<Result<Principal, ApiError>> {
        let (state, presented, ip) = match Self::inputs(req) {
            Ok(inputs) => inputs,
            Err(e) => return Some(Err(e)),
        };
        let required = req
            .app_data::<KeyAuthConfig>()
            .map_or(&[][..], |c| c.required.as_slice());
        state
            .keys
            .try_verify(presented, ip, required, crate::now)
            .map(|r| r.map_err(ApiError::from))
    }
}

impl FromRequest for ApiKeyAuth {
    type Error = ApiError;
    type Future = Either<
        Ready<Result<Self, Self::Error>>,
        LocalBoxFuture<'static, Result<Self, Self::Error>>,
    >;

    /// Malformed, unknown and cached keys are answered without a future or
    /// an allocation; only a cache miss boxes the database load.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(done) = Self::try_authenticate(req) {
            return Either::Left(ready(done.map(Self)));
        }
        let req = req.clone();
        Either::Right(Box::pin(async move {
            let config = req.app_data::<KeyAuthConfig>().cloned().unwrap_or_default();
            Self::authenticate(&req, &config).await.map(Self)
        }))
    }
}
