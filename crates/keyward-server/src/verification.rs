//! Key verification at wire speed.
//!
//! - [`KeyVerification`]: parse (no I/O) → bounded cache of key records
//!   (positive and negative) → the core's constant-time checks at request
//!   time. No database write and no slow hash on the request path: usage is
//!   aggregated in memory and written in batches.
//! - [`ApiKeyAuth`]: an actix-web extractor any service can use to require a
//!   key in `X-API-Key` (and, with [`KeyAuthConfig`] in the route's
//!   `app_data`, permissions).
//! - Invalidation: mutations drop the entry on this instance before they
//!   respond, and announce it on PostgreSQL (`LISTEN/NOTIFY`) to the others;
//!   a short TTL is the safety net. See `docs/VERIFICATION.md`.

use crate::db::{Db, NOTIFY_CHANNEL, UsageBatch};
use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::Throttle;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use keyward_core::verify::{
    DenialKind, DenialReason, KeyRecord, Principal, TrustedProxies, Verifier,
};
use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub const API_KEY_HEADER: &str = "X-API-Key";

/// The real client address of a request (socket peer, or `X-Forwarded-For`
/// through trusted proxies only).
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let headers = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    trusted.client_ip(peer, headers)
}

#[derive(Clone, Debug)]
struct Cached {
    record: Option<Arc<KeyRecord>>,
    /// The invalidation epoch when the load started.
    epoch: u64,
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

/// In-memory usage aggregation, flushed in batches.
#[derive(Debug, Default)]
pub struct UsageRecorder(Mutex<UsageBatch>);

impl UsageRecorder {
    fn with<R>(&self, f: impl FnOnce(&mut UsageBatch) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn record(&self, record: &KeyRecord, ok: bool, ip: IpAddr, now: DateTime<Utc>) {
        self.with(|b| {
            let e = b
                .counts
                .entry((record.key_id.to_string(), now.date_naive()))
                .or_insert((record.tenant_id, 0, 0));
            if ok {
                e.1 += 1;
                b.last_used
                    .insert(record.key_id.to_string(), (now, ip.to_string()));
            } else {
                e.2 += 1;
            }
        });
    }

    pub fn take(&self) -> UsageBatch {
        self.with(std::mem::take)
    }

    /// Puts back a batch whose write failed, so that nothing is lost.
    pub fn restore(&self, failed: UsageBatch) {
        self.with(|b| {
            for (k, (t, ok, denied)) in failed.counts {
                let e = b.counts.entry(k).or_insert((t, 0, 0));
                e.1 += ok;
                e.2 += denied;
            }
            for (k, v) in failed.last_used {
                b.last_used
                    .entry(k)
                    .and_modify(|cur| {
                        if cur.0 < v.0 {
                            *cur = v.clone()
                        }
                    })
                    .or_insert(v);
            }
        });
    }
}

/// The verification service: verifier, cache, usage and the failure throttle.
#[derive(Debug)]
pub struct KeyVerification {
    verifier: Verifier,
    db: Db,
    cache: Cache<String, Cached>,
    /// Per-key invalidation epochs (entries loaded before them are stale).
    invalidated: Cache<String, u64>,
    epoch: AtomicU64,
    all_invalidated: AtomicU64,
    pub usage: UsageRecorder,
    failures: Throttle,
}

impl KeyVerification {
    pub fn new(
        verifier: Verifier,
        db: Db,
        capacity: u64,
        ttl: Duration,
        failures_per_minute: u32,
    ) -> Self {
        Self {
            verifier,
            db,
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            invalidated: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(Duration::from_secs(300))
                .build(),
            epoch: AtomicU64::new(1),
            all_invalidated: AtomicU64::new(0),
            usage: UsageRecorder::default(),
            failures: Throttle::new(failures_per_minute, Duration::from_secs(60), capacity),
        }
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Drops a key's cached record (before the mutating request responds).
    pub fn invalidate(&self, key_id: &str) {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.invalidated.insert(key_id.to_owned(), e);
        self.cache.invalidate(key_id);
    }

    /// Drops every cached record (group permission changes, lost notifications).
    pub fn invalidate_all(&self) {
        let e = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.all_invalidated.store(e, Ordering::SeqCst);
        self.cache.invalidate_all();
    }

    fn fresh(&self, key_id: &str, c: &Cached) -> bool {
        c.epoch >= self.all_invalidated.load(Ordering::SeqCst)
            && self.invalidated.get(key_id).is_none_or(|e| c.epoch >= e)
    }

    async fn record(&self, key_id: &str) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        if let Some(c) = self.cache.get(key_id)
            && self.fresh(key_id, &c)
        {
            return Ok(c.record);
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let record = self.db.load_key_record(key_id).await?.map(Arc::new);
        self.cache.insert(
            key_id.to_owned(),
            Cached {
                record: record.clone(),
                epoch,
            },
        );
        Ok(record)
    }

    /// Verifies a presented key: throttle, format, cached lookup, the core's
    /// checks. Usage is counted in memory; failures count toward `throttle_key`.
    pub async fn verify<S: AsRef<str>>(
        &self,
        presented: &str,
        client_ip: IpAddr,
        required: &[S],
        now: DateTime<Utc>,
    ) -> Result<Principal, VerifyFailure> {
        let throttle_key = client_ip.to_canonical().to_string();
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
        let record = self
            .record(parsed.key_id())
            .await
            .map_err(VerifyFailure::Internal)?;
        let result = self
            .verifier
            .check(&parsed, record.as_deref(), client_ip, required, now);
        match (&result, &record) {
            (Ok(_), Some(r)) => self.usage.record(r, true, client_ip, now),
            (Err(reason), r) => {
                if let (Some(r), false) = (r, matches!(reason, DenialReason::DigestMismatch)) {
                    self.usage.record(r, false, client_ip, now);
                }
                tracing::info!(key_id = parsed.key_id(), reason = reason.as_str(), client_ip = %client_ip, "key denied");
                self.failures.fail(&throttle_key);
            }
            (Ok(_), None) => {}
        }
        result.map_err(VerifyFailure::Denied)
    }

    /// Writes the usage gathered since the last flush.
    pub async fn flush_usage(&self) {
        let batch = self.usage.take();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.db.write_usage(&batch).await {
            tracing::warn!(error = %e, "usage flush failed; will retry");
            self.usage.restore(batch);
        }
    }

    /// Flushes usage every `interval` until the process ends.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.flush_usage().await;
            }
        });
    }

    /// On PostgreSQL: listens for other instances' key changes. After a
    /// (re)connect everything is invalidated, since notifications may have been missed.
    pub fn spawn_listener(self: &Arc<Self>) {
        if !self.db.is_postgres() {
            return;
        }
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
    pub fn presented(req: &HttpRequest) -> Option<&str> {
        req.headers()
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }

    pub async fn authenticate(
        req: &HttpRequest,
        config: &KeyAuthConfig,
    ) -> Result<Principal, ApiError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .ok_or_else(|| ApiError::internal("no state"))?;
        let Some(presented) = Self::presented(req) else {
            return Err(ApiError::Unauthenticated(
                "Present an API key in the X-API-Key header.",
            ));
        };
        let ip = client_ip(req, &state.trusted_proxies);
        Ok(state
            .keys
            .verify(presented, ip, &config.required, crate::now())
            .await?)
    }
}

impl FromRequest for ApiKeyAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let config = req.app_data::<KeyAuthConfig>().cloned().unwrap_or_default();
            Self::authenticate(&req, &config).await.map(Self)
        })
    }
}
